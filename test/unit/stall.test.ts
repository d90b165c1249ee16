// When a transfer counts as stalled: its clock (progress figures and server looks), what counts
// as a session working, a sampling failure counting as nothing, and a dump whose exec hangs
// failing with Stalled and its exec stopped.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ActivityDeps, RunContext } from '../../src/activities/context.js';
import { createActivities } from '../../src/activities/index.js';
import { StallClock, TransferWatch } from '../../src/activities/stall.js';
import { parseConfig } from '../../src/config/load.js';
import { createNoCluster } from '../../src/cluster/none.js';
import { createLogger } from '../../src/log.js';
import { isWorking, type SessionState } from '../../src/postgres/liveness.js';
import type { ContainerRuntime, ExecIO } from '../../src/runtime/port.js';
import type { StepProgress } from '../../src/shared.js';
import { startEmptyPacsdb, type TestCluster } from '../support/pg-binaries.js';

const T0 = 1_000_000;
const bytes = (done: number): StepProgress => ({ step: 'dumpOriginal', unit: 'bytes', total: 5000, done });

test('a clock that sees nothing move stalls after the stall time, not before', () => {
  const clock = new StallClock(3000, T0);
  assert.equal(clock.stalled(T0 + 2999), undefined);
  assert.match(clock.stalled(T0 + 3000) ?? '', /^nothing moved for 3 s \(stallSeconds 3\): last progress no progress reported yet$/);
});

test('the same figures again are not movement; a change of bytes, detail or stages is', () => {
  const clock = new StallClock(3000, T0);
  clock.progress(bytes(100), T0 + 1000);
  clock.progress(bytes(100), T0 + 2500);
  assert.match(clock.stalled(T0 + 4000) ?? '', /nothing moved for 3 s .*last progress dumpOriginal, 100 of 5000 bytes/);

  clock.progress(bytes(200), T0 + 4000);
  assert.equal(clock.stalled(T0 + 6999), undefined);
  clock.progress({ ...bytes(200), total: 9000 }, T0 + 6000);
  assert.ok(clock.stalled(T0 + 7000), 'a new total is an estimate, not movement');

  clock.progress({ ...bytes(200), detail: 'next table' }, T0 + 7000);
  assert.equal(clock.stalled(T0 + 9999), undefined);
  clock.progress({ ...bytes(200), detail: 'next table', stages: ['one'] }, T0 + 9000);
  assert.equal(clock.stalled(T0 + 11_999), undefined);
  assert.match(clock.stalled(T0 + 12_000) ?? '', /dumpOriginal \(next table\), 200 of 5000 bytes, stages done: one/);
});

test('a session working on the server is movement; one that waits is not, and is named in the message', () => {
  const clock = new StallClock(3000, T0);
  clock.server(true, 'kaapana-migrate-update-5.32 (pid 7) active', T0 + 2000);
  assert.equal(clock.stalled(T0 + 4999), undefined);
  clock.server(false, 'kaapana-migrate-update-5.32 (pid 7) active, waiting on Lock relation', T0 + 4000);
  assert.match(clock.stalled(T0 + 5000) ?? '', /; on the server: kaapana-migrate-update-5\.32 \(pid 7\) active, waiting on Lock relation$/);
});

test('working: an active statement on CPU, data-file I/O, LWLocks or its helpers; not a lock, its client, a timer or idleness', () => {
  const s = (state: string | null, waitEventType: string | null, waitEvent: string | null = null): SessionState => ({ pid: 1, state, waitEventType, waitEvent });
  assert.equal(isWorking(s('active', null)), true);
  assert.equal(isWorking(s('active', 'IO', 'DataFileRead')), true);
  assert.equal(isWorking(s('active', 'LWLock', 'WALWrite')), true);
  assert.equal(isWorking(s('active', 'LWLockTranche', 'buffer_content')), true); // 9.6
  assert.equal(isWorking(s('active', 'IPC', 'ExecuteGather')), true);
  assert.equal(isWorking(s('active', 'Lock', 'relation')), false);
  assert.equal(isWorking(s('active', 'Lock', 'transactionid')), false);
  assert.equal(isWorking(s('active', 'BufferPin', 'BufferPin')), false);
  assert.equal(isWorking(s('active', 'Client', 'ClientRead')), false);
  assert.equal(isWorking(s('active', 'Timeout', 'PgSleep')), false);
  assert.equal(isWorking(s('idle in transaction', 'Client', 'ClientRead')), false);
  assert.equal(isWorking(s('idle', null)), false);
  assert.equal(isWorking(s(null, null)), false);
});

