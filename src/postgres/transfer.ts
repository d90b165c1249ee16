// Plain-SQL dumps and restores, streamed through the runtime (never held in memory), with byte
// progress and a sha256 computed on the way.
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ContainerRuntime, DatabaseCredentials, ServerEndpoint } from '../runtime/port.js';
import { ExecFailed } from '../runtime/port.js';
import { recreateDatabase } from './client.js';
import { inOneTransaction, PSQL_FROM_STDIN } from './transaction.js';
import { meter, type OnBytes } from './meter.js';
import { fsyncPath } from '../files.js';

export interface DumpResult {
  file: string;
  bytes: number;
  sha256: string;
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
 * pg_dump (plain SQL; `-Fc` is known to fail on import) into `file`. Written under a temporary
 * name and renamed when complete, so a half-written dump never carries the final name.
 */
export async function dumpToFile(runtime: ContainerRuntime, server: string, file: string, opts: TransferOptions): Promise<DumpResult> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const partial = `${file}.partial-${process.pid}-${Date.now()}`;
  const m = meter(opts.onBytes);
  // A failing write (a full disk) must stop pg_dump and be the error reported.
  const stopDump = new AbortController();
  const writing = pipeline(m.stream, createWriteStream(partial, { mode: 0o600 }));
  writing.catch(() => stopDump.abort());
  const signal = opts.signal ? AbortSignal.any([opts.signal, stopDump.signal]) : stopDump.signal;
  try {
    const result = await runtime.exec(server, DUMP_ARGV, { stdout: m.stream, appName: opts.appName, signal }).catch(async (err: unknown) => {
      await writing;
      throw err;
    });
    m.stream.end();
    await writing;
    if (result.exitCode !== 0) throw new ExecFailed('pg_dump', result.exitCode, result.stderr);
    await fsyncPath(partial);
    await fs.rename(partial, file);
    await fsyncPath(path.dirname(file));
    return { file, ...m.digest() };
  } catch (err) {
    m.stream.destroy();
    await fs.rm(partial, { force: true });
    throw err;
  }
}

/**
 * Restore a plain dump into an empty database: the images create the dcm4chee schema on first
 * start, so the database is dropped and created again first. One transaction, replica role (no
 * triggers or FK checks during the load), stop at the first error. A retry starts from scratch.
 */
export async function restoreFromFile(
  runtime: ContainerRuntime,
  server: string,
  endpoint: ServerEndpoint,
  credentials: DatabaseCredentials,
  dump: { file: string; sha256: string },
  opts: TransferOptions,
): Promise<{ bytes: number }> {
  await recreateDatabase(endpoint, credentials);
  const m = meter(opts.onBytes);
  let read = { bytes: 0, sha256: '' };
  const input = inOneTransaction(createReadStream(dump.file).pipe(m.stream), {
    prologue: ['SET session_replication_role = replica;'],
    // Checked as the bytes pass: a dump altered since it was written is never committed.
    beforeCommit: () => {
      read = m.digest();
      if (read.sha256 !== dump.sha256) throw new DumpChanged(`${dump.file} changed since it was written (sha256 ${read.sha256}, expected ${dump.sha256}); nothing was restored`);
    },
  });
  const result = await runtime.exec(server, PSQL_FROM_STDIN, { stdin: input, appName: opts.appName, signal: opts.signal });
  if (result.exitCode !== 0) throw new ExecFailed('psql (restore)', result.exitCode, result.stderr);
  return { bytes: read.bytes };
}

export class DumpChanged extends Error {
  override name = 'DumpChanged';
}
