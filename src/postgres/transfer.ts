// Plain-SQL dumps and restores, streamed through the runtime (never held in memory), with byte
// progress and a sha256 computed on the way.
import { createReadStream, createWriteStream } from 'node:fs';
import type { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContainerRuntime, DatabaseCredentials, ExecResult, ServerEndpoint } from '../runtime/port.js';
import { ExecFailed } from '../runtime/port.js';
import { withClient } from './client.js';
import { recreateDatabase } from './create-database.js';
import { readDatabaseLocale, readRoleSettings, readSortOrder, type DatabaseLocale, type RoleSetting } from './inventory.js';
import { settingStatement } from './settings.js';
import { inOneTransaction, PSQL_FROM_STDIN } from './transaction.js';
import { meter, type OnBytes } from './meter.js';
import { writeFileDurably } from '../files.js';
import { tablesDeclaringFillfactor, withRoomForRewrites, type DeferIndexes, type DeferredIndex } from './rewrite-room.js';

export interface DumpResult {
  file: string;
  bytes: number;
  sha256: string;
  /** The dumped database's; absent in dumps recorded before it was read (restored with server defaults then). */
  source?: SourceDatabase;
}

/** What a plain dump does not carry: how the database was created, and its role and database settings. */
export interface SourceDatabase extends DatabaseLocale {
  settings: RoleSetting[];
  /** See readSortOrder. */
  sortOrder: string;
  /** Tables that declare their own fillfactor (absent in dumps recorded before: no room is given then). */
  declaredFillfactor?: string[];
}

/** How a restore created its database, and what it set again after the load. */
export interface CreatedDatabase {
  /** The original's encoding and locale; absent when the dump did not carry them (server defaults, as before). */
  requested?: DatabaseLocale;
  used: DatabaseLocale;
  /** Why `used` has another locale than `requested`. */
  fallback?: string;
  /** Set when text sorts otherwise than in the original (another C library, or the fallback). */
  sorting?: string;
  /** The statements that set the original's role and database settings again, in the load's transaction. */
  settings: string[];
}

/** A server of the migration, as the runtime (client tools) and a `pg` session reach it. */
export interface DatabaseServer {
  server: string;
  endpoint: ServerEndpoint;
  credentials: DatabaseCredentials;
}

/** Plain SQL: custom format (-Fc) is known to fail on import. */
export const DUMP_ARGV = ['pg_dump', '--format=plain', '--encoding=UTF8', '--no-password'];

export interface TransferOptions {
  onBytes: OnBytes;
  /** Session application_name, so a retry can end what an earlier attempt left running. */
  appName: string;
  signal?: AbortSignal;
}

/**
 * A load's own options: the tables the updates will rewrite get room on their pages, and with
 * `deferIndexes` their plain indexes the scripts do not name wait for after the updates (rewrite-room.ts).
 */
export interface LoadOptions extends TransferOptions {
  rewritten?: readonly string[];
  deferIndexes?: DeferIndexes;
}

/** What a load did beyond the rows: how it created the database, which tables it gave room to, which indexes wait. */
export interface Loaded {
  created: CreatedDatabase;
  roomGiven: string[];
  /** Absent in loads recorded before indexes could wait. */
  deferred?: DeferredIndex[];
}

/** Read with the dump (the applications are stopped: nothing changes them in between). */
export function readSourceDatabase(source: DatabaseServer): Promise<SourceDatabase> {
  return withClient(source.endpoint, source.credentials, async (client) => ({
    ...(await readDatabaseLocale(client)),
    settings: await readRoleSettings(client),
    sortOrder: await readSortOrder(client),
    declaredFillfactor: await tablesDeclaringFillfactor(client),
  }));
}

/**
 * An empty database for a load of `dump`, created like the dump's source where the server allows,
 * and the statements that end the load: the source's settings, set again.
 */
