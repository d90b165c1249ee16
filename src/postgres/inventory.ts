// What a database holds, in figures that can be compared across servers and versions.
import pg from 'pg';
import { queryRows } from './client.js';
import { GUIDE_COLUMNS, GUIDE_FIGURES, type GuideFigure } from './guide-columns.js';

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

/** What a database was created with: CREATE DATABASE … ENCODING, LC_COLLATE, LC_CTYPE. */
export interface DatabaseLocale {
  encoding: string;
  collate: string;
  ctype: string;
}

/**
 * One entry of pg_db_role_setting that concerns the database: ALTER DATABASE … SET (role null,
 * inDatabase), ALTER ROLE … SET (inDatabase false), ALTER ROLE … IN DATABASE … SET. A plain
 * pg_dump carries none of them.
 */
export interface RoleSetting {
  /** null: every role (ALTER DATABASE, or ALTER ROLE ALL when not inDatabase). */
  role: string | null;
  /** Only in this database; otherwise in every database of the server. */
  inDatabase: boolean;
  name: string;
  /** As the server stores it (lists flattened: `"$user", public`). */
  value: string;
}

export interface SequenceFacts {
  /** bigint values as text: JSON numbers cannot hold them all. */
  lastValue: string;
  isCalled: boolean;
  increment: string;
  /** The integer columns it gives keys to ("table.column"); see SEQUENCE_COLUMNS. */
  serves: string[];
  /** The largest key in those columns; null when they hold no rows or it serves none. */
  maxKey: string | null;
}

export interface Inventory {
  serverVersion: string;
  databaseBytes: number;
  /** Tables without their indexes: close to the size of a plain dump, so a fair progress total. */
  tableBytes: number;
  /** Row count and content checksum of every table of the public schema, by name. */
  tables: Record<string, Fingerprint>;
  /** The guide's own figures: COUNT(series_iuid), COUNT(sop_iuid), location.storage_path, series.series_iuid. */
  guide: Record<GuideFigure, Fingerprint>;
  // The rest is absent in inventories recorded before it was read: comparisons skip what one side lacks.
  database?: DatabaseLocale;
  /** Every sequence of the public schema, by name. */
  sequences?: Record<string, SequenceFacts>;
  /** Owner of every table and sequence of the public schema, by name. */
  owners?: Record<string, string>;
  /** The database's settings and those of its owner and of the connected user, sorted. */
  settings?: RoleSetting[];
}

/**
 * An inventory that left the rows of some tables to another step (verifyUntouched): those
 * tables, and the guide's figures in them, are absent.
 */
export type PartialInventory = Omit<Inventory, 'tables' | 'guide'> & TableReadings & { left: string[] };

const HASH = (expr: string) => `coalesce(sum(('x' || substr(md5(${expr}), 1, 16))::bit(64)::bigint), 0)::text`;

/** The public tables without their indexes: close to the size of a plain dump. */
export const TABLE_BYTES = `SELECT coalesce(sum(pg_table_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`;

/** See TABLE_BYTES: a dump's progress total when no inventory gave one. */
export async function readTableBytes(client: pg.Client): Promise<number> {
  const [row] = await queryRows<{ bytes: string }>(client, `SELECT (${TABLE_BYTES})::text AS bytes`);
  return Number(row!.bytes);
}

