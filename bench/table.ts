// The benchmark's figures and their Markdown table.
import { fineDuration, mib, seconds } from '../src/format.js';
import type { ClassTotal } from '../src/report/statements.js';
import type { Phase } from '../test/support/fast-sequence.js';

export interface Result {
  mode: string;
  instances: number;
  phases: Phase[];
  /** Workflow steps before the archive stops: not in `phases` nor in `totalMs`, the downtime. */
  up?: Phase[];
  totalMs: number;
  /** Peak RSS of the process that did the work (the worker); absent for the bash baseline. */
  peakRss?: number;
  dumpBytes: number[];
  /** Against the guide mode's result: "equal" or what differs. */
  equivalence?: string;
  /** The migrated database's size (pg_database_size), when compared with guide mode's. */
  databaseBytes?: number;
  /** psql's time for the update scripts' statements, by class (absent for the bash baseline). */
  statementClasses?: ClassTotal[];
  /** What the report says of restoreDurability: its longest parts (fast mode only). */
  durability?: string;
}

/** Columns the phases fall into, by name. */
const GROUPS: [string, RegExp][] = [
  ['dump', /^dump/],
  ['restore', /^restore(Work|New)$|^stream/],
  ['updates', /^(applyUpdates|update-)/],
  ['checks', /^(inventory|verify)/],
];
const groupOf = (name: string) => GROUPS.find(([, re]) => re.test(name))?.[0] ?? 'other';

export function renderTable(results: Result[]): string {
  const head = ['instances', 'mode', ...GROUPS.map(([g]) => `${g} s`), 'other s', 'total s', 'worker peak RSS', 'dumps', 'equal to guide', 'database size (× guide)', '× baseline', '× baseline without checks'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of results) {
    const base = results.find((b) => b.instances === r.instances && b.mode === 'baseline');
    const sum = (g: string) => r.phases.filter((p) => groupOf(p.name) === g).reduce((t, p) => t + p.ms, 0);
    // The bash baseline checks nothing: this ratio leaves the inventories and verifications out.
    const unchecked = (x: Result) => x.totalMs - x.phases.filter((p) => groupOf(p.name) === 'checks').reduce((t, p) => t + p.ms, 0);
    lines.push(
      `| ${[
        r.instances,
        r.mode,
        ...GROUPS.map(([g]) => seconds(sum(g))),
        seconds(sum('other')),
        seconds(r.totalMs),
        r.peakRss === undefined ? '–' : mib(r.peakRss),
        r.dumpBytes.map(mib).join(' + ') || '–',
        r.equivalence ?? '–',
        sizeAgainstGuide(r, results),
        base ? (r.totalMs / base.totalMs).toFixed(2) : '–',
        base ? (unchecked(r) / unchecked(base)).toFixed(2) : '–',
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

function sizeAgainstGuide(r: Result, results: Result[]): string {
  const guide = results.find((g) => g.instances === r.instances && g.mode === 'guide');
  if (r.databaseBytes === undefined) return '–';
  return guide?.databaseBytes ? `${mib(r.databaseBytes)} (${(r.databaseBytes / guide.databaseBytes).toFixed(2)})` : mib(r.databaseBytes);
}

export function renderPhases(results: Result[]): string {
  const list = (phases: Phase[]) => phases.map((p) => `${p.name} ${seconds(p.ms)}`).join(', ');
  return results
    .map((r) => `- ${r.instances} ${r.mode}: ${r.up?.length ? `(before the stop: ${list(r.up)}) ` : ''}${list(r.phases)}${r.durability ? ` (restoreDurability: ${r.durability})` : ''}`)
    .join('\n');
}

/**
 * The figures the targets are about, one line per mode: time against the baseline at each size,
 * and how time grows from each size to the next against how the size grows.
 */
export function renderRatios(results: Result[]): string {
  const sizes = [...new Set(results.map((r) => r.instances))].sort((a, b) => a - b);
  const modes = [...new Set(results.map((r) => r.mode))];
  const lines: string[] = [];
  for (const mode of modes) {
    const atSize = sizes.map((n) => {
      const r = results.find((x) => x.mode === mode && x.instances === n);
      const base = results.find((x) => x.mode === 'baseline' && x.instances === n);
      return r && base ? `${(r.totalMs / base.totalMs).toFixed(2)}× baseline at ${n}` : undefined;
    });
    // From each size to the next: linear growth shows as time × equal to size ×.
    const runs = sizes.flatMap((n) => results.filter((x) => x.mode === mode && x.instances === n));
    const steps = runs.slice(1).map((r, i) => `time ×${(r.totalMs / runs[i]!.totalMs).toFixed(1)} for size ×${(r.instances / runs[i]!.instances).toFixed(0)}`);
    const growth = steps.length > 0 ? `; ${steps.join(', then ')}` : '';
    const rss = results.filter((x) => x.mode === mode && x.peakRss !== undefined).map((x) => mib(x.peakRss!));
    lines.push(`- ${mode}: ${atSize.filter(Boolean).join(', ') || 'no baseline'}${growth}${rss.length ? `; worker peak RSS ${rss.join(' / ')}` : ''}`);
  }
  return lines.join('\n');
}

/**
 * Where each run's update time went: one line per mode and size, statement classes costliest
 * first, then their sum against the updates' phases (the rest is what a script costs besides its
 * statements: the activity's dispatch, its probes, psql's start, the commit).
 */
export function renderStatementClasses(results: Result[]): string {
  return results
    .filter((r) => r.statementClasses?.length)
    .map((r) => {
      const classes = r.statementClasses!.map((c) => `${c.class} ${fineDuration(c.ms)} (${c.statements})`).join(', ');
      const statements = r.statementClasses!.reduce((t, c) => t + c.ms, 0);
      const updates = r.phases.filter((p) => groupOf(p.name) === 'updates').reduce((t, p) => t + p.ms, 0);
      return `- ${r.instances} ${r.mode}: ${classes}; statements ${fineDuration(statements)} of updates ${fineDuration(updates)}`;
    })
    .join('\n');
}

/** A rehearsal's prediction of one mode's downtime at one size. */
export interface Prediction {
  instances: number;
  mode: string;
  predictedMs: number;
  /** How long it held the live database's snapshot open. */
  snapshotMs: number;
}

/** Each prediction against the measured run of its mode and size (the median, when repeated). */
export function renderPredictions(predictions: Prediction[], results: Result[]): string {
  const rows = predictions.map((p) => {
    const run = results.find((r) => r.mode === p.mode && r.instances === p.instances);
    const ratio = run ? `${(run.totalMs / p.predictedMs).toFixed(2)}×` : 'not run';
    return `| ${p.instances.toLocaleString('en')} | ${p.mode} | ${seconds(p.predictedMs)} | ${run ? seconds(run.totalMs) : '—'} | ${ratio} | ${seconds(p.snapshotMs)} |`;
  });
  return ['| instances | mode | predicted | measured | measured / predicted | snapshot held |', '|---:|---|---:|---:|---:|---:|', ...rows].join('\n');
}
