// Throwaway PostgreSQL clusters for tests, listening on a unix socket only. The server binaries
// moved to src/demo/binaries.ts (the demo needs them); tests keep importing them from here.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { run } from '../../src/prerequisites.js';

import { NEW_POSTGRES_BIN_DIR } from '../../src/demo/binaries.js';

export { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from '../../src/demo/binaries.js';

export interface TestCluster {
  socketDir: string;
  port: number;
  dataDir: string;
  /** The superuser initdb created. */
  user: string;
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  binDir: string;
  /** With a password, local connections need it (md5); without, they are trusted. */
  password?: string;
  user?: string;
  /** Extra server settings (-c name=value), e.g. { fsync: 'on' } to measure realistic timings. */
  settings?: Record<string, string>;
}

const PORT = 5432;
// Throwaway clusters need no durability; this makes loading test data several times faster.
const DEFAULT_SETTINGS: Record<string, string> = { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off' };

/** Clusters still running, stopped hard if the test process exits without calling stop(). */
const running = new Map<string, { postmasterPid: () => number | undefined; base: string }>();
process.on('exit', () => {
  for (const { postmasterPid, base } of running.values()) {
    const pid = postmasterPid();
    if (pid) {
      try {
        process.kill(pid, 'SIGQUIT'); // immediate shutdown: the postmaster takes its backends along
      } catch {
        // already gone
      }
    }
    rmSync(base, { recursive: true, force: true });
  }
});

/** initdb refuses to run as root: as root, run the server tools as the `postgres` user. */
function asServerUser(argv: readonly string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...argv] : [...argv];
}

export async function startTestCluster(opts: TestClusterOptions): Promise<TestCluster> {
  const user = opts.user ?? 'postgres';
  const base = await mkdtemp(path.join(os.tmpdir(), 'kaapana-pg-'));
  const dataDir = path.join(base, 'data');
  const socketDir = path.join(base, 'socket');
  await mkdir(socketDir);
  const initdb = [path.join(opts.binDir, 'initdb'), '-D', dataDir, '-U', user, '-E', 'UTF8', '--locale=C', '-N'];
  if (opts.password !== undefined) {
    const pwfile = path.join(base, 'pwfile');
    await writeFile(pwfile, `${opts.password}\n`, { mode: 0o600 });
    initdb.push('-A', 'md5', `--pwfile=${pwfile}`);
  } else {
    initdb.push('-A', 'trust');
  }
  if (process.getuid?.() === 0) await run(['chown', '-R', 'postgres:postgres', base]);

  let child: ChildProcess | undefined;
  let postmaster: number | undefined;
  running.set(base, { postmasterPid: () => postmaster, base });
  let stopping: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      // Signal the postmaster itself: runuser does not pass SIGINT (fast shutdown) on.
      if (postmaster) process.kill(postmaster, 'SIGINT');
      else child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (postmaster) process.kill(postmaster, 'SIGQUIT');
      }, 20_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(base, { recursive: true, force: true });
    // Only now: should the process die while stopping, the exit hook still cleans up.
    running.delete(base);
  };
  const stop = (): Promise<void> => (stopping ??= shutdown());

  try {
    await run(asServerUser(initdb));
    const settings = { ...DEFAULT_SETTINGS, ...opts.settings };
    const argv = asServerUser([
      path.join(opts.binDir, 'postgres'), '-D', dataDir, '-k', socketDir, '-c', 'listen_addresses=', '-p', String(PORT),
      ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    ]);
    const log = await open(path.join(base, 'server.log'), 'a');
    try {
      child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', log.fd, log.fd] });
    } finally {
      await log.close();
    }
    postmaster = await waitUntilReady(child, { socketDir, user, password: opts.password, dataDir, base });
  } catch (err) {
    await stop();
    throw err;
  }
  return { socketDir, port: PORT, dataDir, user, stop };
}

async function waitUntilReady(
  child: ChildProcess,
  c: { socketDir: string; user: string; password?: string; dataDir: string; base: string },
): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(path.join(c.base, 'server.log'), 'utf8').catch(() => '');
      throw new Error(`postgres exited during start-up:\n${log.slice(-2000)}`);
    }
    const client = new pg.Client({ host: c.socketDir, port: PORT, user: c.user, password: c.password, database: 'postgres' });
    try {
      await client.connect();
      await client.end();
      // The first line of postmaster.pid is the server's own pid (the child may be runuser).
      return Number((await readFile(path.join(c.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A PostgreSQL 15 cluster with an empty pacsdb (password x): what a dump reads its source facts from. */
export async function startEmptyPacsdb(): Promise<TestCluster> {
  const server = await startTestCluster({ binDir: NEW_POSTGRES_BIN_DIR, password: 'x' });
  const client = new pg.Client({ host: server.socketDir, port: server.port, user: server.user, password: 'x', database: 'postgres' });
  try {
    await client.connect();
    await client.query('CREATE DATABASE pacsdb');
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    await client.end().catch(() => undefined);
  }
  return server;
}
