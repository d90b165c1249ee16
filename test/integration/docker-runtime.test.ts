// The Docker adapter against a real engine: podman's Docker-compatible API on a unix socket, with
// dcm4che-postgres-like images built from this host's files. The servers are reached only through
// docker exec and the bind-mounted socket directory (never a container IP).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import pg from 'pg';
import { containerName, createDockerRuntime, dockerConnection } from '../../src/runtime/docker.js';
import { InitFailed, type ContainerRuntime, type ServerEndpoint, type ServerSpec } from '../../src/runtime/port.js';
import { readOnlySettings, settingArgs } from '../../src/runtime/read-only.js';
import { ensureTestImages, startPodman, withInitScript, type PodmanService } from '../support/podman.js';

const MIGRATION = `it-${process.pid}`;
// Lower-case letters and digits: it must survive as a configuration parameter name (see below).
const PASSWORD = `pw${randomBytes(8).toString('hex')}`;
const DATABASE = { name: 'pacsdb', user: 'pacs', password: PASSWORD };
const READY_MS = 90_000;
/** The streaming test's sink buffer (its highWaterMark). */
const SINK_BUFFER = 64 * 1024;
/** What the pipe, engine and socket buffers between the host and a tool that does not read may hold. */
const STDIN_WINDOW = 4 * 1024 * 1024;
/** Every error message a test provoked: none may contain the password. */
const messages: string[] = [];

let engine: PodmanService;
let docker: Docker;
let runtime: ContainerRuntime;
let images: { old: string; new: string };
let work: string;
let stateDir: string;

const spec = (name: string, over: Partial<ServerSpec> = {}): ServerSpec => ({
  name,
  image: 'old',
  dataDir: path.join(work, name),
  readOnly: false,
  database: DATABASE,
  ...over,
});

async function rejection(promise: Promise<unknown>, pattern: RegExp): Promise<Error> {
  const err = await promise.then(
    () => assert.fail(`expected a rejection matching ${pattern}`),
    (e: unknown) => e as Error,
  );
  messages.push(err.message);
  assert.match(err.message, pattern);
  return err;
}

/** Rejects when the promise has not settled in time: no test waits unbounded. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** psql -c under ON_ERROR_STOP, its output captured. */
async function psql(name: string, sql: string) {
  const chunks: Buffer[] = [];
  const stdout = new Writable({
    write(chunk: Buffer, _e, done) {
      chunks.push(chunk);
      done();
    },
  });
  const result = await runtime.exec(name, ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdout });
  return { ...result, stdout: Buffer.concat(chunks).toString('utf8').trim() };
}

/** This host's own client, over the bind-mounted unix socket. */
async function connect(endpoint: ServerEndpoint): Promise<pg.Client> {
  const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user: DATABASE.user, password: DATABASE.password, database: DATABASE.name });
  await client.connect();
  return client;
}

/**
 * A file sink slower than the engine's socket: each write completes a loop turn after the file took it.
 * Records the most bytes ever queued in it, which only grows while a write is in flight.
 */
function slowSink(file: string, highWaterMark: number) {
  const seen = { bytes: 0, writes: 0, chunkMax: 0, queuedMax: 0 };
  const disk = createWriteStream(file);
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _e, done) {
      seen.chunkMax = Math.max(seen.chunkMax, chunk.length);
      disk.write(chunk, (err) =>
        setImmediate(() => {
          seen.queuedMax = Math.max(seen.queuedMax, stream.writableLength);
          seen.bytes += chunk.length;
          seen.writes++;
          done(err);
        }),
      );
    },
    final(done) {
      disk.end();
      finished(disk).then(() => done(), done);
    },
  });
  return { stream, seen };
}

