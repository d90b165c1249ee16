// Where the update scripts' time went: per statement class over all scripts, and each script's
// slowest statements. Shared by the report and the benchmark's tables.
import { cell, fineDuration } from '../format.js';
import { STATEMENT_CLASSES, type StatementClass } from '../postgres/statement-class.js';
import type { MigrationReport } from './types.js';

type Scripts = Pick<MigrationReport['scripts'][number], 'version' | 'statements'>[];

export interface ClassTotal {
  class: StatementClass;
  statements: number;
  ms: number;
}

/** Statements a script's line lists, slowest first. */
const SLOWEST = 3;

/** The classes that took time, costliest first (ties in STATEMENT_CLASSES order). */
export function classTotals(scripts: Scripts): ClassTotal[] {
  const all = scripts.flatMap((s) => s.statements ?? []);
  return STATEMENT_CLASSES.map((c) => {
    const of = all.filter((s) => s.class === c);
    return { class: c, statements: of.reduce((n, s) => n + (s.count ?? 1), 0), ms: of.reduce((t, s) => t + s.ms, 0) };
  })
    .filter((t) => t.statements > 0)
    .sort((a, b) => b.ms - a.ms);
}

export function renderStatements(scripts: Scripts): string[] {
  const timed = scripts.filter((s) => s.statements?.length);
  if (timed.length === 0) return [];
  const totals = classTotals(timed);
  const sum = totals.reduce((t, c) => t + c.ms, 0);
  const out = [
    "## Where the scripts' time went",
    '',
    "psql's time for each statement of the scripts this run applied, by class:",
    '',
    '| class | statements | took | share |',
    '|---|---:|---:|---:|',
    ...totals.map((t) => `| ${t.class} | ${t.statements} | ${fineDuration(t.ms)} | ${sum > 0 ? Math.round((100 * t.ms) / sum) : 0}% |`),
    '',
    `The slowest statements of each script (at most ${SLOWEST}):`,
    '',
    '| script | statement | class | took |',
    '|---|---|---|---:|',
  ];
  for (const s of timed) {
    const slowest = [...s.statements!].sort((a, b) => b.ms - a.ms).slice(0, SLOWEST);
    for (const st of slowest) out.push(`| ${s.version} | \`${cell(st.sql)}\` | ${st.class} | ${fineDuration(st.ms)} |`);
  }
  out.push('');
  return out;
}
