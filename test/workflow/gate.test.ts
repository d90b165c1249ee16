// The approval gate: approval only once the new database is verified, once; the timeout and a
// cancellation roll back; a cancelled activity is waited for before anything is undone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CancelledFailure } from '@temporalio/common';
import { approveSwapSignal, approveSwapUpdate, SA_PHASE } from '../../src/shared.js';
import { hang } from '../support/fake-node.js';
import { assertMigrated, assertOriginalBack, callsAfter, expectedUndo, flow, stepsOf, type Mode } from '../support/fake-saga.js';
import { type FakeEnv, fakeNode, lastReport, progress, refusal, startFakeEnv, waitForPhase, withFakeRun } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

const NOT_VERIFIED = 'the new database is not verified yet; approval is possible once the workflow waits at awaitApproval';

test('approval by update before the verification is refused with the validator\'s message', async () => {
  const fake = fakeNode('gate-early-update', { faults: { 'verify:new': hang() } });
  await withFakeRun(env, fake, async (run) => {
    await fake.waitForCall('verify:new');
    assert.equal(await refusal(run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'eager' }] })), NOT_VERIFIED);
    assert.equal((await progress(run.handle)).approval, undefined);
    fake.release('verify:new');
    const p = await waitForPhase(run, 'awaiting-approval');
    assert.equal(p.approval, undefined, 'the refused approval left nothing behind');
    assert.equal(p.verified, true);
    const approval = await run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
    assert.equal(approval.by, 'admin');
    const { report } = await run.outcome();
    assert.equal(report?.outcome, 'completed');
  });
  assertMigrated(fake);
});

test('the approval signal before the verification is ignored; at the gate it approves', async () => {
  const fake = fakeNode('gate-early-signal', { faults: { 'verify:new': hang() } });
  await withFakeRun(env, fake, async (run) => {
    await fake.waitForCall('verify:new');
    await run.handle.signal(approveSwapSignal, { by: 'eager' });
    fake.release('verify:new');
    await waitForPhase(run, 'awaiting-approval');
    await new Promise((r) => setTimeout(r, 300));
    const p = await progress(run.handle);
    assert.equal(p.phase, 'awaiting-approval', 'the early signal did not approve');
    assert.equal(p.approval, undefined);
    assert.ok(!fake.keys().includes('swap'));
    // A request without `by` (a hand-written `temporal workflow signal`).
    await run.handle.signal(approveSwapSignal, {});
    const { report } = await run.outcome();
    assert.equal(report?.approval?.by, 'unknown');
  });
  assertMigrated(fake);
});

test('a second approval is refused', async () => {
  const fake = fakeNode('gate-twice', { faults: { swap: hang() } });
  await withFakeRun(env, fake, async (run) => {
    await waitForPhase(run, 'awaiting-approval');
    const first = await run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'alice' }] });
    await fake.waitForCall('swap');
    assert.equal(await refusal(run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'bob' }] })), `already approved by alice at ${first.at}`);
    fake.release('swap');
    const { report } = await run.outcome();
    assert.equal(report?.approval?.by, 'alice');
  });
  assertMigrated(fake);
});

test('no approval within the timeout: rolled back once the timer fires', async () => {
  const fake = fakeNode('gate-timeout', { overrides: { approval: { timeoutMinutes: 0.005 } } });
  const { error } = await withFakeRun(env, fake, (run) => run.outcome());
  assert.match(error?.cause?.message ?? '', /^step awaitApproval failed: no approval within 0.005 minutes; rolled back/);
  const gate = fake.calls.find((c) => c.key === 'stopServer:new')!;
  const firstUndo = fake.calls.find((c) => c.seq > gate.seq)!;
  assert.equal(firstUndo.key, 'discardServer:new');
  assert.ok(firstUndo.startedAt - gate.endedAt! >= 250, `the gate waited its 300 ms (${firstUndo.startedAt - gate.endedAt!} ms)`);
  assertOriginalBack(fake, { failedCopy: true });
});

test('after an approval timeout the report marks the gate failed', async () => {
  const fake = fakeNode('gate-timeout-report', { overrides: { approval: { timeoutMinutes: 0.003 } } });
  await withFakeRun(env, fake, (run) => run.outcome());
  const gate = lastReport(fake).steps.find((s) => s.step === 'awaitApproval');
  assert.equal(gate?.status, 'failed', JSON.stringify(gate));
});

