// The rehearsal's own activities: the one read of the live database, the scratch copy made from
// it, and the cleanup. Between them the rehearsal runs the migration's database steps unchanged,
// on scratch copies (workflows/rehearse-dcm4che.ts).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config/load.js';
import { within } from '../config/rehearsal.js';
import { layoutFor, type Layout } from '../config/layout.js';
import type { RehearsalOptions } from '../config/rehearsal.js';
import type { MigrationConfig } from '../config/schema.js';
import { directoryBytes, exists } from '../files.js';
import { mib } from '../format.js';
import { checkSpace, PreflightError, spaceNeeds } from '../plan/preflight.js';
import { queryRows, withClient } from '../postgres/client.js';
import { TABLE_BYTES } from '../postgres/inventory.js';
import { restoreFromFile } from '../postgres/transfer.js';
import { queryLiveNumbers, snapshotToFile, type Snapshot } from '../rehearsal/snapshot.js';
import type { Priority } from '../runtime/priority.js';
import { workflowIdFor } from '../shared.js';
import type { ActivityDeps, RunContext } from './context.js';
import { diskFull, envFor, fatal, serverSpec, withProgress } from './context.js';

export type Mode = MigrationConfig['mode'];

/** A rehearsal's context: the node's own configuration (its live database) and the rehearsal's settings. */
export interface RehearsalContext extends RunContext {
  rehearsal: RehearsalOptions;
}

export interface Prepared {
  /** The rehearsal's own directory: its report and attempts journal, kept. */
  home: string;
  /** Everything else the rehearsal creates (removed at its end, also after a failure). */
  scratch: string;
  /** The scratch servers' runtime state (sockets, logs), removed with the scratch. */
  state: string;
  where: string;
  /** The live database's size (pg_database_size) and its tables' (the dump's progress total). */
  liveBytes: number;
  tableBytes: number;
  at: string;
  /** Each mode's run: the migration's configuration pointed at the scratch copies. */
  runs: { mode: Mode; ctx: RunContext }[];
  /** What a real migration of the node would find short on its own disks. */
  realRun: string[];
}

/** The scratch copies need the snapshot, a 9.6 copy of it, and one mode's copies and dumps at a time. */
const SCRATCH_FACTOR = 5;

