// The local runtime on real PostgreSQL 9.6 and 15 servers: a first start initialises a data
// directory all or nothing (a failing init script or a killed worker never leaves a
// half-initialised one behind), and a read-only server (the original) writes as little as it can.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { createLocalRuntime, type LocalRuntimeOptions } from '../../src/runtime/local.js';
import { DISCARD_GRACE_MS, InitFailed, type ContainerRuntime, type ImageRole, type ServerSpec } from '../../src/runtime/port.js';
import { tempDir } from '../support/harness.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from '../support/pg-binaries.js';

const START = fileURLToPath(new URL('../support/local-start.ts', import.meta.url));
const READY_MS = 60_000;
const credentials = { name: 'pacsdb', user: 'pacs', password: randomBytes(9).toString('base64url') };

let root: string;
let oldBinDir: string;
const started: { runtime: ContainerRuntime; name: string }[] = [];
before(async () => {
  root = await tempDir('local-runtime');
  // Passable for the server user, like the parents of the real directories.
  await fs.mkdir(path.join(root, 'data'), { mode: 0o711 });
  oldBinDir = await oldPostgresBinDir();
});
after(async () => {
  for (const { runtime, name } of started) {
    await runtime.stop(name);
    await runtime.remove(name);
  }
});

function optionsWith(initScriptsDir?: string): LocalRuntimeOptions {
  return {
    images: { old: { binDir: oldBinDir, initScriptsDir }, new: { binDir: NEW_POSTGRES_BIN_DIR, initScriptsDir } },
    clientBinDir: NEW_POSTGRES_BIN_DIR,
    stateDir: path.join(root, 'state'),
    serverUser: 'postgres',
    credentials,
  };
}

function runtimeFor(options: LocalRuntimeOptions, name: string): ContainerRuntime {
  const runtime = createLocalRuntime(options);
  started.push({ runtime, name });
  return runtime;
}

const spec = (name: string, image: ImageRole, readOnly = false): ServerSpec => ({ name, image, dataDir: path.join(root, 'data', name), readOnly, database: credentials });

async function scriptsDir(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(root, `init-${name}`);
  await fs.mkdir(dir, { recursive: true });
  for (const [file, sql] of Object.entries(files)) await fs.writeFile(path.join(dir, file), `${sql}\n`);
  return dir;
}

/** What lies beside (and is named like) the data directory. */
async function besides(dataDir: string): Promise<string[]> {
  const names = await fs.readdir(path.dirname(dataDir)).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(path.basename(dataDir))).sort();
}

/** psql -c as the runtime runs it; the output's trimmed text. */
async function psql(runtime: ContainerRuntime, name: string, sql: string, database?: string): Promise<string> {
  let out = '';
  const stdout = new Writable({
    write(chunk: Buffer, _e, done) {
      out += chunk.toString('utf8');
      done();
    },
  });
  const result = await runtime.exec(name, ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...(database ? ['-d', database] : []), '-c', sql], { stdout });
  assert.equal(result.exitCode, 0, result.stderr);
  return out.trim();
}

test('a failing init script leaves no data directory behind; every start fails alike, naming the script and its SQL error', async () => {
  const scripts = await scriptsDir('broken', {
    '10_schema.sql': 'CREATE TABLE made_by_init (i int);',
    '20_broken.sql': 'INSERT INTO made_by_init VALUES (20);\nSELECT * FROM no_such_table;',
  });
  const s = spec('broken', 'old');
  const runtime = runtimeFor(optionsWith(scripts), s.name);
  for (const attempt of [1, 2]) {
    const err = await runtime.start(s, READY_MS).then(() => assert.fail(`attempt ${attempt} must fail`), (e: unknown) => e as Error);
    assert.ok(err instanceof InitFailed, `attempt ${attempt}: ${err.message}`);
    assert.match(err.message, /init script 20_broken\.sql exited with 3: .*relation "no_such_table" does not exist/);
    assert.deepEqual(await besides(s.dataDir), [], `attempt ${attempt} left neither the data directory nor its scratch copy`);
    assert.equal(await runtime.state(s.name), 'stopped', 'no server left running');
  }
  // Fixed: the next start initialises from scratch, every script once.
  await fs.writeFile(path.join(scripts, '20_broken.sql'), 'INSERT INTO made_by_init VALUES (20);\n');
  await runtime.start(s, READY_MS);
  assert.equal(await psql(runtime, s.name, 'SELECT string_agg(i::text, \',\') FROM made_by_init'), '20');
  assert.deepEqual(await besides(s.dataDir), [path.basename(s.dataDir)]);
});

