// One log line when each activity starts and one when it ends, so that the worker's journal alone
// tells which step ran, which attempt it was, and how it ended.
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger } from 'pino';

export function activityLogging(log: Logger, node: string): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const fields = { node, activity: ctx.info.activityType, attempt: ctx.info.attempt, workflowRun: ctx.info.workflowExecution?.runId };
        const started = Date.now();
        log.info(fields, 'activity started');
        try {
          const result = await next(input);
          log.info({ ...fields, ms: Date.now() - started }, 'activity completed');
          return result;
        } catch (err) {
          log.warn({ ...fields, ms: Date.now() - started, error: err instanceof Error ? err.message : String(err) }, 'activity failed');
          throw err;
        }
      },
    },
  });
}