export function createRehearsalActivities(deps: ActivityDeps) {
  async function liveOf(ctx: RehearsalContext) {
    const env = await envFor(deps, ctx);
    return deps.liveFor(ctx.config, ctx.rehearsal, env.credentials);
  }

  return {
    /**
     * Read-only checks before the rehearsal creates anything: no migration of the node runs, the
     * live database answers, the scratch disk has room. Also what a real run would find short.
     */
    async prepareRehearsal(ctx: RehearsalContext): Promise<Prepared> {
      const node = ctx.config.node;
      const migration = await deps.workflowStatus(workflowIdFor(node));
      if (migration === 'RUNNING') {
        throw fatal('NodeBusy', `the migration of node ${node} runs (workflow ${workflowIdFor(node)}): a rehearsal starts only when it has ended; follow it with kaapana-migrate watch --node ${node}, or stop it with kaapana-migrate abort --node ${node} (it rolls back)`);
      }
      const layout = layoutFor(ctx.config, ctx.runTag);
      const home = layout.runDir;
      const scratch = path.join(ctx.rehearsal.scratchDir ?? ctx.config.paths.fastDataDir, path.basename(home));
      // Short: the local runtime's socket paths below it must stay under 108 bytes.
      const state = path.join(ctx.config.runtime.stateDir, ctx.runTag);
      let live;
      try {
        live = await liveOf(ctx);
      } catch (err) {
        if (err instanceof ConfigError) throw fatal('PreflightError', err.message);
        throw err;
      }
      const appName = 'kaapana-migrate-rehearsal';
      const [liveBytes, tableBytes] = await queryLiveNumbers(live, ['pg_database_size(current_database())', `(${TABLE_BYTES})`], appName).catch((err: Error) => {
        throw fatal('PreflightError', `the live database does not answer through ${live.where}: ${err.message}`);
      });
      try {
        await checkSpace([{ dir: scratch, bytes: Math.ceil(liveBytes * SCRATCH_FACTOR * ctx.config.diskMargin), for: `the rehearsal's scratch copies (${SCRATCH_FACTOR}× the live database of ${mib(liveBytes)})` }]);
      } catch (err) {
        if (err instanceof PreflightError) throw fatal('ScratchSpace', `${err.message}; set rehearsal.scratchDir to a disk with more room`);
        throw err;
      }
      const realRun: string[] = [];
      // Sizes the live directory's files without opening any (its server keeps running).
      await directoryBytes(layout.original).then(
        (bytes) => checkSpace(spaceNeeds(ctx.config, layout, bytes)).catch((err: Error) => realRun.push(err.message)),
        (err: Error) => realRun.push(`the live directory ${layout.original} could not be sized for a real run's space check: ${err.message}`),
      );
      const priority: Priority = { nice: ctx.rehearsal.nice, io: ctx.rehearsal.io };
      const runs = ctx.rehearsal.modes.map((mode) => ({ mode, ctx: { config: scratchConfig(ctx.config, scratch, state, mode), runTag: `${ctx.runTag}-${mode}`, priority } }));
      return { home, scratch, state, where: live.where, liveBytes, tableBytes, at: new Date().toISOString(), runs, realRun };
    },

    /** The live database in one snapshot (pg_dump's), through its running server, at the rehearsal's pace. */
    async snapshotLive(ctx: RehearsalContext, prepared: Prepared): Promise<Snapshot> {
      const live = await liveOf(ctx);
      const file = path.join(prepared.scratch, 'live.sql');
      // Passable for the scratch servers' user (the local runtime runs them as postgres).
      await fs.mkdir(prepared.scratch, { recursive: true, mode: 0o711 });
      return withProgress({ step: 'snapshotLive', unit: 'bytes', total: prepared.tableBytes, done: 0 }, async (progress) => {
        try {
          return await snapshotToFile(live, file, {
            onBytes: (done) => progress.update({ done }),
            appName: 'kaapana-migrate-rehearsal-dump',
            signal: progress.signal,
            ...(ctx.rehearsal.maxDumpMiBps ? { bytesPerSecond: ctx.rehearsal.maxDumpMiBps * 2 ** 20 } : {}),
          });
        } catch (err) {
          throw diskFull(err, prepared.scratch) ?? err;
        }
      });
    },

    /**
     * The snapshot restored into a 9.6 directory of the scratch: the original of every mode's run.
     * Returns the tables whose rows the restore did not give back in full.
     */
    async restoreSnapshot(ctx: RehearsalContext, prepared: Prepared, snapshot: Snapshot): Promise<{ bytes: number; ms: number; lost: { table: string; dumped: number; restored: number }[] }> {
      const env = await envFor(deps, prepared.runs[0]!.ctx);
      const started = Date.now();
      const spec = { ...serverSpec(env, 'original'), name: loaderOf(env.layout), readOnly: false };
      await fs.mkdir(path.dirname(spec.dataDir), { recursive: true, mode: 0o711 });
      const appName = 'kaapana-migrate-rehearsal-restore';
      try {
        const endpoint = await env.runtime.start(spec, ctx.config.readyTimeoutSeconds * 1000);
        return await withProgress({ step: 'restoreSnapshot', unit: 'bytes', total: snapshot.bytes, done: 0 }, async (progress) => {
          const { bytes } = await restoreFromFile(env.runtime, { server: spec.name, endpoint, credentials: env.credentials }, snapshot, {
            onBytes: (done) => progress.update({ done }),
            appName,
            signal: progress.signal,
          });
          const lost = await withClient(endpoint, env.credentials, async (c) => {
            const found: { table: string; dumped: number; restored: number }[] = [];
            for (const [table, dumped] of Object.entries(snapshot.rows)) {
              // The name as pg_dump wrote it, quoted where it needs to be.
              const [row] = await queryRows<{ n: string }>(c, `SELECT count(*)::text AS n FROM ${table}`);
              const restored = Number(row!.n);
              if (restored !== dumped) found.push({ table, dumped, restored });
            }
            return found;
          });
          return { bytes, ms: Date.now() - started, lost };
        }, { endpoint, credentials: env.credentials, appName });
      } catch (err) {
        throw diskFull(err, prepared.scratch) ?? err;
      } finally {
        await env.runtime.stop(spec.name);
        await env.runtime.remove(spec.name);
      }
    },

    /**
     * Stops and forgets every server of the rehearsal, then removes what it wrote: one mode's
     * copies (`mode`), or the whole scratch and its runtime state. Never anything outside them.
     */
    async removeScratch(ctx: RehearsalContext, prepared: Prepared, mode?: Mode): Promise<string> {
      const removed: string[] = [];
      for (const run of prepared.runs.filter((r) => !mode || r.mode === mode)) {
        const env = await envFor(deps, run.ctx);
        for (const name of [...Object.values(env.layout.serverName), loaderOf(env.layout)]) {
          await env.runtime.stop(name);
          await env.runtime.remove(name);
        }
        if (mode) {
          // The run's attempts outlive its copies: the rehearsal's report lists them.
          await keepAttempts(env.layout.attempts, layoutFor(ctx.config, ctx.runTag).attempts);
          const { work, new: migrated, scratch, failed, runDir } = env.layout;
          for (const dir of [work, migrated, scratch, failed, runDir]) removed.push(...(await removeWithin(dir, prepared.scratch)));
        }
      }
      if (!mode) for (const dir of [prepared.scratch, prepared.state]) removed.push(...(await removeIfThere(dir)));
      return removed.length > 0 ? `removed ${removed.join(', ')}` : 'nothing left to remove';
    },

    /** The live database now: its size and instances, against the snapshot's. */
    async measureGrowth(ctx: RehearsalContext): Promise<{ bytes: number; instances: number; at: string }> {
      const live = await liveOf(ctx);
      const [bytes, instances] = await queryLiveNumbers(live, ['pg_database_size(current_database())', '(SELECT count(*) FROM instance)'], 'kaapana-migrate-rehearsal');
      return { bytes, instances, at: new Date().toISOString() };
    },
  };
}

