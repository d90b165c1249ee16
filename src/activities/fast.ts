// The opt-in fast path: no intermediate 9.6 copy. The original is dumped once, straight into the
// backup file and the new PostgreSQL 15 server at the same time, under bulk-load settings that
// hold until restoreDurability; the updates (applyUpdate with role 'new') run in between.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fsyncPath, readJsonIfPresent, writeFileDurably } from '../files.js';
import { endStraySessions, withClient } from '../postgres/client.js';
import { BULK_LOAD_SETTINGS, bootId, currentSettings, dumpAndRestore, persistSettings, restoreAppName, syncTree } from '../postgres/fast.js';
import { readTableBytes } from '../postgres/inventory.js';
import { analyzeTables, timed, type Timed } from '../postgres/maintenance.js';
import { resetRoom, type DeferIndexes, type DeferredIndex } from '../postgres/rewrite-room.js';
import type { DumpResult, Loaded } from '../postgres/transfer.js';
import { ExecFailed } from '../runtime/port.js';
import type { ActivityDeps, Env, RunContext } from './context.js';
import { diskFull, ensureServer, envFor, fatal, withProgress } from './context.js';

/** What the durable server must report once the bulk-load settings are gone. */
const DURABLE = { fsync: 'on', full_page_writes: 'on', wal_level: 'replica', autovacuum: 'on' };

interface Marker {
  bootId: string;
}

const markerFile = (env: Env) => path.join(env.layout.runDir, 'bulk-load-new.json');

const readMarker = (env: Env) => readJsonIfPresent<Marker>(markerFile(env));

/**
 * Under fsync=off only an OS crash loses data; the boot id tells whether one happened since the
 * bulk-load settings were switched on. If so the new directory is untrustworthy.
 */
export async function assertLoadIntact(env: Env): Promise<void> {
  const marker = await readMarker(env);
  if (marker && marker.bootId !== bootId()) {
    throw fatal('BulkLoadLost', `the machine restarted while ${env.layout.new} ran without fsync: discard it and load again from prepareBulkLoad`);
  }
}

async function restart(env: Env): Promise<void> {
  await env.runtime.stop(env.layout.serverName.new);
  await ensureServer(env, 'new');
}

