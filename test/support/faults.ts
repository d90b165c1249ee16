// Fault injection through Temporal activity interceptors: a step fails for good, or every
// activity fails once *after* doing its work (so each retry meets its own earlier effect).
import type { WorkerOptions } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import type { StepName } from '../../src/shared.js';

/** Names an activity invocation by type and the argument that tells the steps apart. */
export function activityKey(type: string, args: unknown[]): string {
  const [, second, third] = args;
  if (type === 'applyUpdate') return `applyUpdate:${(third as { version: string }).version}`;
  return typeof second === 'string' ? `${type}:${second}` : type;
}

/**
 * Where each step can be made to fail: the activity invocation to fault. Cluster steps
 * (CLUSTER_STEPS) are faulted in the cluster workflow test; 'gate': the approval gate, whose
 * fault is the timeout.
 */
export const STEP_FAULTS: Record<StepName, string> = {
  preflight: 'preflight',
  stopApplications: 'stopApplications',
  backupLdap: 'backupLdap',
  startOriginal: 'startServer:original',
  inventory: 'inventory:original',
  dumpOriginal: 'dump:original',
  stopOriginal: 'stopServer:original',
  startWork: 'startServer:work',
  restoreWork: 'restore:work',
  verifyWork: 'verify:work',
  applyUpdates: 'applyUpdate:5.30',
  dumpUpdated: 'dump:work',
  stopWork: 'stopServer:work',
  startNew: 'startServer:new',
  restoreNew: 'restore:new',
  verifyNew: 'verify:new',
  stopNew: 'stopServer:new',
  awaitApproval: 'gate',
  swap: 'swap',
  removeWork: 'removeWork',
  redeploy: 'redeploy:forward',
  ldapUpdate: 'ldapCommand',
  restartPods: 'restartPods',
  report: 'writeReport',
};

/** Steps that only a node with a cluster runs. */
export const CLUSTER_STEPS: ReadonlySet<StepName> = new Set(['stopApplications', 'backupLdap', 'redeploy', 'ldapUpdate', 'restartPods']);

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