export async function prepareLoad(target: DatabaseServer, source: SourceDatabase | undefined): Promise<CreatedDatabase> {
  const { used, fallback } = await recreateDatabase(target.endpoint, target.credentials, source);
  const requested = source && { encoding: source.encoding, collate: source.collate, ctype: source.ctype };
  const order = await withClient(target.endpoint, target.credentials, readSortOrder);
  // Dumps recorded before the order was read have none to compare with.
  const sorting =
    source?.sortOrder !== undefined && source.sortOrder !== order
      ? `text sorts otherwise than in the original (there ${source.sortOrder}; here ${order}): ORDER BY on text gives another order; the load rebuilt every index, so they agree with it`
      : undefined;
  return {
    ...(requested ? { requested } : {}),
    used,
    ...(fallback ? { fallback } : {}),
    ...(sorting ? { sorting } : {}),
    settings: (source?.settings ?? []).map((s) => settingStatement(s, target.credentials.name)),
  };
}

/**
 * pg_dump (plain SQL; `-Fc` is known to fail on import) into `file`, with what the dump does not
 * carry (`source`). Written durably: a half-written dump never carries the final name, and a
 * retry removes what a killed attempt left.
 */
export async function dumpToFile(runtime: ContainerRuntime, source: DatabaseServer, file: string, opts: TransferOptions): Promise<DumpResult> {
  const facts = await readSourceDatabase(source);
  const written = await writeDumpFile(file, opts, [], (stdout, signal) => runtime.exec(source.server, DUMP_ARGV, { stdout, appName: opts.appName, signal }));
  return { file, ...written, source: facts };
}

/**
 * What pg_dump (run by `dump`) writes, through `through` (transforms that read or pace it), into
 * `file`: durably, so that a half-written dump never carries the final name and a retry removes
 * what a killed attempt left.
 */
export async function writeDumpFile(
  file: string,
  opts: TransferOptions,
  through: Transform[],
  dump: (stdout: Writable, signal: AbortSignal) => Promise<ExecResult>,
): Promise<{ bytes: number; sha256: string }> {
  const m = meter(opts.onBytes);
  const head = through[0] ?? m.stream;
  await writeFileDurably(file, async (partial) => {
    // A failing write (a full disk) must stop pg_dump and be the error reported.
    const stopDump = new AbortController();
    const writing = pipeline([...through, m.stream, createWriteStream(partial, { mode: 0o600 })]);
    writing.catch(() => stopDump.abort());
    const signal = opts.signal ? AbortSignal.any([opts.signal, stopDump.signal]) : stopDump.signal;
    try {
      const result = await dump(head, signal).catch(async (err: unknown) => {
        await writing;
        throw err;
      });
      head.end();
      await writing;
      if (result.exitCode !== 0) throw new ExecFailed('pg_dump', result.exitCode, result.stderr);
    } catch (err) {
      head.destroy();
      throw err;
    }
  });
  return m.digest();
}

/**
 * Restore a plain dump into an empty database: the images create the dcm4chee schema on first
 * start, so the database is dropped and created again first (see prepareLoad). One transaction,
 * replica role (no triggers or FK checks during the load), stop at the first error, the source's
 * settings set again before COMMIT. A retry starts from scratch.
 */
export async function restoreFromFile(
  runtime: ContainerRuntime,
  target: DatabaseServer,
  dump: Pick<DumpResult, 'file' | 'sha256' | 'source'>,
  opts: LoadOptions,
): Promise<{ bytes: number } & Loaded> {
  const created = await prepareLoad(target, dump.source);
  const m = meter(opts.onBytes);
  const room = withRoomForRewrites(opts.rewritten ?? [], dump.source?.declaredFillfactor, opts.deferIndexes);
  let read = { bytes: 0, sha256: '' };
  // The digest is of the file's own bytes; only psql sees the room's statements.
  const input = inOneTransaction(createReadStream(dump.file).pipe(m.stream).pipe(room.stream), {
    prologue: ['SET session_replication_role = replica;'],
    // Checked as the bytes pass: a dump altered since it was written is never committed.
    beforeCommit: () => {
      read = m.digest();
      if (read.sha256 !== dump.sha256) throw new DumpChanged(`${dump.file} changed since it was written (sha256 ${read.sha256}, expected ${dump.sha256}); nothing was restored`);
    },
    epilogue: created.settings,
  });
  const result = await runtime.exec(target.server, PSQL_FROM_STDIN, { stdin: input, appName: opts.appName, signal: opts.signal });
  if (result.exitCode !== 0) throw new ExecFailed('psql (restore)', result.exitCode, result.stderr);
  return { bytes: read.bytes, created, roomGiven: room.given(), deferred: room.deferred() };
}

export class DumpChanged extends Error {
  override name = 'DumpChanged';
}
