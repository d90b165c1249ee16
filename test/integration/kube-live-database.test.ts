// execDatabase of the Kubernetes adapter against the test control plane (test/support/kube/cluster.ts)
// with a Kaapana 0.2.x node whose postgres-dcm4che pod runs while the database serves: exec-kubelet
// runs the pod's commands with the PostgreSQL 15 client tools first on the PATH (as the image's
// PATH has its own), and a real PostgreSQL server plays the pod's database: superuser pacs, database
// pacsdb, local connections trusted, as the image sets them up. The one difference from the chart:
// the pod spec names the server's socket directory in PGHOST (the image's tools use their built-in
// /var/run/postgresql, where the test server cannot be); exec-kubelet gives exec'd commands the
// container's env from the pod spec, as a kubelet does. The tests build on each other's state, in order.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { KubernetesObject, V1Deployment } from '@kubernetes/client-node';
import pg from 'pg';
import { deployScripts } from '../../src/cluster/deploy-script.js';
import { Collector } from '../../src/streams.js';
import { createKubernetesCluster } from '../../src/cluster/kubernetes.js';
import { createNoCluster } from '../../src/cluster/none.js';
import { createLivePod } from '../../src/live/pod.js';
import { run } from '../../src/prerequisites.js';
import { queryLive, snapshotToFile } from '../../src/rehearsal/snapshot.js';
import { kaapanaNode } from '../fixtures/kaapana-node/index.js';
import { isReady, startKubeCluster, type KubeCluster } from '../support/kube/cluster.js';
import { NEW_POSTGRES_BIN_DIR, startTestCluster, type TestCluster } from '../support/pg-binaries.js';

setTimeout(() => {
  process.stderr.write('kube-live-database.test.ts: still running after 3 minutes, giving up\n');
  process.exit(1);
}, 3 * 60_000).unref();

const APP = 'postgres-dcm4che';
const CONTAINER = 'postgres-dcm4che-container';
const TABLES = ['patient', 'study', 'bulk'];
/** About 20 MB of COPY data: more than the pipes and socket buffers between the pod and us hold. */
const BULK_ROWS = 100_000;

// Each assigned as soon as it exists, so that after() stops whatever before() got to.
let server: TestCluster | undefined;
let kube: KubeCluster | undefined;
let work: string | undefined;

const k = () => kube!;
const adapter = () =>
  createKubernetesCluster({
    namespace: k().namespace,
    kubeconfig: k().kubeconfigPath,
    deviceName: 'KAAPANA',
    dataDir: path.join(work!, 'fast', 'postgres-dcm4che'),
    // These tests redeploy nothing.
    deploy: deployScripts({ user: 'kaapana', currentScript: '/nonexistent', targetScript: '/nonexistent', deployArgs: [], timeoutMs: 1_000, log: () => undefined }),
    readyTimeoutMs: 20_000,
    pollIntervalMs: 100,
  });

async function sql<R extends pg.QueryResultRow>(database: string, text: string): Promise<R[]> {
  const client = new pg.Client({ host: server!.socketDir, port: server!.port, user: 'pacs', database });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Each table's row count and a digest of its rows, in a stable order. */
async function contents(database: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of TABLES) {
    const [row] = await sql<{ n: string; digest: string }>(database, `SELECT count(*) AS n, md5(string_agg(t::text, E'\\n' ORDER BY t::text)) AS digest FROM ${t} t`);
    out[t] = `${row!.n} ${row!.digest}`;
  }
  return out;
}

/** The fixture's objects, the database pod told where the test server's socket is. */
function nodeObjects(): KubernetesObject[] {
  const node = kaapanaNode({ version: '0.2.x', fastDataDir: path.join(work!, 'fast'), slowDataDir: path.join(work!, 'slow') });
  for (const o of node.objects) {
    if (o.kind !== 'Deployment' || o.metadata?.name !== APP) continue;
    const container = (o as V1Deployment).spec!.template.spec!.containers.find((c) => c.name === CONTAINER)!;
    container.env!.push({ name: 'PGHOST', value: server!.socketDir });
  }
  return node.objects;
}

