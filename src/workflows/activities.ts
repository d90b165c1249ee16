// The workflow's activities by kind, each kind with the options its work needs.
import * as wf from '@temporalio/workflow';
import { ActivityCancellationType, type ActivityFunction, type RetryPolicy } from '@temporalio/common';
import type { ActivityFunctionWithOptions } from '@temporalio/workflow';
import type { Activities, TransferActivity } from '../activities/index.js';
import type { MigrationConfig } from '../config/schema.js';

/** Errors that retrying cannot mend; they fail the step at once. */
export const FATAL = [
  'PreflightError', 'NodeBusy', 'ScratchSpace', 'DataDirInUse', 'WrongCredentials', 'DatabaseNotFound', 'UnexpectedSchema', 'DiskFull',
  'ScriptFailed', 'ScriptChanged', 'DumpChanged', 'RestoreFailed', 'BulkLoadLost', 'ProbeMismatch', 'UnknownVersion', 'VerificationFailed', 'SwapStateUnknown',
];

/** Short steps: servers, checks, the swap, the report. */
type Control = Pick<Activities, 'preflight' | 'startServer' | 'stopServer' | 'prepareBulkLoad' | 'freshSchema' | 'schemaDrift' | 'swap' | 'removeWork' | 'writeReport' | 'prepareRehearsal' | 'measureGrowth'>;
/** Steps that move the database's bytes and rows: their time follows its size. */
type Transfer = Pick<Activities, TransferActivity>;
/** Steps on the Kubernetes cluster; a redeploy waits for the platform. */
type Cluster = Pick<Activities, 'stopApplications' | 'backupLdap' | 'redeploy' | 'ldapPlan' | 'ldapCommand' | 'restartPods'>;
/** Compensations: they must outlast an outage, since the alternative is asking the operator. */
type Undo = Pick<Activities, 'discardServer' | 'stopServer' | 'unswap' | 'restoreApplications' | 'undeployTarget' | 'writeReport' | 'removeScratch' | 'writeRehearsalReport'>;

/** Attempts whose waits (the first interval, doubling, at most a minute) add up to at least `minutes`. */
export function attemptsSpanning(minutes: number, firstIntervalSeconds: number): number {
  let attempts = 1;
  for (let waited = 0, wait = firstIntervalSeconds; waited < minutes * 60; wait = Math.min(wait * 2, 60)) {
    waited += wait;
    attempts += 1;
  }
  return attempts;
}

export function activitiesFor(config: MigrationConfig) {
  const common = {
    // A dead worker is noticed this soon: every activity heartbeats well within it.
    heartbeatTimeout: `${config.heartbeatTimeoutSeconds} seconds`,
    // Compensation must not start while a cancelled activity still writes.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  } as const;
  const retry = (maximumAttempts: number): RetryPolicy => ({
    initialInterval: `${config.retryIntervalSeconds} seconds`,
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts,
    nonRetryableErrorTypes: FATAL,
  });
  const ridingOut = (minutes: number) => retry(attemptsSpanning(minutes, config.retryIntervalSeconds));
  // The longest cluster step waits for the platform after running the deploy script.
  const clusterMinutes = (config.cluster.kind === 'kubernetes' ? config.cluster.redeploy.platformTimeoutMinutes : 0) + 15;
  return {
    control: wf.proxyActivities<Control>({ ...common, startToCloseTimeout: '15 minutes', retry: ridingOut(config.outageMinutes) }),
    // No byte or row moving for a while fails the attempt (the activity watches its own progress);
    // the day-long bound only catches what that cannot see.
    transfer: wf.proxyActivities<Transfer>({ ...common, startToCloseTimeout: '24 hours', retry: retry(config.activityAttempts) }),
    cluster: wf.proxyActivities<Cluster>({ ...common, startToCloseTimeout: `${clusterMinutes} minutes`, retry: ridingOut(config.outageMinutes) }),
    undo: wf.proxyActivities<Undo>({ ...common, startToCloseTimeout: `${clusterMinutes} minutes`, retry: ridingOut(3 * config.outageMinutes) }),
  };
}

export type Acts = ReturnType<typeof activitiesFor>;

/** Runs an activity with a summary the Web UI shows. */
export function run<F extends ActivityFunction>(fn: ActivityFunctionWithOptions<F>, summary: string, ...args: Parameters<F>): Promise<Awaited<ReturnType<F>>> {
  return fn.executeWithOptions({ summary }, args);
}