/** The writable server that fills the scratch original from the snapshot (its read-only run comes later). */
const loaderOf = (layout: Layout) => `${layout.serverName.original}-loader`;

/**
 * The migration's configuration on the scratch copies: its own node name (so that no container or
 * server name meets a real migration's), no cluster, the mode rehearsed.
 */
function scratchConfig(config: MigrationConfig, scratch: string, state: string, mode: Mode): MigrationConfig {
  const fast = path.join(scratch, 'fast');
  return {
    ...config,
    node: `${config.node}-rehearsal`,
    mode,
    paths: { ...config.paths, dataDir: path.join(fast, path.basename(config.paths.dataDir)), fastDataDir: fast, backupDir: path.join(scratch, 'backup') },
    runtime: { ...config.runtime, stateDir: state },
    cluster: { kind: 'none' },
  };
}

/** Appends a run's journal to the rehearsal's (a retry after a crash may append it twice: the report's attempts are keyed). */
async function keepAttempts(from: string, to: string): Promise<void> {
  const lines = await fs.readFile(from).catch(() => undefined);
  if (!lines || lines.length === 0) return;
  await fs.mkdir(path.dirname(to), { recursive: true, mode: 0o700 });
  await fs.appendFile(to, lines, { mode: 0o600 });
}

/** Removes `dir` when it exists and lies within `root`; refuses anything else. */
function removeWithin(dir: string, root: string): Promise<string[]> {
  if (!within(dir, root)) throw new Error(`refusing to remove ${dir}: it is outside the rehearsal's scratch ${root}`);
  return removeIfThere(dir);
}

/** Removes `dir` when it exists; says which it removed. */
async function removeIfThere(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  await fs.rm(dir, { recursive: true, force: true });
  return [dir];
}
