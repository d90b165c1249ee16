// What the saga does beyond a clean failure: partial effects (a step failing half-way) are undone
// too; an undo that fails waits for the operator (retry it, or leave it undone); a failing report
// does not undo a finished migration.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resolveUpdate, SA_PHASE } from '../../src/shared.js';
import { APPLICATIONS, permanent, type FakeNode } from '../support/fake-node.js';
import { assertMigrated, assertOriginalBack, callsAfter } from '../support/fake-saga.js';
import { failureOf } from '../support/fake-step-failures.js';
import { drive, fakeNode, lastReport, progress, startFakeEnv, waitForPhase, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

describe('partial effects are undone too', () => {
  test('stopApplications failing after dcm4chee was scaled down: the applications come back', async () => {
    const fake = fakeNode('partial-stop', { cluster: true, faults: { stopApplications: permanent('InjectedFault', { halfway: true }) } });
    const { error } = await withFakeRun(env, fake, (run) => drive(run));
    assert.match(failureOf(error).message, /^step stopApplications failed: .*; rolled back/);
    assert.deepEqual(fake.keys(), ['preflight', 'freshSchema', 'stopApplications', 'restoreApplications', 'writeReport']);
    assertOriginalBack(fake, { failedCopy: false });
  });

  test('redeploy failing after 0.2.x was undeployed, resolved with rollback: 0.2.x is deployed again', async () => {
    const fake = fakeNode('partial-redeploy', { cluster: true, faults: { redeploy: permanent('InjectedFault', { halfway: true }) } });
    const { error } = await withFakeRun(env, fake, (run) => drive(run, { resolve: 'rollback' }));
    assert.match(failureOf(error).message, /^step redeploy failed: .*; rolled back/);
    assert.deepEqual(fake.model.cluster?.deploys, ['undeploy 0.2', 'deploy 0.2']);
    assertOriginalBack(fake, { failedCopy: true });
  });

  test('redeploy failing after 0.3.x was deployed (never Ready), resolved with rollback: 0.3.x is taken down before the swap is undone', async () => {
    const fake = fakeNode('partial-redeploy-after', { cluster: true, faults: { redeploy: permanent('InjectedFault', { afterEffect: true }) } });
    const { error } = await withFakeRun(env, fake, (run) => drive(run, { resolve: 'rollback' }));
    assert.match(failureOf(error).message, /^step redeploy failed: .*; rolled back/);
    const keys = fake.keys();
    assert.ok(keys.indexOf('undeployTarget') < keys.indexOf('unswap'), 'no 0.3.x database pod on the live directory while it is swapped back');
    assert.deepEqual(fake.model.cluster?.deploys, ['undeploy 0.2', 'deploy 0.3', 'undeploy 0.3', 'deploy 0.2']);
    assertOriginalBack(fake, { failedCopy: true });
  });

  test('the swap failing between its renames: the original is moved back, the migrated copy kept aside', async () => {
    const fake = fakeNode('partial-swap', { faults: { swap: permanent('InjectedFault', { halfway: true }) } });
    const { error } = await withFakeRun(env, fake, (run) => drive(run));
    assert.match(failureOf(error).message, /^step swap failed: .*; rolled back/);
    const unswap = fake.calls.find((c) => c.key === 'unswap');
    assert.equal(unswap?.result, 'ok');
    assertOriginalBack(fake, { failedCopy: true });
  });
});

describe('an undo that fails waits for the operator', () => {
  /** restoreNew fails; the undo of the working copy fails once. */
  async function failingUndo(prefix: string, answer: 'retry' | 'rollback'): Promise<{ fake: FakeNode; error: unknown; failure?: string; finalFailure?: string }> {
    const fake = fakeNode(prefix, { faults: { 'restore:new': permanent(), 'discardServer:work': permanent('InjectedFault', { times: 1 }) } });
    return withFakeRun(env, fake, async (run) => {
      const waiting = await waitForPhase(run, 'awaiting-resolution');
      assert.equal((await run.handle.describe()).typedSearchAttributes.get(SA_PHASE), 'awaiting-resolution');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(fake.keys().at(-1), 'discardServer:work', 'nothing else is undone while the operator decides');
      assert.deepEqual(callsAfter(fake, fake.calls.find((c) => c.key === 'restore:new')!), ['discardServer:new', 'discardServer:work']);
      assert.equal(await run.handle.executeUpdate(resolveUpdate, { args: [answer] }), answer);
      const { error } = await run.outcome();
      return { fake, error, failure: waiting.failure, finalFailure: (await progress(run.handle)).failure };
    });
  }

  test('resolve rollback: the undo is left undone, the rest runs; the report lists it under notUndone, outcome failed', async () => {
    const { fake, error, failure, finalFailure } = await failingUndo('undo-fails-rollback', 'rollback');
    assert.equal(failure, 'undoing failed: discard the work server: injected fault at discardServer:work');
    assert.equal(finalFailure, 'step restoreNew failed: injected fault at restore:new', 'afterwards the progress query says again why the run failed');
    const f = failureOf(error);
    assert.equal(f.type, 'MigrationFailed');
    assert.equal(f.message, 'step restoreNew failed: injected fault at restore:new; rollback incomplete (discard the work server: injected fault at discardServer:work): see the report');
    assert.deepEqual(callsAfter(fake, fake.calls.find((c) => c.key === 'restore:new')!), ['discardServer:new', 'discardServer:work', 'discardServer:original'], 'each undo once');
    const report = lastReport(fake);
    assert.equal(report.outcome, 'failed');
    assert.deepEqual(report.rollback?.notUndone, ['discard the work server: injected fault at discardServer:work']);
    assert.equal(report.rollback?.undone.length, 2);
    // What the model honestly shows: the working copy was never removed.
    assert.ok(fake.model.dirs.has(fake.model.layout.work));
    assert.equal(fake.model.dirs.get(fake.model.layout.original), fake.original);
  });

  test('resolve retry: the undo runs again and the rollback completes', async () => {
    const { fake, error } = await failingUndo('undo-fails-retry', 'retry');
    assert.match(failureOf(error).message, /; rolled back: /);
    assert.deepEqual(callsAfter(fake, fake.calls.find((c) => c.key === 'restore:new')!), ['discardServer:new', 'discardServer:work', 'discardServer:work', 'discardServer:original']);
    assert.equal(lastReport(fake).outcome, 'rolled-back');
    assertOriginalBack(fake, { failedCopy: true });
  });

});

test('the report step failing does not undo a finished migration', async () => {
  const fake = fakeNode('report-fails', { cluster: true, faults: { writeReport: permanent() } });
  const { report, error, p } = await withFakeRun(env, fake, async (run) => {
    const out = await drive(run);
    return { ...out, p: await progress(run.handle) };
  });
  assert.equal(error, undefined);
  assert.equal(report?.outcome, 'completed');
  assert.equal(report?.steps.find((s) => s.step === 'report')?.status, 'failed');
  assert.equal(p.phase, 'completed');
  assert.match(p.failure ?? '', /^the report could not be written \(.*injected fault at writeReport\); the workflow result holds it$/);
  assert.equal(p.reportPath, undefined);
  assert.equal(fake.keys().filter((k) => k === 'writeReport').length, 1, 'written once, not again by a rollback');
  for (const undo of ['unswap', 'undeployTarget', 'restoreApplications', 'discardServer:new']) assert.ok(!fake.keys().includes(undo), `${undo} did not run`);
  assertMigrated(fake);
  assert.deepEqual(fake.model.cluster?.replicas, APPLICATIONS);
});
