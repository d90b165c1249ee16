// The fleet rollout's decisions (migrateFleet) with fake nodes, each with its own worker on its own
// task queue, and the real fleet worker: canaries then the fleet approval, the concurrency limit,
// halt and failure budget, pause/resume/abort, a late and an absent worker, continue-as-new
// carrying the state, the parent surviving a restart of its worker, per-node approval.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { workflowMetadataQuery } from '@temporalio/workflow';
import { abortFleetUpdate, approveFleetUpdate, pauseFleetUpdate, resumeFleetUpdate, type FleetState } from '../../src/fleet/shared.js';
import { SA_NODE, approveSwapUpdate, workflowIdFor } from '../../src/shared.js';
import { hang, permanent } from '../support/fake-node.js';
import { assertMigrated, assertOriginalBack } from '../support/fake-saga.js';
import { spanOf, withFakeFleet, type FakeFleet } from '../support/fake-fleet.js';
import { maxOverlap } from '../support/fleet-state.js';
import { refusal, startFakeEnv, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

const awaitingFleetApproval = (s: FleetState) => s.phase === 'awaiting-fleet-approval';

/** Gives the fleet approval once the canaries completed. */
async function approveAfterCanaries(fleet: FakeFleet): Promise<void> {
  await fleet.until(awaitingFleetApproval, 'the canaries completed');
  await fleet.handle.executeUpdate(approveFleetUpdate, { args: [{ by: 'fleet-admin' }] });
}

const ROLLOUT = { count: 12, settings: { canaries: 2, concurrency: 4 } };

test('12 nodes, 2 canaries, concurrency 4: canaries first, the rest after the fleet approval, never more than 4 at once; continue-as-new carries the state', async () => {
  // A continue-as-new every 100 events: the parent's history stays bounded while it re-attaches to running nodes.
  await withFakeFleet(env, 'fleet-rollout', { ...ROLLOUT, tuning: { historyEvents: 100 } }, async (fleet) => {
    const waiting = await fleet.until(awaitingFleetApproval, 'the canaries completed');
    assert.deepEqual(waiting.nodes.filter((n) => n.status === 'ended').map((n) => n.node), fleet.nodes.slice(0, 2).map((n) => n.config.node));
    assert.ok(fleet.nodes.slice(2).every((n) => n.calls.length === 0), 'no other node started before the fleet approval');
    await fleet.handle.executeUpdate(approveFleetUpdate, { args: [{ by: 'fleet-admin' }] });
    assert.match(await refusal(fleet.handle.executeUpdate(approveFleetUpdate, { args: [{ by: 'again' }] })), /^already approved by fleet-admin/);
    const report = await fleet.result();
    assert.equal(report.outcome, 'completed');
    assert.deepEqual(report.nodes.map((n) => n.outcome), Array(12).fill('completed'));
    assert.ok(report.runs >= 3, `the parent continued as new (${report.runs} runs)`);
    const runs = [];
    for await (const r of env.client.workflow.list({ query: `WorkflowId = '${fleet.handle.workflowId}'` })) runs.push(r.runId);
    assert.equal(runs.length, report.runs);
    assert.equal(report.fleetApproval?.by, 'fleet-admin', 'the approval carried over');
    for (const n of report.nodes) {
      assert.ok(n.counts && n.counts.tables > 0 && n.counts.rowsAfter === n.counts.rowsBefore, `${n.node}: counts in the report`);
      assert.ok(n.reportPath?.endsWith('/report.md') && n.startedAt && n.endedAt, `${n.node}: report path and times`);
      assert.match(n.swapApprovedBy ?? '', n.canary ? /canary/ : /approved by fleet-admin/);
    }
    for (const n of fleet.nodes) {
      assert.equal(n.keys().filter((k) => k === 'preflight').length, 1, `${n.config.node} migrated once`);
      assertMigrated(n);
    }
    const spans = fleet.nodes.map((n) => spanOf(n)!);
    const canariesEnd = Math.max(...spans.slice(0, 2).map(([, end]) => end));
    assert.ok(spans.slice(2).every(([start]) => start > canariesEnd), 'every other node began after both canaries ended');
    const overlap = maxOverlap(spans.slice(2));
    assert.ok(overlap <= 4 && overlap >= 2, `at most 4 at once, and more than one (${overlap})`);
    // Each child keeps its own search attributes.
    const child = await env.client.workflow.getHandle(workflowIdFor(fleet.nodes[5]!.config.node)).describe();
    assert.equal(child.typedSearchAttributes.get(SA_NODE), fleet.nodes[5]!.config.node);
  });
});

test('a failure in node 7 halts the rollout: no node after it starts, the running ones finish', async () => {
  await withFakeFleet(env, 'fleet-halt', { ...ROLLOUT, faults: { 6: { 'inventory:original': permanent() } } }, async (fleet) => {
    await approveAfterCanaries(fleet);
    const report = await fleet.result();
    assert.equal(report.outcome, 'halted');
    assert.match(report.reason ?? '', /over the failure budget of 0 \(last: .*-n7/);
    const byNode = new Map(report.nodes.map((n, i) => [i, n]));
    assert.equal(byNode.get(6)?.outcome, 'rolled-back');
    assertOriginalBack(fleet.nodes[6]!, { failedCopy: false });
    // Whatever started, started before the rollout saw node 7 fail; none after.
    const haltedAt = Date.parse(report.stoppedAt!);
    assert.ok(haltedAt >= Date.parse(byNode.get(6)!.endedAt!));
    for (const [i, n] of byNode) {
      if (n.startedAt) {
        assert.ok(Date.parse(n.startedAt) <= haltedAt, `${n.node} started before the halt`);
        if (i !== 6) assert.equal(n.outcome, 'completed', `${n.node} finished`);
      } else {
        assert.equal(n.outcome, 'not-started');
        assert.equal(fleet.nodes[i]!.calls.length, 0, `${n.node} untouched`);
        await assert.rejects(env.client.workflow.getHandle(workflowIdFor(n.node)).describe(), `${n.node} has no migration`);
      }
    }
    assert.ok(byNode.get(11)?.outcome === 'not-started', 'the last node never started');
  });
});

test('within the failure budget the rollout goes on past a failed node', async () => {
  await withFakeFleet(env, 'fleet-budget', { count: 5, settings: { concurrency: 2, failureBudget: 1 }, faults: { 2: { 'verify:new': permanent('VerificationFailed') } } }, async (fleet) => {
    const report = await fleet.result();
    assert.equal(report.outcome, 'completed');
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['completed', 'completed', 'rolled-back', 'completed', 'completed']);
    assert.match(report.nodes[2]!.failure ?? '', /verifyNew/);
  });
});

test('abort during the rollout: the running node migrations roll back, the others stay untouched', async () => {
  const faults = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [i, { 'verify:new': hang(50) }]));
  await withFakeFleet(env, 'fleet-abort', { count: 6, settings: { concurrency: 3 }, faults }, async (fleet) => {
    await Promise.all(fleet.nodes.slice(0, 3).map((n) => n.waitForCall('verify:new', 20_000)));
    await fleet.handle.executeUpdate(abortFleetUpdate, { args: [{ by: 'operator', comment: 'maintenance window over' }] });
    const report = await fleet.result();
    assert.equal(report.outcome, 'aborted');
    assert.equal(report.reason, 'aborted by operator (maintenance window over)');
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['cancelled', 'cancelled', 'cancelled', 'not-started', 'not-started', 'not-started']);
    for (const n of fleet.nodes.slice(0, 3)) assertOriginalBack(n, { failedCopy: true });
    for (const n of fleet.nodes.slice(3)) assert.equal(n.calls.length, 0);
  });
});

