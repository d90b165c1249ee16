// The workflow test harness: one real Temporal dev server per test file, a worker per test,
// demo nodes with real PostgreSQL servers in throwaway directories.
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { WorkflowHandle } from '@temporalio/client';
import { NativeConnection, type WorkerOptions } from '@temporalio/worker';
import type { ActivityDeps } from '../../src/activities/context.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { createDemoNode, type DemoNode, type DemoNodeOptions } from '../../src/demo/node.js';
import { createLogger } from '../../src/log.js';
import { appliedVersions } from '../../src/plan/probes.js';
import { withClient } from '../../src/postgres/client.js';
import { takeInventory } from '../../src/postgres/inventory.js';
import { createLocalRuntime } from '../../src/runtime/local.js';
import { taskQueueFor, workflowIdFor, progressQuery, type Phase, type Progress } from '../../src/shared.js';
import { createMigrationWorker } from '../../src/worker.js';
import { migrationInput } from '../../src/config/input.js';
import { copyLiveDirectory, sharedTemplate } from './node-template.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from './pg-binaries.js';
import { startTestTemporal, temporalBinary, type TestTemporal } from './temporal-server.js';

export type Harness = TestTemporal;

export async function startHarness(opts: { dbFile?: string; uiPort?: number } = {}): Promise<Harness> {
  const t = await startTestTemporal(opts);
  return {
    ...t,
    async close() {
      await t.close();
      // Every server of the file has stopped by now: its directories can go.
      await Promise.all(created.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
    },
  };
}

/** A worker still shutting down this long after its test body ended says what it waits for. */
const SLOW_SHUTDOWN_MS = 60_000;

/** Runs `fn` while a worker for `node` polls; the worker stops afterwards. */
export async function withWorker<T>(
  h: Harness,
  node: string,
  fn: () => Promise<T>,
  deps?: Partial<ActivityDeps>,
  interceptors?: WorkerOptions['interceptors'],
): Promise<T> {
  // A shutdown waits for the activities in flight; one that ignores its cancellation would hold
  // the file until its bound without a word, so the running ones are known by name.
  const running = new Map<string, string>();
  const tracking: NonNullable<WorkerOptions['interceptors']>['activity'] = [
    (ctx) => ({
      inbound: {
        async execute(input, next) {
          const id = `${ctx.info.activityType} ${ctx.info.activityId} attempt ${ctx.info.attempt}`;
          running.set(id, new Date().toISOString());
          try {
            return await next(input);
          } finally {
            running.delete(id);
          }
        },
      },
    }),
  ];
  const connection = await NativeConnection.connect({ address: h.server.address });
  const worker = await createMigrationWorker({
    connection,
    namespace: 'default',
    node,
    log: createLogger('test-worker', process.env.KM_TEST_LOG ?? 'warn'),
    workflowBundle: h.bundle,
    deps,
    interceptors: { ...interceptors, activity: [...tracking, ...(interceptors?.activity ?? [])] },
  });
  let slow: NodeJS.Timeout | undefined;
  const body = fn().finally(() => {
    slow = setTimeout(() => {
      const list = [...running].map(([id, since]) => `${id} (since ${since})`).join('; ') || 'no activity';
      process.stderr.write(`\nworker of ${node} still shutting down ${SLOW_SHUTDOWN_MS / 1000} s after its test body ended; in flight: ${list}\n`);
    }, SLOW_SHUTDOWN_MS).unref();
  });
  try {
    return await worker.runUntil(body);
  } finally {
    clearTimeout(slow);
    await connection.close();
  }
}

const created: string[] = [];

// A file that ends early (its bound, a crash) stops the PostgreSQL servers of its demo nodes: the
// local runtime starts them detached, so they would outlive it. SIGQUIT: immediate shutdown.
process.once('exit', () => {
  for (const dir of created) {
    let pidFiles: string[];
    try {
      pidFiles = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => path.basename(f) === 'postmaster.pid');
    } catch {
      continue; // removed already
    }
    for (const file of pidFiles) {
      try {
        const pid = Number.parseInt(readFileSync(path.join(dir, file), 'utf8').split('\n')[0] ?? '', 10);
        if (pid > 0) process.kill(pid, 'SIGQUIT');
      } catch {
        // the server is gone already
      }
    }
  }
});

/** A temporary directory the PostgreSQL server user can pass through (we run as root here). */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), `km-${prefix}-`));
  await fs.chmod(dir, 0o711);
  created.push(dir);
  return dir;
}

/** Every path below `dir` with its size and mtime: what a step that changes nothing must leave as it was. */
export async function treeSnapshot(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
  return Promise.all(
    entries.map(async (e) => {
      const p = path.join(e.parentPath, e.name);
      const st = await fs.stat(p);
      return `${p} ${st.size} ${st.mtimeMs}`;
    }),
  ).then((list) => list.sort());
}

