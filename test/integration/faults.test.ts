// The fault matrix on real servers, in both modes, for what only real data can show: after a
// failure for good in each kind of step (guide: the database work, the updates, the verification,
// after the swap; fast: each of its own steps, the updates on the new server, after the swap), the
// original is identical to its inventory and nothing of the run is left; a transient failure after
// every activity's effect is absorbed; a cancelled load stops its psql and rolls back. Which step
// undoes what, for every step, is decided by the workflow: test/workflow/saga*.test.ts.
// One demo node serves all runs of both modes: each must leave it as it was.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { layoutFor } from '../../src/config/layout.js';
import { exists } from '../../src/files.js';
import type { DemoNode } from '../../src/demo/node.js';
import type { MigrationReport } from '../../src/report/types.js';
import { approveSwapUpdate, type StepName, runTagFor } from '../../src/shared.js';
import { flow, LOAD_ACTIVITY, stepsOf, type Mode } from '../support/fake-saga.js';
import { failFirst, failOnceAfterEffect } from '../support/faults.js';
import { demoNode, fingerprint, startHarness, startMigration, untilPending, waitForPhase, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
let node: DemoNode;
let original: Awaited<ReturnType<typeof fingerprint>>;
before(async () => {
  h = await startHarness();
  // Retries 0.2 s apart: the run that fails every activity once retries each of them.
  node = await demoNode('faults', { instances: 500, overrides: (raw) => ({ ...raw, retryIntervalSeconds: 0.2 }) });
  original = await fingerprint(node, node.config.paths.dataDir, 'old');
});
after(async () => {
  await h?.close();
});

/** The original is in place and identical; nothing of the run is left (but a kept -failed copy of the migrated directory). */
async function assertRolledBack(handle: WorkflowHandle): Promise<MigrationReport> {
  const runTag = runTagFor((await handle.describe()).runId);
  const layout = layoutFor(node.config, runTag);
  const report = JSON.parse(await fs.readFile(layout.report.json, 'utf8')) as MigrationReport;
  assert.equal(report.outcome, 'rolled-back', JSON.stringify(report.rollback));
  assert.deepEqual(report.rollback?.notUndone, []);
  for (const dir of [layout.work, layout.new, layout.retired]) assert.ok(!(await exists(dir)), `${dir} is gone`);
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  assert.ok(!ps.includes(node.dir), 'no server process of this node is left');
  assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), original);
  return report;
}

/** Migrated copies kept aside by a rollback (with the PostgreSQL version each holds); removed so the next run starts clean. */
async function takeFailedCopies(): Promise<{ dir: string; pg: string }[]> {
  const parent = path.dirname(node.config.paths.dataDir);
  const kept = (await fs.readdir(parent)).filter((f) => f.startsWith(`${path.basename(node.config.paths.dataDir)}-failed-`)).map((f) => path.join(parent, f));
  const copies = await Promise.all(kept.map(async (dir) => ({ dir, pg: (await fs.readFile(path.join(dir, 'PG_VERSION'), 'utf8')).trim() })));
  for (const dir of kept) await fs.rm(dir, { recursive: true, force: true });
  return copies;
}

/** The node's configuration in `mode`: one node serves the runs of both. */
const inMode = (mode: Mode) => ({ config: { ...node.config, mode } });

/**
 * The steps faulted for good in each mode: one of each kind guide mode has (the database work, the
 * updates, the verification, after the swap); in fast mode each step of its own, its updates (on
 * the new server) and one after the swap. Each is faulted at its activity call as
 * test/support/fake-saga.ts writes it down.
 */
const REAL_FAULTS: Record<Mode, StepName[]> = {
  guide: ['restoreWork', 'applyUpdates', 'verifyNew', 'removeWork'],
  // One of each kind, as for guide mode (the load, the updates, what follows them, after the swap);
  // every other fast step's failure and its undo are in the saga table (test/workflow/saga-fast).
  fast: ['streamOriginalToNew', 'applyUpdates', 'restoreDurability', 'removeWork'],
};

describe('a step that fails for good rolls back', () => {
  for (const [mode, faulted] of Object.entries(REAL_FAULTS) as [Mode, StepName[]][]) {
    const steps = stepsOf(flow(mode, false));
    // startNew, in fast mode prepareBulkLoad (faulted before it runs), creates the migrated directory.
    const creating = steps.findIndex((s) => s.step === 'startNew' || s.step === 'prepareBulkLoad');
    for (const step of faulted) {
      const at = steps.findIndex((s) => s.step === step);
      const key = steps[at]!.fault;
      test(`${mode} mode: ${step} (${key})`, async () => {
        const handle = await startMigration(h, inMode(mode));
        const error = await withWorker(h, node.config.node, async () => {
          const approving = (async () => {
            // Steps after the gate are reached only with approval.
            await waitForPhase(handle, 'awaiting-approval', 120_000).catch(() => undefined);
            await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'fault-test' }] }).catch(() => undefined);
          })();
          const outcome = await handle.result().then(() => undefined, (e: unknown) => e);
          await approving;
          return outcome;
        }, undefined, failFirst(key));
        assert.ok(error instanceof WorkflowFailedError, 'the run fails');
        assert.match(error.cause?.message ?? '', new RegExp(`step ${step} failed: injected fault at ${key}.*rolled back`));
        const report = await assertRolledBack(handle);
        const kept = await takeFailedCopies();
        // Once the migrated directory exists a rollback keeps it, before and after the swap under this run's tag.
        const created = at > creating;
        assert.deepEqual(kept.map((k) => k.pg), created ? ['15'] : [], 'the migrated copy is kept aside exactly when it had been created');
        if (created) assert.equal(kept[0]?.dir, layoutFor(node.config, report.runTag).failed);
      });
    }
  }
});