export function createFastActivities(deps: ActivityDeps) {
  return {
    /**
     * Start the new server with the bulk-load settings. A directory left from an earlier boot in
     * bulk-load mode is removed first (it is ours and redone from the dump).
     */
    async prepareBulkLoad(ctx: RunContext): Promise<Record<string, string>> {
      const env = await envFor(deps, ctx);
      const marker = await readMarker(env);
      if (marker && marker.bootId !== bootId()) {
        await env.runtime.stop(env.layout.serverName.new);
        await fs.rm(env.layout.new, { recursive: true, force: true });
      }
      const endpoint = await ensureServer(env, 'new');
      // Written (durably) before the settings change: from here on a crash of the machine means "redo".
      await writeFileDurably(markerFile(env), JSON.stringify({ bootId: bootId() } satisfies Marker));
      await persistSettings(endpoint, env.credentials, BULK_LOAD_SETTINGS);
      await restart(env);
      return currentSettings(await ensureServer(env, 'new'), env.credentials, Object.keys(BULK_LOAD_SETTINGS));
    },

    /**
     * One read of the original: backup file and restore into the new server (created like the
     * original) in one pass (`expectedBytes` 0: read here); the tables the updates will rewrite (`rewritten`) loaded with room,
     * and with `deferIndexes` their plain indexes the scripts do not name left for restoreDurability.
     */
    async streamOriginalToNew(ctx: RunContext, expectedBytes: number, rewritten: string[] = [], deferIndexes?: DeferIndexes): Promise<DumpResult & { ms: number } & Loaded> {
      const env = await envFor(deps, ctx);
      await assertLoadIntact(env);
      const original = await ensureServer(env, 'original');
      const endpoint = await ensureServer(env, 'new');
      const started = Date.now();
      // 0: the stream runs beside the inventory that would give it.
      const total = expectedBytes > 0 ? expectedBytes : await withClient(original, env.credentials, readTableBytes);
      const appName = 'kaapana-migrate-stream';
      // The restoring session counts (no byte moves while it builds the indexes and foreign keys);
      // the dumping one is watched by its bytes alone, as in dump.
      const restoring = { endpoint, credentials: env.credentials, appName: restoreAppName(appName) };
      return withProgress({ step: 'streamOriginalToNew', detail: 'dump and restore in one pass', unit: 'bytes', total, done: 0 }, async (progress) => {
        try {
          const source = { server: env.layout.serverName.original, endpoint: original, credentials: env.credentials };
          const target = { server: env.layout.serverName.new, endpoint, credentials: env.credentials };
          const result = await dumpAndRestore(env.runtime, source, env.layout.dumps.original, target, {
            onBytes: (done) => progress.update({ done }),
            appName,
            signal: progress.signal,
            rewritten,
            ...(deferIndexes ? { deferIndexes } : {}),
          });
          return { ...result, ms: Date.now() - started };
        } catch (err) {
          // The worker writes the backup file (a file system error); the new server its directory.
          const full = diskFull(err, (err as NodeJS.ErrnoException).code === 'ENOSPC' ? env.layout.runDir : env.layout.new);
          if (full) throw full;
          // psql's status 3: a statement of the dump failed; it would fail the same way again.
          if (err instanceof ExecFailed && err.argv0.startsWith('psql') && err.exitCode === 3) throw fatal('RestoreFailed', `the restore failed and was rolled back: ${err.message}`);
          throw err;
        }
      }, restoring);
    },

    /**
     * After the updates: the room the load gave (`roomGiven`) taken back, the tables the updates
     * rewrote vacuumed (FULL: the new directory is no larger than a fresh restore's; the tables given
     * room too, whose pages are half empty), the indexes the load left (`deferred`) built and every
     * table analyzed, still under the fast settings; then the bulk-load settings off, every file of
     * the new directory fsynced, the server restarted with the durable settings and checkpointed.
     * Only after this may the new database be verified.
     */
    async restoreDurability(ctx: RunContext, roomGiven: string[] = [], deferred: DeferredIndex[] = []): Promise<{ filesSynced: number; compacted: string[]; ms: number; parts: Timed[] }> {
      const env = await envFor(deps, ctx);
      await assertLoadIntact(env);
      const started = Date.now();
      let filesSynced = 0;
      let compacted: string[] = [];
      // Where the step's time went: each maintenance command, the fsync, the restart with its checkpoint.
      const parts: Timed[] = [];
      const endpoint = await ensureServer(env, 'new');
      // Each phase begun, each table vacuumed and each file synced is movement; the VACUUM's and
      // the CHECKPOINT's sessions count while they work.
      const vacuuming = { endpoint, credentials: env.credentials, appName: 'kaapana-migrate-vacuum' };
      const checkpointing = { endpoint, credentials: env.credentials, appName: 'kaapana-migrate-checkpoint' };
      const bulkLoaded = (await readMarker(env)) !== undefined;
      if (bulkLoaded) {
        compacted = await withProgress({ step: 'restoreDurability', detail: 'VACUUM FULL, the indexes left by the load and ANALYZE', unit: 'commands' }, (progress) => {
          const onTable = (detail: string, done: number, total: number) => progress.update({ detail, done, total }, true);
          return withClient(endpoint, env.credentials, async (c) => {
            // A killed attempt's VACUUM or CREATE INDEX may still run: ended (rolled back), it
            // neither holds this attempt's locks nor builds an index this attempt does not see.
            await endStraySessions(c, env.credentials.name, vacuuming.appName);
            await resetRoom(c, roomGiven);
            const done = await analyzeTables(c, { compact: true, alsoCompact: roomGiven, deferred, onTable });
            parts.push(...done.took);
            return done.compacted;
          }, { appName: vacuuming.appName, signal: progress.signal });
        }, vacuuming);
      }
      await withProgress({ step: 'restoreDurability', detail: 'bulk-load settings off' }, async (progress) => {
        if (bulkLoaded) {
          await persistSettings(endpoint, env.credentials, Object.fromEntries(Object.keys(BULK_LOAD_SETTINGS).map((k) => [k, undefined])));
          progress.update({ detail: 'stopping the new server' }, true);
          await timed(parts, 'stop', () => env.runtime.stop(env.layout.serverName.new));
          filesSynced = await timed(parts, 'fsync', () => syncTree(env.layout.new, (files) => progress.update({ detail: `fsync of ${env.layout.new}: ${files} files` })));
        }
        progress.update({ detail: 'starting the new server with durable settings' }, true);
        const durable = await timed(parts, 'start', () => ensureServer(env, 'new'));
        const now = await currentSettings(durable, env.credentials, Object.keys(DURABLE));
        const wrong = Object.entries(DURABLE).filter(([k, v]) => now[k] !== v);
        if (wrong.length > 0) throw fatal('VerificationFailed', `the new server still runs with ${wrong.map(([k]) => `${k}=${now[k]}`).join(', ')}`);
        progress.update({ detail: 'checkpoint' }, true);
        await timed(parts, 'CHECKPOINT', () => withClient(durable, env.credentials, (c) => c.query('CHECKPOINT'), { appName: checkpointing.appName }));
      }, checkpointing);
      await fs.rm(markerFile(env), { force: true });
      await fsyncPath(env.layout.runDir);
      return { filesSynced, compacted, ms: Date.now() - started, parts };
    },
  };
}
