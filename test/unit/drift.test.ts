// The drift rules on hand-made schemas: what the vendor's update chain leaves behind is expected,
// anything else (a dropped column, a changed type, a lost constraint, a duplicate index) is not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SchemaFacts } from '../../src/postgres/schema-facts.js';
import { renderMarkdown } from '../../src/report/render.js';
import type { MigrationReport } from '../../src/report/types.js';
import { classifyDrift, describeDifference, type Drift, type DriftDifference } from '../../src/verification/drift.js';

const col = (table: string, name: string, type: string, notNull = true) => ({ table, name, type, notNull, default: null });
const idx = (table: string, name: string, definition: string, unique = false, constraint: 'primary key' | 'unique' | null = null) => ({ table, name, unique, definition, constraint });
const fk = (table: string, name: string, column: string, refTable: string) => ({
  table, name, columns: [column], references: { table: refTable, columns: ['pk'] }, onUpdate: 'a', onDelete: 'a', deferrable: false,
});
const seq = (name: string) => ({ name, type: 'bigint', start: '1', increment: '1', min: '1', max: '9223372036854775807', cycle: false, ownedBy: null });

/** A slice of a fresh 5.32 schema, written the way its create script makes it. */
function fresh(): SchemaFacts {
  return {
    serverVersion: '15.6',
    tables: ['patient', 'patient_id', 'study'],
    columns: [
      col('patient', 'pk', 'bigint'),
      col('patient_id', 'pk', 'bigint'),
      col('patient_id', 'patient_fk', 'bigint'),
      col('study', 'pk', 'bigint'),
      col('study', 'study_iuid', 'character varying(255)'),
      col('study', 'completeness', 'smallint'),
      col('study', 'created_time', 'timestamp(6) without time zone'),
      col('study', 'patient_fk', 'bigint'),
      col('study', 'ref_phys_name_fk', 'bigint', false),
    ],
    indexes: [
      idx('patient', 'patient_pkey', 'btree (pk)', true, 'primary key'),
      idx('patient_id', 'patient_id_pkey', 'btree (pk)', true, 'primary key'),
      idx('patient_id', 'fkih8d22x50j7orytfmigrnssea', 'btree (patient_fk)'),
      idx('study', 'study_pkey', 'btree (pk)', true, 'primary key'),
      idx('study', 'study_study_iuid_key', 'btree (study_iuid)', true, 'unique'),
      idx('study', 'study_ref_phys_name_fk_key', 'btree (ref_phys_name_fk)', true, 'unique'),
      idx('study', 'idx6ry2squ4qcv129lxpae1oy93m', 'btree (created_time)'),
      idx('study', 'fkocnq3so9ej7h0mnd6a6arjf6c', 'btree (patient_fk)'),
    ],
    checks: [{ table: 'study', name: 'study_completeness_check', definition: 'CHECK (((completeness >= 0) AND (completeness <= 2)))', columns: ['completeness'] }],
    foreignKeys: [
      fk('patient_id', 'fkih8d22x50j7orytfmigrnssea', 'patient_fk', 'patient'),
      fk('study', 'fkocnq3so9ej7h0mnd6a6arjf6c', 'patient_fk', 'patient'),
      fk('study', 'fkndwmntu3lsjd78erctnbposyr', 'ref_phys_name_fk', 'patient'),
    ],
    sequences: [seq('patient_pk_seq'), seq('study_pk_seq')],
  };
}

/** The same slice as 5.26 brought to 5.32 by the updates: names, types and constraints as they leave them. */
function migrated(): SchemaFacts {
  const f = fresh();
  return {
    ...f,
    columns: f.columns.map((c) =>
      c.name === 'completeness' ? { ...c, type: 'integer' }
      : c.name === 'created_time' ? { ...c, type: 'timestamp without time zone' }
      : c.table === 'patient_id' && c.name === 'patient_fk' ? { ...c, notNull: false }
      : c,
    ),
    indexes: [
      idx('patient', 'patient_pkey', 'btree (pk)', true, 'primary key'),
      idx('patient_id', 'patient_id_pkey', 'btree (pk)', true, 'primary key'),
      idx('patient_id', 'fk_hba9466n4re9re8id3c8abmnv', 'btree (patient_fk)'),
      idx('study', 'study_pkey', 'btree (pk)', true, 'primary key'),
      idx('study', 'uk_pt5qn20x278wb1f7p2t3lcxv', 'btree (study_iuid)', true, 'unique'),
      idx('study', 'uk_6ry2squ4qcv129lxpae1oy93m', 'btree (created_time)'),
      idx('study', 'fk_e3fdaqhw7u60trs5aspf4sna9', 'btree (patient_fk)'),
    ],
    checks: [],
    foreignKeys: [
      fk('patient_id', 'fk_hba9466n4re9re8id3c8abmnv', 'patient_fk', 'patient'),
      fk('study', 'fk_e3fdaqhw7u60trs5aspf4sna9', 'patient_fk', 'patient'),
      fk('study', 'fk_49eet5qgcsb32ktsqrf1mj3x2', 'ref_phys_name_fk', 'patient'),
    ],
  };
}

