// Secrets and hostile names: the password appears in no history, log, report or attempts
// journal, and paths full of shell syntax reach no shell.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { layoutFor } from '../../src/config/layout.js';
import { exists } from '../../src/files.js';
import { temporalBinary } from '../support/temporal-server.js';
import { approveSwapUpdate } from '../../src/shared.js';
import type { MigrationReport } from '../../src/report/types.js';
import { demoNode, startHarness, startMigration, tempDir, waitForPhase, type Harness } from '../support/harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('no password in history, logs or report; a hostile directory name is only ever an argument', async () => {
  const base = await tempDir('hostile');
  // Shell syntax that would create a file "pwned" if any command were built as a string (short:
  // the server's unix socket lives below it and socket paths are limited to ~100 bytes).
  const dir = path.join(base, `a b;touch pwned;'$(touch pwned)'`);
  await fs.mkdir(dir, { mode: 0o711 });
  const node = await demoNode('security', { dir, instances: 300 });

  const handle = await startMigration(h, node);
  const worker = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts', '--node', node.config.node], {
    env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  worker.stdout.on('data', (c: Buffer) => (logs += c.toString()));
  worker.stderr.on('data', (c: Buffer) => (logs += c.toString()));
  try {
    await waitForPhase(handle, 'awaiting-approval', 180_000);
    await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'security-test' }] });
    const report = (await handle.result()) as MigrationReport;
    assert.equal(report.outcome, 'completed');

    const { stdout: history } = await promisify(execFile)(temporalBinary(), ['workflow', 'show', '--workflow-id', handle.workflowId, '--output', 'json', '--address', h.server.address], { maxBuffer: 64 * 2 ** 20 });
    assert.ok(history.includes('migrateDcm4che') && history.length > 1000, 'the history was read');
    assert.ok(!history.includes(node.password), 'the password is not in the workflow history');
    assert.ok(logs.length > 0 && !logs.includes(node.password), 'the password is not in the worker log');
    const layout = layoutFor(node.config, report.runTag);
    for (const file of [layout.report.json, layout.report.markdown, layout.attempts]) {
      const text = await fs.readFile(file, 'utf8');
      assert.ok(text.length > 0 && !text.includes(node.password), file);
    }
    for (const where of [process.cwd(), base, dir, node.config.runtime.stateDir]) {
      assert.ok(!(await exists(path.join(where, 'pwned'))), `no shell ran the directory name (in ${where})`);
    }
  } finally {
    worker.kill('SIGTERM');
    await new Promise((r) => worker.once('exit', r));
  }
});
