// The rehearsal's one read of the live database: pg_dump's single snapshot, streamed to a file, its
// rows counted on the way, paced when the site asks for it.
import type { LiveDatabase } from '../live/port.js';
import { DUMP_ARGV, writeDumpFile, type TransferOptions } from '../postgres/transfer.js';
import { Collector } from '../streams.js';
import { countCopyRows } from './copy-rows.js';
import { throttle } from './throttle.js';

export interface Snapshot {
  file: string;
  bytes: number;
  sha256: string;
  /** Rows per table in the snapshot (`public.instance`: …). */
  rows: Record<string, number>;
  /** How long the live server held the snapshot open: the load the rehearsal put on it. */
  ms: number;
  at: string;
}

export async function snapshotToFile(live: LiveDatabase, file: string, opts: TransferOptions & { bytesPerSecond?: number }): Promise<Snapshot> {
  const at = new Date().toISOString();
  const started = Date.now();
  const counted = countCopyRows();
  const through = [counted.stream, ...(opts.bytesPerSecond ? [throttle(opts.bytesPerSecond)] : [])];
  const written = await writeDumpFile(file, opts, through, (stdout, signal) => live.exec(DUMP_ARGV, { stdout, signal, appName: opts.appName }));
  const { rows, complete } = counted.result();
  // A stream cut short can still end with status 0 (an exec whose connection dropped).
  if (!complete) throw new Error(`the dump of the live database through ${live.where} ended before pg_dump's end line: it is incomplete`);
  return { file, ...written, rows, ms: Date.now() - started, at };
}

/** Numeric expressions evaluated on the live database, in their order. */
export async function queryLiveNumbers(live: LiveDatabase, expressions: string[], appName: string): Promise<number[]> {
  return (await queryLive(live, `SELECT ${expressions.map((e) => `(${e})::text`).join(" || ' ' || ")}`, appName)).split(' ').map(Number);
}

/** One value from the live database (tuples only, unaligned). */
export async function queryLive(live: LiveDatabase, sql: string, appName: string): Promise<string> {
  const out = new Collector();
  const result = await live.exec(['psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdout: out, appName });
  if (result.exitCode !== 0) throw new Error(`psql on the live database through ${live.where} exited with ${result.exitCode}: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return out.text().trim();
}