const unexpected = (d: Drift) => d.differences.filter((x) => x.class === 'unexpected').map(describeDifference);
const find = (d: Drift, where: Partial<DriftDifference>) =>
  d.differences.filter((x) => Object.entries(where).every(([k, v]) => x[k as keyof DriftDifference] === v));

test('what the update chain leaves behind is expected, each difference under its rule', () => {
  const drift = classifyDrift(migrated(), fresh());
  assert.deepEqual(unexpected(drift), []);
  const rules = drift.differences.map((d) => `${d.rule}: ${describeDifference(d)}`).sort();
  assert.deepEqual(rules, [
    'enum-range-check: check study.study_completeness_check (CHECK (((completeness >= 0) AND (completeness <= 2)))) is only in the fresh schema',
    'enum-smallint: column study.completeness: type integer in the migrated schema, smallint in the fresh one',
    'generated-names: foreign key patient_id.fk_hba9466n4re9re8id3c8abmnv is named fkih8d22x50j7orytfmigrnssea in the fresh schema',
    'generated-names: foreign key study.fk_49eet5qgcsb32ktsqrf1mj3x2 is named fkndwmntu3lsjd78erctnbposyr in the fresh schema',
    'generated-names: foreign key study.fk_e3fdaqhw7u60trs5aspf4sna9 is named fkocnq3so9ej7h0mnd6a6arjf6c in the fresh schema',
    'generated-names: index patient_id.fk_hba9466n4re9re8id3c8abmnv is named fkih8d22x50j7orytfmigrnssea in the fresh schema',
    'generated-names: index study.fk_e3fdaqhw7u60trs5aspf4sna9 is named fkocnq3so9ej7h0mnd6a6arjf6c in the fresh schema',
    'generated-names: index study.uk_6ry2squ4qcv129lxpae1oy93m is named idx6ry2squ4qcv129lxpae1oy93m in the fresh schema',
    'generated-names: index study.uk_pt5qn20x278wb1f7p2t3lcxv is named study_study_iuid_key in the fresh schema',
    'one-to-one-unique: index study.study_ref_phys_name_fk_key (unique btree (ref_phys_name_fk), unique constraint) is only in the fresh schema',
    'timestamp-precision: column study.created_time: type timestamp without time zone in the migrated schema, timestamp(6) without time zone in the fresh one',
    'unreferenced-patient-id: column patient_id.patient_fk: nullability NULL in the migrated schema, NOT NULL in the fresh one',
  ]);
  assert.equal(drift.expected, 12);
  assert.equal(drift.unexpected, 0);
});

test('identical schemas have no drift', () => {
  assert.deepEqual(classifyDrift(fresh(), fresh()), { expected: 0, unexpected: 0, differences: [] });
});

/** The drift of the migrated slice after `change`; only the differences `change` added. */
function driftAfter(change: (m: SchemaFacts, f: SchemaFacts) => void): string[] {
  const m = migrated();
  const f = fresh();
  change(m, f);
  return unexpected(classifyDrift(m, f));
}

test('a dropped or added column is unexpected', () => {
  // Dropping a column takes its index along, as PostgreSQL does.
  assert.deepEqual(
    driftAfter((m) => {
      m.columns = m.columns.filter((c) => c.name !== 'study_iuid');
      m.indexes = m.indexes.filter((i) => !i.definition.includes('study_iuid'));
    }),
    [
      'column study.study_iuid (character varying(255) NOT NULL) is only in the fresh schema',
      'index study.study_study_iuid_key (unique btree (study_iuid), unique constraint) is only in the fresh schema',
    ],
  );
  assert.deepEqual(driftAfter((m) => m.columns.push(col('study', 'site_note', 'text', false))), ['column study.site_note (text NULL) is only in the migrated schema']);
});

