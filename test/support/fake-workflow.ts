// The fast workflow tests' harness: one Temporal dev server and one workflow bundle per test file,
// a worker per test whose activities are a fake node's (fake-node.ts). Every wait is bounded.
import assert from 'node:assert/strict';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { progressQuery, approveSwapUpdate, resolveUpdate, taskQueueFor, workflowIdFor, type Phase, type Progress, type Resolution } from '../../src/shared.js';
import { migrationInput } from '../../src/config/input.js';
import type { MigrationReport } from '../../src/report/types.js';
import { startTestTemporal, type TestTemporal } from './temporal-server.js';
import { createFakeNode, fakeConfig, type FakeConfigOptions, type FakeNode, type FakeNodeOptions } from './fake-node.js';

/** One dev server and one workflow bundle per test file; a worker per test on `native`. */
export type FakeEnv = TestTemporal;

export function startFakeEnv(): Promise<FakeEnv> {
  return startTestTemporal({ logLevel: 'ERROR' });
}

let counter = 0;

/** A node name unique within the file (the dev server lives as long as the file). */
export function nodeName(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${process.pid}-${++counter}`;
}

export function fakeNode(prefix: string, opts: FakeConfigOptions & FakeNodeOptions = {}): FakeNode {
  return createFakeNode(fakeConfig(nodeName(prefix), opts), opts);
}

/** Waits until `cond()` holds, looking after each call of the fake ends (bounded). */
export async function until(fake: FakeNode, cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; calls: ${fake.keys().join(', ')}`);
    await fake.nextCallEnd(50);
  }
}

export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface Run {
  handle: WorkflowHandle;
  fake: FakeNode;
  /** The workflow's result, or its failure (bounded). */
  outcome(ms?: number): Promise<{ report?: MigrationReport; error?: WorkflowFailedError }>;
}

/**
 * Starts the migration of `fake`'s node and runs `fn` while a worker with the fake activities
 * polls. Afterwards the workflow is terminated if still open, the worker stopped, hangs released.
 */
export async function withFakeRun<T>(env: FakeEnv, fake: FakeNode, fn: (run: Run) => Promise<T>, opts: { input?: unknown } = {}): Promise<T> {
  const worker = await Worker.create({
    connection: env.native,
    namespace: 'default',
    taskQueue: taskQueueFor(fake.config.node),
    workflowBundle: env.bundle,
    activities: fake.activities,
    // Workflows run in this thread: Worker.create takes ~50 ms instead of ~600 ms (the bundle is
    // not loaded into a new worker thread per test). Same bundle, same sandbox; only the
    // deadlock detector is off, and every wait here is bounded anyway.
    debugMode: true,
    // Cancellation reaches an activity with a heartbeat's answer: no throttling here.
    maxHeartbeatThrottleInterval: '50 milliseconds',
    defaultHeartbeatThrottleInterval: '50 milliseconds',
    shutdownGraceTime: '1 second',
  });
  let handle: WorkflowHandle | undefined;
  try {
    return await worker.runUntil(async () => {
      handle = await env.client.workflow.start('migrateDcm4che', {
        taskQueue: taskQueueFor(fake.config.node),
        workflowId: workflowIdFor(fake.config.node),
        // `input` given (even undefined): a hand-written or broken input instead of the fake's config.
        args: ['input' in opts ? opts.input : migrationInput(fake.config)],
        workflowExecutionTimeout: '2 minutes',
      });
      const h = handle;
      return fn({
        handle: h,
        fake,
        outcome: (ms = 20_000) =>
          bounded(
            h.result().then(
              (report: MigrationReport) => ({ report }),
              (error: unknown) => {
                if (error instanceof WorkflowFailedError) return { error };
                throw error;
              },
            ),
            ms,
            'the workflow result',
          ),
      });
    });
  } finally {
    fake.dispose();
    if (handle) {
      const open = await handle.describe().then((d) => d.status.name === 'RUNNING', () => false);
      if (open) await handle.terminate('test ended').catch(() => undefined);
    }
  }
}

export async function progress(handle: WorkflowHandle): Promise<Progress> {
  return handle.query(progressQuery);
}

/**
 * Waits between two looks at the workflow: until the fake's next call ends (the workflow moves on
 * right after), or a growing interval (it may move on by a timer or a message too).
 */
function pacer(fake: FakeNode) {
  let interval = 10;
  return async () => {
    const before = fake.calls.length;
    await fake.nextCallEnd(interval);
    // A call ended: the workflow will decide within a few ms; look again soon.
    interval = fake.calls.length !== before ? 10 : Math.min(interval * 2, 160);
    await new Promise((r) => setTimeout(r, 5));
  };
}

/** Polls the progress query until `phase` (bounded); fails early when the run ended in another phase. */
export async function waitForPhase(run: Run, phase: Phase, ms = 10_000): Promise<Progress> {
  const deadline = Date.now() + ms;
  const pace = pacer(run.fake);
  let p: Progress | undefined;
  while (Date.now() < deadline) {
    p = await run.handle.query(progressQuery);
    if (p.phase === phase) return p;
    if (['completed', 'refused', 'rolled-back', 'failed'].includes(p.phase)) throw new Error(`the run ended in ${p.phase} (${p.failure}), not ${phase}`);
    await pace();
  }
  throw new Error(`the run did not reach ${phase} within ${ms} ms: ${JSON.stringify(p)}`);
}

export interface Pilot {
  /** Approve at the gate (default true). */
  approve?: boolean;
  /** Answer every wait for a resolution with this (default: no answer). */
  resolve?: Resolution;
}

/** Answers the gate and resolutions as told until the run ends; returns its outcome. */
export async function drive(run: Run, pilot: Pilot = {}, ms = 20_000): Promise<{ report?: MigrationReport; error?: WorkflowFailedError; resolutions: number }> {
  const deadline = Date.now() + ms;
  let ended = false;
  let resolutions = 0;
  const result = run.outcome(ms).finally(() => {
    ended = true;
  });
  const pace = pacer(run.fake);
  const answering = (async () => {
    let approved = false;
    while (!ended && Date.now() < deadline) {
      const p = await progress(run.handle).catch(() => undefined);
      if (p?.phase === 'awaiting-approval' && pilot.approve !== false && !approved) {
        await run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'fake-test' }] });
        approved = true;
      } else if (p?.phase === 'awaiting-resolution' && pilot.resolve) {
        await run.handle.executeUpdate(resolveUpdate, { args: [pilot.resolve] });
        resolutions++;
      }
      await pace();
    }
  })();
  const outcome = await result;
  await answering;
  return { ...outcome, resolutions };
}

/** The last report the workflow wrote (rollback and refusal write one; a finished run returns it too). */
export function lastReport(fake: FakeNode): MigrationReport {
  const report = fake.model.reports.at(-1);
  if (!report) throw new Error(`no report was written; calls: ${fake.keys().join(', ')}`);
  return report;
}

/** The message of the workflow's refusal of an update (its validator threw). */
export async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowUpdateFailedError, `the update is refused, not ${String(err)}`);
  return err.cause?.message ?? '';
}
