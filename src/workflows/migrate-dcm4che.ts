// The migration workflow: it only decides (order, approval gate, saga); activities do the I/O.
import * as wf from '@temporalio/workflow';
import { ActivityCancellationType, ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import type { RunContext } from '../activities/context.js';
import type { InventoryResult } from '../activities/inventory.js';
import type { ServerRole } from '../config/layout.js';
import { configSchema, type MigrationConfig } from '../config/schema.js';
import type { MigrationReport } from '../report/types.js';
import {
  approveSwapSignal,
  approveSwapUpdate,
  progressQuery,
  resolveSignal,
  resolveUpdate,
  SA_ARCHIVE_VERSION,
  SA_NODE,
  SA_PHASE,
  type Approval,
  type Phase,
  type Progress,
  type ApprovalRequest,
  type Resolution,
  type StepName,
} from '../shared.js';
import { duration as secs, mib } from '../format.js';

export interface MigrationInput {
  /** Holds the password only by reference (environment variable or file on the worker's node). */
  config: MigrationConfig;
}

/** Errors that retrying cannot mend; they fail the step at once. */
const FATAL = [
  'PreflightError', 'DataDirInUse', 'WrongCredentials', 'DatabaseNotFound', 'UnexpectedSchema', 'DiskFull',
  'ScriptFailed', 'ScriptChanged', 'DumpChanged', 'RestoreFailed', 'BulkLoadLost', 'ProbeMismatch', 'UnknownVersion', 'VerificationFailed', 'SwapStateUnknown',
];

type Act = ReturnType<typeof wf.proxyActivities<Activities>>;

function activitiesFor(config: MigrationConfig) {
  const acts = wf.proxyActivities<Activities>({
    startToCloseTimeout: '8 hours',
    heartbeatTimeout: `${config.heartbeatTimeoutSeconds} seconds`,
    // Compensation must not start while a cancelled activity still writes.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: `${config.retryIntervalSeconds} seconds`, backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: config.activityAttempts, nonRetryableErrorTypes: FATAL },
  });
  /** Run an activity with a summary that the Web UI shows. */
  return function call<K extends keyof Act>(name: K, summary: string, ...args: Parameters<Act[K]>): ReturnType<Act[K]> {
    return (acts[name] as unknown as { executeWithOptions(o: { summary: string }, a: unknown[]): ReturnType<Act[K]> }).executeWithOptions({ summary }, args);
  };
}

export async function migrateDcm4che(input: MigrationInput): Promise<MigrationReport> {
  // Input written by hand for the temporal CLI gets the same checks and defaults as our own.
  const parsed = configSchema.safeParse(input?.config);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`the workflow input is not a valid configuration: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}; nothing was changed`, 'InvalidInput');
  }
  const config = parsed.data;
  const call = activitiesFor(config);
  const info = wf.workflowInfo();
  const ctx: RunContext = { config, runTag: info.runId.slice(0, 8) };
  const now = () => new Date(Date.now()).toISOString();

  const progress: Progress = { phase: 'running', completed: [], verified: false };
  const report: MigrationReport = {
    node: config.node,
    workflowId: info.workflowId,
    runId: info.runId,
    runTag: ctx.runTag,
    startedAt: now(),
    outcome: 'failed',
    versions: { from: config.versions.from, to: config.versions.to, alreadyPresent: [], applied: [] },
    steps: [],
    dumps: [],
    scripts: [],
    ldap: [],
  };
  let approval: Approval | undefined;
  let resolution: Resolution | undefined;

  wf.setHandler(progressQuery, () => progress);
  /** The update and the signal approve alike; the query shows the approval at once. */
  const accept = (a: ApprovalRequest | undefined): Approval => (progress.approval = approval = acceptApproval(a, now()));
  wf.setHandler(
    approveSwapUpdate,
    accept,
    {
      validator: (_request) => {
        if (!progress.verified) throw new Error('the new database is not verified yet; approval is possible once the workflow waits at awaitApproval');
        if (approval) throw new Error(`already approved by ${approval.by} at ${approval.at}`);
      },
    },
  );
  // Signals cannot be refused: one that comes before the verification is ignored.
  wf.setHandler(approveSwapSignal, (a) => {
    if (progress.verified && !approval) accept(a);
  });
  const acceptResolution = (r: Resolution) => {
    resolution = r;
    return r;
  };
  wf.setHandler(resolveUpdate, acceptResolution, {
    validator: (r) => {
      if (progress.phase !== 'awaiting-resolution') throw new Error('nothing waits for a resolution now');
      if (resolution !== undefined) throw new Error(`already resolved with "${resolution}"`);
      if (r !== 'retry' && r !== 'rollback') throw new Error('resolve with "retry" or "rollback"');
    },
  });
  wf.setHandler(resolveSignal, (r) => {
    if (progress.phase === 'awaiting-resolution' && (r === 'retry' || r === 'rollback')) acceptResolution(r);
  });

  const setPhase = (phase: Phase) => {
    progress.phase = phase;
    wf.upsertSearchAttributes([{ key: SA_PHASE, value: phase === 'running' ? progress.current?.step ?? phase : phase }]);
    showDetails();
  };
  const showDetails = () => {
    const done = progress.completed.map((c) => `- ✔ ${c.step}: ${c.detail}`).join('\n');
    const current = progress.current ? `\n- ▶ **${progress.current.step}**${progress.current.detail ? `: ${progress.current.detail}` : ''}` : '';
    const waiting =
      progress.phase === 'awaiting-approval'
        ? `\n\n**Waiting for approval of the directory swap.** Approve with \`kaapana-migrate approve --node ${config.node}\`.`
        : progress.phase === 'awaiting-resolution'
          ? `\n\n**A cluster step failed: ${progress.failure}.** Answer with \`kaapana-migrate resolve --node ${config.node} retry|rollback\`.`
          : '';
    wf.setCurrentDetails(`**${config.node}**: ${progress.phase}\n\n${done}${current}${waiting}`);
  };
  wf.upsertSearchAttributes([{ key: SA_NODE, value: config.node }]);

  /** Runs one step; records it for the progress query, the Web UI and the report. */
  async function step<T>(name: StepName, detail: string, fn: () => Promise<T>, summarise: (r: T) => string = () => detail, phase: Phase = 'running'): Promise<T> {
    progress.current = { step: name, detail };
    setPhase(phase);
    const started = Date.now();
    const startedAt = now();
    try {
      const result = await fn();
      const summary = summarise(result);
      progress.completed.push({ step: name, detail: summary, ms: Date.now() - started });
      report.steps.push({ step: name, detail: summary, startedAt, ms: Date.now() - started, status: 'ok' });
      return result;
    } catch (err) {
      report.steps.push({ step: name, detail: describe(err), startedAt, ms: Date.now() - started, status: 'failed' });
      if (wf.isCancellation(err)) throw err;
      throw new StepFailed(name, err);
    } finally {
      progress.current = undefined;
    }
  }
  const skip = (name: StepName, why: string) => {
    report.steps.push({ step: name, detail: why, startedAt: now(), ms: 0, status: 'skipped' });
    progress.completed.push({ step: name, detail: `skipped: ${why}`, ms: 0 });
  };

  /** Waits in phase awaiting-resolution (progress.failure says what failed) for the operator's decision. */
  async function awaitResolution(): Promise<Resolution> {
    resolution = undefined;
    setPhase('awaiting-resolution');
    await wf.condition(() => resolution !== undefined);
    progress.failure = undefined;
    return resolution!;
  }

  /** After the swap a failed cluster step waits for the operator rather than rolling back alone. */
  async function resolvable<T>(name: StepName, detail: string, fn: () => Promise<T>, summarise?: (r: T) => string): Promise<T> {
    for (;;) {
      try {
        return await step(name, detail, fn, summarise);
      } catch (err) {
        if (wf.isCancellation(err)) throw err;
        progress.failure = `${name}: ${describe(err)}`;
        if ((await awaitResolution()) === 'rollback') throw err;
      }
    }
  }

  const compensations: { what: string; run: () => Promise<string | void> }[] = [];
  const onRollback = (what: string, run: () => Promise<string | void>) => compensations.push({ what, run });
  const discard = (role: ServerRole) => onRollback(`discard the ${role} server`, () => call('discardServer', `discard the ${role} server`, ctx, role));
  const kube = config.cluster.kind === 'kubernetes';

  try {
    const plan = await step('preflight', 'checks before anything changes', () => call('preflight', 'preflight checks', ctx), (p) =>
      `${p.scripts.length} update scripts (${p.scripts.map((s) => s.version).join(', ')}); database directory ${(p.dataDirBytes / 2 ** 20).toFixed(0)} MiB`,
    );

    if (kube) {
      // Registered first: it undoes a stop that failed half-way too, and after an undeploy of 0.2.x
      // it deploys 0.2.x again (it reads what to do from the cluster).
      onRollback('bring the 0.2.x applications back', () => call('restoreApplications', 'bring the 0.2.x applications back', ctx));
      await step('stopApplications', 'scale dcm4chee and postgres-dcm4che to 0', () => call('stopApplications', 'scale applications to 0', ctx), (r) =>
        `was ${Object.entries(r).map(([d, n]) => `${d}=${n}`).join(', ')}`,
      );
      report.ldapBackup = await step('backupLdap', 'export the LDAP tree before anything changes it', () => call('backupLdap', 'export the LDAP tree', ctx), (f) => f ?? 'nothing exported');
    } else {
      skip('stopApplications', 'no cluster configured');
      skip('backupLdap', 'no cluster configured');
    }

    onRollback('stop the original server', () =>
      // Patched: runs recorded before this change only stopped it, leaving its container behind.
      wf.patched('rollback-removes-original-container')
        ? call('discardServer', 'stop and remove the original server', ctx, 'original')
        : call('stopServer', 'stop the original server', ctx, 'original').then(() => 'stopped the original server'),
    );
    await step('startOriginal', `PostgreSQL 9.6 on ${plan.layout.original}, read-only sessions`, () => call('startServer', 'start the original (read-only)', ctx, 'original'));
    const before = await step('inventory', `tables, row counts${config.verification === 'checksums' ? ', checksums' : ''}, applied versions`, () => call('inventory', 'inventory of the original', ctx, 'original'), (r) =>
      `${Object.keys(r.inventory.tables).length} tables, ${r.inventory.guide.sopIuids.count} instances, ${r.inventory.guide.seriesIuids.count} series; at ${r.appliedVersions.at(-1) ?? '5.26'}`,
    );
    report.tablesBefore = before.inventory.tables;
    report.guideBefore = before.inventory.guide;
    report.versions.alreadyPresent = before.appliedVersions;
    wf.upsertSearchAttributes([{ key: SA_ARCHIVE_VERSION, value: before.appliedVersions.at(-1) ?? '5.26' }]);
    const pending = plan.scripts.filter((s) => !before.appliedVersions.includes(s.version));
    const targetVersions = [...before.appliedVersions, ...pending.map((s) => s.version)];
    const applyUpdates = (role: ServerRole) =>
      step('applyUpdates', `${pending.length} scripts on the ${role} server, each in one transaction`, async () => {
        // A script's time follows the rows it rewrites, not its place in the list: progress (and
        // the watch's ETA) count those rows. Plans recorded before `rewrites` existed count scripts.
        const weights = pending.map((script) => 1 + (script.rewrites ?? []).reduce((sum, table) => sum + (before.inventory.tables[table]?.count ?? 0), 0));
        const total = weights.reduce((a, b) => a + b, 0);
        let done = 0;
        for (const [i, script] of pending.entries()) {
          progress.current = { step: 'applyUpdates', detail: `update-${script.version}-psql.sql`, done, total, unit: 'rewrites' };
          done += weights[i]!;
          showDetails();
          const result = await call('applyUpdate', `apply update-${script.version}-psql.sql`, ctx, role, script);
          report.scripts.push(result);
          report.versions.applied.push(script.version);
          wf.upsertSearchAttributes([{ key: SA_ARCHIVE_VERSION, value: script.version }]);
        }
      }, () => `${report.scripts.map((s) => `${s.version} ${secs(s.ms)}`).join(', ') || 'nothing to apply'}`);

    let after: InventoryResult;
    if (config.mode === 'fast') {
      // No 9.6 working copy: one dump, streamed into PostgreSQL 15 under bulk-load settings.
      skip('dumpOriginal', 'fast mode: the dump streams into restoreNew');
      discard('new');
      await step('startNew', `PostgreSQL 15 on ${plan.layout.new}, bulk-load settings`, () => call('prepareBulkLoad', 'start PostgreSQL 15 for a bulk load', ctx), () => 'fsync off until the load is done');
      const dumped = await step('restoreNew', 'dump to the backup and into PostgreSQL 15 in one pass; every table compared', async () => {
        const dump = await call('streamOriginalToNew', 'dump and restore in one pass', ctx, before.inventory.tableBytes);
        await call('verify', 'verify the load against the inventory', ctx, 'new', before, before.appliedVersions);
        return dump;
      }, (d) => `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…; all tables equal`);
      report.dumps.push({ name: 'original', ...dumped });
      await step('stopOriginal', 'stop the original server', () => call('stopServer', 'stop the original server', ctx, 'original'));
      for (const name of ['startWork', 'restoreWork', 'verifyWork'] as const) skip(name, 'fast mode: no intermediate 9.6 copy');
      await applyUpdates('new');
      skip('dumpUpdated', 'fast mode: the original dump is the backup');
      skip('stopWork', 'fast mode: no intermediate 9.6 copy');
      after = await step('verifyNew', 'durable again; every table and the guide figures against the inventory', async () => {
        await call('restoreDurability', 'make the new server durable', ctx);
        const result: InventoryResult = await call('inventory', 'inventory of the new database', ctx, 'new');
        const problems = updatedProblems(before, result, targetVersions);
        if (problems.length > 0) throw ApplicationFailure.nonRetryable(`the new database does not match: ${problems.join('; ')}`, 'VerificationFailed');
        return result;
      }, () => `all tables equal; archive ${targetVersions.at(-1) ?? '5.26'}`);
    } else {
      const dumpOriginal = await step('dumpOriginal', `plain SQL to ${plan.layout.dumps.original}`, () => call('dump', 'dump the original', ctx, 'original', 'original', before.inventory.tableBytes), (d) =>
        `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…`,
      );
      report.dumps.push({ name: 'original', ...dumpOriginal });
      await step('stopOriginal', 'stop the original server', () => call('stopServer', 'stop the original server', ctx, 'original'));

      discard('work');
      await step('startWork', `PostgreSQL 9.6 on ${plan.layout.work}`, () => call('startServer', 'start the 9.6 working server', ctx, 'work'));
      await step('restoreWork', 'into an empty pacsdb, replica role, one transaction', () => call('restore', 'restore into the 9.6 working copy', ctx, 'work', dumpOriginal), (r) => `${mib(r.bytes)} in ${secs(r.ms)}`);
      await step('verifyWork', 'every table against the inventory', () => call('verify', 'verify the working copy', ctx, 'work', before, before.appliedVersions), () => 'all tables equal');
      await applyUpdates('work');

      const updated = await step('dumpUpdated', `plain SQL to ${plan.layout.dumps.updated}`, async () => {
        const inventory: InventoryResult = await call('inventory', 'inventory after the updates', ctx, 'work');
        const problems = updatedProblems(before, inventory, targetVersions);
        if (problems.length > 0) throw ApplicationFailure.nonRetryable(`the updated database does not match: ${problems.join('; ')}`, 'VerificationFailed');
        const dump = await call('dump', 'dump the updated database', ctx, 'work', 'updated', inventory.inventory.tableBytes);
        return { inventory, dump };
      }, (u) => `${mib(u.dump.bytes)}, sha256 ${u.dump.sha256.slice(0, 12)}…`);
      report.dumps.push({ name: 'updated', ...updated.dump });
      await step('stopWork', 'stop the 9.6 working server', () => call('stopServer', 'stop the working server', ctx, 'work'));

      discard('new');
      await step('startNew', `PostgreSQL 15 on ${plan.layout.new}`, () => call('startServer', 'start the new PostgreSQL 15 server', ctx, 'new'));
      await step('restoreNew', 'into an empty pacsdb, replica role, one transaction', () => call('restore', 'restore into PostgreSQL 15', ctx, 'new', updated.dump), (r) => `${mib(r.bytes)} in ${secs(r.ms)}`);
      after = await step('verifyNew', 'every table against the updated database', () => call('verify', 'verify the new database', ctx, 'new', updated.inventory, targetVersions), () =>
        `all tables equal; archive ${targetVersions.at(-1) ?? '5.26'}`,
      );
    }
    report.tablesAfter = after.inventory.tables;
    report.guideAfter = after.inventory.guide;
    await step('stopNew', 'stop the new server', () => call('stopServer', 'stop the new server', ctx, 'new'));

    progress.verified = true;
    const timeout = config.approval.timeoutMinutes;
    await step(
      'awaitApproval',
      'waiting for approveSwap',
      async () => {
        const approved = timeout ? await wf.condition(() => approval !== undefined, timeout * 60_000) : await wf.condition(() => approval !== undefined).then(() => true);
        // Thrown inside the step, so that the report and the progress show the gate as failed.
        if (!approved) throw ApplicationFailure.nonRetryable(`no approval within ${timeout} minutes`, 'ApprovalTimeout');
      },
      () => `approved by ${approval?.by ?? 'nobody'}`,
      'awaiting-approval',
    );
    report.approval = approval;

    onRollback('put the original directory back', () => call('unswap', 'put the original directory back', ctx, wf.uuid4().slice(0, 8)));
    await step('swap', `${plan.layout.original} → ${plan.layout.retired}, ${plan.layout.new} → ${plan.layout.original}`, () => call('swap', 'swap the directories', ctx), (r) => r);
    await step('removeWork', `remove ${plan.layout.work}`, () => call('removeWork', 'remove the 9.6 working copy', ctx), (r) => r);

    if (kube) {
      // Registered before the redeploy starts: whatever it reached (0.2.x undeployed, 0.3.x half
      // deployed or never Ready), undoing takes 0.3.x down, so that no database server runs on
      // the live directory while the swap is undone.
      onRollback('take the 0.3.x platform down', () => call('undeployTarget', 'undeploy the 0.3.x platform', ctx));
      await resolvable('redeploy', 'Kaapana 0.3.x: undeploy 0.2.x, deploy 0.3.x, wait for the platform', () => call('redeploy', 'redeploy Kaapana 0.3.x', ctx), (r) => r);
      const ldap = await resolvable('ldapUpdate', 'list the data updates the ldap pod ships', () => call('ldapPlan', 'list the LDAP update commands', ctx), (p) =>
        `${p.commands.length} commands`,
      );
      report.ldapNeverApplied = ldap.neverApplied;
      for (const command of ldap.commands) {
        const result = await resolvable('ldapUpdate', command.argv.join(' '), () => call('ldapCommand', command.argv.join(' '), ctx, command.argv), (r) =>
          `${command.argv.join(' ')}: exit ${r.exitCode}${r.alreadyApplied ? ' (already applied)' : ''}`,
        );
        report.ldap.push({ argv: result.argv, exitCode: result.exitCode, alreadyApplied: result.alreadyApplied, ms: result.ms, stdout: result.stdout, stderr: result.stderr });
      }
      await resolvable('restartPods', 'delete dcm4chee and ldap pods, wait for Ready', () => call('restartPods', 'restart dcm4chee and ldap', ctx));
    } else {
      for (const name of ['redeploy', 'ldapUpdate', 'restartPods'] as const) skip(name, 'no cluster configured: run these by hand (see the README)');
    }

    report.outcome = 'completed';
    report.endedAt = now();
    // The migration is done: a report that cannot be written must not undo it.
    progress.reportPath = await step('report', 'write the report', () => call('writeReport', 'write the report', ctx, report), (p) => p).catch((err: unknown) => {
      progress.failure = `the report could not be written (${describe(err)}); the workflow result holds it`;
      return undefined;
    });
    setPhase('completed');
    return report;
  } catch (err) {
    const reason = describe(err);
    progress.failure = reason;
    if (refused(err)) {
      // Nothing ran but the read-only checks: there is nothing to undo.
      report.outcome = 'refused';
      report.endedAt = now();
      progress.reportPath = await call('writeReport', 'write the report', ctx, report).catch(() => undefined);
      setPhase('refused');
      throw ApplicationFailure.nonRetryable(`${reason}; nothing was changed`, 'MigrationRefused');
    }
    setPhase('rolling-back');
    report.rollback = { reason, undone: [], notUndone: [] };
    // Undo even when the workflow itself was cancelled.
    await wf.CancellationScope.nonCancellable(async () => {
      for (const c of compensations.reverse()) {
        // An undo that fails after its retries must not let the rest run as if it had worked:
        // the operator decides (retry it, or leave it undone and go on with the rest).
        for (;;) {
          try {
            report.rollback!.undone.push((await c.run()) || c.what);
            break;
          } catch (cerr) {
            progress.failure = `undoing failed: ${c.what}: ${describe(cerr)}`;
            const decision = await awaitResolution();
            progress.failure = reason;
            setPhase('rolling-back');
            if (decision === 'retry') continue;
            report.rollback!.notUndone.push(`${c.what}: ${describe(cerr)}`);
            break;
          }
        }
      }
      report.outcome = report.rollback!.notUndone.length === 0 ? 'rolled-back' : 'failed';
      report.endedAt = now();
      progress.reportPath = await call('writeReport', 'write the report', ctx, report).catch(() => undefined);
    });
    setPhase(report.outcome === 'rolled-back' ? 'rolled-back' : 'failed');
    if (wf.isCancellation(err)) throw err;
    const state =
      report.outcome === 'rolled-back'
          ? 'rolled back: the original database directory is in place and unchanged'
          : `rollback incomplete (${report.rollback.notUndone.join('; ')}): see the report`;
    throw ApplicationFailure.nonRetryable(`${reason}; ${state}`, 'MigrationFailed');
  }
}

