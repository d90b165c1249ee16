// After the swap a failing cluster step waits for the operator (phase awaiting-resolution):
// `resolve retry` runs the step again, `resolve rollback` rolls back; resolutions are refused when
// nothing waits or when they are neither.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { approveSwapUpdate, resolveSignal, resolveUpdate, SA_PHASE, type Resolution, type StepName } from '../../src/shared.js';
import { permanent } from '../support/fake-node.js';
import { assertMigrated, assertOriginalBack } from '../support/fake-saga.js';
import { type FakeEnv, fakeNode, lastReport, progress, refusal, type Run, startFakeEnv, until, waitForPhase, withFakeRun } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

/** Approve at the gate, then wait until the run waits for a resolution; nothing may be undone meanwhile. */
async function untilResolutionNeeded(run: Run, key: string): Promise<string | undefined> {
  await waitForPhase(run, 'awaiting-approval');
  await run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
  const p = await waitForPhase(run, 'awaiting-resolution');
  assert.equal((await run.handle.describe()).typedSearchAttributes.get(SA_PHASE), 'awaiting-resolution');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(run.fake.calls.at(-1)?.key, key, 'nothing runs, nothing is undone, while the operator decides');
  assert.equal(run.fake.calls.at(-1)?.result, 'failed');
  return p.failure;
}

const CASES: { step: StepName; key: string }[] = [
  { step: 'redeploy', key: 'redeploy' },
  { step: 'ldapUpdate', key: 'ldapPlan' },
  { step: 'ldapUpdate', key: 'ldapCommand' },
  { step: 'restartPods', key: 'restartPods' },
];

for (const { step, key } of CASES) {
  describe(`${step} failing (${key}) after the swap`, () => {
    test('waits; resolve retry runs the step again and the migration completes', async () => {
      const fake = fakeNode(`resolve-retry-${key}`, { cluster: true, faults: { [key]: permanent('InjectedFault', { times: 1 }) } });
      const report = await withFakeRun(env, fake, async (run) => {
        const failure = await untilResolutionNeeded(run, key);
        assert.equal(failure, `${step}: step ${step} failed: injected fault at ${key}`);
        assert.equal(await run.handle.executeUpdate(resolveUpdate, { args: ['retry'] }), 'retry');
        const { report, error } = await run.outcome();
        assert.equal(error, undefined, error?.cause?.message);
        return report!;
      });
      const calls = fake.calls.filter((c) => c.key === key);
      assert.equal(calls[0]?.result, 'failed');
      assert.equal(calls[1]?.result, 'ok');
      assert.deepEqual(calls[1]?.args, calls[0]?.args, 'the same call again');
      const records = report.steps.filter((s) => s.step === step);
      assert.ok(records.some((s) => s.status === 'failed') && records.at(-1)?.status === 'ok', 'the report shows the failure and the retry');
      assert.ok(!fake.keys().includes('unswap') && !fake.keys().includes('undeployTarget'), 'nothing was undone');
      assertMigrated(fake);
    });
  });
}

test('resolve rollback after the LDAP plan failed: rolled back, the migrated copy kept', async () => {
  const fake = fakeNode('resolve-rollback-plan', { cluster: true, faults: { ldapPlan: permanent() } });
  const error = await withFakeRun(env, fake, async (run) => {
    await untilResolutionNeeded(run, 'ldapPlan');
    assert.equal(await run.handle.executeUpdate(resolveUpdate, { args: ['rollback'] }), 'rollback');
    return (await run.outcome()).error;
  });
  assert.match(error?.cause?.message ?? '', /^step ldapUpdate failed: injected fault at ldapPlan; rolled back/);
  const failed = fake.calls.find((c) => c.key === 'ldapPlan')!;
  assert.deepEqual(
    fake.calls.filter((c) => c.seq > failed.seq).map((c) => c.key),
    ['undeployTarget', 'unswap', 'discardServer:new', 'discardServer:work', 'discardServer:original', 'restoreApplications', 'writeReport'],
  );
  assert.equal(lastReport(fake).outcome, 'rolled-back');
  assertOriginalBack(fake, { failedCopy: true });
});

test('a retried step that fails again waits again', async () => {
  const fake = fakeNode('resolve-twice', { cluster: true, faults: { ldapCommand: permanent('InjectedFault', { times: 2 }) } });
  await withFakeRun(env, fake, async (run) => {
    await untilResolutionNeeded(run, 'ldapCommand');
    await run.handle.executeUpdate(resolveUpdate, { args: ['retry'] });
    await until(fake, () => fake.calls.filter((c) => c.key === 'ldapCommand' && c.result === 'failed').length === 2, 'the retried command failed again');
    await waitForPhase(run, 'awaiting-resolution');
    await run.handle.executeUpdate(resolveUpdate, { args: ['retry'] });
    assert.equal((await run.outcome()).report?.outcome, 'completed');
  });
  assertMigrated(fake);
});

test('resolve when nothing waits is refused; such a signal is ignored', async () => {
  const fake = fakeNode('resolve-nothing', { cluster: true, faults: { restartPods: permanent('InjectedFault', { times: 1 }) } });
  await withFakeRun(env, fake, async (run) => {
    await waitForPhase(run, 'awaiting-approval');
    assert.equal(await refusal(run.handle.executeUpdate(resolveUpdate, { args: ['retry'] })), 'nothing waits for a resolution now');
    // A rollback signalled now must not answer the failure that comes later.
    await run.handle.signal(resolveSignal, 'rollback');
    await run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
    await waitForPhase(run, 'awaiting-resolution');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await progress(run.handle)).phase, 'awaiting-resolution', 'still waiting: the early signal was ignored');
    await run.handle.executeUpdate(resolveUpdate, { args: ['retry'] });
    assert.equal((await run.outcome()).report?.outcome, 'completed');
  });
  assertMigrated(fake);
});

test('an invalid resolution is refused (update) or ignored (signal); the run keeps waiting', async () => {
  const fake = fakeNode('resolve-invalid', { cluster: true, faults: { redeploy: permanent('InjectedFault', { times: 1 }) } });
  await withFakeRun(env, fake, async (run) => {
    await untilResolutionNeeded(run, 'redeploy');
    assert.equal(await refusal(run.handle.executeUpdate(resolveUpdate, { args: ['later' as Resolution] })), 'resolve with "retry" or "rollback"');
    await run.handle.signal(resolveSignal, 'later' as Resolution);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await progress(run.handle)).phase, 'awaiting-resolution');
    assert.equal(fake.calls.at(-1)?.key, 'redeploy');
    // A valid answer by signal (a `temporal workflow signal`) is taken.
    await run.handle.signal(resolveSignal, 'retry');
    assert.equal((await run.outcome()).report?.outcome, 'completed');
  });
  assertMigrated(fake);
});

test('cancel while waiting for a resolution: rolled back, the workflow cancelled', async () => {
  const fake = fakeNode('resolve-cancel', { cluster: true, faults: { restartPods: permanent() } });
  const error = await withFakeRun(env, fake, async (run) => {
    await untilResolutionNeeded(run, 'restartPods');
    await run.handle.cancel();
    return (await run.outcome()).error;
  });
  assert.ok(error?.cause instanceof CancelledFailure);
  assert.equal(lastReport(fake).outcome, 'rolled-back');
  assertOriginalBack(fake, { failedCopy: true });
});