test('past the budget with onHalt rollback: the running node migration is cancelled and rolls back', async () => {
  const faults = { 0: { preflight: permanent('PreflightError') }, 1: { 'dump:original': hang(50) } };
  await withFakeFleet(env, 'fleet-halt-rollback', { count: 4, settings: { concurrency: 2, onHalt: 'rollback' }, faults }, async (fleet) => {
    const report = await fleet.result();
    assert.equal(report.outcome, 'halted');
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['refused', 'cancelled', 'not-started', 'not-started']);
    assertOriginalBack(fleet.nodes[1]!, { failedCopy: false });
  });
});

test('cancelling the parent is an abort: the running node migration rolls back, the parent ends with its report', async () => {
  await withFakeFleet(env, 'fleet-cancel', { count: 2, settings: { concurrency: 1 }, faults: { 0: { 'verify:new': hang(50) } } }, async (fleet) => {
    await fleet.nodes[0]!.waitForCall('verify:new', 20_000);
    await fleet.handle.cancel();
    const report = await fleet.result();
    assert.equal(report.outcome, 'aborted');
    assert.equal(report.reason, 'the fleet workflow was cancelled');
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['cancelled', 'not-started']);
    assertOriginalBack(fleet.nodes[0]!, { failedCopy: true });
  });
});

