// Dumps and restores, streamed with byte progress in the heartbeats.
import { promises as fs } from 'node:fs';
import type { ServerRole } from '../config/layout.js';
import { withClient } from '../postgres/client.js';
import { readTableBytes } from '../postgres/inventory.js';
import { analyzeTables } from '../postgres/maintenance.js';
import { resetRoom, type DeferIndexes } from '../postgres/rewrite-room.js';
import { DumpChanged, dumpToFile, restoreFromFile, type DumpResult, type Loaded } from '../postgres/transfer.js';
import { ExecFailed } from '../runtime/port.js';
import type { ActivityDeps, RunContext } from './context.js';
import { diskFull, ensureServer, envFor, fatal, withProgress } from './context.js';

export type DumpName = 'original' | 'updated';

export function createTransferActivities(deps: ActivityDeps) {
  return {
    /**
     * `expectedBytes` 0: read here (the dump runs beside the inventory that would give it).
     * `roomGiven`: tables whose load was given room for the updates, reset first so the dump has
     * the original's schema.
     */
    async dump(ctx: RunContext, role: ServerRole, which: DumpName, expectedBytes: number, roomGiven: string[] = []): Promise<DumpResult & { ms: number }> {
      const env = await envFor(deps, ctx);
      const endpoint = await ensureServer(env, role);
      const started = Date.now();
      // A session only when there is something to ask the server or to reset.
      const total =
        roomGiven.length > 0 || expectedBytes <= 0
          ? await withClient(endpoint, env.credentials, async (c) => {
              if (roomGiven.length > 0) await resetRoom(c, roomGiven);
              return expectedBytes > 0 ? expectedBytes : readTableBytes(c);
            })
          : expectedBytes;
      // Watched by its bytes alone: pg_dump's COPY streams without a pause, and its session,
      // blocked on a stuck reader, would look working on 9.6 (liveness.ts).
      return withProgress({ step: which === 'original' ? 'dumpOriginal' : 'dumpUpdated', unit: 'bytes', total, done: 0 }, async (progress) => {
        try {
          const source = { server: env.layout.serverName[role], endpoint, credentials: env.credentials };
          const result = await dumpToFile(env.runtime, source, env.layout.dumps[which], {
            onBytes: (done) => progress.update({ done }),
            appName: `kaapana-migrate-dump-${which}`,
            signal: progress.signal,
          });
          return { ...result, ms: Date.now() - started };
        } catch (err) {
          throw diskFull(err, env.layout.runDir) ?? err;
        }
      });
    },

    /**
     * Into a database created like the dump's source, whose settings it sets again (see `created`);
     * the tables the updates will rewrite (`rewritten`) loaded with room on their pages, and with
     * `deferIndexes` (fast mode) their plain indexes the scripts do not name left for restoreDurability.
     */
    async restore(ctx: RunContext, role: ServerRole, dump: DumpResult, rewritten: string[] = [], deferIndexes?: DeferIndexes): Promise<{ bytes: number; ms: number } & Loaded> {
      const env = await envFor(deps, ctx);
      const endpoint = await ensureServer(env, role);
      const started = Date.now();
      const total = (await fs.stat(dump.file)).size;
      const appName = `kaapana-migrate-restore-${role}`;
      // Its sessions count too: no byte moves while it builds the indexes and foreign keys at the end,
      // nor during the ANALYZE after it.
      return withProgress({ step: role === 'new' ? 'restoreNew' : 'restoreWork', unit: 'bytes', total, done: 0 }, async (progress) => {
        try {
          const target = { server: env.layout.serverName[role], endpoint, credentials: env.credentials };
          const result = await restoreFromFile(env.runtime, target, dump, {
            onBytes: (done) => progress.update({ done }),
            appName,
            signal: progress.signal,
            rewritten,
            ...(deferIndexes ? { deferIndexes } : {}),
          });
          // A fresh restore has no planner statistics: the updates (on the working copy) and the
          // applications (on the new database) would run on guesses until autovacuum came by. Its
          // session is named like the restore's, so a long ANALYZE counts as movement too.
          const onTable = (detail: string) => progress.update({ detail }, true);
          await withClient(endpoint, env.credentials, (c) => analyzeTables(c, { compact: false, onTable }), { appName });
          return { ...result, ms: Date.now() - started };
        } catch (err) {
          if (err instanceof DumpChanged) throw fatal('DumpChanged', err.message);
          const full = diskFull(err, env.layout.dataDirOf[role]);
          if (full) throw full;
          // psql's status 3: a statement of the dump failed; the same dump fails the same way again.
          if (err instanceof ExecFailed && err.exitCode === 3) throw fatal('RestoreFailed', `the restore failed and was rolled back: ${err.message}`);
          throw err;
        }
      }, { endpoint, credentials: env.credentials, appName });
    },
  };
}