test('a first start killed during its init scripts: the next start stops the server it left, removes its scratch directory and initialises again', async () => {
  const scripts = await scriptsDir('killed', {
    '10_schema.sql': 'CREATE TABLE made_by_init (i int);',
    '20_slow.sql': 'SELECT pg_sleep(600);',
    '30_last.sql': 'INSERT INTO made_by_init VALUES (30);',
  });
  const s = spec('killed', 'new');
  const options = optionsWith(scripts);
  const runtime = runtimeFor(options, s.name);
  const child = spawn(process.execPath, ['--import', 'tsx', START], { env: { ...process.env, KM_LOCAL_START: JSON.stringify({ options, spec: s }) }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  try {
    // The slow script runs on the server of the scratch directory (the runtime's record names it).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const running = await psql(runtime, s.name, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'", 'postgres').catch(() => '0');
      if (running === '1') break;
      assert.ok(Date.now() < deadline && child.exitCode === null, 'the slow init script did not start within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  const left = await besides(s.dataDir);
  assert.equal(left.length, 1, `only the scratch directory is left: ${left.join(', ')}`);
  assert.match(left[0]!, /\.initialising-\d+-\d+$/);

  await fs.writeFile(path.join(scripts, '20_slow.sql'), 'SELECT 1;\n');
  await runtime.start(s, READY_MS);
  assert.equal(await psql(runtime, s.name, 'SELECT string_agg(i::text, \',\') FROM made_by_init'), '30', 'initialised completely, every script once');
  assert.deepEqual(await besides(s.dataDir), [path.basename(s.dataDir)], 'the scratch directory is gone');
});

test('a read-only server (the original) runs without autovacuum or table statistics, and on 9.6 keeps its statistics files out of the data directory', async () => {
  for (const image of ['old', 'new'] as const) {
    const writable = spec(`live-${image}`, image);
    const runtime = runtimeFor(optionsWith(), writable.name);
    await runtime.start(writable, READY_MS);
    await runtime.stop(writable.name);
    await runtime.start({ ...writable, readOnly: true }, READY_MS);
    const show = (setting: string) => psql(runtime, writable.name, `SHOW ${setting}`);
    assert.equal(await show('default_transaction_read_only'), 'on');
    assert.equal(await show('autovacuum'), 'off', image);
    assert.equal(await show('autovacuum_freeze_max_age'), '2000000000', 'no vacuum forced by the freeze age either');
    assert.equal(await show('track_counts'), 'off', image);
    if (image === 'old') {
      // Asking for statistics makes the 9.6 collector write its files: not into the data directory.
      await psql(runtime, writable.name, 'SELECT count(*) FROM pg_stat_user_tables');
      assert.deepEqual(await fs.readdir(path.join(writable.dataDir, 'pg_stat_tmp')), []);
      assert.ok(!(await show('stats_temp_directory')).startsWith(writable.dataDir));
    }
    await runtime.stop(writable.name);
  }
});

test('a server being discarded whose fast shutdown cannot end (its checkpointer stopped, as on a full disk) is ended by an immediate shutdown', async () => {
  const server = spec('stuck-new', 'new');
  const runtime = runtimeFor(optionsWith(), server.name);
  await runtime.start(server, READY_MS);
  const postmaster = Number((await fs.readFile(path.join(server.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(postmaster)], { encoding: 'utf8' });
  const checkpointer = Number(/^\s*(\d+)\s+postgres: checkpointer/m.exec(children)?.[1]);
  assert.ok(checkpointer > 0, children);
  // A stopped checkpointer never writes the shutdown checkpoint: a fast shutdown waits for good.
  process.kill(checkpointer, 'SIGSTOP');
  try {
    const started = Date.now();
    await runtime.stop(server.name, { discarding: true });
    const ms = Date.now() - started;
    assert.equal(await runtime.state(server.name), 'stopped');
    assert.ok(ms >= DISCARD_GRACE_MS && ms < 2 * DISCARD_GRACE_MS, `ended after the grace of ${DISCARD_GRACE_MS} ms by the immediate shutdown (took ${ms} ms)`);
    // The next start recovers (no checkpoint was written) and serves.
    await runtime.start(server, READY_MS);
    assert.equal(await psql(runtime, server.name, 'SELECT 1'), '1');
  } finally {
    try {
      process.kill(checkpointer, 'SIGCONT');
    } catch {
      // ended with its server
    }
  }
  await runtime.stop(server.name);
});