test('cancel at the gate: rolled back, the applications back, the workflow cancelled', async () => {
  const fake = fakeNode('gate-cancel', { cluster: true });
  const { error, phase } = await withFakeRun(env, fake, async (run) => {
    await waitForPhase(run, 'awaiting-approval');
    await run.handle.cancel();
    const out = await run.outcome();
    return { ...out, phase: (await run.handle.describe()).typedSearchAttributes.get(SA_PHASE) };
  });
  assert.ok(error?.cause instanceof CancelledFailure, `cancelled, not ${error?.cause}`);
  assert.deepEqual(callsAfter(fake, fake.calls.find((c) => c.key === 'stopServer:new')!), ['discardServer:new', 'discardServer:work', 'discardServer:original', 'restoreApplications']);
  const report = lastReport(fake);
  assert.equal(report.outcome, 'rolled-back');
  assert.equal(report.steps.find((s) => s.step === 'awaitApproval')?.status, 'failed');
  assert.equal(phase, 'rolled-back');
  assertOriginalBack(fake, { failedCopy: true });
});

/** The load each mode's cancellation lands in: its fault key, and whether the migrated directory exists by then. */
const HANGING_LOAD: Record<Mode, { key: string; failedCopy: boolean }> = {
  guide: { key: 'restore:work', failedCopy: false },
  fast: { key: 'streamOriginalToNew', failedCopy: true },
};

for (const [mode, { key, failedCopy }] of Object.entries(HANGING_LOAD) as [Mode, (typeof HANGING_LOAD)[Mode]][]) {
  test(`${mode} mode: cancel during a hanging ${key}: the workflow waits until the activity has stopped, then rolls back`, async () => {
    const LINGER_MS = 300;
    const fake = fakeNode(`gate-cancel-load-${mode}`, { mode, faults: { [key]: hang(LINGER_MS) } });
    let cancelledAt = 0;
    const { error } = await withFakeRun(env, fake, async (run) => {
      await fake.waitForCall(key);
      cancelledAt = Date.now();
      await run.handle.cancel();
      return run.outcome();
    });
    assert.ok(error?.cause instanceof CancelledFailure);
    const load = fake.calls.find((c) => c.key === key)!;
    assert.equal(load.result, 'cancelled', 'the activity saw the cancellation');
    assert.ok(load.endedAt! - cancelledAt >= LINGER_MS, 'it took its time to stop');
    const undo = fake.calls.filter((c) => c.seq > load.seq);
    const items = flow(mode, false);
    assert.deepEqual(undo.map((c) => c.key), [...expectedUndo(items, stepsOf(items).find((s) => s.fault === key)!.step), 'writeReport']);
    assert.ok(undo[0]!.seq > load.endSeq! && undo[0]!.startedAt >= load.endedAt!, 'nothing was undone while the load still ran');
    assert.equal(lastReport(fake).outcome, 'rolled-back');
    assertOriginalBack(fake, { failedCopy });
  });
}

test('an approval during the rollback that followed a gate timeout is refused with the reason; the signal is ignored', async () => {
  const fake = fakeNode('gate-late', { overrides: { approval: { timeoutMinutes: 0.003 } }, faults: { 'discardServer:new': hang() } });
  await withFakeRun(env, fake, async (run) => {
    await fake.waitForCall('discardServer:new');
    const p = await waitForPhase(run, 'rolling-back');
    assert.equal(p.verified, true, 'the database had been verified: only the phase tells the approval it is too late');
    assert.equal(
      await refusal(run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'late' }] })),
      'the migration is rolling back (step awaitApproval failed: no approval within 0.003 minutes): there is nothing to approve',
    );
    await run.handle.signal(approveSwapSignal, { by: 'late-signal' });
    fake.release('discardServer:new');
    const { error } = await run.outcome();
    assert.match(error?.cause?.message ?? '', /rolled back/);
    assert.equal((await progress(run.handle)).approval, undefined, 'neither approved anything');
    assert.match(await refusal(run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'later' }] })).catch((e: unknown) => String(e)), /rolled-back|not running|completed|closed/i);
  });
  assert.ok(!fake.keys().includes('swap'), 'no swap');
  assert.equal(lastReport(fake).approval, undefined);
  // The timeout came after startNew: the migrated directory is kept aside.
  assertOriginalBack(fake, { failedCopy: true });
});