/**
 * What the run that fails every activity once must show: calls that were faulted, and activity
 * calls (type, subject) whose report lists the failed first attempt and the completed second.
 */
const AFTER_EFFECT: Record<Mode, { faulted: string[]; retried: [string, string | undefined][] }> = {
  guide: {
    faulted: ['dump:original', 'restore:work', 'applyUpdate:5.32', 'restore:new', 'swap', 'removeWork'],
    retried: [['applyUpdate', '5.32'], ['dump', 'original'], ['restore', 'work'], ['swap', undefined]],
  },
  fast: {
    faulted: ['prepareBulkLoad', 'streamOriginalToNew', 'verifyLeaving:new', 'applyUpdate:5.32', 'verifyUntouched:new', 'restoreDurability', 'verifyUpdated:new', 'swap', 'removeWork'],
    retried: [['applyUpdate', '5.32'], ['prepareBulkLoad', undefined], ['streamOriginalToNew', undefined], ['restoreDurability', undefined], ['swap', undefined]],
  },
};

for (const [mode, expected] of Object.entries(AFTER_EFFECT) as [Mode, (typeof AFTER_EFFECT)[Mode]][]) {
  test(`${mode} mode: every activity failing once after its effect: retries absorb it, result as a clean run`, async () => {
    const seen: string[] = [];
    const handle = await startMigration(h, inMode(mode));
    const report = await withWorker(h, node.config.node, async () => {
      await waitForPhase(handle, 'awaiting-approval', 240_000);
      await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'fault-test' }] });
      return (await handle.result()) as MigrationReport;
    }, undefined, failOnceAfterEffect(seen));
    assert.equal(report.outcome, 'completed');
    for (const key of expected.faulted) assert.ok(seen.includes(key), `${key} was faulted`);
    assert.deepEqual(report.versions.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
    const layout = layoutFor(node.config, report.runTag);
    // The written report holds every attempt: the failed first ones with their error, and which worker ran each.
    const written = JSON.parse(await fs.readFile(layout.report.json, 'utf8')) as MigrationReport;
    const worker = { host: os.hostname(), pid: process.pid, identity: `${process.pid}@${os.hostname()}` };
    const tries = (type: string, subject?: string) =>
      written.attempts?.filter((a) => a.activityType === type && a.subject === subject).map((a) => ({ attempt: a.attempt, outcome: a.outcome, error: a.error, failureType: a.failureType, worker: a.worker }));
    for (const [type, subject] of expected.retried) {
      assert.deepEqual(tries(type, subject), [
        { attempt: 1, outcome: 'failed', error: `injected transient fault after ${type}`, failureType: 'InjectedTransient', worker },
        { attempt: 2, outcome: 'completed', error: undefined, failureType: undefined, worker },
      ], `${type} ${subject ?? ''}`);
    }
    // Every script committed once, by the first attempt, and found applied by its retry.
    for (const s of report.scripts) {
      assert.equal(s.outcome, 'committed by an earlier attempt', s.version);
      assert.deepEqual({ attempt: s.committedBy?.attempt, outcome: s.committedBy?.outcome, worker: s.committedBy?.worker }, { attempt: 1, outcome: 'failed', worker }, s.version);
    }
    const md = await fs.readFile(layout.report.markdown, 'utf8');
    const pid = `${process.pid}@${os.hostname()}`.replace(/\./g, '\\.');
    assert.match(md, new RegExp(`\\| applyUpdates \\| applyUpdate 5\\.32 \\| 1 \\| ${pid} \\| [^|]+ \\| [\\d.]+ s \\| failed \\(InjectedTransient\\): injected transient fault after applyUpdate \\|`));
    assert.match(md, new RegExp(`\\| 5\\.32 \\| committed by attempt 1 on ${pid} — failed \\(InjectedTransient\\): injected transient fault after applyUpdate \\| [\\d.]+ s \\|`));
    const migrated = await fingerprint(node, layout.original, 'new');
    for (const [table, facts] of Object.entries(original.inventory.tables)) assert.equal(migrated.inventory.tables[table]?.count, facts.count, table);
    assert.deepEqual(migrated.inventory.guide, original.inventory.guide);
    // Put the node back to its 9.6 original for the tests that follow.
    await fs.rm(layout.original, { recursive: true });
    await fs.rename(layout.retired, layout.original);
    assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), original);
  });
}


for (const [mode, load] of Object.entries(LOAD_ACTIVITY) as [Mode, string][]) {
  test(`${mode} mode: cancel during ${load}: the activity stops, rolled back`, async () => {
    const handle = await startMigration(h, inMode(mode));
    const error = await withWorker(h, node.config.node, async () => {
      await untilPending(handle, load, 60_000, 20);
      await handle.cancel();
      return handle.result().then(() => undefined, (e: unknown) => e);
    });
    assert.ok(error instanceof WorkflowFailedError);
    await assertRolledBack(handle);
  });
}
