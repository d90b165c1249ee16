// The fleet tests' harness: fake nodes (fake-node.ts), each with its own worker on its own task
// queue, and the real fleet worker (parent workflow and its activities) on the fleet's queue, all
// against the file's dev server. Workers can be started late, stopped and started again.
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { fleetInput } from '../../src/fleet/input.js';
import { createFleetWorker } from '../../src/fleet/worker.js';
import { FLEET_TASK_QUEUE, fleetIdFor, fleetStateQuery, type FleetReport, type FleetSettings, type FleetState, type FleetTuning } from '../../src/fleet/shared.js';
import { taskQueueFor, workflowIdFor } from '../../src/shared.js';
import type { Fault, FakeNode } from './fake-node.js';
import { untilFleetState } from './fleet-state.js';
import { bounded, fakeNode, nodeName, type FakeEnv } from './fake-workflow.js';

export interface FakeFleetOptions {
  count: number;
  /** canaries: how many of the first nodes are canaries. */
  settings: Partial<Omit<FleetSettings, 'canaries'>> & { canaries?: number };
  tuning?: Partial<FleetTuning>;
  /** Faults per node index (0-based). */
  faults?: Record<number, Record<string, Fault>>;
  /** Nodes whose worker the test starts itself (startWorker). */
  lateWorkers?: number[];
}

export interface FakeFleet {
  name: string;
  nodes: FakeNode[];
  handle: WorkflowHandle;
  state(): Promise<FleetState>;
  startWorker(i: number): Promise<void>;
  stopWorker(i: number): Promise<void>;
  startFleetWorker(): Promise<void>;
  stopFleetWorker(): Promise<void>;
  /** The rollout's report (bounded). */
  result(ms?: number): Promise<FleetReport>;
  /** Polls the parent's state until `cond` holds (bounded). */
  until(cond: (s: FleetState) => boolean, what: string, ms?: number): Promise<FleetState>;
}

const SETTINGS: FleetSettings = { canaries: [], concurrency: 1, failureBudget: 0, approval: 'fleet', workerWaitMinutes: 5, onHalt: 'finish' };
/** Short enough for the tests' pace; historyEvents large unless a test asks for continue-as-new. */
const TUNING: FleetTuning = { historyEvents: 100_000, workerPollSeconds: 0.2, followHeartbeatSeconds: 2 };

async function runWorker(create: () => Promise<Worker>): Promise<{ stop(): Promise<void> }> {
  const worker = await create();
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}

export async function withFakeFleet<T>(env: FakeEnv, prefix: string, opts: FakeFleetOptions, fn: (fleet: FakeFleet) => Promise<T>): Promise<T> {
  const nodes = Array.from({ length: opts.count }, (_, i) => fakeNode(`${prefix}-n${i + 1}`, { faults: opts.faults?.[i] ?? {} }));
  const { canaries = 0, ...rest } = opts.settings;
  const settings: FleetSettings = { ...SETTINGS, ...rest, canaries: nodes.slice(0, canaries).map((n) => n.config.node) };
  const name = nodeName(prefix);
  const workers = new Map<number, { stop(): Promise<void> }>();
  let fleetWorker: { stop(): Promise<void> } | undefined;
  const startWorker = async (i: number) => {
    workers.set(
      i,
      await runWorker(() =>
        Worker.create({
          connection: env.native,
          namespace: 'default',
          taskQueue: taskQueueFor(nodes[i]!.config.node),
          workflowBundle: env.bundle,
          activities: nodes[i]!.activities,
          debugMode: true,
          maxHeartbeatThrottleInterval: '50 milliseconds',
          defaultHeartbeatThrottleInterval: '50 milliseconds',
          shutdownGraceTime: '1 second',
        }),
      ),
    );
  };
  const startFleetWorker = async () => {
    fleetWorker = await runWorker(() => createFleetWorker({ connection: env.native, namespace: 'default', workflowBundle: env.bundle, pollMs: 100, overrides: { debugMode: true, shutdownGraceTime: '1 second' } }));
  };
  const handle = env.client.workflow.getHandle(fleetIdFor(name));
  try {
    for (let i = 0; i < nodes.length; i++) if (!opts.lateWorkers?.includes(i)) await startWorker(i);
    await startFleetWorker();
    const started = await env.client.workflow.start('migrateFleet', {
      taskQueue: FLEET_TASK_QUEUE,
      workflowId: fleetIdFor(name),
      args: [fleetInput(name, nodes.map((n) => n.config), settings, 'fleet-test', { ...TUNING, ...opts.tuning })],
      workflowExecutionTimeout: '4 minutes',
    });
    const state = () => started.query(fleetStateQuery);
    return await fn({
      name,
      nodes,
      handle: started,
      state,
      startWorker,
      async stopWorker(i) {
        await workers.get(i)?.stop();
        workers.delete(i);
      },
      startFleetWorker,
      async stopFleetWorker() {
        await fleetWorker?.stop();
        fleetWorker = undefined;
      },
      async result(ms = 60_000) {
        const outcome = started.result().catch((err: unknown) => {
          throw err instanceof WorkflowFailedError ? new Error(`the fleet workflow failed: ${err.cause?.message}`) : err;
        });
        return bounded(outcome, ms, 'the fleet result').catch(async (err: Error) => {
          // Where it stood: the parent's phase and every node's status when the wait gave up.
          const s = await state().catch(() => undefined);
          throw new Error(`${err.message}; phase ${s?.phase}, runs ${s?.runs}, nodes ${JSON.stringify(s?.nodes.map((n) => [n.node, n.status, n.view ?? n.outcome]))}`);
        });
      },
      until: (cond, what, ms = 30_000) => untilFleetState(started, cond, what, ms, 100),
    });
  } finally {
    for (const n of nodes) n.dispose();
    // Whatever still runs is ended: the parent, then every node migration it left.
    await handle.terminate('test ended').catch(() => undefined);
    for (const n of nodes) await env.client.workflow.getHandle(workflowIdFor(n.config.node)).terminate('test ended').catch(() => undefined);
    await fleetWorker?.stop();
    await Promise.all([...workers.values()].map((w) => w.stop()));
  }
}

/** Each node's migration as [first call started, last call ended] (ms), from the fake's calls. */
export function spanOf(node: FakeNode): [number, number] | undefined {
  if (node.calls.length === 0) return undefined;
  return [Math.min(...node.calls.map((c) => c.startedAt)), Math.max(...node.calls.map((c) => c.endedAt ?? Date.now()))];
}
