// Preflight: every check that can be made before anything changes, read-only. The workflow's first
// step and `kaapana-migrate plan` run the same checks. Fails with what to do.
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import type { Cluster } from '../cluster/port.js';
import type { Layout } from '../config/layout.js';
import type { MigrationConfig } from '../config/schema.js';
import { directoryBytes, exists } from '../files.js';
import type { ContainerRuntime } from '../runtime/port.js';
import { selectUpdateScripts, type UpdateScript } from './scripts.js';
import { mib } from '../format.js';

export interface SpaceCheck {
  dir: string;
  needBytes: number;
  freeBytes: number;
  for: string[];
}

export interface Plan {
  layout: Layout;
  scripts: UpdateScript[];
  dataDirBytes: number;
  space: SpaceCheck[];
  notes: string[];
}

/** A check that failed: nothing may start. */
export class PreflightError extends Error {
  override name = 'PreflightError';
}

export interface NodeUnderCheck {
  config: MigrationConfig;
  layout: Layout;
  runtime: ContainerRuntime;
  cluster: Cluster;
}

export async function preflight(env: NodeUnderCheck): Promise<Plan> {
  const { config, layout } = env;
  const notes: string[] = [];

  const version = await readPgVersion(layout.original);
  if (version !== '9.6') notes.push(`the original cluster reports PostgreSQL ${version}; Kaapana 0.2.x runs 9.6`);
  if (Number.parseFloat(version) >= 15) throw new PreflightError(`${layout.original} already holds a PostgreSQL ${version} cluster: it looks migrated already`);

  for (const [dir, what] of [
    [layout.new, 'the new database directory'],
    [layout.retired, 'the place the original moves to at the swap'],
    [layout.work, 'the 9.6 working directory'],
  ] as const) {
    if (await exists(dir)) {
      throw new PreflightError(`${dir} (${what}) already exists: it may be left from an earlier attempt. Move it away (or delete it once you are sure it holds nothing you need), then start again`);
    }
  }

  await env.runtime.preflight().catch((err: Error) => {
    throw new PreflightError(`container runtime: ${err.message}`);
  });
  const facts = await env.cluster.preflight().catch((err: Error) => {
    throw new PreflightError(`cluster: ${err.message}`);
  });
  notes.push(...facts.notes);
  if (facts.databaseHostPath && path.resolve(facts.databaseHostPath) !== path.resolve(layout.original)) {
    throw new PreflightError(`the postgres-dcm4che deployment mounts ${facts.databaseHostPath}, but paths.dataDir is ${layout.original}; set paths.dataDir to the deployment's hostPath`);
  }
  if (config.cluster.kind === 'none' && (await env.runtime.dataDirInUse(layout.original))) {
    throw new PreflightError(`a PostgreSQL server is running on ${layout.original}: scale the dcm4chee and postgres-dcm4che deployments to 0 first (two servers on one data directory corrupt it)`);
  }

  const scripts = await selectUpdateScripts(config.paths.scriptsDir, config.versions.from, config.versions.to);

  await mustBeWritable(config.paths.backupDir);
  const dataDirBytes = await directoryBytes(layout.original);
  const space = await checkSpace(spaceNeeds(config, layout, dataDirBytes));
  return { layout, scripts, dataDirBytes, space, notes };
}

export interface SpaceNeed {
  dir: string;
  bytes: number;
  for: string;
}

/**
 * Besides its data, a server restoring a dump with the default settings keeps WAL until its
 * checkpoints recycle it: up to max_wal_size (1 GiB on 9.6 and 15; 784 MiB in the new directory
 * restoring 1 000 000 instances), and no more than about the data it writes. Fast mode's load
 * runs with wal_level minimal and needs none of this (128 MiB there, within the margin).
 */
const WAL_ROOM_BYTES = 1024 ** 3;

/**
 * What a migration of a database directory of `dataDirBytes` writes, and where: fast mode streams
 * the original into the new server, so it makes no working copy and one dump (the backup file
 * the stream writes beside the load).
 */
export function spaceNeeds(config: Pick<MigrationConfig, 'diskMargin' | 'paths' | 'mode'>, layout: Pick<Layout, 'work' | 'new'>, dataDirBytes: number): SpaceNeed[] {
  const need = (factor: number) => Math.ceil(dataDirBytes * factor * config.diskMargin);
  if (config.mode === 'fast') {
    return [
      { dir: path.dirname(layout.new), bytes: need(1), for: 'the new PostgreSQL 15 directory' },
      { dir: config.paths.backupDir, bytes: need(1), for: 'the plain-SQL dump' },
    ];
  }
  const wal = Math.min(WAL_ROOM_BYTES, dataDirBytes);
  return [
    { dir: path.dirname(layout.work), bytes: need(1) + wal, for: 'the 9.6 working copy and its WAL' },
    { dir: path.dirname(layout.new), bytes: need(1) + wal, for: 'the new PostgreSQL 15 directory and its WAL' },
    { dir: config.paths.backupDir, bytes: need(2), for: 'two plain-SQL dumps' },
  ];
}

async function readPgVersion(dataDir: string): Promise<string> {
  let stat;
  try {
    stat = await fs.stat(dataDir);
  } catch {
    throw new PreflightError(`the database directory ${dataDir} does not exist: set paths.dataDir to the postgres-dcm4che hostPath (Kaapana: \${FAST_DATA_DIR}/postgres-dcm4che)`);
  }
  if (!stat.isDirectory()) throw new PreflightError(`${dataDir} is not a directory`);
  try {
    return (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES') throw new PreflightError(`${dataDir} is not readable by this worker (run the worker as root or as the directory's owner)`);
    throw new PreflightError(`${dataDir} holds no PostgreSQL cluster (no PG_VERSION): is it the dcm4chee database directory?`);
  }
}

async function mustBeWritable(dir: string): Promise<void> {
  let probe = dir;
  while (!(await exists(probe))) probe = path.dirname(probe);
  try {
    await fs.access(probe, constants.W_OK);
  } catch {
    throw new PreflightError(`the backup directory ${dir} cannot be created or written (${probe} is not writable)`);
  }
}

/** Needs on the same filesystem add up; fails (PreflightError) when one falls short. */
export async function checkSpace(needs: SpaceNeed[]): Promise<SpaceCheck[]> {
  const byDevice = new Map<number, SpaceCheck>();
  for (const need of needs) {
    let probe = need.dir;
    while (!(await exists(probe))) probe = path.dirname(probe);
    const dev = (await fs.stat(probe)).dev;
    const statfs = await fs.statfs(probe);
    const entry = byDevice.get(dev) ?? { dir: probe, needBytes: 0, freeBytes: statfs.bavail * statfs.bsize, for: [] };
    entry.needBytes += need.bytes;
    entry.for.push(need.for);
    byDevice.set(dev, entry);
  }
  const checks = [...byDevice.values()];
  const short = checks.filter((c) => c.freeBytes < c.needBytes);
  if (short.length > 0) {
    throw new PreflightError(
      short
        .map((c) => `too little free space on ${c.dir}: ${mib(c.freeBytes)} free, ${mib(c.needBytes)} needed for ${c.for.join(' + ')} (database size with the configured margin)`)
        .join('; '),
    );
  }
  return checks;
}
