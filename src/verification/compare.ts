// What differs between two inventories of the migrated database. Pure functions over data, importing
// nothing that loads pg: the workflow runs them too, and its bundle may not load pg.
import { figuresIn, GUIDE_FIGURES, type GuideFigure } from '../postgres/guide-columns.js';
import type { Inventory, PartialInventory, RoleSetting, SequenceFacts, TableReadings } from '../postgres/inventory.js';

/** An inventory with the archive versions its schema carries (what the inventory activity returns). */
export interface Inspected {
  inventory: Inventory;
  appliedVersions: string[];
}

/** An inventory but for the guide's figures: what the comparisons of the rest read. */
type Facts = Omit<Inventory, 'guide'>;

/**
 * A restore (or a copy) against what it was made from: everything equal. Empty when they match.
 * The tables `actual` left to verifyUntouched (and the guide's figures in them) are compared there.
 */
export function compareInventories(expected: Inventory, actual: Inventory | PartialInventory): string[] {
  const left = 'left' in actual ? actual.left : [];
  const names = new Set([...Object.keys(expected.tables), ...Object.keys(actual.tables)].filter((n) => !left.includes(n)));
  const leftFigures = figuresIn(left);
  return [
    ...tableProblems(expected, actual, [...names]),
    ...GUIDE_FIGURES.filter((f) => !leftFigures.includes(f)).flatMap((f) => figureProblem(expected, actual, f)),
    ...encodingProblems(expected, actual),
    ...sequenceProblems(expected, actual, 'equal'),
    ...ownerProblems(expected, actual),
    ...settingProblems(expected, actual),
  ];
}

/** The tables `names` read (verifyUntouched) against the inventory, with the guide's figures in them. */
export function compareTables(expected: Inventory, actual: TableReadings, names: string[]): string[] {
  return [...tableProblems(expected, actual, names), ...figuresIn(names).flatMap((f) => figureProblem(expected, actual, f))];
}

/** Each of `names`, sorted: on both sides, with the same rows and content. */
function tableProblems(expected: Pick<Inventory, 'tables'>, actual: Pick<Inventory, 'tables'>, names: string[]): string[] {
  const problems: string[] = [];
  for (const name of [...names].sort()) {
    const e = expected.tables[name];
    const a = actual.tables[name];
    if (!a) problems.push(`table ${name} is missing${e ? ` (expected ${e.count} rows)` : ''}`);
    else if (!e) problems.push(`table ${name} is not expected (has ${a.count} rows)`);
    else if (e.count !== a.count) problems.push(`table ${name} has ${a.count} rows, expected ${e.count}`);
    else if (e.checksum !== a.checksum) problems.push(`table ${name} has ${a.count} rows as expected but different content`);
  }
  return problems;
}

function figureProblem(expected: Inventory, actual: Pick<PartialInventory, 'guide'>, key: GuideFigure): string[] {
  const e = expected.guide[key];
  const a = actual.guide[key];
  if (!a) return [`${key}: not read`];
  return e.count !== a.count || e.checksum !== a.checksum ? [`${key}: ${a.count} values (checksum ${a.checksum}), expected ${e.count} (checksum ${e.checksum})`] : [];
}

/**
 * After the update scripts, against the inventory taken before them: every original table keeps
 * its rows, the identifiers the updates never touch keep their fingerprints, and the schema carries
 * every target version. The updates may add tables and sequences, never lower a sequence, and
 * leave owners, encoding and settings alone.
 */
export function compareUpdated(before: Inspected, after: Inspected, targetVersions: string[]): string[] {
  const problems: string[] = [];
  for (const [table, facts] of Object.entries(before.inventory.tables)) {
    // No update of the chain drops a table or deletes rows of one that exists at 5.26.
    const now = after.inventory.tables[table];
    if (!now) problems.push(`table ${table} is missing`);
    else if (now.count !== facts.count) problems.push(`table ${table} has ${now.count} rows, expected ${facts.count}`);
  }
  for (const key of GUIDE_FIGURES) {
    const b = before.inventory.guide[key];
    const a = after.inventory.guide[key];
    if (a.count !== b.count || a.checksum !== b.checksum) problems.push(`${key}: ${a.count} values, expected ${b.count} (checksum ${a.checksum === b.checksum ? 'equal' : 'differs'})`);
  }
  problems.push(
    ...encodingProblems(before.inventory, after.inventory),
    ...sequenceProblems(before.inventory, after.inventory, 'not lower'),
    ...ownerProblems(before.inventory, after.inventory),
    ...settingProblems(before.inventory, after.inventory),
  );
  const missing = targetVersions.filter((v) => !after.appliedVersions.includes(v));
  if (missing.length > 0) problems.push(`archive versions not applied: ${missing.join(', ')}`);
  return problems;
}

