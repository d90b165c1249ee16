// The saga, guide mode: a permanent failure at every step (with and without a cluster) undoes what
// was done, in reverse order of registration, each undo once, and the node ends with its original
// in place; preflight refuses without changing anything. Fast mode: saga-fast.test.ts; partial
// effects, failing undos and the report: undo.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { STEPS } from '../../src/shared.js';
import { flow, stepsOf } from '../support/fake-saga.js';
import { COMBINATIONS, stepFailureTests } from '../support/fake-step-failures.js';
import { startFakeEnv, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

test('the fault table covers every step of STEPS', () => {
  const covered = new Set(COMBINATIONS.flatMap(({ mode, cluster }) => stepsOf(flow(mode, cluster)).map((s) => s.step)));
  assert.deepEqual([...covered].sort(), [...STEPS].sort());
});

stepFailureTests(() => env, COMBINATIONS.filter((c) => c.mode === 'guide'));