/** A demo node in a fresh directory; unless `dir` is given, its live directory is a copy of a seeded template. */
export async function demoNode(prefix: string, opts: Partial<DemoNodeOptions> = {}): Promise<DemoNode> {
  const options = { node: prefix, instances: 500, seed: 1, oldBinDir: await oldPostgresBinDir(), newBinDir: NEW_POSTGRES_BIN_DIR, ...opts };
  const dir = opts.dir ?? (await tempDir(prefix));
  if (!opts.dir) await copyLiveDirectory(await sharedTemplate(options), dir);
  // Guide mode unless a test asks for another: the files that are about a mode say so.
  const overrides = (raw: ConfigInput): ConfigInput => ({ mode: 'guide', ...(opts.overrides ? opts.overrides(raw) : raw) });
  return createDemoNode({ ...options, dir, overrides });
}

export async function startMigration(h: Harness, node: Pick<DemoNode, 'config'>): Promise<WorkflowHandle> {
  const input = migrationInput(node.config);
  return h.client.workflow.start('migrateDcm4che', {
    taskQueue: taskQueueFor(node.config.node),
    workflowId: workflowIdFor(node.config.node),
    args: [input],
  });
}

/** Polls until an activity of type `name` is pending, or `timeoutMs` has passed (then returns all the same). */
export async function untilPending(handle: WorkflowHandle, name: string, timeoutMs: number, pollMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    if (pending.some((a) => a.activityType?.name === name)) return;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Polls the progress query until the workflow reaches `phase` (bounded). */
export async function waitForPhase(handle: WorkflowHandle, phase: Phase, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let p: Progress | undefined;
  while (Date.now() < deadline) {
    p = await handle.query(progressQuery);
    if (p.phase === phase) return;
    if (p.phase === 'failed' || p.phase === 'rolled-back') throw new Error(`workflow ${p.phase}: ${p.failure}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`workflow did not reach ${phase} within ${timeoutMs} ms; progress ${JSON.stringify(p)}; pending ${await pendingNow(handle)}`);
}

/** The workflow's pending activities: type, attempt, last failure, when it started and last heartbeated. */
async function pendingNow(handle: WorkflowHandle): Promise<string> {
  const at = (t?: { seconds?: unknown } | null) => (t?.seconds ? new Date(Number(t.seconds) * 1000).toISOString() : 'never');
  const pending = (await handle.describe()).raw.pendingActivities ?? [];
  return JSON.stringify(pending.map((a) => `${a.activityType?.name} attempt ${a.attempt}: ${a.lastFailure?.message ?? ''} (started ${at(a.lastStartedTime)}, last heartbeat ${at(a.lastHeartbeatTime)})`));
}

/**
 * handle.result() settled (its value or its error), or after `timeoutMs` an error naming what the
 * workflow still waits for: a hang fails its own test, saying where, instead of the whole file.
 */
export async function settledWithin(handle: WorkflowHandle, timeoutMs: number): Promise<{ value?: unknown; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  try {
    const outcome = await Promise.race([handle.result().then((value) => ({ value }), (error: unknown) => ({ error })), late]);
    if (outcome !== 'late') return outcome;
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`workflow ${handle.workflowId} had not ended after ${timeoutMs / 1000} s; pending ${await pendingNow(handle)}`);
}

/** Inventory of the database in `dataDir`, read by a throwaway read-only server of `image`. */
export async function fingerprint(node: DemoNode, dataDir: string, image: 'old' | 'new') {
  const r = node.config.runtime;
  if (r.kind !== 'local') throw new Error('fingerprint() needs the local runtime');
  const credentials = { name: node.config.database.name, user: node.config.database.user, password: node.password };
  const runtime = createLocalRuntime({ images: { old: r.old, new: r.new }, clientBinDir: r.clientBinDir, stateDir: r.stateDir, serverUser: r.serverUser, credentials });
  const name = `check-${image}`;
  const endpoint = await runtime.start({ name, image, dataDir, readOnly: true, database: credentials }, 60_000);
  try {
    return await withClient(endpoint, credentials, async (client) => ({
      inventory: await takeInventory(client),
      applied: await appliedVersions(async (sql) => Boolean((await client.query<{ applied: boolean }>(sql)).rows[0]?.applied)),
    }));
  } finally {
    await runtime.stop(name);
    await runtime.remove(name);
  }
}

const HISTORIES = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));

/**
 * With KM_RECORD_HISTORIES=1 (`npm run record-histories`), keeps a finished run's history as a
 * fixture for the replay test, which then guards the workflow code against non-determinism.
 * Written by the temporal CLI, in the JSON form sites get from `temporal workflow show`.
 */
export async function recordHistory(h: Harness, handle: WorkflowHandle, name: string): Promise<void> {
  if (!process.env.KM_RECORD_HISTORIES) return;
  const { runId } = await handle.describe();
  const { stdout } = await promisify(execFile)(
    temporalBinary(),
    ['workflow', 'show', '--workflow-id', handle.workflowId, '--run-id', runId, '--output', 'json', '--address', h.server.address],
    { maxBuffer: 256 * 2 ** 20 },
  );
  await fs.mkdir(HISTORIES, { recursive: true });
  await fs.writeFile(path.join(HISTORIES, `${name}.json`), stdout);
}
