// The migration workflow: it only decides (order, approval gate, saga); activities do the I/O.
import * as wf from '@temporalio/workflow';
import { ApplicationFailure } from '@temporalio/common';
import type { RunContext } from '../activities/context.js';
import { checkInput, checkUnversionedInput, type MigrationInput } from '../config/input.js';
import type { MigrationReport } from '../report/types.js';
import { mib } from '../format.js';
import { runTagFor } from '../shared.js';
import { activitiesFor, run } from './activities.js';
import { clusterSteps } from './cluster-steps.js';
import { StepFailed, describe, isMigrationFailure, unwrapped } from './failures.js';
import { prepareBulkLoad } from './fast-path.js';
import { createGate } from './gate.js';
import { migrateDatabase } from './database-part.js';
import { discardOnRollback } from './migration.js';
import { createRecorder } from './recorder.js';
import { createSaga } from './saga.js';

export type { MigrationInput } from '../config/input.js';

export async function migrateDcm4che(input: MigrationInput): Promise<MigrationReport> {
  // Runs recorded before the input carried its schema version were completed by the worker.
  const checked = wf.patched('explicit-input') ? checkInput(input) : checkUnversionedInput(input);
  const oneActivityPerStep = wf.patched('one-activity-per-step');
  const overlapped = wf.patched('overlapped-reads');
  if (!checked.ok) {
    throw ApplicationFailure.nonRetryable(`the workflow input is not a valid configuration: ${checked.problems.join('; ')}; nothing was changed`, 'InvalidInput');
  }
  const config = checked.config;
  // From the first run: a reset (a new run of the same history) keeps the run's paths and names.
  // Its random end: run ids begin with the time, so runs a minute apart shared their first eight
  // characters (patched: runs recorded before took those).
  const first = wf.workflowInfo().firstExecutionRunId;
  const ctx: RunContext = { config, runTag: wf.patched('run-tag-from-random-part') ? runTagFor(first) : first.slice(0, 8) };
  const acts = activitiesFor(config);
  const rec = createRecorder(config, ctx.runTag);
  const gate = createGate(rec);
  const saga = createSaga(rec, gate);
  const { report, progress } = rec;
  const kube = config.cluster.kind === 'kubernetes';

  try {
    const plan = await rec.step('preflight', 'checks before anything changes', () => run(acts.control.preflight, 'preflight checks', ctx), (p) =>
      `${p.scripts.length} update scripts (${p.scripts.map((s) => s.version).join(', ')}); database directory ${mib(p.dataDirBytes)}`,
    );

    // Patched: runs recorded before it made the fresh schema in schemaDrift, while the archive was down.
    if (wf.patched('fresh-schema-before-stop')) {
      await rec.step('freshSchema', 'a fresh schema made by the new image, while the archive still runs', () => run(acts.control.freshSchema, 'read a fresh schema of the new image', ctx), (r) =>
        `${r.tables} tables, ${r.indexes} indexes; ${r.file}`,
      );
    }
    // Fast mode's new server is ready before the archive stops too (patched: runs recorded before
    // prepared it after the original's inventory).
    const bulkLoadReady = config.mode === 'fast' && wf.patched('bulk-load-before-stop');
    if (bulkLoadReady) {
      discardOnRollback({ saga, acts, ctx }, 'new');
      await prepareBulkLoad({ rec, acts, ctx, plan });
    }

    if (kube) {
      // Registered first: it undoes a stop that failed half-way too, and after an undeploy of 0.2.x
      // it deploys 0.2.x again (it reads what to do from the cluster).
      saga.onRollback('bring the 0.2.x applications back', () => run(acts.undo.restoreApplications, 'bring the 0.2.x applications back', ctx));
      await rec.step('stopApplications', 'scale dcm4chee and postgres-dcm4che to 0', () => run(acts.cluster.stopApplications, 'scale applications to 0', ctx), (r) =>
        `was ${Object.entries(r).map(([d, n]) => `${d}=${n}`).join(', ')}`,
      );
      report.ldapBackup = await rec.step('backupLdap', 'export the LDAP tree before anything changes it', () => run(acts.cluster.backupLdap, 'export the LDAP tree', ctx), (f) => f ?? 'nothing exported');
    } else {
      rec.skip('stopApplications', 'no cluster configured');
      rec.skip('backupLdap', 'no cluster configured');
    }

    const migration = await migrateDatabase({ ctx, config, rec, acts, saga, plan, oneActivityPerStep, overlapped, bulkLoadReady });

    report.approval = await gate.awaitApproval(config.approval.timeoutMinutes);

    saga.onRollback('put the original directory back', () => run(acts.undo.unswap, 'put the original directory back', ctx, wf.uuid4().slice(0, 8)));
    await rec.step('swap', `${plan.layout.original} → ${plan.layout.retired}, ${plan.layout.new} → ${plan.layout.original}`, () => run(acts.control.swap, 'swap the directories', ctx), (r) => r);
    await rec.step('removeWork', `remove ${plan.layout.work}`, () => run(acts.control.removeWork, 'remove the 9.6 working copy', ctx), (r) => r);

    if (kube) await clusterSteps(migration, gate);
    else for (const name of ['redeploy', 'ldapUpdate', 'restartPods'] as const) rec.skip(name, 'no cluster configured: run these by hand (see the README)');

    report.outcome = 'completed';
    report.endedAt = rec.now();
    // The migration is done: a report that cannot be written must not undo it.
    progress.reportPath = await rec.step('report', 'write the report', () => run(acts.control.writeReport, 'write the report', ctx, report), (p) => p).catch((err: unknown) => {
      if (!isMigrationFailure(err)) throw err;
      progress.failure = `the report could not be written (${describe(err)}); the workflow result holds it`;
      return undefined;
    });
    rec.setPhase('completed');
    return report;
  } catch (err) {
    // A bug in workflow code fails the workflow task: a fixed worker carries on from here.
    if (!isMigrationFailure(err)) throw unwrapped(err);
    const reason = describe(err);
    progress.failure = reason;
    if (err instanceof StepFailed && (err.step === 'preflight' || err.step === 'freshSchema')) {
      // Nothing ran but the read-only checks and the scratch server: there is nothing to undo.
      report.outcome = 'refused';
      report.endedAt = rec.now();
      progress.reportPath = await run(acts.control.writeReport, 'write the report', ctx, report).catch(() => undefined);
      rec.setPhase('refused');
      throw ApplicationFailure.nonRetryable(`${reason}; nothing was changed`, 'MigrationRefused');
    }
    rec.setPhase('rolling-back');
    const { notUndone } = await saga.rollback(reason);
    report.outcome = notUndone.length === 0 ? 'rolled-back' : 'failed';
    report.endedAt = rec.now();
    progress.reportPath = await wf.CancellationScope.nonCancellable(() => run(acts.undo.writeReport, 'write the report', ctx, report)).catch(() => undefined);
    rec.setPhase(report.outcome === 'rolled-back' ? 'rolled-back' : 'failed');
    if (wf.isCancellation(err)) throw err;
    const state = notUndone.length === 0 ? 'rolled back: the original database directory is in place and unchanged' : `rollback incomplete (${notUndone.join('; ')}): see the report`;
    throw ApplicationFailure.nonRetryable(`${reason}; ${state}`, 'MigrationFailed');
  }
}