export async function listTables(client: pg.Client): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(client, `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
  return rows.map((r) => r.name);
}

/**
 * Whole rows of `table` and the non-null values of each of `columns`, in one scan: their number
 * and, at 'checksums', their checksum. A guide figure costs no second read of its table.
 */
async function fingerprints(client: pg.Client, table: string, columns: readonly string[], level: { rows: Verification; columns: Verification }): Promise<{ rows: Fingerprint; columns: Fingerprint[] }> {
  const checksum = (value: string, at: Verification) => (at === 'checksums' ? HASH(`${value}::text`) : `''`);
  const selected = [
    `count(*)::text AS count`,
    `${checksum('t', level.rows)} AS checksum`,
    ...columns.flatMap((c, i) => [`count(${pg.escapeIdentifier(c)})::text AS count_${i}`, `${checksum(pg.escapeIdentifier(c), level.columns)} AS checksum_${i}`]),
  ];
  const [row] = await queryRows<Record<string, string>>(client, `SELECT ${selected.join(', ')} FROM public.${pg.escapeIdentifier(table)} t`);
  return {
    rows: { count: Number(row!.count), checksum: row!.checksum! },
    columns: columns.map((_, i) => ({ count: Number(row![`count_${i}`]), checksum: row![`checksum_${i}`]! })),
  };
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
  /** Whole rows at another level than the guide's figures (e.g. counts where nothing compares the rows' content). */
  rowLevel?: Verification;
  /** Parallel workers per scan (PostgreSQL 9.6 defaults to none): the scans are CPU-bound. Absent: the server's default. */
  parallelWorkers?: number;
  onTable?: (table: string, done: number, total: number) => void;
}

export async function takeInventory(client: pg.Client, opts: InventoryOptions = {}): Promise<Inventory> {
  const { left: _none, ...inventory } = await takePartialInventory(client, opts, []);
  return { ...inventory, guide: completeGuide(inventory.guide) };
}

/** The guide's figures of an inventory that left no table: all of them, or an error. */
export function completeGuide(guide: Partial<Inventory['guide']>): Inventory['guide'] {
  const unread = GUIDE_FIGURES.filter((f) => !guide[f]);
  if (unread.length > 0) throw new Error(`the inventory read no ${unread.join(', ')}`);
  return guide as Inventory['guide'];
}

/** The inventory, but for the rows of the tables `leave` (and the guide's figures in them). */
export async function takePartialInventory(client: pg.Client, opts: InventoryOptions, leave: readonly string[]): Promise<PartialInventory> {
  const level = opts.level ?? 'checksums';
  await setStableText(client, opts.parallelWorkers);
  const [meta] = await queryRows<{ version: string; bytes: string; tables: string }>(
    client,
    `SELECT current_setting('server_version') AS version, pg_database_size(current_database())::text AS bytes, (${TABLE_BYTES})::text AS tables`,
  );
  const names = await listTables(client);
  for (const required of ['series', 'instance', 'location']) {
    if (!names.includes(required)) throw new Error(`the database has no table "${required}": is this the dcm4chee pacsdb?`);
  }
  const read = await readTables(client, names.filter((n) => !leave.includes(n)), { rows: opts.rowLevel ?? level, columns: level }, opts.onTable);
  return {
    serverVersion: meta!.version,
    databaseBytes: Number(meta!.bytes),
    tableBytes: Number(meta!.tables),
    ...read,
    left: names.filter((n) => leave.includes(n)),
    database: await readDatabaseLocale(client),
    sequences: await readSequences(client),
    owners: await readOwners(client),
    settings: await readRoleSettings(client),
  };
}

/** The session's output settings for comparable text (STABLE_TEXT) and its scans' parallel workers. */
export async function setStableText(client: pg.Client, parallelWorkers?: number): Promise<void> {
  for (const set of STABLE_TEXT) await client.query(set);
  if (parallelWorkers !== undefined) await client.query(`SET max_parallel_workers_per_gather = ${Math.max(0, Math.trunc(parallelWorkers))}`);
}

/** Rows of some tables, and the guide's figures those tables hold. */
export interface TableReadings {
  tables: Record<string, Fingerprint>;
  guide: Partial<Inventory['guide']>;
}

/** The tables `names` (which must exist), one scan each, the guide's figures in the same scans. */
export async function readTables(client: pg.Client, names: readonly string[], level: { rows: Verification; columns: Verification }, onTable?: (table: string, done: number, total: number) => void): Promise<TableReadings> {
  const tables: Record<string, Fingerprint> = {};
  const guide: Partial<Inventory['guide']> = {};
  const figures = Object.entries(GUIDE_COLUMNS) as [GuideFigure, (typeof GUIDE_COLUMNS)[GuideFigure]][];
  for (const [i, name] of names.entries()) {
    const here = figures.filter(([, [table]]) => table === name);
    const read = await fingerprints(client, name, here.map(([, [, column]]) => column), level);
    tables[name] = read.rows;
    here.forEach(([key], j) => (guide[key] = read.columns[j]!));
    onTable?.(name, i + 1, names.length);
  }
  return { tables, guide };
}

export function totalRows(inventory: Inventory): number {
  return Object.values(inventory.tables).reduce((sum, t) => sum + t.count, 0);
}

export async function readDatabaseLocale(client: pg.Client, database?: string): Promise<DatabaseLocale> {
  const [row] = await queryRows<DatabaseLocale>(
    client,
    `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = coalesce($1, current_database())`,
    [database ?? null],
  );
  return row!;
}

/**
 * How the database's default collation orders a few strings. The same LC_COLLATE name sorts
 * differently under another C library: musl (the 0.3.x image) orders by code point what glibc
 * orders by language rules (case and punctuation second).
 */
export async function readSortOrder(client: pg.Client): Promise<string> {
  const [row] = await queryRows<{ order: string }>(client, `SELECT string_agg(x, ' < ' ORDER BY x) AS order FROM unnest(ARRAY['a', 'B', 'b', 'A', '_1', '1', 'a b', 'ab']) x`);
  return row!.order;
}

/**
 * The settings a restore must carry over: the database's own, and those of its owner and of the
 * connected user (the roles the archive and this tool connect as), everywhere or in this database.
 */
export async function readRoleSettings(client: pg.Client): Promise<RoleSetting[]> {
  const rows = await queryRows<{ role: string | null; in_database: boolean; config: string[] }>(
    client,
    `SELECT r.rolname AS role, s.setdatabase <> 0 AS in_database, s.setconfig AS config
       FROM pg_db_role_setting s
       JOIN pg_database d ON d.datname = current_database()
       LEFT JOIN pg_roles r ON r.oid = s.setrole
      WHERE s.setdatabase IN (0, d.oid) AND (s.setrole = 0 OR r.rolname IN (pg_get_userbyid(d.datdba), current_user))`,
  );
  const settings = rows.flatMap((r) =>
    r.config.map((entry) => {
      const eq = entry.indexOf('=');
      return { role: r.role, inDatabase: r.in_database, name: entry.slice(0, eq), value: entry.slice(eq + 1) };
    }),
  );
  const key = (s: RoleSetting) => `${s.role ?? ''}\u0000${s.inDatabase ? 1 : 0}\u0000${s.name}`;
  return settings.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export async function readOwners(client: pg.Client): Promise<Record<string, string>> {
  const rows = await queryRows<{ name: string; owner: string }>(
    client,
    `SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S') ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.owner]));
}