test('pause starts no more nodes; resume goes on', async () => {
  await withFakeFleet(env, 'fleet-pause', { count: 3, settings: { concurrency: 1 }, faults: { 0: { 'verify:new': hang() } } }, async (fleet) => {
    await fleet.nodes[0]!.waitForCall('verify:new', 20_000);
    await fleet.handle.executeUpdate(pauseFleetUpdate, { args: [{ by: 'operator' }] });
    fleet.nodes[0]!.release('verify:new');
    await fleet.until((s) => s.nodes[0]!.status === 'ended', 'the running node ended');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(fleet.nodes[1]!.calls.length, 0, 'paused: the next node did not start');
    assert.equal((await fleet.state()).paused, true);
    await fleet.handle.executeUpdate(resumeFleetUpdate, { args: [{ by: 'operator' }] });
    const report = await fleet.result();
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['completed', 'completed', 'completed']);
    assert.deepEqual(report.actions.map((a) => `${a.action} ${a.by}`), ['pause operator', 'resume operator']);
  });
});

test('a node whose worker starts late is waited for, shown as waiting for its worker, not failed', async () => {
  await withFakeFleet(env, 'fleet-late', { count: 3, settings: { concurrency: 3 }, lateWorkers: [1] }, async (fleet) => {
    const s = await fleet.until((x) => x.nodes[1]!.status === 'waiting-for-worker', 'node 2 waits for its worker');
    assert.equal(s.nodes[1]!.outcome, undefined);
    // The Web UI's current details of the parent: the nodes counted by where they stand, then each.
    const { currentDetails } = (await fleet.handle.query(workflowMetadataQuery)) as { currentDetails?: string };
    assert.match(currentDetails ?? '', new RegExp(`^\\*\\*Fleet ${fleet.name}\\*\\*: rolling-out\n\n.*1 waiting for its worker \\(not started\\)`));
    assert.match(currentDetails ?? '', new RegExp(`- \\*\\*${fleet.nodes[1]!.config.node}\\*\\*: waiting for its worker`));
    await fleet.until((x) => x.nodes[0]!.status === 'ended' && x.nodes[2]!.status === 'ended', 'the other nodes completed');
    assert.equal((await fleet.state()).nodes[1]!.status, 'waiting-for-worker');
    await fleet.startWorker(1);
    const report = await fleet.result();
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['completed', 'completed', 'completed']);
  });
});

test('a worker that never comes: the node counts as failed after workerWaitMinutes, its migration never started', async () => {
  await withFakeFleet(env, 'fleet-offline', { count: 2, settings: { concurrency: 2, failureBudget: 1, workerWaitMinutes: 0.02 }, lateWorkers: [1] }, async (fleet) => {
    const report = await fleet.result();
    assert.equal(report.outcome, 'completed');
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['completed', 'worker-offline']);
    assert.match(report.nodes[1]!.failure ?? '', /no worker polled kaapana-migrate-.* within 0.02 min/);
    await assert.rejects(env.client.workflow.getHandle(workflowIdFor(fleet.nodes[1]!.config.node)).describe());
  });
});

test('the parent survives a restart of the fleet worker while a node migration runs', async () => {
  await withFakeFleet(env, 'fleet-restart', { count: 3, settings: { concurrency: 2 }, faults: { 0: { 'verify:new': hang() } } }, async (fleet) => {
    await fleet.nodes[0]!.waitForCall('verify:new', 20_000);
    await fleet.stopFleetWorker();
    await new Promise((r) => setTimeout(r, 500));
    await fleet.startFleetWorker();
    fleet.nodes[0]!.release('verify:new');
    const report = await fleet.result();
    assert.deepEqual(report.nodes.map((n) => n.outcome), ['completed', 'completed', 'completed']);
    for (const n of fleet.nodes) assert.equal(n.keys().filter((k) => k === 'preflight').length, 1);
  });
});

test('per-node approval: the rollout leaves each swap to the operator', async () => {
  await withFakeFleet(env, 'fleet-per-node', { count: 2, settings: { concurrency: 2, approval: 'per-node' } }, async (fleet) => {
    await fleet.until((s) => s.nodes.every((n) => n.view === 'awaiting-approval'), 'both wait at their gate');
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(fleet.nodes.every((n) => !n.keys().includes('swap')), 'no swap without the operator');
    for (const n of fleet.nodes) await env.client.workflow.getHandle(workflowIdFor(n.config.node)).executeUpdate(approveSwapUpdate, { args: [{ by: 'node-admin' }] });
    const report = await fleet.result();
    assert.deepEqual(report.nodes.map((n) => [n.outcome, n.swapApprovedBy]), [['completed', undefined], ['completed', undefined]]);
  });
});
