// An operator's `temporal workflow reset` during the updates, in both modes: the new run rebuilds the
// state from the history and carries on with the same paths and names, then completes.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import Long from 'long';
import type { MigrationReport } from '../../src/report/types.js';
import { runTagFor } from '../../src/shared.js';
import { hang, permanent } from '../support/fake-node.js';
import { assertMigrated, MODES } from '../support/fake-saga.js';
import { bounded, drive, fakeNode, lastReport, startFakeEnv, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

for (const mode of MODES) {
  test(`${mode} mode: a reset during the updates keeps the run tag (and so every path) and completes`, async () => {
    const fake = fakeNode(`reset-${mode}`, { mode, faults: { 'applyUpdate:5.30': hang() } });
    const { report, firstRunId, resetRunId } = await withFakeRun(env, fake, async (run) => {
      await fake.waitForCall('applyUpdate:5.30');
      const { runId: firstRunId } = await run.handle.describe();
      const events = (await run.handle.fetchHistory()).events ?? [];
      // The workflow task that scheduled update 5.29: the reset replays up to it and decides again.
      const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyUpdate');
      const at = Number(scheduled[2]!.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId);
      fake.clearFault('applyUpdate:5.30');
      fake.release('applyUpdate:5.30');
      const reset = await env.client.workflowService.resetWorkflowExecution({
        namespace: 'default',
        workflowExecution: { workflowId: run.handle.workflowId, runId: firstRunId },
        reason: 'operator reset during the updates (test)',
        workflowTaskFinishEventId: Long.fromNumber(at),
        requestId: randomUUID(),
      });
      const resetRunId = reset.runId;
      const handle = env.client.workflow.getHandle(run.handle.workflowId, resetRunId ?? undefined);
      const outcome = (ms = 20_000) =>
        bounded(
          handle.result().then(
            (r: MigrationReport) => ({ report: r }),
            (error: unknown) => {
              if (error instanceof WorkflowFailedError) return { error };
              throw error;
            },
          ),
          ms,
          'the reset run',
        );
      const { report, error } = await drive({ ...run, handle, outcome });
      assert.equal(error, undefined, error?.cause?.message);
      return { report, firstRunId, resetRunId };
    });
    assert.ok(resetRunId && resetRunId !== firstRunId, 'the reset made a new run');
    assert.equal(report?.outcome, 'completed');
    assert.equal(report?.runId, resetRunId, 'the report is the new run’s');
    assert.equal(report?.runTag, runTagFor(firstRunId!), 'paths and names derive from the first run, not the reset one');
    assertMigrated(fake);
  });
}

test('two runs of a node started seconds apart get different run tags (and so different directories)', async () => {
  const tags: string[] = [];
  for (const attempt of [1, 2]) {
    const fake = fakeNode(`tags-${attempt}`, { faults: { preflight: permanent('PreflightError') } });
    const { error } = await withFakeRun(env, fake, (run) => run.outcome());
    assert.match(error?.cause?.message ?? '', /nothing was changed/);
    tags.push(lastReport(fake).runTag);
  }
  assert.equal(new Set(tags).size, 2, `run tags ${tags.join(', ')}`);
});
