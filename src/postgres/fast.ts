// The fast path's building blocks: one pg_dump of the original feeding the backup file and the
// restore into the new server at once, and bulk-load settings on the new server for the load only.
import { readFileSync, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { ContainerRuntime, DatabaseCredentials, ServerEndpoint } from '../runtime/port.js';
import { ExecFailed } from '../runtime/port.js';
import { withClient } from './client.js';
import { inOneTransaction, PSQL_FROM_STDIN } from './transaction.js';
import { meter } from './meter.js';
import { fsyncPath, writeFileDurably } from '../files.js';
import { DUMP_ARGV, prepareLoad, readSourceDatabase, type DatabaseServer, type DumpResult, type LoadOptions, type Loaded } from './transfer.js';
import { withRoomForRewrites } from './rewrite-room.js';

/** The restoring psql's session name, beside the dumping pg_dump's `appName`. */
export const restoreAppName = (appName: string) => `${appName}-restore`;

/**
 * pg_dump of `source` written to `file` and restored into `target` in the same pass, so the old
 * database is read once. The restore is one transaction whose COMMIT is sent only after pg_dump
 * succeeded and the backup is complete, fsynced and renamed to its final name; if either side
 * fails, the other is stopped and nothing is committed. A half-written backup never carries the
 * final name (a restore failing only after the backup was complete leaves that complete backup).
 * The target database is created like the source and gets its settings (see prepareLoad).
 */
export async function dumpAndRestore(
  runtime: ContainerRuntime,
  source: DatabaseServer,
  file: string,
  target: DatabaseServer,
  opts: LoadOptions,
): Promise<DumpResult & Loaded> {
  const facts = await readSourceDatabase(source);
  const created = await prepareLoad(target, facts);
  const m = meter(opts.onBytes);
  const room = withRoomForRewrites(opts.rewritten ?? [], facts.declaredFillfactor, opts.deferIndexes);
  // The restore's input ends only by our hand, once the backup is safe (see above); the backup
  // gets the dump's own bytes, only psql the room's statements.
  const feed = new PassThrough();
  m.stream.pipe(room.stream).pipe(feed, { end: false });
  // Its last bytes pass only once the dump's end reached it (a failure destroys it: then never).
  const roomPassed = finished(room.stream, { writable: false });
  roomPassed.catch(() => undefined);
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  let cause: unknown;
  const fail = (err: unknown) => {
    cause ??= err;
    stop.abort();
    // psql sees EOF without COMMIT and the server rolls the load back. Destroyed without an error
    // on purpose: the runtime treats a premature close of stdin as the tool's own business.
    feed.destroy();
    // What pg_dump still writes goes to the backup's partial file alone: left waiting on the
    // restore's full buffers, its output would never end, nor the exec that reads it.
    m.stream.unpipe(room.stream);
    room.stream.destroy();
  };
  let written: { bytes: number; sha256: string } | undefined;

  const restore = runtime
    .exec(target.server, PSQL_FROM_STDIN, {
      stdin: inOneTransaction(feed, {
        prologue: ['SET session_replication_role = replica;'],
        beforeCommit: () => {
          if (!written) throw new Error('the backup file is not complete; nothing was restored');
        },
        epilogue: created.settings,
      }),
      appName: restoreAppName(opts.appName),
      signal,
    })
    .then((r) => {
      if (r.exitCode !== 0) throw new ExecFailed('psql (restore)', r.exitCode, r.stderr);
    });
  // A failed restore stops pg_dump at once rather than letting it block on a full pipe.
  restore.catch(fail);

  const dump = (async () => {
    try {
      await writeFileDurably(file, async (partial) => {
        // A failing write of the backup (a full disk) stops pg_dump and the restore, and is the
        // error reported: unheard, it would end the worker, and the load would wait for ever.
        const writing = pipeline(m.stream, createWriteStream(partial, { mode: 0o600 }));
        writing.catch(fail);
        try {
          const r = await runtime.exec(source.server, DUMP_ARGV, { stdout: m.stream, appName: `${opts.appName}-dump`, signal });
          m.stream.end();
          await writing;
          if (r.exitCode !== 0) throw new ExecFailed('pg_dump', r.exitCode, r.stderr);
        } catch (err) {
          // Named first: the error of the stream destroyed here must not pass for the cause.
          fail(err);
          m.stream.destroy();
          throw err;
        }
      });
      written = m.digest();
      await roomPassed;
      feed.end();
    } catch (err) {
      fail(err);
      throw err;
    }
  })();

  const [dumped, restored] = await Promise.allSettled([dump, restore]);
  // The side that failed first explains the other, which was only stopped because of it.
  if (cause !== undefined || dumped.status === 'rejected' || restored.status === 'rejected') throw cause;
  return { file, ...written!, source: facts, created, roomGiven: room.given(), deferred: room.deferred() };
}

/**
 * Settings for the load and the updates only. Safe because a lost load is redone from the dump:
 * fsync and full_page_writes only matter across an OS crash, and wal_level minimal lets the COPY
 * into tables created in the same transaction skip the WAL altogether.
 */
export const BULK_LOAD_SETTINGS: Record<string, string> = {
  fsync: 'off',
  full_page_writes: 'off',
  synchronous_commit: 'off',
  wal_level: 'minimal',
  max_wal_senders: '0',
  max_wal_size: '8GB',
  checkpoint_timeout: '1h',
  maintenance_work_mem: '512MB',
  // The updates rewrite whole tables with all their indexes: a larger cache saves re-reads.
  shared_buffers: '1GB',
  // restoreDurability vacuums and analyzes what the updates rewrote; meanwhile autovacuum would
  // only compete with the load and the updates for the disk (and reset the dead-row counts).
  autovacuum: 'off',
};

/** Sets (or with `undefined`, resets) the settings in postgresql.auto.conf; they apply at the next start. */
export async function persistSettings(endpoint: ServerEndpoint, credentials: DatabaseCredentials, settings: Record<string, string | undefined>): Promise<void> {
  await withClient(endpoint, credentials, async (client) => {
    for (const [name, value] of Object.entries(settings)) {
      // ALTER SYSTEM takes no bind parameters: the names are ours, the values quoted literals.
      await client.query(value === undefined ? `ALTER SYSTEM RESET ${name}` : `ALTER SYSTEM SET ${name} = '${value.replace(/'/g, "''")}'`);
    }
  });
}

/** The settings the server runs with now. */
export async function currentSettings(endpoint: ServerEndpoint, credentials: DatabaseCredentials, names: string[]): Promise<Record<string, string>> {
  return withClient(endpoint, credentials, async (client) => {
    const { rows } = await client.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE name = ANY($1)`, [names]);
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  });
}

/**
 * fsync every file and directory under `dir`: what fsync=off left in the page cache reaches the
 * disk before the directory counts as durable (a later CHECKPOINT syncs only what it writes).
 */
export async function syncTree(dir: string, onFile: (files: number) => void = () => undefined): Promise<number> {
  let files = 0;
  const pending = [dir];
  // Bounded by the tree itself: each directory is visited once.
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (const entry of await fs.readdir(current, { withFileTypes: true })) {
      const p = path.join(current, entry.name);
      if (entry.isDirectory()) pending.push(p);
      else if (entry.isFile()) {
        await fsyncPath(p);
        files += 1;
        onFile(files);
      }
    }
    await fsyncPath(current);
  }
  return files;
}

/** Changes on every boot: fsync=off data that a crash could have lost was written in another boot. */
export function bootId(): string {
  return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
}
