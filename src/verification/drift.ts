// Schema drift: every way the migrated schema (5.26 + the vendor's updates 5.27 … 5.32) differs
// from a fresh 5.32 schema created by the new image itself, each classified as expected (a rule
// below names the reason) or unexpected (nothing explains it, so the migration must not go on).
//
// The rules come from comparing the real vendor schemas, not the demo's miniature: the 5.26 create
// scripts of the 0.2.x image (dcm4che-dockerfiles/postgres-dcm4chee, branch 9.6 at the 5.26 release)
// with the updates 5.27 … 5.32 of dcm4chee-arc-light 5.32.0 applied, dumped and restored into
// PostgreSQL 15, against arc-light 5.32.0's create-psql.sql, create-fk-index.sql and
// create-case-insensitive-index.sql (which the 0.3.1+ image runs). That comparison gives the same
// 39 tables, 416 columns, 62 foreign keys and 30 sequences on both sides, and exactly these
// differences: 37 timestamp columns without/with precision 6, 25 enum columns integer vs smallint
// each with a range CHECK only in the fresh schema, patient_id.patient_fk nullable vs NOT NULL,
// 13 unique constraints on one-to-one foreign-key columns only in the fresh schema, and every
// other index and constraint under another generated name. Anything else is unexpected.
import type { CheckFact, IndexFact, SchemaFacts, SequenceFact } from '../postgres/schema-facts.js';

export type DriftClass = 'expected' | 'unexpected';
export type DriftObject = 'table' | 'column' | 'index' | 'check' | 'foreign key' | 'sequence';
export type DriftChange = 'only in migrated' | 'only in fresh' | 'type' | 'nullability' | 'default' | 'name' | 'definition';

export interface DriftDifference {
  object: DriftObject;
  /** The table the object belongs to; absent for tables and sequences. */
  table?: string;
  /** The object's name (on the migrated side when both have it). */
  name: string;
  change: DriftChange;
  /** The object on each side where it exists: its type, nullability, definition or name. */
  migrated?: string;
  fresh?: string;
  class: DriftClass;
  /** The rule that expects the difference (an id of DRIFT_RULES); absent when unexpected. */
  rule?: string;
}

export interface Drift {
  expected: number;
  unexpected: number;
  /** Unexpected ones first, then by object, table and name. */
  differences: DriftDifference[];
}

/** What the schemaDrift activity returns: the drift, and the file it wrote it to in full. */
export interface DriftReport extends Drift {
  file: string;
}

export interface Schemas {
  migrated: SchemaFacts;
  fresh: SchemaFacts;
}

/** A difference before the rules have seen it. */
export type Unclassified = Omit<DriftDifference, 'class' | 'rule'>;

export interface DriftRule {
  id: string;
  /** Why the update chain leaves this difference behind, and why it is harmless. */
  why: string;
  expects(d: Unclassified, s: Schemas): boolean;
}

// Hibernate's generated names: before 6 (the 5.26 create scripts and every update script)
// FK_<hash> and UK_<hash>; from 6 (the 5.32 create) FK<hash> and IDX<hash>. Unquoted, so lower case.
const HASH = '[0-9a-z]{20,32}';
const HIBERNATE_NAME = new RegExp(`^(?:(?:fk|uk)_${HASH}|(?:fk|idx)${HASH})$`);

/** A name no one chose: Hibernate's, or the one PostgreSQL gives an unnamed inline constraint. */
function generatedName(name: string, table: string | undefined): boolean {
  if (HIBERNATE_NAME.test(name)) return true;
  return table !== undefined && (name === `${table}_pkey` || (name.startsWith(`${table}_`) && /_(?:key|check|fkey)\d*$/.test(name)));
}

/** Hibernate 6's CHECK for an ordinal enum: `CHECK (((col >= 0) AND (col <= n)))`. */
function isOrdinalRange(check: CheckFact, column: string): boolean {
  const col = column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return check.columns.length === 1 && check.columns[0] === column && new RegExp(`^CHECK \\(\\(\\(${col} >= 0\\) AND \\(${col} <= \\d+\\)\\)\\)$`).test(check.definition);
}

