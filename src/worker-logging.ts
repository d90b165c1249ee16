// One log line when each activity starts and one when it ends, so that the worker's log alone
// tells which step ran, which attempt it was, and how it ended. The same two moments go to the
// run's attempts journal, which the report reads: Temporal's history keeps only the last attempt.
import os from 'node:os';
import type { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger } from 'pino';
import { runContextOf } from './activities/context.js';
import { stepOf } from './activities/steps.js';
import { appendToJournal, attemptKeyOf, type JournalEntry, type WorkerProcess } from './attempt-journal.js';
import { layoutFor } from './config/layout.js';
import { PLAN_WORKFLOW_TYPE } from './shared.js';

export function activityLogging(log: Logger, node: string, identity: string): ActivityInterceptorsFactory {
  const worker: WorkerProcess = { host: os.hostname(), pid: process.pid, identity };
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const fields = { node, activity: ctx.info.activityType, attempt: ctx.info.attempt, workflowRun: ctx.info.workflowExecution?.runId };
        const journal = journalOf(ctx, input.args, log);
        const started = Date.now();
        log.info(fields, 'activity started');
        await journal?.write({ event: 'start', at: new Date(started).toISOString(), activityType: ctx.info.activityType, ...journal.place, worker });
        try {
          const result = await next(input);
          const ms = Date.now() - started;
          log.info({ ...fields, ms }, 'activity completed');
          await journal?.write({ event: 'end', at: new Date().toISOString(), outcome: 'completed', ms });
          return result;
        } catch (err) {
          const ms = Date.now() - started;
          const error = err instanceof Error ? err.message : String(err);
          log.warn({ ...fields, ms, error }, 'activity failed');
          await journal?.write({ event: 'end', at: new Date().toISOString(), ms, ...endOf(ctx, err, error) });
          throw err;
        }
      },
    },
  });
}

/**
 * Appends to the attempts journal of the call's run; a call without a RunContext has none, nor has
 * a plan: there is no run yet, and a plan leaves nothing on the node.
 */
function journalOf(ctx: Context, args: unknown[], log: Logger) {
  const key = attemptKeyOf(ctx.info);
  const run = runContextOf(args);
  if (!key || !run || ctx.info.workflowType === PLAN_WORKFLOW_TYPE) return undefined;
  try {
    const place = stepOf(ctx.info.activityType, args);
    if (!place) return undefined;
    const file = layoutFor(run.config, run.runTag).attempts;
    return { place, write: (entry: JournalEntry) => appendToJournal(file, { ...key, ...entry }, log) };
  } catch (err) {
    // Arguments unlike the workflow's: the step goes on unjournalled, as it would without the journal.
    log.warn({ activity: ctx.info.activityType, attempt: ctx.info.attempt, error: (err as Error).message }, 'attempts journal not written');
    return undefined;
  }
}

/** How an attempt that threw ended: cancelled (with the cancellation's reason) or failed (with its failure type). */
function endOf(ctx: Context, err: unknown, error: string): Pick<Extract<JournalEntry, { event: 'end' }>, 'outcome' | 'error' | 'failureType'> {
  const failureType = err instanceof ApplicationFailure ? (err.type ?? 'ApplicationFailure') : err instanceof Error ? err.name : typeof err;
  if (!ctx.cancellationSignal.aborted) return { outcome: 'failed', error, failureType };
  const reason = (ctx.cancellationSignal.reason as Error | undefined)?.message;
  return { outcome: 'cancelled', error: reason && reason !== error ? `${reason}: ${error}` : error, failureType };
}
