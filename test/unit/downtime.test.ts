// Downtime estimates: the fit of the benchmark's runs, the project's figures file, the estimate
// for a size, and the report's comparison of the estimate with the time a run took.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { pino } from 'pino';
import { createReportActivities } from '../../src/activities/report.js';
import { layoutFor } from '../../src/config/layout.js';
import { parseConfig } from '../../src/config/load.js';
import { realDeps } from '../../src/deps.js';
import { benchmarkFigures, estimateMs, fitLine, throughputOf, WORKFLOW_VARIANTS, type MeasuredRun, type Throughput } from '../../src/plan/downtime.js';
import { compareDowntime } from '../../src/report/downtime.js';
import { renderMarkdown } from '../../src/report/render.js';
import type { MigrationReport, StepRecord } from '../../src/report/types.js';

const GIB = 2 ** 30;
const run = (gib: number, seconds: number, instances = Math.round(gib * 1e6)): MeasuredRun => ({ instances, dataDirBytes: Math.round(gib * GIB), seconds });
const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual}, expected ${expected}`);

test('runs on a line give back that line: fixed seconds and seconds per GiB', () => {
  const line = fitLine([run(0.5, 3 + 40 * 0.5), run(1, 3 + 40), run(2, 3 + 80)]);
  close(line.fixedSeconds, 3, 'fixed');
  close(line.secondsPerGiB, 40, 'per GiB');
});

test('scattered runs are fitted by least squares', () => {
  // x 1, 2, 3 GiB; y 2, 3, 5 s: slope Σ(x-2)(y-10/3) / Σ(x-2)² = 3/2, intercept 10/3 - 3 = 1/3.
  const line = fitLine([run(1, 2), run(2, 3), run(3, 5)]);
  close(line.secondsPerGiB, 1.5, 'per GiB');
  close(line.fixedSeconds, 1 / 3, 'fixed');
});

test('an intercept below zero is dropped for a line through the origin', () => {
  // Least squares: 2 s/GiB and -1 s; through the origin Σxy/Σx² = (1·1 + 2·3) / (1 + 4).
  const line = fitLine([run(1, 1), run(2, 3)]);
  assert.equal(line.fixedSeconds, 0);
  close(line.secondsPerGiB, 7 / 5, 'per GiB');
});

test('runs that fall with size, or runs at one size only, give no line', () => {
  assert.throws(() => fitLine([run(1, 20), run(2, 10)]), /the times fall as the size grows/);
  assert.throws(() => fitLine([run(1, 20), run(1, 22)]), /two sizes or more/);
});

test('the estimate is the fixed part plus the per-GiB part for the size', () => {
  assert.equal(estimateMs({ fixedSeconds: 4, secondsPerGiB: 60 }, 2 * GIB), 124_000);
  assert.equal(estimateMs({ fixedSeconds: 4, secondsPerGiB: 60 }, GIB / 4), 19_000);
});

test('the figures file needs every variant the benchmark runs', () => {
  const made = { command: 'npm run bench -- --sizes 1,2', date: '2026-01-02', machine: 'test machine' };
  const runs = Object.fromEntries(WORKFLOW_VARIANTS.map((v, i) => [v.name, [run(0.1, 10 + i), run(0.3, 20 + i)]])) as Parameters<typeof throughputOf>[1];
  const figures = throughputOf(made, runs);
  close(figures.variants['fast-counts'].secondsPerGiB, 10 / 0.2, 'per GiB from the runs');
  const { fast: _, ...withoutFast } = runs;
  assert.throws(() => throughputOf(made, withoutFast as typeof runs));
});

test("the project's figures are the fit of the runs they record, made by a named benchmark command", () => {
  const figures = benchmarkFigures();
  assert.match(figures.command, /^npm run bench -- (--vendor \S+ )?--sizes \S+ --modes \S*guide\S*/);
  assert.match(figures.date, /^\d{4}-\d{2}-\d{2}$/);
  for (const { name } of WORKFLOW_VARIANTS) {
    const { runs, ...line } = figures.variants[name];
    assert.deepEqual(line, fitLine(runs), `${name}: edited by hand?`);
    assert.ok(line.secondsPerGiB > 0, `${name} grows with the size`);
  }
});

const FIGURES: Throughput = {
  about: 'test',
  command: 'npm run bench -- --sizes 1,2 --modes guide,guide-counts,fast,fast-counts',
  date: '2026-01-02',
  machine: '2 cores (test), 8.0 GiB RAM',
  variants: Object.fromEntries(WORKFLOW_VARIANTS.map((v) => [v.name, { fixedSeconds: 5, secondsPerGiB: v.name === 'guide-counts' ? 90 : 200, runs: [] }])) as unknown as Throughput['variants'],
};

const step = (name: StepRecord['step'], ms: number): StepRecord => ({ step: name, detail: '', startedAt: '', ms, status: 'ok' });

function completedReport(steps: StepRecord[], spanMs: number): MigrationReport {
  const startedAt = '2026-01-02T10:00:00.000Z';
  return {
    node: 'n', workflowId: 'w', runId: 'r', runTag: 't', startedAt, endedAt: new Date(Date.parse(startedAt) + spanMs).toISOString(), outcome: 'completed',
    versions: { from: '5.26', to: '5.32', alreadyPresent: [], applied: [] }, steps, dumps: [], scripts: [], ldap: [],
  };
}

test('the report compares the estimate with the run, both without the checks before the stop, the approval wait and the cluster steps', () => {
  const steps = [step('preflight', 1_000), step('freshSchema', 3_000), step('prepareBulkLoad', 2_000), step('stopApplications', 4_000), step('restoreWork', 60_000), step('awaitApproval', 600_000), step('redeploy', 30_000), step('ldapUpdate', 6_000)];
  const d = compareDowntime(completedReport(steps, 1_000_000), { mode: 'guide', verification: 'counts' }, GIB, FIGURES);
  assert.deepEqual(d, { mode: 'guide', verification: 'counts', dataDirBytes: GIB, estimatedMs: 95_000, tookMs: 354_000, leftOutMs: 646_000, figures: `\`${FIGURES.command}\`, 2026-01-02, 2 cores (test), 8.0 GiB RAM` });

  const md = renderMarkdown({ ...completedReport(steps, 1_000_000), downtime: d });
  const section = md.slice(md.indexOf('## Downtime'));
  assert.ok(md.indexOf('## Steps') < md.indexOf('## Downtime'));
  assert.match(section, /^- Estimated 1 min 35 s, took 5 min 54 s \(3\.73× the estimate\): mode guide, verification counts, a database directory of 1024\.0 MiB$/m);
  assert.match(section, /^- Both without the checks before the archive stops, the wait for approval and the cluster's steps \(10 min 46 s here\)$/m);
  assert.match(section, /^- The estimate is the benchmark's \(`npm run bench -- --sizes 1,2 --modes guide,guide-counts,fast,fast-counts`, 2026-01-02, 2 cores \(test\), 8\.0 GiB RAM\)/m);
  assert.doesNotMatch(renderMarkdown(completedReport(steps, 1_000_000)), /## Downtime/, 'no section without a comparison');
});

async function reportNode() {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-downtime-'));
  const config = parseConfig({
    node: 'downtime',
    paths: { dataDir: path.join(dir, 'postgres-dcm4che'), fastDataDir: dir, backupDir: path.join(dir, 'backup'), scriptsDir: dir },
    database: { password: { env: 'UNUSED_PASSWORD' } },
    runtime: { kind: 'local', old: { binDir: '/usr/bin' }, new: { binDir: '/usr/bin' }, clientBinDir: '/usr/bin', stateDir: path.join(dir, 'state') },
    mode: 'fast',
  });
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _enc, done) => (warnings.push(...chunk.toString().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg)), done()) }));
  const ctx = { config, runTag: 'test' };
  const { writeReport } = createReportActivities(realDeps(log));
  const write = async (report: MigrationReport) => {
    const env = new MockActivityEnvironment({ activityType: 'writeReport', workflowExecution: { workflowId: 'w', runId: report.runId } }, { logger: new DefaultLogger('ERROR') });
    await env.run(writeReport, ctx, report);
    return fs.readFile(layoutFor(config, ctx.runTag).report.markdown, 'utf8');
  };
  return { dir, ctx, layout: layoutFor(config, ctx.runTag), warnings, write };
}

