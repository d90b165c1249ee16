// The rehearsal: the migration's database part on a snapshot of the live database, while the PACS
// keeps running. It reads the live database once (one pg_dump snapshot through its own server),
// runs every mode's database steps on scratch copies, predicts the downtime from their times, lists
// what a real run would hit, and removes everything it made, also after a failure or a cancel.
import * as wf from '@temporalio/workflow';
import { ApplicationFailure } from '@temporalio/common';
import type { RunContext } from '../activities/context.js';
import type { Prepared, RehearsalContext } from '../activities/rehearsal.js';
import { checkRehearsalInput, type RehearsalInput } from '../config/input.js';
import { duration, mib } from '../format.js';
import type { Problem, RehearsalReport, RehearsedRun } from '../report/rehearsal.js';
import { predictMs, wallMs } from '../rehearsal/prediction.js';
import { progressQuery, rehearsalTagFor, type Progress } from '../shared.js';
import { activitiesFor, run, type Acts } from './activities.js';
import { migrateDatabase } from './database-part.js';
import { StepFailed, describe, failureType, isMigrationFailure, unwrapped } from './failures.js';
import { createRecorder, type Recorder } from './recorder.js';

export type { RehearsalInput } from '../config/input.js';

export async function rehearseDcm4che(input: RehearsalInput): Promise<RehearsalReport> {
  const checked = checkRehearsalInput(input);
  if (!checked.ok) {
    throw ApplicationFailure.nonRetryable(`the workflow input is not a valid rehearsal: ${checked.problems.join('; ')}; nothing was done`, 'InvalidInput');
  }
  const { config, rehearsal } = checked;
  const ctx: RehearsalContext = { config, runTag: rehearsalTagFor(wf.workflowInfo().firstExecutionRunId), rehearsal };
  const acts = activitiesFor(config);

  // One list of finished steps, the runs' among the rehearsal's own, in the order they ended (the
  // watch reads it as a log); the Web UI shows it with the step running now.
  const show = (details: string) => wf.setCurrentDetails(`**Rehearsal** (the live database is only read; nothing of it is changed)\n\n${details}`);
  const rec = createRecorder(config, ctx.runTag, { show });
  let shown: Recorder | undefined;
  wf.setHandler(progressQuery, (): Progress => {
    const now = shown?.progress;
    return { ...rec.progress, ...(now?.current ? { current: now.current } : {}), ...(now?.alongside ? { alongside: now.alongside } : {}) };
  });

  const report: RehearsalReport = {
    node: config.node,
    workflowId: rec.report.workflowId,
    runId: rec.report.runId,
    runTag: ctx.runTag,
    startedAt: rec.report.startedAt,
    outcome: 'failed',
    steps: rec.report.steps,
    runs: [],
    problems: [],
  };
  let prepared: Prepared | undefined;
  let failure: unknown;
  try {
    prepared = await rec.step('prepareRehearsal', 'no migration runs, the live database answers, room for the scratch copies', () => run(acts.control.prepareRehearsal, 'checks before the rehearsal', ctx), (p) =>
      `live database ${mib(p.liveBytes)} through ${p.where}; scratch in ${p.scratch}`,
    );
    const ready = prepared;
    report.live = { where: ready.where, bytes: ready.liveBytes };
    for (const message of ready.realRun) report.problems.push({ kind: 'disk-space', message: `a real migration: ${message}` });

    const snapshot = await rec.step('snapshotLive', `one pg_dump snapshot through the running server (${ready.where}), nice ${rehearsal.nice}, io ${rehearsal.io}`, () => run(acts.transfer.snapshotLive, 'dump the live database (one snapshot)', ctx, ready), (s) =>
      `${mib(s.bytes)} in ${duration(s.ms)}`,
    );
    const instances = Object.entries(snapshot.rows).find(([table]) => /(^|\.)"?instance"?$/.test(table))?.[1];
    report.live.snapshot = { at: snapshot.at, ms: snapshot.ms, bytes: snapshot.bytes, sha256: snapshot.sha256, ...(instances !== undefined ? { instances } : {}) };
    const restored = await rec.step('restoreSnapshot', 'the snapshot into a 9.6 scratch copy: the original of every rehearsed run', () => run(acts.transfer.restoreSnapshot, 'restore the snapshot into a scratch copy', ctx, ready, snapshot), (r) =>
      `${mib(r.bytes)}; ${r.lost.length === 0 ? 'every row restored' : `${r.lost.length} tables short`}`,
    );
    for (const l of restored.lost) report.problems.push({ kind: 'lost-rows', message: `${l.table}: ${l.dumped} rows dumped, ${l.restored} restored` });

    for (const planned of ready.runs) {
      const runRec = createRecorder(config, planned.ctx.runTag, { show, completed: rec.progress.completed, label: planned.mode });
      shown = runRec;
      const rehearsed = await rehearseRun(planned.mode, planned.ctx, runRec, acts);
      shown = undefined;
      report.runs.push(rehearsed.run);
      report.problems.push(...rehearsed.problems);
      await rec.step('removeScratch', `the ${planned.mode} run's copies`, () => run(acts.undo.removeScratch, `remove the ${planned.mode} run's copies`, ctx, ready, planned.mode));
    }

    const now = await rec.step('measureGrowth', 'the live database now, against the snapshot', () => run(acts.control.measureGrowth, 'measure the live database', ctx), (g) => `${mib(g.bytes)}, ${g.instances} instances`);
    report.live.now = now;
    for (const r of report.runs) if (r.outcome === 'completed') r.predictedMs = predictMs(r.measuredMs, ready.liveBytes, now.bytes);
    report.outcome = report.problems.length > 0 ? 'problems' : 'passed';
  } catch (err) {
    // A bug in workflow code fails the workflow task: a fixed worker carries on from here.
    if (!isMigrationFailure(err)) throw unwrapped(err);
    failure = err;
    report.failure = describe(err);
    report.outcome = wf.isCancellation(err) ? 'cancelled' : 'failed';
    rec.progress.failure = report.failure;
    if (failureType(err) === 'ScratchSpace') report.problems.push({ kind: 'disk-space', message: report.failure });
    rec.setPhase('rolling-back');
  }

  // Everything it made goes, whatever happened; a cancel waits for it.
  const cleaned = await wf.CancellationScope.nonCancellable(async () => {
    const left = prepared;
    const removed = left
      ? await rec.step('removeScratch', 'every scratch copy and server of the rehearsal', () => run(acts.undo.removeScratch, 'remove the scratch copies', ctx, left)).then(
          () => true,
          () => false,
        )
      : true;
    report.endedAt = rec.now();
    rec.progress.reportPath = await run(acts.undo.writeRehearsalReport, 'write the rehearsal report', ctx, report).catch(() => undefined);
    return removed;
  });
  if (!failure) {
    rec.setPhase('completed');
    return report;
  }
  rec.setPhase(cleaned ? 'rolled-back' : 'failed');
  if (wf.isCancellation(failure)) throw failure;
  const state = cleaned ? 'its scratch copies are removed; the live database was only read' : `its scratch copies could not all be removed (see the report): remove ${prepared?.scratch} by hand`;
  throw ApplicationFailure.nonRetryable(`${report.failure}; ${state}`, 'RehearsalFailed');
}