const indexOf = (facts: SchemaFacts, table: string | undefined, name: string): IndexFact | undefined =>
  facts.indexes.find((i) => i.table === table && i.name === name);
const checkOf = (facts: SchemaFacts, table: string | undefined, name: string): CheckFact | undefined =>
  facts.checks.find((c) => c.table === table && c.name === name);
const columnOf = (facts: SchemaFacts, table: string, name: string) => facts.columns.find((c) => c.table === table && c.name === name);
const hasForeignKeyOn = (facts: SchemaFacts, table: string | undefined, column: string) =>
  facts.foreignKeys.some((f) => f.table === table && f.columns.length === 1 && f.columns[0] === column);

/** The differences a 5.26 database brought to 5.32 by the vendor's own updates is known to have. */
export const DRIFT_RULES: readonly DriftRule[] = [
  {
    id: 'generated-names',
    why: "the 5.26 scripts and the updates name indexes and constraints FK_ or UK_ and a hash (Hibernate 5), the 5.32 create FK or IDX and a hash (Hibernate 6) or leaves inline constraints to PostgreSQL's naming: the same object under another name",
    expects: (d) => d.change === 'name' && generatedName(d.migrated ?? '', d.table) && generatedName(d.fresh ?? '', d.table),
  },
  {
    id: 'timestamp-precision',
    why: 'the 5.26 scripts and the updates declare timestamp, the 5.32 create timestamp(6); PostgreSQL keeps microseconds (6 digits) either way',
    expects: (d) =>
      d.object === 'column' && d.change === 'type' && /^timestamp with(?:out)? time zone$/.test(d.migrated ?? '') &&
      d.fresh === d.migrated!.replace('timestamp', 'timestamp(6)'),
  },
  {
    id: 'enum-smallint',
    why: 'Hibernate 6 stores an ordinal enum as smallint with a range CHECK; no update converts the 5.26 integer columns, whose values are the same ordinals',
    expects: (d, s) =>
      d.object === 'column' && d.change === 'type' && d.migrated === 'integer' && d.fresh === 'smallint' &&
      s.fresh.checks.some((c) => c.table === d.table && isOrdinalRange(c, d.name)),
  },
  {
    id: 'enum-range-check',
    why: "the range CHECK Hibernate 6 adds to an ordinal enum column; the updates add none (the application writes only its enum's ordinals)",
    expects: (d, s) => {
      const check = d.object === 'check' && d.change === 'only in fresh' ? checkOf(s.fresh, d.table, d.name) : undefined;
      return check !== undefined && check.columns.length === 1 && isOrdinalRange(check, check.columns[0]!);
    },
  },
  {
    id: 'one-to-one-unique',
    why: 'Hibernate 6 declares the join column of a one-to-one relation UNIQUE; the 5.26 scripts did not for these, and no update adds them (the foreign key and its index are there on both sides)',
    expects: (d, s) => {
      const index = d.object === 'index' && d.change === 'only in fresh' ? indexOf(s.fresh, d.table, d.name) : undefined;
      const column = index?.definition.match(/^btree \(([a-z_][a-z0-9_]*)\)$/)?.[1];
      return index !== undefined && index.unique && index.constraint === 'unique' && column !== undefined &&
        hasForeignKeyOn(s.fresh, d.table, column) && hasForeignKeyOn(s.migrated, d.table, column);
    },
  },
  {
    id: 'unreferenced-patient-id',
    why: 'update 5.31 fills patient_id.patient_fk from the patient that pointed to the id and leaves ids no patient references NULL, so it cannot make the column NOT NULL as a fresh 5.32 schema does',
    expects: (d) => d.object === 'column' && d.table === 'patient_id' && d.name === 'patient_fk' && d.change === 'nullability' && d.migrated === 'NULL' && d.fresh === 'NOT NULL',
  },
  {
    id: 'image-0.3.0-deleting',
    why: "the Kaapana 0.3.0 image's create script predates the vendor's rename of study.deleting to study_deleting; archive 5.32.0 maps study_deleting, which the update 5.32 adds",
    expects: (d, s) => {
      if (d.object !== 'column' || d.table !== 'study') return false;
      const deleting = columnOf(s.fresh, 'study', 'deleting');
      const studyDeleting = columnOf(s.migrated, 'study', 'study_deleting');
      const pair = deleting?.type === 'boolean' && deleting.notNull && studyDeleting?.type === 'boolean' && studyDeleting.notNull &&
        !columnOf(s.migrated, 'study', 'deleting') && !columnOf(s.fresh, 'study', 'study_deleting');
      return pair && ((d.change === 'only in fresh' && d.name === 'deleting') || (d.change === 'only in migrated' && d.name === 'study_deleting'));
    },
  },
];