test('a changed type is unexpected, also one that looks like a rule', () => {
  assert.deepEqual(driftAfter((m) => (m.columns.find((c) => c.name === 'study_iuid')!.type = 'text')), [
    'column study.study_iuid: type text in the migrated schema, character varying(255) in the fresh one',
  ]);
  // integer → smallint is an enum only where the fresh schema has its range check.
  assert.deepEqual(driftAfter((_m, f) => (f.checks = [])), ['column study.completeness: type integer in the migrated schema, smallint in the fresh one']);
  // The updates never write timestamp(6): the other direction is not theirs.
  assert.deepEqual(
    driftAfter((m, f) => {
      m.columns.find((c) => c.name === 'created_time')!.type = 'timestamp(6) without time zone';
      f.columns.find((c) => c.name === 'created_time')!.type = 'timestamp without time zone';
    }),
    ['column study.created_time: type timestamp(6) without time zone in the migrated schema, timestamp without time zone in the fresh one'],
  );
  assert.deepEqual(driftAfter((m) => (m.columns.find((c) => c.name === 'completeness')!.default = '0')), [
    'column study.completeness: default 0 in the migrated schema, none in the fresh one',
  ]);
});

test('nullability differs as expected only on patient_id.patient_fk', () => {
  assert.deepEqual(driftAfter((m) => (m.columns.find((c) => c.name === 'study_iuid')!.notNull = false)), [
    'column study.study_iuid: nullability NULL in the migrated schema, NOT NULL in the fresh one',
  ]);
  // patient_fk NOT NULL in the migrated schema but nullable in the fresh one: the wrong way round.
  assert.deepEqual(
    driftAfter((m, f) => {
      m.columns.find((c) => c.table === 'patient_id' && c.name === 'patient_fk')!.notNull = true;
      f.columns.find((c) => c.table === 'patient_id' && c.name === 'patient_fk')!.notNull = false;
    }),
    ['column patient_id.patient_fk: nullability NOT NULL in the migrated schema, NULL in the fresh one'],
  );
});

test('lost, extra and duplicated constraints and indexes are unexpected', () => {
  // A unique constraint that is not a one-to-one join column.
  assert.deepEqual(driftAfter((m) => (m.indexes = m.indexes.filter((i) => i.name !== 'uk_pt5qn20x278wb1f7p2t3lcxv'))), [
    'index study.study_study_iuid_key (unique btree (study_iuid), unique constraint) is only in the fresh schema',
  ]);
  // The one-to-one unique needs the foreign key on both sides.
  assert.deepEqual(driftAfter((m) => (m.foreignKeys = m.foreignKeys.filter((k) => k.name !== 'fk_49eet5qgcsb32ktsqrf1mj3x2'))), [
    'index study.study_ref_phys_name_fk_key (unique btree (ref_phys_name_fk), unique constraint) is only in the fresh schema',
    'foreign key study.fkndwmntu3lsjd78erctnbposyr ((ref_phys_name_fk) references patient (pk)) is only in the fresh schema',
  ]);
  // A foreign key pointing elsewhere is two differences.
  assert.deepEqual(driftAfter((m) => (m.foreignKeys.find((k) => k.name === 'fk_e3fdaqhw7u60trs5aspf4sna9')!.references.table = 'patient_id')), [
    'foreign key study.fk_e3fdaqhw7u60trs5aspf4sna9 ((patient_fk) references patient_id (pk)) is only in the migrated schema',
    'foreign key study.fkocnq3so9ej7h0mnd6a6arjf6c ((patient_fk) references patient (pk)) is only in the fresh schema',
  ]);
  // What a restore over a pre-created schema leaves: the same index twice, under both generators' names.
  assert.deepEqual(driftAfter((m) => m.indexes.push(idx('study', 'idx6ry2squ4qcv129lxpae1oy93m', 'btree (created_time)'))), [
    'index study.uk_6ry2squ4qcv129lxpae1oy93m (btree (created_time)) is only in the migrated schema',
  ]);
  // Same index, but a name no generator gives.
  assert.deepEqual(driftAfter((m) => (m.indexes.find((i) => i.name === 'uk_6ry2squ4qcv129lxpae1oy93m')!.name = 'my_study_created')), [
    'index study.my_study_created is named idx6ry2squ4qcv129lxpae1oy93m in the fresh schema',
  ]);
  // A unique index standing in for the fresh schema's unique constraint.
  assert.deepEqual(driftAfter((m) => (m.indexes.find((i) => i.name === 'uk_pt5qn20x278wb1f7p2t3lcxv')!.constraint = null)), [
    'index study.uk_pt5qn20x278wb1f7p2t3lcxv: definition unique btree (study_iuid) in the migrated schema, unique btree (study_iuid), unique constraint in the fresh one',
  ]);
  // Only range checks on one enum column are Hibernate's.
  assert.deepEqual(driftAfter((_m, f) => f.checks.push({ table: 'study', name: 'study_study_iuid_check', definition: 'CHECK ((length((study_iuid)::text) > 0))', columns: ['study_iuid'] })), [
    'check study.study_study_iuid_check (CHECK ((length((study_iuid)::text) > 0))) is only in the fresh schema',
  ]);
  assert.deepEqual(driftAfter((m, f) => m.checks.push(f.checks[0]!)), []);
  assert.deepEqual(driftAfter((m) => m.checks.push({ table: 'study', name: 'site_check', definition: 'CHECK ((pk > 0))', columns: ['pk'] })), [
    'check study.site_check (CHECK ((pk > 0))) is only in the migrated schema',
  ]);
});