function encodingProblems(expected: Facts, actual: Facts): string[] {
  if (!expected.database || !actual.database || expected.database.encoding === actual.database.encoding) return [];
  return [`the database's encoding is ${actual.database.encoding}, expected ${expected.database.encoding}`];
}

/** The value nextval() gives next. */
export function nextValue(s: SequenceFacts): bigint {
  return s.isCalled ? BigInt(s.lastValue) + BigInt(s.increment) : BigInt(s.lastValue);
}

/** An ascending sequence must give keys beyond those already in the columns it serves. */
function behind(s: SequenceFacts): boolean {
  return s.maxKey !== null && BigInt(s.increment) > 0n && nextValue(s) <= BigInt(s.maxKey);
}

/**
 * 'equal': every sequence as expected and gives the same value next. 'not lower': the expected
 * ones are there and none gives a lower value next; new ones may appear. In both, none is behind
 * the keys it serves (else the archive's next insert fails on a duplicate key).
 */
function sequenceProblems(expected: Facts, actual: Facts, rule: 'equal' | 'not lower'): string[] {
  if (!expected.sequences || !actual.sequences) return [];
  const problems: string[] = [];
  const names = new Set([...Object.keys(expected.sequences), ...Object.keys(actual.sequences)]);
  for (const name of [...names].sort()) {
    const e = expected.sequences[name];
    const a = actual.sequences[name];
    if (!a) {
      problems.push(`sequence ${name} is missing`);
      continue;
    }
    if (!e) {
      if (rule === 'equal') problems.push(`sequence ${name} is not expected`);
    } else if (rule === 'equal' ? nextValue(a) !== nextValue(e) : nextValue(a) < nextValue(e)) {
      problems.push(`sequence ${name} gives ${nextValue(a)} next, expected ${rule === 'equal' ? '' : 'at least '}${nextValue(e)}`);
    }
    if (behind(a)) {
      const already = e && behind(e) ? ' (so it was in the database compared against)' : '';
      problems.push(`sequence ${name} gives ${nextValue(a)} next, not beyond the largest key ${a.maxKey} of ${a.serves.join(', ')}${already}`);
    }
  }
  return problems;
}

/** Relations on both sides have the same owner (a missing relation is a problem of its own). */
function ownerProblems(expected: Facts, actual: Facts): string[] {
  if (!expected.owners || !actual.owners) return [];
  const problems: string[] = [];
  for (const [name, owner] of Object.entries(expected.owners).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const now = actual.owners[name];
    if (now !== undefined && now !== owner) problems.push(`${name} is owned by ${now}, expected ${owner}`);
  }
  return problems;
}

/** The statement that makes the setting, as a reader would write it. */
export function describeSetting(s: RoleSetting): string {
  const scope = s.role === null ? (s.inDatabase ? 'ALTER DATABASE' : 'ALTER ROLE ALL') : `ALTER ROLE ${s.role}${s.inDatabase ? ' IN DATABASE' : ''}`;
  return `${scope} SET ${s.name} = ${s.value}`;
}

function settingProblems(expected: Facts, actual: Facts): string[] {
  if (!expected.settings || !actual.settings) return [];
  const key = (s: RoleSetting) => JSON.stringify([s.role, s.inDatabase, s.name]);
  const have = new Map(actual.settings.map((s) => [key(s), s]));
  const want = new Map(expected.settings.map((s) => [key(s), s]));
  const problems: string[] = [];
  for (const [k, e] of want) {
    const a = have.get(k);
    if (!a) problems.push(`setting missing: ${describeSetting(e)}`);
    else if (a.value !== e.value) problems.push(`setting differs: ${describeSetting(a)}, expected ${e.value}`);
  }
  for (const [k, a] of have) if (!want.has(k)) problems.push(`setting not expected: ${describeSetting(a)}`);
  return problems;
}
