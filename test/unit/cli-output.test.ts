// What the CLI tells a person: the command hints for where they stand, and honest ETAs.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { commandHint } from '../../src/cli/common.js';
import { etaEstimator } from '../../src/cli/watch.js';
import type { StepProgress } from '../../src/shared.js';

test('hints: installed → kaapana-migrate; in a checkout → npm run cli, or the bin by path from elsewhere', async () => {
  const installed = await fs.mkdtemp(path.join(os.tmpdir(), 'km-installed-'));
  const checkout = await fs.mkdtemp(path.join(os.tmpdir(), 'km-checkout-'));
  await fs.mkdir(path.join(checkout, 'src', 'cli'), { recursive: true });
  await fs.writeFile(path.join(checkout, 'src', 'cli', 'main.ts'), '');
  try {
    assert.equal(commandHint(installed, '/srv', 'status'), 'kaapana-migrate status');
    assert.equal(commandHint(checkout, checkout, 'status'), 'npm run cli -- status');
    assert.equal(commandHint(checkout, path.join(checkout, 'docs'), 'status'), 'npm run cli -- status');
    assert.equal(commandHint(checkout, '/srv', 'watch --node n1'), `${path.join(checkout, 'bin', 'kaapana-migrate.js')} watch --node n1`);
  } finally {
    await fs.rm(installed, { recursive: true, force: true });
    await fs.rm(checkout, { recursive: true, force: true });
  }
});

test('ETA: from the measured rate, counting down between jumps, none once past the estimate', () => {
  let t = 0;
  const eta = etaEstimator(() => t);
  const at = (done: number, total = 1_000): StepProgress => ({ step: 'applyUpdates', unit: 'rewrites', done, total });
  assert.equal(eta(at(0)), undefined, 'no rate at the first look');
  t = 10_000;
  assert.equal(eta(at(0)), undefined, 'no rate before the counter moved');
  t = 20_000;
  assert.equal(eta(at(100)), 180_000, '100 rows in 20 s: 900 rows left take 180 s');
  t = 80_000;
  assert.equal(eta(at(100)), 120_000, 'no jump for 60 s: 60 s less to go');
  t = 200_000;
  assert.equal(eta(at(100)), undefined, 'past the estimate: no figure rather than a wrong one');
  t = 220_000;
  assert.equal(eta(at(900)), (100 * 220_000) / 900, 'the new rate after the jump');
  assert.equal(eta({ ...at(0), step: 'dumpUpdated', unit: 'bytes' }), undefined, 'another step starts afresh');
});