/** Polls until the condition holds; fails after the deadline. */
async function waitFor(condition: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await delay(100);
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const inspect = (server: string) => docker.getContainer(containerName(MIGRATION, server)).inspect();

describe('Docker runtime on a real engine (podman)', { timeout: 600_000 }, () => {
  before(async () => {
    engine = await within(startPodman(), 60_000, 'podman service start');
    images = await within(ensureTestImages(), 240_000, 'test image build');
    docker = new Docker({ socketPath: engine.socketPath });
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'kaapana-docker-'));
    stateDir = path.join(work, 'state');
    runtime = createDockerRuntime({ host: `unix://${engine.socketPath}`, stateDir, images, migrationId: MIGRATION });
  });

  after(async () => {
    if (docker) {
      const leftovers = await docker.listContainers({ all: true, filters: { label: [`kaapana-migrate.migration=${MIGRATION}`] } });
      for (const c of leftovers) await docker.getContainer(c.Id).remove({ force: true, v: true });
      for (const name of [containerName(MIGRATION, 'foreign'), `${MIGRATION}-elsewhere`]) {
        await docker.getContainer(name).remove({ force: true }).catch(() => undefined);
      }
    }
    if (work) await fs.rm(work, { recursive: true, force: true });
    await engine?.stop();
  });

  test('preflight: the engine answers and both images exist', async () => {
    await runtime.preflight();
  });

  test('start on an empty directory: the init scripts create the schema, reachable over the socket', { timeout: 120_000 }, async () => {
    const endpoint = await runtime.start(spec('original'), READY_MS);
    assert.equal(endpoint.port, 5432);
    assert.ok(endpoint.host.startsWith(stateDir));
    const client = await connect(endpoint);
    try {
      const { rows } = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
      );
      const tables = rows.map((r) => r.table_name);
      for (const t of ['patient', 'study', 'series', 'instance', 'location']) assert.ok(tables.includes(t), `table ${t} in ${tables}`);
      const version = await client.query<{ server_version: string }>('SHOW server_version');
      assert.match(version.rows[0]!.server_version, /^9\.6\./);
    } finally {
      await client.end();
    }
    assert.equal(await runtime.state('original'), 'running');
  });

  test('start again: the running container is reused', async () => {
    const before = await inspect('original');
    await runtime.start(spec('original'), READY_MS);
    const after = await inspect('original');
    assert.equal(after.Id, before.Id);
    assert.equal(after.State.StartedAt, before.State.StartedAt);
  });

  test("the container is configured like the guide's docker run, without TTY or published port", async () => {
    const info = await inspect('original');
    assert.equal(info.Name.replace(/^\//, ''), containerName(MIGRATION, 'original'));
    assert.equal(info.Config.Tty, false);
    assert.equal(info.Config.OpenStdin, false);
    for (const e of ['POSTGRES_DB=pacsdb', 'POSTGRES_USER=pacs', `POSTGRES_PASSWORD=${PASSWORD}`]) assert.ok(info.Config.Env.includes(e));
    const binds = Object.fromEntries(info.Mounts.filter((m) => m.Type === 'bind').map((m) => [m.Destination, m.Source]));
    assert.equal(binds['/var/lib/postgresql/data'], path.join(work, 'original'));
    assert.equal(binds['/var/run/postgresql'], path.join(stateDir, 'sockets', 'original'));
    assert.equal(Object.keys(info.HostConfig.PortBindings ?? {}).length, 0);
    assert.ok(!info.HostConfig.PublishAllPorts);
    const published = Object.values(info.NetworkSettings.Ports ?? {}).filter((v) => v && v.length > 0);
    assert.deepEqual(published, []);
    assert.equal(info.Config.Labels['kaapana-migrate.migration'], MIGRATION);
    assert.equal(info.Config.Labels['kaapana-migrate.server'], 'original');
    assert.equal(info.Config.Image, images.old);
    // docker stop sends PostgreSQL's fast-shutdown signal and waits long enough for a checkpoint
    // (podman reports the signal by number).
    const config = info.Config as { StopSignal?: string; StopTimeout?: number };
    assert.ok(config.StopSignal === 'SIGINT' || config.StopSignal === '2', `StopSignal ${config.StopSignal}`);
    assert.ok((config.StopTimeout ?? 0) >= 300, `StopTimeout ${config.StopTimeout}`);
  });

  test('exec: psql succeeds; a failing statement under ON_ERROR_STOP surfaces a non-zero exit code', async () => {
    const ok = await psql('original', 'SELECT current_user, current_database()');
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.stdout, 'pacs|pacsdb');

    const failing = await psql('original', 'SELECT * FROM no_such_table');
    assert.notEqual(failing.exitCode, 0);
    assert.match(failing.stderr, /no_such_table/);
    // A script on stdin: psql stops at the first error and says so with exit code 3.
    const seen: string[] = [];
    const script = await runtime.exec('original', ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1'], {
      stdin: Readable.from(['SELECT 1/0;\n', 'SELECT 1;\n']),
      onStderr: (c) => seen.push(c),
    });
    assert.equal(script.exitCode, 3);
    assert.match(seen.join(''), /division by zero/);
  });

  test('streams 50 MB through pg_dump to a file and back through psql stdin, without buffering it', { timeout: 300_000 }, async (t) => {
    const fill = await psql(
      'original',
      "CREATE TABLE blob AS SELECT g AS id, repeat(md5(g::text), 16) AS payload FROM generate_series(1, 100000) g",
    );
    assert.equal(fill.exitCode, 0, fill.stderr);
    const digest = "SELECT count(*) || ':' || md5(string_agg(payload, '' ORDER BY id)) FROM blob";
    const expected = (await psql('original', digest)).stdout;
    const dumpFile = path.join(work, 'blob.sql');

    // Output: into a sink slower than pg_dump with a small buffer. A runtime that waits for 'drain'
    // never queues more in it than its highWaterMark and the chunk it is writing; one that
    // collected the output first, or wrote without waiting, queues megabytes.
    const sink = slowSink(dumpFile, SINK_BUFFER);
    const dump = await within(runtime.exec('original', ['pg_dump', '-t', 'blob'], { stdout: sink.stream }), 120_000, 'pg_dump');
    assert.equal(dump.exitCode, 0, dump.stderr);
    sink.stream.end();
    await finished(sink.stream);
    const size = (await fs.stat(dumpFile)).size;
    assert.ok(size > 50_000_000, `dump is ${size} bytes`);
    assert.equal(sink.seen.bytes, size);
    t.diagnostic(`dump ${size} bytes in ${sink.seen.writes} writes; at most ${sink.seen.queuedMax} bytes queued in the sink, largest chunk ${sink.seen.chunkMax}`);
    assert.ok(
      sink.seen.queuedMax < SINK_BUFFER + sink.seen.chunkMax,
      `${sink.seen.queuedMax} bytes queued in a sink of ${SINK_BUFFER} (largest chunk ${sink.seen.chunkMax}): the runtime held the output back or did not wait for 'drain'`,
    );

    // Input: psql first waits for a lock this test holds and reads nothing of its input meanwhile. A
    // runtime that streams stops taking from the file once the buffers between here and psql are
    // full; one that read the input ahead of psql takes all of it.
    assert.equal((await psql('original', 'DROP TABLE blob; CREATE TABLE gate ()')).exitCode, 0);
    const holder = await connect(await runtime.start(spec('original'), READY_MS));
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE gate IN ACCESS EXCLUSIVE MODE');
      const input = createReadStream(dumpFile);
      const taken = () => input.bytesRead - input.readableLength;
      const restoring = runtime.exec('original', ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'SELECT FROM gate', '-f', '-'], {
        stdin: input,
        appName: 'it-gated-restore',
      });
      const waiting = "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'it-gated-restore'";
      await waitFor(async () => (await psql('original', waiting)).stdout === 'Lock', 30_000, 'restore waiting at the gate');
      // Until two readings agree: a streaming runtime never exceeds the window however long this
      // looks; the wait gives one that reads ahead the time to show it.
      let last = -1;
      await waitFor(async () => last === (last = taken()), 30_000, 'the runtime stops taking input');
      t.diagnostic(`while psql waited, the runtime took ${last} bytes of the ${size} byte dump`);
      assert.ok(last <= STDIN_WINDOW, `the runtime took ${last} bytes while psql read none: it read ahead of the tool`);
      await holder.query('COMMIT');
      const restore = await within(restoring, 120_000, 'restore');
      assert.equal(restore.exitCode, 0, restore.stderr);
      assert.equal(taken(), size);
    } finally {
      await holder.end();
    }
    assert.equal((await psql('original', digest)).stdout, expected);
    assert.equal((await psql('original', 'DROP TABLE gate')).exitCode, 0);

    // Backpressure: while the consumer stalls, pg_dump itself waits (its session stays active)
    // and no more than a socket's worth of data reaches this process.
    let received = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const stalling = new Writable({
      write(chunk: Buffer, _e, done) {
        received += chunk.length;
        if (received > 1_000_000) void released.then(() => done());
        else done();
      },
    });
    const dumping = runtime.exec('original', ['pg_dump', '-t', 'blob'], { stdout: stalling, appName: 'it-stalled-dump' });
    await waitFor(async () => received > 1_000_000, 30_000, 'first MB of the dump');
    await delay(1500);
    const stalledAt = received;
    await delay(1000);
    assert.equal(received, stalledAt, 'nothing more arrives while the consumer stalls');
    assert.ok(stalledAt < 2_000_000, `${stalledAt} bytes arrived before the stall`);
    t.diagnostic(`consumer stalled after ${stalledAt} bytes; no more arrived`);
    const session = await psql('original', "SELECT state FROM pg_stat_activity WHERE application_name = 'it-stalled-dump'");
    assert.equal(session.stdout, 'active', 'pg_dump is still dumping: the engine did not buffer the rest either');
    release();
    const done = await within(dumping, 120_000, 'released dump');
    assert.equal(done.exitCode, 0, done.stderr);
    assert.equal(received, size);

    // A destination that fails (e.g. a full disk) fails the exec instead of hanging it.
    const failing = new Writable({
      write(_chunk, _e, callback) {
        callback(new Error('disk full'));
      },
    });
    await rejection(within(runtime.exec('original', ['pg_dump', '-t', 'blob'], { stdout: failing }), 60_000, 'failing dump'), /disk full/);
  });

  test('readOnly: the server is replaced and refuses writes', { timeout: 120_000 }, async () => {
    const writable = await inspect('original');
    await runtime.start(spec('original', { readOnly: true }), READY_MS);
    const readOnly = await inspect('original');
    assert.notEqual(readOnly.Id, writable.Id);
    assert.deepEqual(readOnly.Config.Cmd, ['postgres', ...settingArgs(readOnlySettings('9.6', '/var/run/postgresql'))]);
    const write = await psql('original', 'CREATE TABLE nope (i int)');
    assert.notEqual(write.exitCode, 0);
    assert.match(write.stderr, /read-only transaction/);
    // The server itself writes as little as it can: no autovacuum, no table statistics, and the
    // statistics collector's files in the socket directory instead of the data directory.
    for (const [setting, value] of [['autovacuum', 'off'], ['track_counts', 'off'], ['stats_temp_directory', '/var/run/postgresql']]) {
      assert.equal((await psql('original', `SHOW ${setting}`)).stdout, value, setting);
    }
    assert.equal((await psql('original', 'SELECT count(*) >= 0 FROM pg_stat_user_tables')).stdout, 't');
    assert.deepEqual(await fs.readdir(path.join(work, 'original', 'pg_stat_tmp')), []);
    assert.equal((await psql('original', 'SELECT count(*) FROM blob')).stdout, '100000');
  });

  test('stop: the data directory is released; remove forgets the container, never the data', { timeout: 120_000 }, async () => {
    const dataDir = path.join(work, 'original');
    assert.equal(await runtime.dataDirInUse(dataDir), true);
    await within(runtime.stop('original'), 90_000, 'stop');
    assert.equal(await runtime.state('original'), 'stopped');
    assert.equal(await runtime.dataDirInUse(dataDir), false);
    await fs.access(path.join(dataDir, 'postmaster.pid')).then(
      () => assert.fail('a clean shutdown removes postmaster.pid'),
      () => undefined,
    );
    await runtime.stop('original'); // idempotent
    await rejection(runtime.exec('original', ['psql', '-c', 'SELECT 1']), /not running/);
    await runtime.remove('original');
    await runtime.remove('original');
    assert.equal(await runtime.state('original'), 'absent');
    await fs.access(path.join(dataDir, 'PG_VERSION'));
  });

  test('dataDirInUse: a server in a container that mounts only a parent directory is seen too', { timeout: 120_000 }, async () => {
    const dataDir = path.join(work, 'elsewhere');
    const other = await docker.createContainer({
      name: `${MIGRATION}-elsewhere`,
      Image: images.old,
      Env: ['POSTGRES_PASSWORD=other', 'PGDATA=/srv/elsewhere'],
      HostConfig: { Binds: [`${work}:/srv`] },
    });
    try {
      await fs.chmod(work, 0o755); // postgres (uid 999) must reach its directory below /srv
      await other.start();
      await waitFor(() => runtime.dataDirInUse(dataDir), 60_000, 'server seen on the directory');
      await other.stop({ t: 30 });
      await waitFor(async () => !(await runtime.dataDirInUse(dataDir)), 30_000, 'directory released');
    } finally {
      await other.remove({ force: true });
    }
  });

  test('a container killed during a restore: exec reports failure, and the directory is free again', { timeout: 180_000 }, async () => {
    const dataDir = path.join(work, 'original');
    await runtime.start(spec('original'), READY_MS); // existing cluster: no re-initialisation
    assert.equal((await psql('original', 'SELECT count(*) FROM blob')).stdout, '100000');
    assert.equal((await psql('original', 'CREATE TABLE k (i int)')).exitCode, 0);
    let n = 0;
    // An endless restore: statements keep coming until the exec ends.
    const statements = new Readable({
      read() {
        setTimeout(() => this.push(`INSERT INTO k VALUES (${n++});\n`), 2);
      },
    });
    const restore = runtime.exec('original', ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1'], { stdin: statements }).then(
      (r) => ({ exitCode: r.exitCode, error: undefined as Error | undefined }),
      (e: unknown) => ({ exitCode: undefined, error: e as Error }),
    );
    await waitFor(async () => Number((await psql('original', 'SELECT count(*) FROM k')).stdout) >= 50, 60_000, 'restore progress');
    const killedAt = Date.now();
    await docker.getContainer(containerName(MIGRATION, 'original')).kill({ signal: 'SIGKILL' });
    const outcome = await within(restore, 60_000, 'exec after kill');
    if (outcome.error) messages.push(outcome.error.message);
    assert.ok(outcome.error || outcome.exitCode !== 0, `exec reported ${JSON.stringify(outcome)}`);
    assert.ok(Date.now() - killedAt < 30_000);
    assert.ok(statements.destroyed, 'the exec releases its input');
    // postmaster.pid stays behind with the container's own pid: not a live server on this host.
    await fs.access(path.join(dataDir, 'postmaster.pid'));
    assert.equal(await runtime.dataDirInUse(dataDir), false);
    assert.equal(await runtime.state('original'), 'stopped');
    // A stopped container of ours is replaced; PostgreSQL recovers from the crash.
    await runtime.start(spec('original'), READY_MS);
    assert.equal((await psql('original', 'SELECT count(*) FROM blob')).stdout, '100000');
  });

  test('abort: the tool ends and exec rejects', { timeout: 60_000 }, async () => {
    const controller = new AbortController();
    const started = Date.now();
    const running = runtime.exec('original', ['psql', '-X', '-c', 'SELECT pg_sleep(120)'], { signal: controller.signal, appName: 'it-sleeper' });
    setTimeout(() => controller.abort(new Error('cancelled by the test')), 1000);
    await rejection(within(running, 30_000, 'aborted exec'), /cancelled by the test/);
    assert.ok(Date.now() - started < 20_000);
    const left = await psql('original', "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'it-sleeper'");
    assert.equal(left.stdout, '0');
  });

  test('readiness timeout: the error carries the container\'s last log lines', { timeout: 120_000 }, async () => {
    // A first start initialises the cluster for seconds: far longer than this timeout.
    const err = await rejection(runtime.start(spec('slow'), 500), /was not ready within/);
    assert.match(err.message, /last log lines:\n.+/);
    await within(runtime.stop('slow'), 90_000, 'stop');
    await runtime.remove('slow');
  });

  test('an init script of the image failing: the start fails naming it, and the next start never takes the half-initialised directory for a cluster', { timeout: 240_000 }, async () => {
    const broken = await within(withInitScript(images.old, '20_broken.sql', 'CREATE TABLE made_by_init (i int);\nSELECT * FROM no_such_table;\n'), 120_000, 'image with a failing init script');
    const brokenRuntime = createDockerRuntime({ host: `unix://${engine.socketPath}`, stateDir, images: { ...images, old: broken }, migrationId: MIGRATION });
    const s = spec('broken-init');
    for (const attempt of [1, 2]) {
      const err = await rejection(brokenRuntime.start(s, READY_MS), /initialisation of .* failed: .*exit code 3.*half-initialised.*20_broken\.sql.*relation "no_such_table" does not exist/s);
      assert.ok(err instanceof InitFailed, `attempt ${attempt}: ${err.name}`);
    }
    // With the image fixed, the next start initialises the directory again, from scratch.
    await runtime.start(s, READY_MS);
    assert.equal((await psql('broken-init', "SELECT to_regclass('public.made_by_init') IS NULL AND to_regclass('public.study') IS NOT NULL")).stdout, 't');
    await runtime.stop('broken-init');
    await runtime.remove('broken-init');
  });

  test('the new image (PostgreSQL 15) initialises its own schema; a lowered priority is the container\'s CPU weight', { timeout: 120_000 }, async () => {
    await runtime.start(spec('new', { image: 'new', priority: { nice: 10, io: 'best-effort' } }), READY_MS);
    assert.equal((await inspect('new')).HostConfig.CpuShares, 512);
    assert.match((await psql('new', 'SHOW server_version')).stdout, /^15\./);
    assert.equal((await psql('new', "SELECT to_regclass('public.study') IS NOT NULL")).stdout, 't');
    await runtime.stop('new');
    await runtime.remove('new');
  });

  test('a container of that name that is not ours: clear error, left alone', async () => {
    const foreign = await docker.createContainer({ name: containerName(MIGRATION, 'foreign'), Image: images.old, Cmd: ['sleep', '600'] });
    await rejection(runtime.start(spec('foreign'), READY_MS), /not created by kaapana-migrate/);
    await rejection(runtime.exec('foreign', ['psql']), /not created by kaapana-migrate/);
    await runtime.stop('foreign');
    await runtime.remove('foreign');
    assert.equal(await runtime.state('foreign'), 'absent');
    assert.equal((await foreign.inspect()).Id, foreign.id);
    await foreign.remove({ force: true });
  });

  test('engine not reachable: the message names DOCKER_HOST', async () => {
    const saved = process.env.DOCKER_HOST;
    try {
      for (const host of [`unix://${path.join(work, 'no-engine.sock')}`, 'tcp://127.0.0.1:1']) {
        process.env.DOCKER_HOST = host;
        const unreachable = createDockerRuntime({ stateDir, images, migrationId: MIGRATION });
        const err = await rejection(unreachable.preflight(), /does not answer/);
        assert.match(err.message, /DOCKER_HOST/);
        assert.ok(err.message.includes(host));
      }
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  test('image missing: the message says how to load it, and nothing is pulled', async () => {
    const missing = 'localhost/kaapana-test/not-here:0';
    const noImage = createDockerRuntime({ host: `unix://${engine.socketPath}`, stateDir, images: { ...images, new: missing }, migrationId: MIGRATION });
    const err = await rejection(noImage.preflight(), /docker load -i/);
    assert.ok(err.message.includes(missing));
    await rejection(noImage.start(spec('missing', { image: 'new' }), READY_MS), /docker load -i/);
    assert.equal(await noImage.state('missing'), 'absent');
    await assert.rejects(docker.getImage(missing).inspect());
  });

  test('the password never appears in errors, logs or stderr', { timeout: 120_000 }, async () => {
    // A server that fails to start and logs the password (as an unknown setting's name).
    const dataDir = path.join(work, 'broken');
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    await fs.writeFile(path.join(dataDir, 'PG_VERSION'), '9.6\n');
    await fs.writeFile(path.join(dataDir, 'postgresql.conf'), `${PASSWORD} = on\n`);
    const err = await rejection(runtime.start(spec('broken', { dataDir }), READY_MS), /last log lines/);
    assert.match(err.message, /\*\*\*/, 'the logged password is masked');
    assert.ok(!(err.stack ?? '').includes(PASSWORD));

    const echo = await runtime.exec('original', ['sh', '-c', 'echo "password is $PGPASSWORD" >&2; exit 3']);
    assert.equal(echo.exitCode, 3);
    assert.match(echo.stderr, /password is \*\*\*/);

    assert.ok(messages.length >= 8, `collected ${messages.length} messages`);
    for (const m of messages) assert.ok(!m.includes(PASSWORD), `password in: ${m}`);
  });

  test('engine address: DOCKER_HOST and TLS settings are read like the docker CLI', async () => {
    const certs = path.join(work, 'certs');
    await fs.mkdir(certs, { recursive: true });
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) await fs.writeFile(path.join(certs, f), `dummy ${f}`);
    const tls = dockerConnection(undefined, { DOCKER_HOST: 'tcp://node.example:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs });
    assert.equal(tls.options.protocol, 'https');
    assert.equal(tls.options.host, 'node.example');
    assert.equal(tls.options.port, '2376');
    assert.equal(String(tls.options.ca), 'dummy ca.pem');
    assert.equal(tls.options.agent?.options.rejectUnauthorized, true);
    const plain = dockerConnection(undefined, { DOCKER_HOST: 'tcp://node.example' });
    assert.deepEqual([plain.options.protocol, plain.options.port], ['http', '2375']);
    assert.equal(dockerConnection(undefined, {}).options.socketPath, '/var/run/docker.sock');
    assert.equal(dockerConnection('unix:///run/x.sock', { DOCKER_HOST: 'tcp://a:1' }).options.socketPath, '/run/x.sock');
    assert.throws(() => dockerConnection(undefined, { DOCKER_HOST: 'tcp://a:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: path.join(work, 'none') }), /ca\.pem/);
    assert.throws(() => dockerConnection('ssh://a', {}), /only unix:\/\/ and tcp:\/\//);
  });
});
