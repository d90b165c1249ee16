// Fault injection through Temporal activity interceptors: a step fails for good, or every
// activity fails once *after* doing its work (so each retry meets its own earlier effect).
import type { WorkerOptions } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';

/** Names an activity invocation by type and the argument that tells the steps apart. */
export function activityKey(type: string, args: unknown[]): string {
  const [, second, third] = args;
  if (type === 'applyUpdate') return `applyUpdate:${(third as { version: string }).version}`;
  return typeof second === 'string' ? `${type}:${second}` : type;
}

/** The first invocation matching `key` fails for good; later ones (e.g. compensations) run. */
export function failFirst(key: string): WorkerOptions['interceptors'] {
  let fired = false;
  return {
    activity: [
      (ctx) => ({
        inbound: {
          async execute(input, next) {
            if (!fired && activityKey(ctx.info.activityType, input.args) === key) {
              fired = true;
              throw ApplicationFailure.nonRetryable(`injected fault at ${key}`, 'InjectedFault');
            }
            return next(input);
          },
        },
      }),
    ],
  };
}

/** Every activity's first attempt does its work, then fails as if the worker lost the answer. */
export function failOnceAfterEffect(seen: string[]): WorkerOptions['interceptors'] {
  return {
    activity: [
      (ctx) => ({
        inbound: {
          async execute(input, next) {
            const result = await next(input);
            if (ctx.info.attempt === 1) {
              seen.push(activityKey(ctx.info.activityType, input.args));
              throw ApplicationFailure.retryable(`injected transient fault after ${ctx.info.activityType}`, 'InjectedTransient');
            }
            return result;
          },
        },
      }),
    ],
  };
}
