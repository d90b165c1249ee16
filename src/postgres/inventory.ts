// What a database holds, in figures that can be compared across servers and versions.
import pg from 'pg';
import { queryRows } from './client.js';

export interface Fingerprint {
  count: number;
  /**
   * Order-independent sum of per-value md5 prefixes: streams on the server, no sort needed.
   * Empty when the inventory counts only.
   */
  checksum: string;
}

/** What an inventory reads: every value (checksums) or just the number of rows (counts). */
export type Verification = 'checksums' | 'counts';

export interface Inventory {
  serverVersion: string;
  databaseBytes: number;
  /** Tables without their indexes: close to the size of a plain dump, so a fair progress total. */
  tableBytes: number;
  /** Row count and content checksum of every table of the public schema, by name. */
  tables: Record<string, Fingerprint>;
  /** The guide's own figures: COUNT(series_iuid), COUNT(sop_iuid), location.storage_path, series.series_iuid. */
  guide: {
    seriesIuids: Fingerprint;
    sopIuids: Fingerprint;
    storagePaths: Fingerprint;
  };
}

const HASH = (expr: string) => `coalesce(sum(('x' || substr(md5(${expr}), 1, 16))::bit(64)::bigint), 0)::text`;

export async function listTables(client: pg.Client): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(client, `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
  return rows.map((r) => r.name);
}

/** Whole rows, or the non-null values of one column: their number and, at 'checksums', their checksum. */
async function fingerprint(client: pg.Client, table: string, column: string | undefined, level: Verification): Promise<Fingerprint> {
  const value = column === undefined ? 't' : pg.escapeIdentifier(column);
  const counted = column === undefined ? '*' : value;
  const checksum = level === 'checksums' ? HASH(`${value}::text`) : `''`;
  const [row] = await queryRows<{ count: string; checksum: string }>(client, `SELECT count(${counted})::text AS count, ${checksum} AS checksum FROM public.${pg.escapeIdentifier(table)} t`);
  return { count: Number(row!.count), checksum: row!.checksum };
}

/**
 * Output settings under which a row's text is the same on 9.6 and 15, so checksums compare across
 * versions (extra_float_digits 0 keeps the pre-12 float format on both).
 */
const STABLE_TEXT = [
  `SET DateStyle = ISO, MDY`,
  `SET IntervalStyle = postgres`,
  `SET TimeZone = 'UTC'`,
  `SET extra_float_digits = 0`,
  `SET bytea_output = hex`,
];

export interface InventoryOptions {
  level?: Verification;
  /** Parallel workers per scan (PostgreSQL 9.6 defaults to none): the scans are CPU-bound. Absent: the server's default. */
  parallelWorkers?: number;
  onTable?: (table: string, done: number, total: number) => void;
}

export async function takeInventory(client: pg.Client, opts: InventoryOptions = {}): Promise<Inventory> {
  const level = opts.level ?? 'checksums';
  for (const set of STABLE_TEXT) await client.query(set);
  if (opts.parallelWorkers !== undefined) await client.query(`SET max_parallel_workers_per_gather = ${Math.max(0, Math.trunc(opts.parallelWorkers))}`);
  const [meta] = await queryRows<{ version: string; bytes: string; tables: string }>(
    client,
    `SELECT current_setting('server_version') AS version, pg_database_size(current_database())::text AS bytes,
            (SELECT coalesce(sum(pg_table_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind = 'r')::text AS tables`,
  );
  const names = await listTables(client);
  for (const required of ['series', 'instance', 'location']) {
    if (!names.includes(required)) throw new Error(`the database has no table "${required}": is this the dcm4chee pacsdb?`);
  }
  const tables: Record<string, Fingerprint> = {};
  for (const [i, name] of names.entries()) {
    tables[name] = await fingerprint(client, name, undefined, level);
    opts.onTable?.(name, i + 1, names.length);
  }
  return {
    serverVersion: meta!.version,
    databaseBytes: Number(meta!.bytes),
    tableBytes: Number(meta!.tables),
    tables,
    guide: {
      seriesIuids: await fingerprint(client, 'series', 'series_iuid', level),
      sopIuids: await fingerprint(client, 'instance', 'sop_iuid', level),
      storagePaths: await fingerprint(client, 'location', 'storage_path', level),
    },
  };
}

export function totalRows(inventory: Inventory): number {
  return Object.values(inventory.tables).reduce((sum, t) => sum + t.count, 0);
}

/** What differs between two inventories; empty when they match. */
export function compareInventories(expected: Inventory, actual: Inventory): string[] {
  const problems: string[] = [];
  const names = new Set([...Object.keys(expected.tables), ...Object.keys(actual.tables)]);
  for (const name of [...names].sort()) {
    const e = expected.tables[name];
    const a = actual.tables[name];
    if (!a) problems.push(`table ${name} is missing (expected ${e!.count} rows)`);
    else if (!e) problems.push(`table ${name} is not expected (has ${a.count} rows)`);
    else if (e.count !== a.count) problems.push(`table ${name} has ${a.count} rows, expected ${e.count}`);
    else if (e.checksum !== a.checksum) problems.push(`table ${name} has ${a.count} rows as expected but different content`);
  }
  for (const key of ['seriesIuids', 'sopIuids', 'storagePaths'] as const) {
    const e = expected.guide[key];
    const a = actual.guide[key];
    if (e.count !== a.count || e.checksum !== a.checksum) problems.push(`${key}: ${a.count} values (checksum ${a.checksum}), expected ${e.count} (checksum ${e.checksum})`);
  }
  return problems;
}
