// Planner statistics and dead space after a load: a restored database has no statistics (the
// planner guesses until autovacuum gets round to it), and each update script leaves the old
// version of every row it rewrote, a whole table's worth for `instance`, and of the catalog rows
// its DDL changed.
import pg from 'pg';
import { queryRows } from './client.js';
import { listTables } from './inventory.js';
import type { DeferredIndex } from './rewrite-room.js';

/** A part of a step and its time: what the report and the benchmark show of where a step's time went. */
export interface Timed {
  what: string;
  ms: number;
}

/** Runs `fn`, adding its time under `what` to `into`. */
export async function timed<T>(into: Timed[], what: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await fn();
  into.push({ what, ms: Date.now() - started });
  return result;
}

export interface MaintenanceOptions {
  /**
   * VACUUM FULL (then ANALYZE) the tables with dead rows, the database's own catalogs included:
   * their files are written again without them, so the database is no larger than a fresh
   * restore of the same schema and rows.
   */
  compact: boolean;
  /** With `compact`: tables compacted whatever their dead rows (their pages were loaded half empty). */
  alsoCompact?: readonly string[];
  /**
   * Indexes the load left for now (rewrite-room.ts): built after their table's compaction (which
   * would otherwise build them a second time) and before its ANALYZE. One that exists is skipped,
   * so a retry builds only what the killed attempt had not.
   */
  deferred?: readonly DeferredIndex[];
  /** Before each table: what runs on it, and how many tables are done. */
  onTable?: (what: string, done: number, total: number) => void;
}

/**
 * ANALYZE every table of the public schema; with `compact`, VACUUM (FULL, ANALYZE) instead for
 * every table with dead rows; the `deferred` indexes built. Returns the compacted tables, and each
 * command with its time.
 */
export async function analyzeTables(client: pg.Client, opts: MaintenanceOptions): Promise<{ compacted: string[]; took: Timed[] }> {
  // Counted by the server as the updates committed: nothing else (autovacuum is off under the
  // bulk-load settings) removes dead rows in between. Shared catalogs are not the database's.
  const dead = opts.compact
    ? await queryRows<{ schema: string; name: string }>(
        client,
        `SELECT s.schemaname AS schema, s.relname AS name
           FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid
          WHERE s.schemaname IN ('public', 'pg_catalog') AND NOT c.relisshared AND s.n_dead_tup > 0 ORDER BY 1 DESC, 2`,
      )
    : [];
  // HOT updates prune their dead rows as they go, so a table given room may show none.
  for (const name of opts.compact ? (opts.alsoCompact ?? []) : []) {
    if (!dead.some((t) => t.schema === 'public' && t.name === name)) dead.push({ schema: 'public', name });
  }
  const quoted = (schema: string, table: string) => `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
  const deferred = opts.deferred ?? [];
  const waiting = new Set(deferred.map((d) => d.table));
  // Analyzed with their compaction; a table whose indexes wait is analyzed once they are built.
  const analyzed = new Set(dead.filter((t) => t.schema === 'public' && !waiting.has(t.name)).map((t) => t.name));
  const built =
    deferred.length === 0
      ? new Set<string>()
      : new Set(
          (await queryRows<{ name: string }>(client, `SELECT relname AS name FROM pg_class WHERE relkind = 'i' AND relnamespace = 'public'::regnamespace AND relname = ANY($1)`, [deferred.map((d) => d.name)])).map((r) => r.name),
        );
  const commands = [
    // The catalogs' statistics are autovacuum's business, as on any database.
    ...dead.map((t) => (t.schema === 'public' && analyzed.has(t.name) ? `VACUUM (FULL, ANALYZE) ${quoted(t.schema, t.name)}` : `VACUUM FULL ${quoted(t.schema, t.name)}`)),
    ...deferred.filter((d) => !built.has(d.name)).map((d) => d.statement),
    // A table VACUUM (FULL, ANALYZE) has just analyzed is not analyzed again.
    ...(await listTables(client)).filter((t) => !analyzed.has(t)).map((t) => `ANALYZE ${quoted('public', t)}`),
  ];
  const took: Timed[] = [];
  for (const [i, command] of commands.entries()) {
    opts.onTable?.(command, i, commands.length);
    await timed(took, command, () => client.query(command));
  }
  return { compacted: dead.map((t) => `${t.schema}.${t.name}`), took };
}
