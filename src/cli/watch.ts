// `watch`: live progress of a node's migration from the `progress` query and the heartbeat details
// of the running activity; bars on a terminal, plain lines otherwise.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { MultiBar, Presets } from 'cli-progress';
import { WorkflowFailedError, type Client, type WorkflowExecutionDescription, type WorkflowExecutionStatusName, type WorkflowHandle } from '@temporalio/client';
import type { PayloadConverter } from '@temporalio/common';
import { layoutFor } from '../config/layout.js';
import { STEPS, progressQuery, rehearsalTagFor, runTagFor, taskQueueFor, type Phase, type Progress, type StepProgress } from '../shared.js';
import type { RehearsalReport } from '../report/rehearsal.js';
import type { MigrationInput } from '../config/input.js';
import { CliError, NOTHING_CHANGED, cli, migrationOf, parseNode, targetOf, withTemporal, type RunKind } from './common.js';
import { duration as secs, mib } from '../format.js';

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description("follow a node's migration (or its rehearsal) until it ends; exits 0 when it completed")
    .requiredOption('--node <name>', 'the node', parseNode)
    .option('--rehearsal', "follow the node's rehearsal instead")
    .action(async (opts: { node: string; rehearsal?: boolean }, command: Command) => {
      await withTemporal(targetOf(command), async (client) => finishWatch(await watchMigration(client, opts.node, { kind: opts.rehearsal ? 'rehearsal' : 'migration' })));
    });
}

export interface WatchOptions {
  /** Called with each phase the watch sees (the demo approves from here). */
  onPhase?: (phase: Phase) => Promise<void> | void;
  /** The node's migration (the default) or its rehearsal. */
  kind?: RunKind;
}

export interface WatchOutcome {
  node: string;
  kind: RunKind;
  status: WorkflowExecutionStatusName;
  progress?: Progress;
  reportPath?: string;
  /** Why it did not complete; the workflow's own message also says what state the data is in. */
  failure?: string;
  /** What a completed workflow returned (its report). */
  result?: unknown;
}

const QUERY_DEADLINE_MS = 5_000;

export async function watchMigration(client: Client, node: string, opts: WatchOptions = {}): Promise<WatchOutcome> {
  const out = process.stdout;
  const kind = opts.kind ?? 'migration';
  const handle = await migrationOf(client, node, kind);
  const converter = client.options.loadedDataConverter.payloadConverter;
  const view = out.isTTY ? barView(out, kind) : lineView(out);
  const eta = etaEstimator();
  let progress: Progress | undefined;
  let phase: Phase | undefined;
  let summarised = 0;
  try {
    for (;;) {
      const description = await handle.describe();
      const fresh = await queryProgress(client, handle);
      view.note(fresh ? undefined : `no worker answers on ${taskQueueFor(node)}: is kaapana-migrate-worker running on ${node}?`);
      progress = fresh ?? progress;
      if (progress) {
        for (const done of progress.completed.slice(summarised)) view.log(`✔ ${done.step} (${secs(done.ms)}): ${done.detail}`);
        summarised = progress.completed.length;
        if (progress.phase !== phase) {
          const message = phaseMessage(node, progress);
          phase = progress.phase;
          if (message) view.log(message);
          await opts.onPhase?.(phase);
        }
        const current = currentStep(progress, description, converter);
        view.update(progress, current, current && eta(current));
      }
      if (description.status.name !== 'RUNNING') return await outcome(client, handle, description, progress, node, kind, converter);
      await sleep(out.isTTY ? 500 : 1000);
    }
  } finally {
    view.stop();
  }
}

/** Prints how it ended; a migration that did not complete is an error (non-zero exit). */
export function finishWatch(o: WatchOutcome): void {
  const out = process.stdout;
  const report = o.reportPath ? `Report: ${o.reportPath}\n` : '';
  if (o.kind === 'rehearsal') return finishRehearsal(o, report);
  if (o.status === 'COMPLETED') {
    out.write(`✔ The migration of ${o.node} completed.\n${report}`);
    return;
  }
  out.write(report);
  const failure = o.failure ?? 'no reason given';
  // The workflow ends its failure message with the state it left: "…; rolled back: …".
  const stated = /^(.*?);\s*(nothing was changed|rolled back: .*|rollback incomplete .*)$/s.exec(failure);
  const state = stated?.[2] ?? stateOf(o);
  const aborted = o.status === 'CANCELLED';
  const ended: Partial<Record<WorkflowExecutionStatusName, string>> = { CANCELLED: 'was aborted', FAILED: 'failed', TERMINATED: 'was terminated', TIMED_OUT: 'timed out' };
  throw new CliError(
    `the migration of ${o.node} ${ended[o.status] ?? `ended ${o.status.toLowerCase()}`}: ${stated?.[1] ?? failure}`,
    state,
    `${aborted ? 'when ready' : `read the report${o.reportPath ? ` (${o.reportPath})` : ''}, remove the cause`}, then start again with ${cli('start --config <file>')}`,
  );
}