test('a table only one side has is one difference, not one per column', () => {
  assert.deepEqual(
    driftAfter((m) => {
      m.tables = m.tables.filter((t) => t !== 'patient_id');
      m.columns = m.columns.filter((c) => c.table !== 'patient_id');
      m.indexes = m.indexes.filter((i) => i.table !== 'patient_id');
      m.foreignKeys = m.foreignKeys.filter((k) => k.table !== 'patient_id');
    }),
    ['table patient_id (table) is only in the fresh schema'],
  );
});

test('sequences are compared by name and definition', () => {
  assert.deepEqual(driftAfter((m) => (m.sequences = m.sequences.filter((s) => s.name !== 'study_pk_seq'))), [
    'sequence study_pk_seq (bigint start 1 increment 1 min 1 max 9223372036854775807) is only in the fresh schema',
  ]);
  assert.deepEqual(driftAfter((m) => (m.sequences[0]!.type = 'integer')), [
    'sequence patient_pk_seq: definition integer start 1 increment 1 min 1 max 9223372036854775807 in the migrated schema, bigint start 1 increment 1 min 1 max 9223372036854775807 in the fresh one',
  ]);
});

test("the 0.3.0 image's study.deleting is expected only opposite the migrated study_deleting", () => {
  const m = migrated();
  const f = fresh();
  m.columns.push(col('study', 'study_deleting', 'boolean'));
  f.columns.push(col('study', 'deleting', 'boolean'));
  const drift = classifyDrift(m, f);
  assert.deepEqual(unexpected(drift), []);
  assert.deepEqual(find(drift, { rule: 'image-0.3.0-deleting' }).map((d) => `${d.name} ${d.change}`).sort(), ['deleting only in fresh', 'study_deleting only in migrated']);
  // Without study_deleting the migrated schema lacks what archive 5.32 maps.
  assert.deepEqual(driftAfter((_m, fr) => fr.columns.push(col('study', 'deleting', 'boolean'))), ['column study.deleting (boolean NOT NULL) is only in the fresh schema']);
});

test('unexpected differences come first, and the report renders counts, rules and one line each', () => {
  const m = migrated();
  m.columns = m.columns.filter((c) => c.name !== 'ref_phys_name_fk');
  m.indexes = m.indexes.filter((i) => !i.definition.includes('ref_phys_name_fk'));
  m.foreignKeys = m.foreignKeys.filter((k) => !k.columns.includes('ref_phys_name_fk'));
  const drift = classifyDrift(m, fresh());
  assert.deepEqual(drift.differences.slice(0, drift.unexpected).map((d) => d.class), Array(drift.unexpected).fill('unexpected'));
  assert.ok(drift.unexpected >= 2 && drift.expected > 0);
  const report: MigrationReport = {
    node: 'n', workflowId: 'w', runId: 'r', runTag: 't', startedAt: '2024-01-01T00:00:00Z', outcome: 'failed',
    versions: { from: '5.26', to: '5.32', alreadyPresent: [], applied: [] }, steps: [], dumps: [], scripts: [], ldap: [],
    schemaDrift: { ...drift, file: '/backup/n-t/schema-drift.json' },
  };
  const md = renderMarkdown(report);
  const section = md.slice(md.indexOf('## Schema drift'));
  assert.match(section, new RegExp(`${drift.unexpected} unexpected, ${drift.expected} expected difference\\(s\\); all of them in \`/backup/n-t/schema-drift.json\``));
  assert.match(section, /\| enum-smallint \| 1 \| Hibernate 6 stores an ordinal enum as smallint/);
  assert.match(section, /- \*\*unexpected\*\*: column study\.ref_phys_name_fk \(bigint NULL\) is only in the fresh schema/);
  assert.match(section, /- expected \(unreferenced-patient-id\): column patient_id\.patient_fk: nullability NULL/);
  const lines = section.split('\n').filter((l) => l.startsWith('- '));
  assert.equal(lines.length, drift.differences.length);
  assert.ok(!renderMarkdown({ ...report, schemaDrift: undefined }).includes('## Schema drift'));
});
