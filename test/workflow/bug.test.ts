// A bug in workflow code (here: an activity answer the code cannot read) fails the workflow task,
// which Temporal retries, so that a worker with the fix carries on. It is not a failure of the
// migration: nothing is rolled back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { answer } from '../support/fake-node.js';
import { type FakeEnv, fakeNode, startFakeEnv, withFakeRun } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

test('a TypeError in workflow code fails the workflow task and rolls nothing back', async () => {
  const fake = fakeNode('bug', { faults: { 'inventory:original': answer({ inventory: null, appliedVersions: [] }) } });
  await withFakeRun(env, fake, async (run) => {
    await fake.waitForCall('inventory:original');
    const deadline = Date.now() + 15_000;
    let failures: string[] = [];
    while (failures.length < 2) {
      if (Date.now() > deadline) throw new Error(`the workflow task did not fail twice within 15 s; calls: ${fake.keys().join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
      const history = await run.handle.fetchHistory();
      failures = (history.events ?? []).flatMap((e) => (e.workflowTaskFailedEventAttributes ? [e.workflowTaskFailedEventAttributes.failure?.message ?? ''] : []));
    }
    assert.match(failures[0]!, /Cannot (read|convert)|null/, failures[0]);
    assert.equal((await run.handle.describe()).status.name, 'RUNNING', 'the workflow waits for a fixed worker');
  });
  // The original's dump is started with its inventory (they run at once in guide mode).
  assert.deepEqual(fake.keys(), ['preflight', 'freshSchema', 'startServer:original', 'inventory:original', 'dump:original'], 'nothing ran after the bug, no undo');
});