/** A rehearsal that found problems is an error too: the real migration would hit them. */
function finishRehearsal(o: WatchOutcome, report: string): void {
  const out = process.stdout;
  const result = o.result as RehearsalReport | undefined;
  if (o.status === 'COMPLETED' && result) {
    for (const run of result.runs) if (run.predictedMs !== undefined) out.write(`  predicted downtime, ${run.mode} mode: ${secs(run.predictedMs)}\n`);
    for (const p of result.problems) out.write(`  problem${p.mode ? ` (${p.mode})` : ''}: ${p.message}\n`);
    out.write(report);
    if (result.outcome === 'passed') {
      out.write(`✔ The rehearsal of ${o.node} passed: no problem found.\n`);
      return;
    }
    throw new CliError(`the rehearsal of ${o.node} found ${result.problems.length} problem(s) a real migration would hit`, 'the live database was only read; the rehearsal removed its scratch copies', `read the report${o.reportPath ? ` (${o.reportPath})` : ''}, remove the causes, then rehearse again with ${cli('rehearse --config <file>')}`);
  }
  out.write(report);
  throw new CliError(
    `the rehearsal of ${o.node} ${o.status === 'CANCELLED' ? 'was aborted' : `ended ${o.status.toLowerCase()}`}: ${o.failure ?? 'no reason given'}`,
    o.status === 'TERMINATED' ? `unknown: a terminated rehearsal leaves its scratch copies; the live database was only read` : 'the live database was only read; the rehearsal removed what it had made',
    `read the report${o.reportPath ? ` (${o.reportPath})` : ''}, then rehearse again with ${cli('rehearse --config <file>')}`,
  );
}

function stateOf(o: WatchOutcome): string {
  if (o.status === 'TERMINATED' || o.status === 'TIMED_OUT') {
    return 'unknown: a terminated workflow runs no rollback; compare the directories with the plan and the report before anything else';
  }
  if (o.progress?.phase === 'refused') return NOTHING_CHANGED;
  if (o.progress?.phase === 'rolled-back') return 'rolled back: the original database directory is in place (the report lists what was undone)';
  if (o.progress?.phase === 'failed') return 'rollback incomplete: see the report for what was not undone';
  return `unknown: no worker answered at the end (last seen: ${o.progress?.phase ?? 'nothing'}); the report says what was undone`;
}

function phaseMessage(node: string, p: Progress): string | undefined {
  switch (p.phase) {
    case 'awaiting-approval':
      return `⏸ The new database is verified. Waiting for approval of the directory swap: ${cli(`approve --node ${node}`)}`;
    case 'awaiting-resolution':
      return p.failure?.startsWith('undoing failed')
        ? `⏸ ${p.failure}. Waiting for a decision: ${cli(`resolve --node ${node} retry`)} tries the undo again (after you fixed the cause); ${cli(`resolve --node ${node} rollback`)} leaves it undone and goes on with the rest of the rollback`
        : `⏸ ${p.failure}. Waiting for a decision: ${cli(`resolve --node ${node} retry`)} or ${cli(`resolve --node ${node} rollback`)}`;
    case 'rolling-back':
      return `↩ Rolling back: ${p.failure}`;
    // A quick rollback may pass between two looks: these say it happened anyway.
    case 'rolled-back':
      return '↩ Rolled back.';
    case 'refused':
      return `✖ Refused before anything changed: ${p.failure}`;
    case 'failed':
      return '✖ The rollback is incomplete.';
    default:
      return undefined;
  }
}

async function queryProgress(client: Client, handle: WorkflowHandle): Promise<Progress | undefined> {
  return client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery)).catch(() => undefined);
}

