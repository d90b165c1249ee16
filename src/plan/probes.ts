// Schema probes: which dcm4chee-arc database updates a database already carries. Each probe is one
// SELECT returning a single row with one boolean column `applied`. They read pg_catalog only (valid
// on PostgreSQL 9.6 and 15, and not filtered by privileges like information_schema) and look only
// at the current schema, where the archive's tables live (public).

const inSchema = `n.nspname = current_schema()`;

function relationExists(name: string, relkind: 'r' | 'i', table?: string): string {
  const onTable = table
    ? ` and exists (select 1 from pg_catalog.pg_index x join pg_catalog.pg_class t on t.oid = x.indrelid` +
      ` where x.indexrelid = c.oid and t.relname = '${table}')`
    : '';
  return (
    `exists (select 1 from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace` +
    ` where ${inSchema} and c.relkind = '${relkind}' and c.relname = '${name}'${onTable})`
  );
}

const tableExists = (table: string): string => relationExists(table, 'r');

function columnExists(table: string, column: string, notNull = false): string {
  return (
    `exists (select 1 from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid` +
    ` join pg_catalog.pg_namespace n on n.oid = c.relnamespace` +
    ` where ${inSchema} and c.relkind = 'r' and c.relname = '${table}' and a.attname = '${column}'` +
    ` and a.attnum > 0 and not a.attisdropped${notNull ? ' and a.attnotnull' : ''})`
  );
}

/** "Column gone" only counts when its table is there: an empty database has applied nothing. */
const columnDropped = (table: string, column: string): string =>
  `(${tableExists(table)} and not ${columnExists(table, column)})`;

const probe = (condition: string): string => `select ${condition} as applied`;

export const VERSION_PROBES: ReadonlyArray<{ version: string; sql: string }> = [
  { version: '5.27', sql: probe(tableExists('instance_req')) },
  { version: '5.28', sql: probe(`(${tableExists('key_value')} or ${tableExists('key_value2')})`) },
  { version: '5.29', sql: probe(tableExists('key_value2')) },
  { version: '5.30', sql: probe(columnDropped('mwl_item', 'local_aet')) },
  { version: '5.31', sql: probe(columnDropped('patient', 'patient_id_fk')) },
  // Unquoted identifiers are folded to lower case: the vendor's IDXe6od... is stored as idxe6od...
  { version: '5.31.1', sql: probe(relationExists('idxe6odcfrgswxke8wtlj8bdehet', 'i', 'task')) },
  {
    version: '5.32',
    sql: probe(`(${columnExists('study', 'study_deleting')} and ${columnExists('instance', 'ext_retrieve_aet', true)})`),
  },
];

/** Runs every probe through `query` (which returns the `applied` value) and lists the applied versions. */
export async function appliedVersions(query: (sql: string) => Promise<boolean>): Promise<string[]> {
  const applied: string[] = [];
  for (const { version, sql } of VERSION_PROBES) {
    if (await query(sql)) applied.push(version);
  }
  return applied;
}