test('writeReport measures the original where the swap moved it and compares with the project figures', async () => {
  const { dir, layout, warnings, write } = await reportNode();
  try {
    // The original after the swap: 300 MiB in two files (sparse: sizes, not blocks, are counted).
    await fs.mkdir(path.join(layout.retired, 'base'), { recursive: true });
    for (const [file, mibs] of [['1', 100], ['2', 200]] as const) {
      await fs.writeFile(path.join(layout.retired, 'base', file), '');
      await fs.truncate(path.join(layout.retired, 'base', file), mibs * 2 ** 20);
    }
    const md = await write(completedReport([step('restoreNew', 20_000), step('awaitApproval', 5_000)], 65_000));
    const expected = estimateMs(benchmarkFigures().variants.fast, 300 * 2 ** 20);
    const shown = /^- Estimated (.+), took 1 min 0 s \((\d+\.\d\d)× the estimate\): mode fast, verification checksums, a database directory of 300\.0 MiB$/m.exec(md);
    assert.ok(shown, md);
    assert.equal(shown[2], (60_000 / expected).toFixed(2));
    assert.match(md, new RegExp(`The estimate is the benchmark's \\(\`${benchmarkFigures().command}\``));
    assert.deepEqual(warnings, []);

    // Rolled back: nothing to compare. Completed, but the original is gone: the report is written without it.
    assert.doesNotMatch(await write({ ...completedReport([], 65_000), outcome: 'rolled-back' }), /## Downtime/);
    await fs.rm(layout.retired, { recursive: true });
    assert.doesNotMatch(await write(completedReport([], 65_000)), /## Downtime/);
    assert.deepEqual(warnings, ['downtime estimate left out of the report']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