/** The workflow's current step, with the finer progress the running activity heartbeats. */
function currentStep(p: Progress, d: WorkflowExecutionDescription, converter: PayloadConverter): StepProgress | undefined {
  if (!p.current) return undefined;
  // Two steps may run at once (their activities both pending): take the one of the step shown,
  // by the step its heartbeats name, or as the one that is not the other step's.
  const others = new Set((p.alongside ?? []).map((a) => a.step));
  const pending = (d.raw.pendingActivities ?? [])
    .map((activity) => {
      const payload = activity.heartbeatDetails?.payloads?.[0];
      return { activity, beat: payload ? converter.fromPayload<StepProgress | undefined>(payload) : undefined };
    })
    .filter((a) => !(a.beat && others.has(a.beat.step)));
  const mine = pending.find((a) => a.beat?.step === p.current!.step) ?? (pending.length === 1 ? pending[0] : undefined);
  const activity = mine?.activity;
  const beat = mine?.beat;
  const current: StepProgress = { ...p.current, ...(beat?.total !== undefined ? { done: beat.done, total: beat.total, unit: beat.unit } : {}) };
  if (beat?.detail) current.detail = beat.detail;
  if (activity && (activity.attempt ?? 1) > 1) current.detail = `${current.detail ?? ''} (attempt ${activity.attempt}; last failure: ${activity.lastFailure?.message ?? 'unknown'})`;
  if (others.size > 0) current.detail = `${current.detail ?? ''} (beside it: ${[...others].join(', ')})`;
  return current;
}

/**
 * Milliseconds left: the rate measured between the first look at this step's counter and its last
 * move, applied to what is left, minus the time since that move. Counters that move in jumps (the
 * update scripts move theirs when a script ends) count down between jumps; past the estimate
 * there is no honest figure, so none is shown.
 */
export function etaEstimator(now: () => number = Date.now) {
  let seen: { key: string; at: number; done: number; movedAt: number; movedDone: number } | undefined;
  return (s: StepProgress): number | undefined => {
    if (s.total === undefined || s.done === undefined) return undefined;
    const key = `${s.step}/${s.unit}/${s.total}`;
    const t = now();
    if (seen?.key !== key) {
      seen = { key, at: t, done: s.done, movedAt: t, movedDone: s.done };
      return undefined;
    }
    if (s.done !== seen.movedDone) Object.assign(seen, { movedAt: t, movedDone: s.done });
    const moved = seen.movedDone - seen.done;
    const elapsed = seen.movedAt - seen.at;
    if (moved <= 0 || elapsed < 1000) return undefined;
    const left = ((s.total - seen.movedDone) * elapsed) / moved - (t - seen.movedAt);
    return left > 0 ? left : undefined;
  };
}

async function outcome(client: Client, handle: WorkflowHandle, d: WorkflowExecutionDescription, last: Progress | undefined, node: string, kind: RunKind, converter: PayloadConverter): Promise<WatchOutcome> {
  // The last steps ran after our last query: ask once more (replayed by the worker).
  const progress = (await queryProgress(client, handle)) ?? last;
  const o: WatchOutcome = { node, kind, status: d.status.name, reportPath: progress?.reportPath ?? (await reportPathFromInput(handle, d, kind, converter)) };
  if (progress) o.progress = progress;
  if (o.status === 'COMPLETED') o.result = await handle.result();
  if (o.status === 'FAILED') {
    o.failure = await handle.result().then(
      () => undefined,
      (err) => (err instanceof WorkflowFailedError && err.cause ? err.cause.message : String(err)),
    );
  } else if (o.status !== 'COMPLETED') {
    o.failure = progress?.failure ?? o.status.toLowerCase();
  }
  return o;
}

/** Without a worker to ask, the report's place follows from the run's input and id. */
async function reportPathFromInput(handle: WorkflowHandle, d: WorkflowExecutionDescription, kind: RunKind, converter: PayloadConverter): Promise<string | undefined> {
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (!payload) return undefined;
  const input = converter.fromPayload<MigrationInput>(payload);
  const first = started?.firstExecutionRunId || d.runId;
  if (kind === 'rehearsal') return layoutFor(input.config, rehearsalTagFor(first)).report.markdown;
  // Inputs with a schema version came with the run tag from the id's random end; older runs took its start.
  return layoutFor(input.config, input.schemaVersion ? runTagFor(first) : first.slice(0, 8)).report.markdown;
}