/** A sink that takes nothing until released: what a stalled disk looks like to the stream. */
function stalledSink() {
  const chunks: Buffer[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const stream = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      void released.then(() => done());
    },
  });
  return { stream, release, bytes: () => chunks.reduce((n, c) => n + c.length, 0) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('execDatabase: client tools in the running postgres-dcm4che pod', () => {
  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-live-db-'));
    // Autovacuum off: pg_database_size stays put between two reads.
    server = await startTestCluster({ binDir: NEW_POSTGRES_BIN_DIR, user: 'pacs', settings: { autovacuum: 'off' } });
    await sql('postgres', 'CREATE DATABASE pacsdb');
    await sql(
      'pacsdb',
      `CREATE TABLE patient (pk bigint PRIMARY KEY, pat_name text NOT NULL);
       CREATE TABLE study (pk bigint PRIMARY KEY, patient_fk bigint NOT NULL REFERENCES patient, study_iuid text NOT NULL UNIQUE, study_desc text);
       CREATE TABLE bulk (pk bigint PRIMARY KEY, payload text NOT NULL);
       INSERT INTO patient VALUES (1, 'Müller^Jürgen'), (2, 'O''Brien^Siobhán'), (3, E'Tab\\there^Newline\\nthere');
       INSERT INTO study SELECT g, 1 + g % 3, '1.2.840.' || g, CASE WHEN g % 2 = 0 THEN 'CT Thorax' END FROM generate_series(1, 500) g;
       INSERT INTO bulk SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, ${BULK_ROWS}) g;`,
    );
    kube = await startKubeCluster({ execContainers: [CONTAINER], imageBinDir: NEW_POSTGRES_BIN_DIR });
    await kube.apply(nodeObjects());
    await kube.until('a Ready postgres-dcm4che pod', async () => (await kube!.pods(APP)).some(isReady));
  });

  after(async () => {
    // Each piece is stopped even when another fails, or when before() failed half-way.
    const results = await Promise.allSettled([kube?.stop(), server?.stop(), work ? fs.rm(work, { recursive: true, force: true }) : undefined]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  test('pg_dump (behind nice) streams a complete plain dump of pacsdb: restored, every table holds the server\'s rows', async () => {
    const file = path.join(work!, 'pacsdb.sql');
    const out = (await fs.open(file, 'wx', 0o600)).createWriteStream();
    const argv = ['nice', '-n', '10', 'pg_dump', '--no-owner', '--no-privileges'];
    const { exitCode, stderr } = await adapter().execDatabase(argv, out);
    assert.deepEqual({ exitCode, stderr }, { exitCode: 0, stderr: '' });
    const dump = await fs.readFile(file, 'utf8');
    assert.match(dump, /^--\n-- PostgreSQL database dump\n--\n/);
    // pg_dump 15.14+ brackets the script in \restrict/\unrestrict with one key.
    const key = /^\\restrict (\S+)$/m.exec(dump)?.[1];
    const end = `\n-- PostgreSQL database dump complete\n--\n\n${key ? `\\unrestrict ${key}\n\n` : ''}`;
    assert.ok(dump.endsWith(end), `ends as pg_dump ends it, no end marker in it: ${JSON.stringify(dump.slice(-120))}`);
    assert.ok(!dump.includes('kaapana-migrate-exec-end'));

    // Sent as given, behind the constant script: nothing (no password) added to argv.
    const exec = (await k().execs()).at(-1)!;
    assert.deepEqual({ container: exec.container, head: exec.argv.slice(0, 2), rest: exec.argv.slice(3) }, { container: CONTAINER, head: ['sh', '-c'], rest: ['sh', ...argv] });

    await sql('postgres', 'CREATE DATABASE pacsdb_restored');
    await run([path.join(NEW_POSTGRES_BIN_DIR, 'psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', server!.socketDir, '-U', 'pacs', '-d', 'pacsdb_restored', '-f', file]);
    const restored = await contents('pacsdb_restored');
    assert.deepEqual(restored, await contents('pacsdb'));
    assert.equal(restored.bulk!.split(' ')[0], String(BULK_ROWS));
  });

  test('psql -c answers as pacs in pacsdb (the container\'s POSTGRES_USER and POSTGRES_DB), over the socket, without a password', async () => {
    const out = new Collector();
    const query = "SELECT current_user, current_database(), pg_database_size(current_database()), coalesce(inet_server_addr()::text, 'socket')";
    const { exitCode, stderr } = await adapter().execDatabase(['psql', '-X', '-A', '-t', '-F', ' ', '-c', query], out);
    assert.deepEqual({ exitCode, stderr }, { exitCode: 0, stderr: '' });
    const [{ size }] = (await sql<{ size: string }>('pacsdb', 'SELECT pg_database_size(current_database()) AS size')) as [{ size: string }];
    assert.equal(out.text(), `pacs pacsdb ${size} socket\n`);
  });

  test('the rehearsal\'s snapshot through the pod: one pg_dump, every table\'s rows counted, the session named', async () => {
    const live = createLivePod(adapter(), { name: 'pacsdb', user: 'pacs' }, { nice: 10, io: 'idle' });
    const file = path.join(work!, 'snapshot.sql');
    const snapshot = await snapshotToFile(live, file, { onBytes: () => undefined, appName: 'kaapana-migrate-rehearsal-dump' });
    assert.deepEqual(snapshot.rows, { 'public.bulk': BULK_ROWS, 'public.patient': 3, 'public.study': 500 });
    assert.equal(snapshot.bytes, (await fs.stat(file)).size);
    assert.equal(await queryLive(live, "SELECT current_setting('application_name')", 'kaapana-migrate-rehearsal'), 'kaapana-migrate-rehearsal');
    const exec = (await k().execs()).at(-1)!;
    assert.deepEqual(exec.argv.slice(3, 7), ['sh', 'nice', '-n', '10']);
  });

  test('every transaction starts read-only: a write fails and changes nothing', async () => {
    const before = await contents('pacsdb');
    const out = new Collector();
    const { exitCode, stderr } = await adapter().execDatabase(['psql', '-X', '-c', 'DELETE FROM study'], out);
    assert.equal(exitCode, 1);
    assert.match(stderr, /cannot execute DELETE in a read-only transaction/);
    assert.deepEqual(await contents('pacsdb'), before);
  });

  test('anything but pg_dump or psql (behind nice -n <digits>) is refused before anything runs', async () => {
    const mark = (await k().execs()).length;
    for (const argv of [['sh', '-c', 'x'], [], ['/usr/lib/postgresql/15/bin/psql'], ['nice', '-n', '-5', 'psql'], ['nice', '-n', '10'], ['nice', 'psql'], ['pg_restore', '-d', 'pacsdb'], ['env', 'psql']]) {
      await assert.rejects(adapter().execDatabase(argv, new Collector()), /^Error: execDatabase runs only pg_dump or psql \(possibly behind "nice -n <N>"\), not "/, argv.join(' '));
    }
    assert.equal((await k().execs()).length, mark, 'no exec reached the API server');
  });

  test('a stalled reader holds the dump in the pod, not in our memory; aborting ends the exec', async (t) => {
    const sink = stalledSink();
    const controller = new AbortController();
    const baseline = process.memoryUsage().arrayBuffers;
    const dumping = adapter().execDatabase(['pg_dump', '-t', 'bulk'], sink.stream, controller.signal);
    dumping.catch(() => undefined);
    // The 3 s below count from pg_dump's first output: on a loaded machine the exec can take
    // that long to start, and a command not yet started would look like one that has ended.
    await k().until('the reader to take the dump\'s first bytes', async () => sink.bytes() > 0);
    // Unheld, the whole dump (about 20 MB) would be here within a second or two.
    await sleep(3_000);
    const held = process.memoryUsage().arrayBuffers - baseline;
    t.diagnostic(`${Math.round(held / 1024)} KiB buffered, ${sink.bytes()} bytes taken by the reader`);
    assert.ok(held < 8 * 1024 * 1024, `${Math.round(held / 1024)} KiB buffered while the reader stalled`);
    // pg_dump waits in the pod for its output to be taken.
    await assert.rejects(k().execsSettled(500), /timed out/);
    const started = Date.now();
    controller.abort(new Error('the rehearsal was cancelled'));
    await assert.rejects(dumping, (err: Error) => {
      assert.match(err.message, /^"pg_dump -t bulk" in pod postgres-dcm4che-\S+ was aborted$/);
      assert.equal((err.cause as Error).message, 'the rehearsal was cancelled');
      return true;
    });
    assert.ok(Date.now() - started < 2_000, `ended ${Date.now() - started} ms after the abort`);
    assert.ok(sink.stream.destroyed, 'the output stream was destroyed');
    sink.release();
    // In the stand-in the command runs on to its end once its stream is gone.
    await k().execsSettled(30_000);

    await assert.rejects(adapter().execDatabase(['psql', '-c', 'SELECT 1'], new Collector(), AbortSignal.abort()), /aborted/);
  });

  test('an output that cannot be written ends the exec at once, named as the cause', async () => {
    let writes = 0;
    const full = new Writable({
      write(_chunk, _enc, done) {
        done(++writes < 3 ? null : Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
      },
    });
    // A megabyte of output, then a wait: waiting for its exit status would take 6 s.
    const argv = ['psql', '-X', '-A', '-t', '-c', "SELECT repeat('x', 1000000)", '-c', 'SELECT pg_sleep(6)'];
    const started = Date.now();
    await assert.rejects(adapter().execDatabase(argv, full), /^Error: "psql .*" in pod \S+: writing its output failed: ENOSPC: no space left on device, write$/);
    assert.ok(Date.now() - started < 3_000, `failed after ${Date.now() - started} ms`);
    // In the stand-in the command runs on to its end once its stream is gone.
    await k().execsSettled(30_000);
  });

  test('a stream cut short reads as an error, never as a complete dump', async () => {
    const out = new Collector();
    await k().dropExecs(1);
    await assert.rejects(adapter().execDatabase(['pg_dump'], out), /^Error: "pg_dump" in pod \S+: the stream ended before the command did \(exit status 0 without the end marker on (stdout|stderr)\); it may have run partly$/);
    await k().execsSettled(30_000);
  });

  test('several Running pods, or none: clear errors, nothing runs', async () => {
    const mark = (await k().execs()).length;
    await k().scale(APP, 2);
    await k().until('two Running postgres-dcm4che pods', async () => (await k().pods(APP)).filter((p) => p.status?.phase === 'Running').length === 2);
    await assert.rejects(adapter().execDatabase(['psql', '-c', 'SELECT 1'], new Collector()), /^Error: 2 Running postgres-dcm4che pods \(.*\): refusing to guess which one serves the database$/);

    await k().scale(APP, 0);
    await k().until('no postgres-dcm4che pods', async () => (await k().pods(APP)).length === 0);
    await assert.rejects(adapter().execDatabase(['pg_dump'], new Collector()), /^Error: no Running postgres-dcm4che pod \(app-name=postgres-dcm4che\) in namespace services$/);
    assert.equal((await k().execs()).length, mark);
  });
});

test('without a cluster, execDatabase says so', async () => {
  await assert.rejects(createNoCluster().execDatabase(['pg_dump'], new Collector()), /^Error: running a client tool in the database pod needs a cluster; the configuration says cluster.kind = none$/);
});
