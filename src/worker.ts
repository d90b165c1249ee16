// Building the node's worker: the workflow bundle plus activities bound to real adapters.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { createActivities } from './activities/index.js';
import type { ActivityDeps } from './activities/context.js';
import { realDeps } from './deps.js';
import { taskQueueFor } from './shared.js';
import { describeTemporalTarget, resolveTemporalTarget, TemporalUnreachable, workflowStatusOf, type TemporalTarget } from './temporal/connection.js';
import { activityLogging } from './worker-logging.js';

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

/**
 * A worker process from start to end: connect to the Temporal service of the environment, run until
 * SIGTERM/SIGINT (the SDK stops polling and lets running activities finish within the grace time),
 * close. Any failure is logged and ends the process with status 1.
 */
export async function serveWorker(log: Logger, name: string, fields: Record<string, unknown>, create: (connection: NativeConnection, namespace: string) => Promise<Worker>): Promise<void> {
  try {
    const target = resolveTemporalTarget();
    const connection = await connectWorker(target);
    const worker = await create(connection, target.namespace);
    log.info({ ...fields, temporal: describeTemporalTarget(target) }, `${name} started`);
    await worker.run();
    await connection.close();
    log.info(`${name} stopped`);
  } catch (err) {
    log.error((err as Error).message);
    process.exitCode = 1;
  }
}

/** The worker's connection (Rust core); the caller closes it after the worker has stopped. */
export async function connectWorker(target: TemporalTarget): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect({ address: target.address, tls: target.tls, apiKey: target.apiKey, metadata: target.metadata });
  } catch (err) {
    throw new TemporalUnreachable(target, err);
  }
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

/** Everything of the node's worker but its activities' dependencies: the tests run these options with fake activities. */
export async function migrationWorkerOptions(opts: Omit<MigrationWorkerOptions, 'deps'>): Promise<Omit<WorkerOptions, 'activities'>> {
  const prebuilt = opts.workflowBundle ? undefined : await fs.access(prebuiltBundlePath).then(() => ({ codePath: prebuiltBundlePath }), () => undefined);
  // The SDK's default, set here so that the attempts journal names the worker as Temporal does.
  const identity = `${process.pid}@${os.hostname()}`;
  return {
    connection: opts.connection,
    namespace: opts.namespace,
    identity,
    taskQueue: taskQueueFor(opts.node),
    ...(opts.workflowBundle || prebuilt ? { workflowBundle: opts.workflowBundle ?? prebuilt } : { workflowsPath }),
    interceptors: { ...opts.interceptors, activity: [activityLogging(opts.log, opts.node, identity), ...(opts.interceptors?.activity ?? [])] },
    // Heartbeat details carry the progress that `watch` shows: the SDK would otherwise send them
    // only every 80 % of the heartbeat timeout (48 s by default).
    maxHeartbeatThrottleInterval: '2 seconds',
    defaultHeartbeatThrottleInterval: '2 seconds',
    // A migration runs one heavy step at a time; two in parallel would only compete for disk.
    maxConcurrentActivityTaskExecutions: 4,
    shutdownGraceTime: '30 seconds',
  };
}

export async function createMigrationWorker(opts: MigrationWorkerOptions): Promise<Worker> {
  // The worker's own connection answers the activities' questions about other workflows of the node.
  const temporal = new Client({ connection: opts.connection, namespace: opts.namespace });
  const deps: ActivityDeps = { ...realDeps(opts.log, (id) => workflowStatusOf(temporal, id)), ...opts.deps };
  return Worker.create({ ...(await migrationWorkerOptions(opts)), activities: createActivities(deps) });
}