interface View {
  update(p: Progress, current: StepProgress | undefined, etaMs: number | undefined): void;
  /** A line that stays (a finished step, a phase). */
  log(line: string): void;
  /** A passing remark (no worker answers); undefined clears it. */
  note(text: string | undefined): void;
  stop(): void;
}

const LABEL_WIDTH = Math.max(...STEPS.map((s) => s.length));

function barView(out: NodeJS.WriteStream, kind: RunKind): View {
  // forceRedraw: after log lines the bars move down and must be drawn again even if unchanged.
  const bars = new MultiBar(
    { stream: out, format: '{label} {bar} {amount}{etaText} {text}', barsize: 28, hideCursor: true, fps: 5, forceRedraw: true, emptyOnZero: true },
    Presets.shades_classic,
  );
  // cli-progress merges updates into the payload object: each bar needs its own.
  const blank = () => ({ label: ''.padEnd(LABEL_WIDTH), amount: '', etaText: '', text: '' });
  // A rehearsal runs the database steps once per mode: its count is told, not its total.
  const total = kind === 'migration' ? STEPS.length : 0;
  const overall = bars.create(total || 1, 0, blank());
  const step = bars.create(1, 0, blank());
  let note: string | undefined;
  let last: Progress | undefined;
  const showOverall = () => {
    const n = last?.completed.length ?? 0;
    overall.update(total ? n : 0, { ...blank(), label: kind.padEnd(LABEL_WIDTH), amount: total ? `${n}/${total} steps` : `${n} steps`, text: note ?? last?.phase ?? 'waiting for the worker' });
  };
  return {
    update(p, current, etaMs) {
      last = p;
      showOverall();
      if (!current) {
        step.update(0, blank());
        return;
      }
      step.setTotal(current.total || 1);
      step.update(current.total ? Math.min(current.done ?? 0, current.total) : 0, {
        label: current.step.padEnd(LABEL_WIDTH),
        amount: amountOf(current),
        etaText: etaMs === undefined ? '' : `, ETA ${secs(etaMs)}`,
        text: current.detail ?? '',
      });
    },
    // Erase what a bar left on the line the log line takes over.
    log: (line) => bars.log(`\x1b[2K${line}\n`),
    note(text) {
      note = text;
      showOverall();
    },
    stop: () => bars.stop(),
  };
}

const PLAIN_EVERY_MS = 5_000;

function lineView(out: NodeJS.WritableStream): View {
  let started = '';
  let printedAt = 0;
  let printed = '';
  let noted: string | undefined;
  const line = (text: string) => out.write(`${text}\n`);
  return {
    update(_p, current, etaMs) {
      if (!current) return;
      if (current.step !== started) {
        started = current.step;
        line(`▶ ${current.step}${current.detail ? `: ${current.detail}` : ''}`);
        printedAt = Date.now();
      }
      const amount = amountOf(current);
      if (amount && amount !== printed && Date.now() - printedAt >= PLAIN_EVERY_MS) {
        line(`  ${current.step}: ${amount}${etaMs === undefined ? '' : `, ETA ${secs(etaMs)}`}${current.detail ? ` (${current.detail})` : ''}`);
        printed = amount;
        printedAt = Date.now();
      }
    },
    log: line,
    note(text) {
      if (text && text !== noted) line(`! ${text}`);
      noted = text;
    },
    stop: () => undefined,
  };
}

/** The inventory counts tables under the unit 'rows' (its progress advances once per table). */
const UNIT_NAMES: Record<NonNullable<StepProgress['unit']>, string> = { bytes: 'bytes', rows: 'tables', rewrites: 'rows rewritten', scripts: 'scripts', commands: 'commands' };

export function amountOf(s: StepProgress): string {
  if (s.total === undefined || s.done === undefined) return '';
  // A dump's size is estimated from the database's: it may pass its total a little.
  const pct = s.total > 0 ? ` (${Math.min(100, Math.floor((100 * s.done) / s.total))}%)` : '';
  if (s.unit === 'bytes') return `${mib(s.done)} of ${mib(s.total)}${pct}`;
  if (s.unit === 'rewrites') return `${s.done.toLocaleString('en')} of ${s.total.toLocaleString('en')} rows rewritten${pct}`;
  return `${s.done}/${s.total} ${s.unit ? UNIT_NAMES[s.unit] : ''}`.trimEnd();
}
