// The retry policy the workflow gives its activities: the FATAL error types fail a step at once,
// other failures are retried up to activityAttempts. The policy's first interval is 2 s (fixed in
// the workflow), so the two tests that really retry take 2 s or more each.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { attemptsSpanning } from '../../src/workflows/activities.js';
import { permanent, transient } from '../support/fake-node.js';
import { assertMigrated, assertOriginalBack } from '../support/fake-saga.js';
import { drive, fakeNode, startFakeEnv, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

/** The workflow's FATAL list, written down here: a type dropped from it would make its failures retried. */
const FATAL = [
  'PreflightError', 'DataDirInUse', 'WrongCredentials', 'DatabaseNotFound', 'UnexpectedSchema', 'DiskFull',
  'ScriptFailed', 'ScriptChanged', 'DumpChanged', 'RestoreFailed', 'BulkLoadLost', 'ProbeMismatch', 'UnknownVersion', 'VerificationFailed', 'SwapStateUnknown',
];

describe('a FATAL error type fails the step at once, even when thrown as retryable', () => {
  for (const type of FATAL) {
    test(type, async () => {
      // Three attempts allowed; a retry would come after 2 s and succeed (the fault fires once).
      const fake = fakeNode(`fatal-${type}`, { faults: { 'restore:work': transient(1, type) }, overrides: { activityAttempts: 3 } });
      const { error } = await withFakeRun(env, fake, (run) => drive(run));
      assert.match(error?.cause?.message ?? '', /^step restoreWork failed: injected fault at restore:work; rolled back/);
      assert.deepEqual(fake.calls.filter((c) => c.key === 'restore:work').map((c) => c.attempt), [1], 'not retried');
      assertOriginalBack(fake, { failedCopy: false });
    });
  }
});

test('a non-retryable failure of any type is not retried either', async () => {
  const fake = fakeNode('fatal-nonretryable', { faults: { 'restore:work': permanent('SomethingElse', { times: 1 }) }, overrides: { activityAttempts: 3 } });
  const { error } = await withFakeRun(env, fake, (run) => drive(run));
  assert.match(error?.cause?.message ?? '', /^step restoreWork failed: /);
  assert.equal(fake.calls.filter((c) => c.key === 'restore:work').length, 1);
});

test('a transient failure of a short step is retried (2 s): the swap interrupted between its renames is finished by its retry', async () => {
  // Short steps retry for outageMinutes: 1.8 s fits one wait of 2 s, so two attempts.
  const fake = fakeNode('retry-swap', { faults: { swap: transient(1, 'InjectedTransient', { halfway: true }) }, overrides: { outageMinutes: 0.03 } });
  const { report, error } = await withFakeRun(env, fake, (run) => drive(run));
  assert.equal(error, undefined, error?.cause?.message);
  const swaps = fake.calls.filter((c) => c.key === 'swap');
  assert.deepEqual(swaps.map((c) => [c.attempt, c.result]), [[1, 'failed'], [2, 'ok']]);
  assert.ok(swaps[1]!.startedAt - swaps[0]!.endedAt! >= 1_900, 'after the 2 s initial interval');
  assert.equal(report?.steps.find((s) => s.step === 'swap')?.detail, 'finished an interrupted swap');
  assertMigrated(fake);
});

test('a transient failure at every attempt fails a transfer after activityAttempts (2 s)', async () => {
  const fake = fakeNode('retry-exhausted', { faults: { 'restore:work': transient(10) }, overrides: { activityAttempts: 2 } });
  const { error } = await withFakeRun(env, fake, (run) => drive(run));
  assert.match(error?.cause?.message ?? '', /^step restoreWork failed: injected fault at restore:work; rolled back/);
  assert.deepEqual(fake.calls.filter((c) => c.key === 'restore:work').map((c) => c.attempt), [1, 2]);
  assertOriginalBack(fake, { failedCopy: false });
});

test('short steps retry for outageMinutes, spread out (2, 4, 8 … at most 60 s between attempts)', () => {
  assert.equal(attemptsSpanning(0, 2), 1, 'no outage allowed: one attempt');
  assert.equal(attemptsSpanning(0.03, 2), 2);
  // 2 + 4 + 8 + 16 + 32 = 62 s, then a minute each: ten minutes take 15 attempts.
  assert.equal(attemptsSpanning(10, 2), 15);
  assert.equal(attemptsSpanning(1, 2), 6, 'a one-minute outage is ridden out');
});