/**
 * After the updates: every original table keeps its rows, the identifiers the updates never touch
 * keep their fingerprints, and the schema carries every target version.
 */
function updatedProblems(before: InventoryResult, after: InventoryResult, targetVersions: string[]): string[] {
  const problems: string[] = [];
  for (const [table, facts] of Object.entries(before.inventory.tables)) {
    // No update of the chain drops a table or deletes rows of one that exists at 5.26.
    const now = after.inventory.tables[table];
    if (!now) problems.push(`table ${table} is missing`);
    else if (now.count !== facts.count) problems.push(`table ${table} has ${now.count} rows, expected ${facts.count}`);
  }
  for (const key of ['seriesIuids', 'sopIuids', 'storagePaths'] as const) {
    const b = before.inventory.guide[key];
    const a = after.inventory.guide[key];
    if (a.count !== b.count || a.checksum !== b.checksum) problems.push(`${key}: ${a.count} values, expected ${b.count} (checksum ${a.checksum === b.checksum ? 'equal' : 'differs'})`);
  }
  const missing = targetVersions.filter((v) => !after.appliedVersions.includes(v));
  if (missing.length > 0) problems.push(`archive versions not applied: ${missing.join(', ')}`);
  return problems;
}

/** The approval a request gives: who (unknown when unnamed), when, and the comment if any. */
function acceptApproval(a: ApprovalRequest | undefined, at: string): Approval {
  return { by: a?.by || 'unknown', at, ...(a?.comment ? { comment: a.comment } : {}) };
}

/** Preflight failed, or the input was bad: the workflow changed nothing. */
function refused(err: unknown): boolean {
  return err instanceof StepFailed && err.step === 'preflight';
}

class StepFailed extends Error {
  constructor(
    readonly step: StepName,
    readonly cause: unknown,
  ) {
    super(`step ${step} failed: ${rootMessage(cause)}`);
    this.name = 'StepFailed';
  }
}

/** The activity's own message: activity failures wrap it, and it may wrap a lower-level cause. */
function rootMessage(err: unknown): string {
  let e = err as { name?: string; message?: string; cause?: unknown } | undefined;
  while (e && e.name !== 'ApplicationFailure' && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message ?? String(err);
}

function describe(err: unknown): string {
  return err instanceof StepFailed ? err.message : rootMessage(err);
}
