// The attempts journal of a run: Temporal's history keeps only an activity's last attempt, so the
// worker appends one JSON line when each attempt starts and one when it ends (and an activity may
// note what it reached). An attempt with a start and no end belonged to a worker that died.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { exists, fsyncPath } from './files.js';
import type { StepName } from './shared.js';

/** Compensations are no step of their own: their attempts count as the rollback's. */
export type AttemptStep = StepName | 'rollback';

/** The worker process that ran an attempt. */
export interface WorkerProcess {
  host: string;
  pid: number;
  /** The worker's identity towards Temporal (what the Web UI shows for the attempt). */
  identity: string;
}

export interface AttemptKey {
  workflowRunId: string;
  activityId: string;
  attempt: number;
}

export type JournalEntry =
  | { event: 'start'; at: string; activityType: string; step: AttemptStep; subject?: string; worker: WorkerProcess }
  /** cancelled: `error` starts with the cancellation's reason (CANCELLED, TIMED_OUT, WORKER_SHUTDOWN, …). */
  | { event: 'end'; at: string; outcome: 'completed' | 'failed' | 'cancelled'; error?: string; failureType?: string; ms: number }
  | { event: 'note'; at: string; note: string };

export type JournalRecord = AttemptKey & JournalEntry;

/** One attempt as the report shows it. */
export interface Attempt {
  step: AttemptStep;
  activityType: string;
  /** Which one of several calls of the activity: the server role, the script version, … */
  subject?: string;
  activityId: string;
  attempt: number;
  worker: WorkerProcess;
  startedAt: string;
  /** lost: started, never ended (its worker died). */
  outcome: 'completed' | 'failed' | 'cancelled' | 'lost';
  error?: string;
  failureType?: string;
  ms?: number;
  notes?: { at: string; note: string }[];
}

/** The attempt an activity runs in (from `Context.current().info`); none outside a workflow. */
export function attemptKeyOf(info: { activityId: string; attempt: number; workflowExecution?: { runId: string } }): AttemptKey | undefined {
  return info.workflowExecution ? { workflowRunId: info.workflowExecution.runId, activityId: info.activityId, attempt: info.attempt } : undefined;
}

/**
 * Appends one line and flushes it: a killed worker's last start line must survive it, a machine
 * crash too (the append that creates the file flushes its directory as well). An append, never a
 * rewrite: lines other workers append meanwhile are kept, and a crash can tear only the last line
 * (readJournal skips it). The run's directory is created with the first line (preflight runs
 * before any dump has made it). A line that cannot be written is a warning, never an error: the
 * journal serves the report, not the step.
 */
export async function appendToJournal(file: string, record: JournalRecord, log: Logger): Promise<void> {
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const creating = !(await exists(file));
    const handle = await fs.open(file, 'a', 0o600);
    try {
      await handle.appendFile(`${JSON.stringify(record)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (creating) await fsyncPath(path.dirname(file));
  } catch (err) {
    log.warn({ file, activityId: record.activityId, attempt: record.attempt, error: (err as Error).message }, 'attempts journal not written');
  }
}

/** Every record of the journal; none when there is none. A line torn by a machine crash is skipped. */
export async function readJournal(file: string): Promise<JournalRecord[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return text.split('\n').flatMap((line) => {
    try {
      return line ? [JSON.parse(line) as JournalRecord] : [];
    } catch {
      return [];
    }
  });
}

export interface AttemptsView {
  workflowRunId: string;
  /** The attempt reading the journal (it has no end yet, and is not lost). */
  reader?: AttemptKey;
  /** The process reading it: an attempt of its own without an end has not ended, not died. */
  self?: { host: string; pid: number };
}

/** The attempts of one workflow run, in the order they started. */
export function attemptsOf(records: JournalRecord[], view: AttemptsView): Attempt[] {
  const self = view.self ?? { host: os.hostname(), pid: process.pid };
  const key = (k: AttemptKey) => `${k.activityId}#${k.attempt}`;
  const attempts = new Map<string, Attempt>();
  const ends = new Map<string, Extract<JournalRecord, { event: 'end' }>>();
  const notes = new Map<string, { at: string; note: string }[]>();
  for (const r of records) {
    if (r.workflowRunId !== view.workflowRunId) continue;
    if (r.event === 'start') {
      attempts.set(key(r), {
        step: r.step,
        activityType: r.activityType,
        ...(r.subject ? { subject: r.subject } : {}),
        activityId: r.activityId,
        attempt: r.attempt,
        worker: r.worker,
        startedAt: r.at,
        outcome: 'lost',
      });
    } else if (r.event === 'end') ends.set(key(r), r);
    else notes.set(key(r), [...(notes.get(key(r)) ?? []), { at: r.at, note: r.note }]);
  }
  const out: Attempt[] = [];
  for (const [k, a] of attempts) {
    if (view.reader && k === key(view.reader)) continue;
    const end = ends.get(k);
    const noted = notes.get(k);
    if (noted) a.notes = noted;
    if (end) {
      a.outcome = end.outcome;
      if (end.error !== undefined) a.error = end.error;
      if (end.failureType !== undefined) a.failureType = end.failureType;
      a.ms = end.ms;
    } else {
      a.error =
        a.worker.host === self.host && a.worker.pid === self.pid
          ? 'no end recorded: it was still running in this worker process when the report was written'
          : `the worker process ${a.worker.pid} on ${a.worker.host} ended during it`;
    }
    out.push(a);
  }
  return out.sort((x, y) => x.startedAt.localeCompare(y.startedAt));
}
