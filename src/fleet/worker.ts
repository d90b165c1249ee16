// The fleet worker: it runs the parent workflow (migrateFleet) on the fleet's task queue and the
// few activities that ask Temporal about the nodes' migrations. It needs no node: run it anywhere
// that reaches the Temporal service.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { prebuiltBundlePath, workflowsPath } from '../worker.js';
import { createFleetActivities } from './activities.js';
import { FLEET_TASK_QUEUE } from './shared.js';

export interface FleetWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** How often a running node migration is looked at (default 2 s). */
  pollMs?: number;
  /** Worker options over these (tests run the workflows in their own thread). */
  overrides?: Partial<WorkerOptions>;
}

export async function createFleetWorker(opts: FleetWorkerOptions): Promise<Worker> {
  const prebuilt = opts.workflowBundle ? undefined : await fs.access(prebuiltBundlePath).then(() => ({ codePath: prebuiltBundlePath }), () => undefined);
  const client = new Client({ connection: opts.connection, namespace: opts.namespace });
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    identity: `fleet-${process.pid}@${os.hostname()}`,
    taskQueue: FLEET_TASK_QUEUE,
    ...(opts.workflowBundle || prebuilt ? { workflowBundle: opts.workflowBundle ?? prebuilt } : { workflowsPath }),
    activities: createFleetActivities({ client, ...(opts.pollMs ? { pollMs: opts.pollMs } : {}) }),
    // Heartbeats only tell that the follower lives; a fleet of hundreds follows hundreds at once.
    maxConcurrentActivityTaskExecutions: 1000,
    shutdownGraceTime: '5 seconds',
    ...opts.overrides,
  });
}
