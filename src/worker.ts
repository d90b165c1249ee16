// Building the node's worker: the workflow bundle plus activities bound to real adapters.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type NativeConnection, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from './activities/index.js';
import type { ActivityDeps } from './activities/context.js';
import { realDeps } from './deps.js';
import { taskQueueFor } from './shared.js';

const here = fileURLToPath(import.meta.url);
/** The workflows entry beside this file (`.ts` under tsx, `.js` once built). */
export const workflowsPath = path.join(path.dirname(here), 'workflows', `index${path.extname(here)}`);

/** Written by `npm run build` (src/bundle.ts) beside the compiled sources. */
export const prebuiltBundlePath = path.join(path.dirname(here), '..', 'workflow-bundle.js');

export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
}

/** The SDK's own log lines go through the same structured (JSON) logger as ours. */
export function installRuntimeLogging(log: Logger): void {
  Runtime.install({
    logger: new DefaultLogger('INFO', ({ level, message, meta }) => {
      log[level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error']({ sdk: meta }, message);
    }),
  });
}

export interface MigrationWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  node: string;
  log: Logger;
  /** A prebuilt bundle starts the worker faster (and once per process in tests). */
  workflowBundle?: WorkflowBundleWithSourceMap;
  deps?: Partial<ActivityDeps>;
  /** Temporal interceptors (the fault-injection tests use activity interceptors). */
  interceptors?: WorkerOptions['interceptors'];
}

export async function createMigrationWorker(opts: MigrationWorkerOptions): Promise<Worker> {
  const deps: ActivityDeps = { ...realDeps(opts.log), ...opts.deps };
  const prebuilt = opts.workflowBundle ? undefined : await fs.access(prebuiltBundlePath).then(() => ({ codePath: prebuiltBundlePath }), () => undefined);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: taskQueueFor(opts.node),
    ...(opts.workflowBundle || prebuilt ? { workflowBundle: opts.workflowBundle ?? prebuilt } : { workflowsPath }),
    activities: createActivities(deps),
    interceptors: opts.interceptors,
    // A migration runs one heavy step at a time; two in parallel would only compete for disk.
    maxConcurrentActivityTaskExecutions: 4,
    shutdownGraceTime: '30 seconds',
  });
}