test('a sample that fails is not movement, and says why', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-stall-'));
  try {
    const watch = new TransferWatch(3000, T0);
    // No server listens here: the sample fails at once.
    watch.watch({ endpoint: { host: dir, port: 5432 }, credentials: { name: 'pacsdb', user: 'pacs', password: 'x' }, appName: 'kaapana-migrate-update-5.27' });
    watch.sample();
    const deadline = Date.now() + 20_000;
    while (!/sampling/.test(watch.clock.stalled(T0 + 3000) ?? '') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(watch.clock.stalled(T0 + 3000) ?? '', /on the server: sampling kaapana-migrate-update-5\.27 failed \(.+\)$/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

// The dump reads the source database's encoding and settings first: a real, empty pacsdb serves that.
let server: TestCluster | undefined;
before(async () => {
  server = await startEmptyPacsdb();
});
after(async () => {
  await server?.stop();
});

/** A runtime whose servers start at once (the test cluster) and whose tools run `exec`. */
function fakeRuntime(exec: ContainerRuntime['exec']): ContainerRuntime {
  return {
    kind: 'local',
    preflight: async () => undefined,
    start: async () => ({ host: server!.socketDir, port: server!.port }),
    exec,
    stop: async () => undefined,
    remove: async () => undefined,
    state: async () => 'running',
    dataDirInUse: async () => false,
  };
}

async function dumpWith(exec: ContainerRuntime['exec'], raw: { stallSeconds?: number }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-stall-dump-'));
  try {
    const config = parseConfig({
      node: 'stall',
      paths: { dataDir: path.join(dir, 'postgres-dcm4che'), fastDataDir: dir, backupDir: path.join(dir, 'backup'), scriptsDir: dir },
      database: { user: server!.user, password: { env: 'UNUSED' } },
      runtime: { kind: 'local', old: { binDir: '/usr/bin' }, new: { binDir: '/usr/bin' }, clientBinDir: '/usr/bin', stateDir: path.join(dir, 'state') },
      ...raw,
    });
    // An input recorded before the field existed.
    if (raw.stallSeconds === undefined) delete (config as Partial<typeof config>).stallSeconds;
    const deps: ActivityDeps = { runtimeFor: () => fakeRuntime(exec), clusterFor: async () => createNoCluster(), resolveSecret: async () => 'x', liveFor: () => Promise.reject(new Error('no live database here')), workflowStatus: async () => undefined, log: createLogger('stall-test', 'silent') };
    const ctx: RunContext = { config, runTag: 'stall' };
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 });
    const bound = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the dump did not end within 60 s')), 60_000).unref());
    const outcome = await Promise.race([env.run(createActivities(deps).dump, ctx, 'original' as const, 'original' as const, 1000), bound]).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const left = await fs.readdir(path.join(dir, 'backup'), { recursive: true }).catch(() => []);
    return { ...outcome, left: left.map(String) };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('a dump whose exec hangs fails with Stalled, its exec aborted and no partial file left', async () => {
  const aborted: string[] = [];
  // pg_dump that never writes a byte until it is stopped.
  const hanging: ContainerRuntime['exec'] = (_name, argv, io: ExecIO = {}) =>
    new Promise((resolve) => {
      io.signal?.addEventListener('abort', () => {
        aborted.push(argv[0]!);
        resolve({ exitCode: 143, stderr: 'terminated' });
      });
    });
  const r = await dumpWith(hanging, { stallSeconds: 2 });
  assert.ok('error' in r, 'the dump succeeded');
  const err = r.error;
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, 'Stalled');
  assert.equal(err.nonRetryable, false);
  assert.match(err.message, /^nothing moved for \d+ s \(stallSeconds 2\): last progress dumpOriginal, 0 of 1000 bytes$/);
  assert.deepEqual(aborted, ['pg_dump']);
  assert.deepEqual(r.left.filter((f) => f.includes('partial')), []);
});

test('an input without stallSeconds gets the default: a short silence does not fail it', async () => {
  // pg_dump that writes its dump after a pause, unless it is stopped before.
  const quietThenDone: ContainerRuntime['exec'] = async (_name, _argv, io: ExecIO = {}) => {
    await new Promise((r) => {
      setTimeout(r, 1500);
      io.signal?.addEventListener('abort', r);
    });
    if (io.signal?.aborted) return { exitCode: 143, stderr: 'terminated' };
    io.stdout?.write('SELECT 1;\n');
    return { exitCode: 0, stderr: '' };
  };
  const r = await dumpWith(quietThenDone, {});
  assert.ok('value' in r, `the dump failed: ${'error' in r ? String(r.error) : ''}`);
  assert.ok(r.left.some((f) => f.endsWith('.sql')), `no dump file: ${r.left.join(', ')}`);
});