/**
 * Which integer columns of the public schema each sequence gives keys to: a column it is owned by
 * (serial, OWNED BY, identity), a column whose default calls nextval on it, and dcm4chee's own
 * mapping, which is neither: its entities take `<table>.pk` from `<table>_pk_seq`
 * (dcm4chee-arc-entity META-INF/orm-sequence.xml). One row per sequence and column; a sequence
 * that serves none comes with a null table.
 */
const SEQUENCE_COLUMNS = `
  WITH seqs AS (
    SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'S'
  ), served AS (
    SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum FROM pg_depend d
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
    UNION
    SELECT d.refobjid, ad.adrelid, ad.adnum FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
     WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
    UNION
    SELECT s.oid, t.oid, a.attnum FROM seqs s
      JOIN pg_class t ON t.relname = left(s.relname, -length('_pk_seq')) AND t.relnamespace = 'public'::regnamespace AND t.relkind IN ('r', 'p')
      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = 'pk' AND NOT a.attisdropped
     WHERE right(s.relname, length('_pk_seq')) = '_pk_seq'
  )
  SELECT s.relname AS sequence, t.relname AS table, a.attname AS column
    FROM seqs s
    LEFT JOIN served v ON v.seq = s.oid
    LEFT JOIN pg_class t ON t.oid = v.rel AND t.relnamespace = 'public'::regnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = v.attnum AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
   ORDER BY 1, 2, 3`;

/**
 * Each sequence's position and the largest key it serves, one query per sequence. PostgreSQL 9.6
 * keeps the increment in the sequence relation itself; from 10 on it lives in pg_sequence (read
 * through pg_sequences), while last_value and is_called stay in the relation on both.
 */
export async function readSequences(client: pg.Client): Promise<Record<string, SequenceFacts>> {
  const [version] = await queryRows<{ num: string }>(client, `SELECT current_setting('server_version_num') AS num`);
  const hasCatalog = Number(version!.num) >= 100000;
  const columns = await queryRows<{ sequence: string; table: string | null; column: string | null }>(client, SEQUENCE_COLUMNS);
  const serves = new Map<string, { table: string; column: string }[]>();
  for (const c of columns) {
    const list = serves.get(c.sequence) ?? [];
    if (c.table !== null && c.column !== null) list.push({ table: c.table, column: c.column });
    serves.set(c.sequence, list);
  }
  const sequences: Record<string, SequenceFacts> = {};
  for (const [name, served] of serves) {
    const maxKey = served.length === 0 ? 'NULL' : `greatest(${served.map((s) => `(SELECT max(${pg.escapeIdentifier(s.column)})::bigint FROM public.${pg.escapeIdentifier(s.table)})`).join(', ')})::text`;
    const [row] = await queryRows<{ last_value: string; is_called: boolean; increment: string; max_key: string | null }>(
      client,
      hasCatalog
        ? `SELECT s.last_value::text AS last_value, s.is_called, p.increment_by::text AS increment, ${maxKey} AS max_key
             FROM public.${pg.escapeIdentifier(name)} s, pg_sequences p WHERE p.schemaname = 'public' AND p.sequencename = $1`
        : `SELECT last_value::text AS last_value, is_called, increment_by::text AS increment, ${maxKey} AS max_key FROM public.${pg.escapeIdentifier(name)}`,
      hasCatalog ? [name] : [],
    );
    sequences[name] = {
      lastValue: row!.last_value,
      isCalled: row!.is_called,
      increment: row!.increment,
      serves: served.map((s) => `${s.table}.${s.column}`),
      maxKey: row!.max_key,
    };
  }
  return sequences;
}
