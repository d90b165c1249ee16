// The structure of a database's public schema, read from the catalog in a form that two databases
// can be compared by: what each object is made of, keyed apart from the name the DDL generator
// happened to give it. Written for PostgreSQL 15 (pg_sequences needs 10+), where the migrated
// database always lives.
import type pg from 'pg';
import { queryRows } from './client.js';

export interface ColumnFact {
  table: string;
  name: string;
  /** format_type(): `integer`, `smallint`, `timestamp(6) without time zone`, `character varying(255)` … */
  type: string;
  notNull: boolean;
  default: string | null;
}

export interface IndexFact {
  table: string;
  name: string;
  unique: boolean;
  /** The index without its name and table: method, keys, predicate (`btree (study_fk, series_iuid)`). */
  definition: string;
  /** The constraint the index backs, if any. */
  constraint: 'primary key' | 'unique' | 'exclusion' | null;
}

export interface CheckFact {
  table: string;
  name: string;
  /** pg_get_constraintdef(): `CHECK (((status >= 0) AND (status <= 9)))`. */
  definition: string;
  /** The columns the expression reads. */
  columns: string[];
}

export interface ForeignKeyFact {
  table: string;
  name: string;
  columns: string[];
  references: { table: string; columns: string[] };
  /** pg_constraint's action codes (a no action, r restrict, c cascade, n set null, d set default). */
  onUpdate: string;
  onDelete: string;
  deferrable: boolean;
}

export interface SequenceFact {
  name: string;
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cycle: boolean;
  /** `table.column` of an OWNED BY sequence. */
  ownedBy: string | null;
}

export interface SchemaFacts {
  serverVersion: string;
  tables: string[];
  columns: ColumnFact[];
  indexes: IndexFact[];
  checks: CheckFact[];
  foreignKeys: ForeignKeyFact[];
  sequences: SequenceFact[];
}

const TABLES = `
  SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')`;

const attNames = (rel: string, keys: string) =>
  `ARRAY(SELECT a.attname FROM unnest(${keys}) WITH ORDINALITY AS key(num, ord)
           JOIN pg_attribute a ON a.attrelid = ${rel} AND a.attnum = key.num ORDER BY key.ord)::text[]`;

export async function readSchemaFacts(client: pg.Client): Promise<SchemaFacts> {
  // Expressions and names print unqualified only for what the search path shows: fix it, so that
  // two servers print the same definition the same way.
  await client.query(`SET search_path = public`);
  const [meta] = await queryRows<{ version: string }>(client, `SELECT current_setting('server_version') AS version`);
  const tables = await queryRows<{ name: string }>(client, `SELECT c.relname AS name FROM pg_class c WHERE c.oid IN (${TABLES}) ORDER BY 1`);
  const columns = await queryRows<{ table: string; name: string; type: string; not_null: boolean; default: string | null }>(
    client,
    `SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid IN (${TABLES}) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY 1, 2`,
  );
  const indexes = await queryRows<{ table: string; name: string; unique: boolean; definition: string; contype: string | null }>(
    client,
    `SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique,
            regexp_replace(pg_get_indexdef(x.indexrelid), '^.*? USING ', '') AS definition,
            (SELECT k.contype::text FROM pg_constraint k WHERE k.conindid = x.indexrelid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')) AS contype
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
      WHERE x.indrelid IN (${TABLES})
      ORDER BY 1, 2`,
  );
  const checks = await queryRows<{ table: string; name: string; definition: string; columns: string[] }>(
    client,
    `SELECT t.relname AS table, k.conname AS name, pg_get_constraintdef(k.oid) AS definition, ${attNames('k.conrelid', 'k.conkey')} AS columns
       FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
      WHERE k.conrelid IN (${TABLES}) AND k.contype = 'c'
      ORDER BY 1, 2`,
  );
  const foreignKeys = await queryRows<{
    table: string; name: string; columns: string[]; ref_table: string; ref_columns: string[];
    on_update: string; on_delete: string; deferrable: boolean;
  }>(
    client,
    `SELECT t.relname AS table, k.conname AS name, ${attNames('k.conrelid', 'k.conkey')} AS columns,
            r.relname AS ref_table, ${attNames('k.confrelid', 'k.confkey')} AS ref_columns,
            k.confupdtype::text AS on_update, k.confdeltype::text AS on_delete, k.condeferrable AS deferrable
       FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_class r ON r.oid = k.confrelid
      WHERE k.conrelid IN (${TABLES}) AND k.contype = 'f'
      ORDER BY 1, 2`,
  );
  const sequences = await queryRows<{
    name: string; type: string; start: string; increment: string; min: string; max: string; cycle: boolean; owned_by: string | null;
  }>(
    client,
    `SELECT s.sequencename AS name, s.data_type::text AS type, s.start_value::text AS start, s.increment_by::text AS increment,
            s.min_value::text AS min, s.max_value::text AS max, s.cycle,
            (SELECT t.relname || '.' || a.attname FROM pg_depend d
               JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_class'::regclass AND d.objid = format('%I.%I', s.schemaname, s.sequencename)::regclass
                AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) AS owned_by
       FROM pg_sequences s WHERE s.schemaname = 'public'
      ORDER BY 1`,
  );
  const constraintKind = { p: 'primary key', u: 'unique', x: 'exclusion' } as const;
  return {
    serverVersion: meta!.version,
    tables: tables.map((t) => t.name),
    columns: columns.map((c) => ({ table: c.table, name: c.name, type: c.type, notNull: c.not_null, default: c.default })),
    indexes: indexes.map((i) => ({
      table: i.table,
      name: i.name,
      unique: i.unique,
      definition: i.definition,
      constraint: i.contype ? constraintKind[i.contype as keyof typeof constraintKind] : null,
    })),
    checks,
    foreignKeys: foreignKeys.map((f) => ({
      table: f.table,
      name: f.name,
      columns: f.columns,
      references: { table: f.ref_table, columns: f.ref_columns },
      onUpdate: f.on_update,
      onDelete: f.on_delete,
      deferrable: f.deferrable,
    })),
    sequences: sequences.map((s) => ({
      name: s.name, type: s.type, start: s.start, increment: s.increment, min: s.min, max: s.max, cycle: s.cycle, ownedBy: s.owned_by,
    })),
  };
}