/** One mode's run of the database part: its failure is a problem the real run would hit, not the rehearsal's. */
async function rehearseRun(mode: RehearsedRun['mode'], ctx: RunContext, rec: Recorder, acts: Acts): Promise<{ run: RehearsedRun; problems: Problem[] }> {
  const problems: Problem[] = [];
  let failure: string | undefined;
  try {
    const plan = await rec.step('preflight', 'checks before anything changes', () => run(acts.control.preflight, 'preflight checks', ctx), (p) => `${p.scripts.length} update scripts`);
    // No undo per step: the rehearsal removes its scratch copies all at once (removeScratch).
    await migrateDatabase({ ctx, config: ctx.config, rec, acts, saga: { onRollback: () => undefined }, plan, oneActivityPerStep: true, overlapped: true });
  } catch (err) {
    if (!isMigrationFailure(err) || wf.isCancellation(err)) throw err;
    failure = describe(err);
    problems.push({ kind: problemKind(err), mode, message: failure });
  }
  const drift = rec.report.schemaDrift;
  if (drift && drift.unexpected > 0 && !problems.some((p) => p.kind === 'schema-drift')) {
    problems.push({ kind: 'schema-drift', mode, message: `${drift.unexpected} unexpected differences from a fresh schema of the new image` });
  }
  const rehearsed: RehearsedRun = {
    mode,
    outcome: failure ? 'failed' : 'completed',
    steps: rec.report.steps,
    scripts: rec.report.scripts,
    measuredMs: wallMs(rec.report.steps),
    ...(drift ? { schemaDrift: { expected: drift.expected, unexpected: drift.unexpected } } : {}),
    ...(failure ? { failure } : {}),
  };
  return { run: rehearsed, problems };
}

function problemKind(err: unknown): Problem['kind'] {
  const type = failureType(err);
  if (type === 'ScriptFailed' || (err instanceof StepFailed && err.step === 'applyUpdates')) return 'script';
  if (type === 'VerificationFailed') return 'verification';
  if (type === 'DiskFull' || (type === 'PreflightError' && /free space/.test(describe(err)))) return 'disk-space';
  if (err instanceof StepFailed && err.step === 'schemaDrift') return 'schema-drift';
  return 'step';
}
