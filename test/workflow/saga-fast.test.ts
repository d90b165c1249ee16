// The saga, fast mode: a permanent failure at every step of the fast path (with and without a
// cluster) rolls back like guide mode (saga.test.ts).
import { after, before } from 'node:test';
import { COMBINATIONS, stepFailureTests } from '../support/fake-step-failures.js';
import { startFakeEnv, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

stepFailureTests(() => env, COMBINATIONS.filter((c) => c.mode === 'fast'));