/** Every difference between the two schemas, classified by DRIFT_RULES (first match). */
export function classifyDrift(migrated: SchemaFacts, fresh: SchemaFacts): Drift {
  const schemas = { migrated, fresh };
  const differences = findDifferences(migrated, fresh).map((d): DriftDifference => {
    const rule = DRIFT_RULES.find((r) => r.expects(d, schemas));
    return rule ? { ...d, class: 'expected', rule: rule.id } : { ...d, class: 'unexpected' };
  });
  const order: DriftObject[] = ['table', 'column', 'index', 'check', 'foreign key', 'sequence'];
  differences.sort(
    (a, b) =>
      Number(a.class === 'expected') - Number(b.class === 'expected') ||
      order.indexOf(a.object) - order.indexOf(b.object) ||
      (a.table ?? '').localeCompare(b.table ?? '') ||
      a.name.localeCompare(b.name),
  );
  const unexpected = differences.filter((d) => d.class === 'unexpected').length;
  return { expected: differences.length - unexpected, unexpected, differences };
}

/** The difference in one line, for the report and error messages. */
export function describeDifference(d: DriftDifference): string {
  const what = `${d.object} ${d.table ? `${d.table}.` : ''}${d.name}`;
  switch (d.change) {
    case 'only in migrated':
      return `${what} (${d.migrated}) is only in the migrated schema`;
    case 'only in fresh':
      return `${what} (${d.fresh}) is only in the fresh schema`;
    case 'name':
      return `${what} is named ${d.fresh} in the fresh schema`;
    default:
      return `${what}: ${d.change} ${d.migrated} in the migrated schema, ${d.fresh} in the fresh one`;
  }
}

