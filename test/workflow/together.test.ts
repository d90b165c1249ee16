// Steps that read the same database run at once (workflows/together.ts): a failure of one cancels
// the other, and the rollback begins only once that one has stopped; both show while they run.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hang, permanent } from '../support/fake-node.js';
import { assertOriginalBack } from '../support/fake-saga.js';
import type { Progress } from '../../src/shared.js';
import { drive, fakeNode, lastReport, progress, startFakeEnv, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

test('the updated copy failing its check cancels the dump beside it; nothing is undone while that dump still runs', async () => {
  const LINGER_MS = 300;
  const fake = fakeNode('together-verify', { faults: { 'dump:work': hang(LINGER_MS), 'verifyUpdated:work': permanent() } });
  const { error } = await withFakeRun(env, fake, (run) => run.outcome());
  assert.ok(error, 'the run fails');
  const dump = fake.calls.find((c) => c.key === 'dump:work')!;
  const check = fake.calls.find((c) => c.key === 'verifyUpdated:work')!;
  assert.equal(check.result, 'failed');
  assert.equal(dump.result, 'cancelled', 'the dump saw the cancellation');
  const undo = fake.calls.filter((c) => c.seq > dump.seq && c.key !== 'verifyUpdated:work');
  assert.deepEqual(undo.map((c) => c.key), ['discardServer:work', 'discardServer:original', 'writeReport']);
  assert.ok(undo[0]!.seq > dump.endSeq! && undo[0]!.startedAt >= dump.endedAt!, 'nothing was undone while the dump still ran');
  const report = lastReport(fake);
  assert.equal(report.outcome, 'rolled-back');
  assert.match(report.rollback?.reason ?? '', /^step verifyUpdated failed: injected fault at verifyUpdated:work/, 'the cause, not the cancellation it led to');
  // In the order they began, whichever ended first.
  const steps = report.steps.map((s) => s.step);
  assert.deepEqual(steps.slice(steps.indexOf('verifyUpdated'), steps.indexOf('verifyUpdated') + 2), ['verifyUpdated', 'dumpUpdated']);
  assertOriginalBack(fake, { failedCopy: false });
});

test('while the original is inventoried and dumped at once, both show in the progress', async () => {
  const fake = fakeNode('together-progress', { faults: { 'inventory:original': hang(), 'dump:original': hang() } });
  const { report, error } = await withFakeRun(env, fake, async (run) => {
    const until = async (what: string, ok: (p: Progress) => boolean) => {
      const deadline = Date.now() + 15_000;
      for (let p = await progress(run.handle); !ok(p); p = await progress(run.handle)) {
        assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(p)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await Promise.all([fake.waitForCall('inventory:original'), fake.waitForCall('dump:original')]);
    await until('both show, the first begun first', (p) => p.current?.step === 'inventory' && p.alongside?.map((a) => a.step).join() === 'dumpOriginal');
    fake.release('inventory:original');
    await until('the dump goes on alone', (p) => p.current?.step === 'dumpOriginal' && p.alongside === undefined && p.completed.some((c) => c.step === 'inventory'));
    fake.release('dump:original');
    return drive(run);
  });
  assert.equal(error, undefined, error?.cause?.message);
  assert.equal(report?.outcome, 'completed');
});