function findDifferences(migrated: SchemaFacts, fresh: SchemaFacts): Unclassified[] {
  const out: Unclassified[] = [];
  const both = new Set(migrated.tables.filter((t) => fresh.tables.includes(t)));
  for (const t of migrated.tables) if (!both.has(t)) out.push({ object: 'table', name: t, change: 'only in migrated', migrated: 'table' });
  for (const t of fresh.tables) if (!both.has(t)) out.push({ object: 'table', name: t, change: 'only in fresh', fresh: 'table' });
  // The objects of a table only one side has are that table's difference, not more of their own.
  const shared = <T extends { table: string }>(items: T[]) => items.filter((i) => both.has(i.table));

  const nullability = (notNull: boolean) => (notNull ? 'NOT NULL' : 'NULL');
  const columnText = (c: { type: string; notNull: boolean }) => `${c.type} ${nullability(c.notNull)}`;
  matchObjects(shared(migrated.columns), shared(fresh.columns), (c) => `${c.table}.${c.name}`, {
    only: (c, side) => out.push({ object: 'column', table: c.table, name: c.name, change: `only in ${side}`, [side]: columnText(c) }),
    pair: (m, f) => {
      const at = { object: 'column', table: m.table, name: m.name } as const;
      if (m.type !== f.type) out.push({ ...at, change: 'type', migrated: m.type, fresh: f.type });
      if (m.notNull !== f.notNull) out.push({ ...at, change: 'nullability', migrated: nullability(m.notNull), fresh: nullability(f.notNull) });
      if (m.default !== f.default) out.push({ ...at, change: 'default', migrated: m.default ?? 'none', fresh: f.default ?? 'none' });
    },
  });

  // Indexes, checks and foreign keys are matched by what they are; their names are compared after.
  const renamed = (object: DriftObject) => (m: { table: string; name: string }, f: { name: string }) => {
    if (m.name !== f.name) out.push({ object, table: m.table, name: m.name, change: 'name', migrated: m.name, fresh: f.name });
  };
  const indexText = (i: IndexFact) => `${i.unique ? 'unique ' : ''}${i.definition}${i.constraint ? `, ${i.constraint} constraint` : ''}`;
  matchObjects(shared(migrated.indexes), shared(fresh.indexes), (i) => `${i.table} ${i.unique} ${i.definition}`, {
    only: (i, side) => out.push({ object: 'index', table: i.table, name: i.name, change: `only in ${side}`, [side]: indexText(i) }),
    pair: (m, f) => {
      renamed('index')(m, f);
      if (m.constraint !== f.constraint) out.push({ object: 'index', table: m.table, name: m.name, change: 'definition', migrated: indexText(m), fresh: indexText(f) });
    },
  });
  matchObjects(shared(migrated.checks), shared(fresh.checks), (c) => `${c.table} ${c.definition}`, {
    only: (c, side) => out.push({ object: 'check', table: c.table, name: c.name, change: `only in ${side}`, [side]: c.definition }),
    pair: renamed('check'),
  });
  const fkText = (k: SchemaFacts['foreignKeys'][number]) =>
    `(${k.columns.join(', ')}) references ${k.references.table} (${k.references.columns.join(', ')})` +
    `${k.onUpdate !== 'a' ? ` on update ${k.onUpdate}` : ''}${k.onDelete !== 'a' ? ` on delete ${k.onDelete}` : ''}${k.deferrable ? ' deferrable' : ''}`;
  matchObjects(shared(migrated.foreignKeys), shared(fresh.foreignKeys), (k) => `${k.table} ${fkText(k)}`, {
    only: (k, side) => out.push({ object: 'foreign key', table: k.table, name: k.name, change: `only in ${side}`, [side]: fkText(k) }),
    pair: renamed('foreign key'),
  });

  // Sequences by name: the application asks for <table>_pk_seq.
  const seqText = (s: SequenceFact) =>
    `${s.type} start ${s.start} increment ${s.increment} min ${s.min} max ${s.max}${s.cycle ? ' cycle' : ''}${s.ownedBy ? ` owned by ${s.ownedBy}` : ''}`;
  matchObjects(migrated.sequences, fresh.sequences, (s) => s.name, {
    only: (s, side) => out.push({ object: 'sequence', name: s.name, change: `only in ${side}`, [side]: seqText(s) }),
    pair: (m, f) => {
      if (seqText(m) !== seqText(f)) out.push({ object: 'sequence', name: m.name, change: 'definition', migrated: seqText(m), fresh: seqText(f) });
    },
  });
  return out;
}

/**
 * Pairs objects with equal keys, same-named ones first (so that two identical indexes on one side,
 * as a restore over a pre-created schema leaves, show as one pair and one extra).
 */
function matchObjects<T extends { name: string }>(
  migrated: T[],
  fresh: T[],
  key: (t: T) => string,
  on: { only: (t: T, side: 'migrated' | 'fresh') => void; pair: (m: T, f: T) => void },
): void {
  const byName = (a: T, b: T) => a.name.localeCompare(b.name);
  const freshByKey = new Map<string, T[]>();
  for (const f of [...fresh].sort(byName)) freshByKey.set(key(f), [...(freshByKey.get(key(f)) ?? []), f]);
  const unpaired: T[] = [];
  for (const m of [...migrated].sort(byName)) {
    const candidates = freshByKey.get(key(m)) ?? [];
    const at = candidates.findIndex((f) => f.name === m.name);
    if (at >= 0) on.pair(m, candidates.splice(at, 1)[0]!);
    else unpaired.push(m);
  }
  for (const m of unpaired) {
    const f = freshByKey.get(key(m))?.shift();
    if (f) on.pair(m, f);
    else on.only(m, 'migrated');
  }
  for (const rest of freshByKey.values()) for (const f of rest) on.only(f, 'fresh');
}
