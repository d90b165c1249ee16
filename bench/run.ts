// `npm run bench`: the guide's commands (bash baseline), the workflow in guide mode and the fast
// path variants, side by side on the same machine and servers, at each size; results in BENCHMARKS.md.
// The workflow modes' times also become the downtime estimates of `plan` and the report
// (src/plan/throughput.json, rewritten whenever all four ran at two sizes or more).
// usage: tsx bench/run.ts [--sizes 100000,1000000] [--modes baseline,guide,guide-counts,fast,fast-counts,rehearsal,direct,stream,bulk] [--vendor DIR] [--root DIR] [--out FILE] [--throughput FILE]
// --vendor: the vendor's 5.26 and 5.32 schemas and update scripts instead of the miniature (src/demo/vendor.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, totalmem } from 'node:os';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { serverSpec, type Env } from '../src/activities/context.js';
import { layoutFor } from '../src/config/layout.js';
import type { MigrationConfig } from '../src/config/schema.js';
import { directoryBytes } from '../src/files.js';
import { duration, gib } from '../src/format.js';
import { throughputOf, WORKFLOW_VARIANTS, type MeasuredRun, type VariantName } from '../src/plan/downtime.js';
import { selectUpdateScripts } from '../src/plan/scripts.js';
import type { DemoNode } from '../src/demo/node.js';
import { vendorSql } from '../src/demo/vendor.js';
import type { MigrationReport } from '../src/report/types.js';
import { beforeTheStop } from '../src/report/downtime.js';
import { classTotals } from '../src/report/statements.js';
import type { ScriptResult } from '../src/activities/updates.js';
import { createLocalRuntime } from '../src/runtime/local.js';
import { rehearsalInput } from '../src/config/input.js';
import { rehearsalSchema } from '../src/config/rehearsal.js';
import type { RehearsalReport } from '../src/report/rehearsal.js';
import { approveSwapUpdate, REHEARSAL_WORKFLOW_TYPE, rehearsalIdFor, taskQueueFor } from '../src/shared.js';
import type { Phase, Variant } from '../test/support/fast-sequence.js';
import { deployedWorkerCommand } from '../test/support/deployed-worker.js';
import { startHarness, startMigration, waitForPhase, type Harness } from '../test/support/harness.js';
import { equivalence, snapshot, type Snapshot } from '../test/support/equivalence.js';
import { copyNode, MINIATURE, SEED, templateNode } from './nodes.js';
import { peakRssOf, startChild } from './proc.js';
import { renderPhases, renderPredictions, renderRatios, renderStatementClasses, renderTable, type Prediction, type Result } from './table.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUN_TAG = 'bench';
const NOTES_MARKER = '<!-- kept by npm run bench: written by hand below -->';
const HOUR = 3_600_000;

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    modes: { type: 'string', default: 'baseline,guide,guide-counts,fast,fast-counts' },
    root: { type: 'string', default: path.join(here, '..', '.state', 'bench') },
    out: { type: 'string', default: path.join(here, '..', 'BENCHMARKS.md') },
    throughput: { type: 'string', default: path.join(here, '..', 'src', 'plan', 'throughput.json') },
    /** Runs per mode and size; the run with the median total is reported (this machine is noisy). */
    repeat: { type: 'string', default: '1' },
    /** A directory with old-init/, new-init/ and psql/ of the vendor's SQL (see BENCHMARKS.md). */
    vendor: { type: 'string' },
    /** The rehearsal's niceness (its default is 10). */
    'rehearsal-nice': { type: 'string', default: '10' },
  },
});
const rehearsalNice = Number(args['rehearsal-nice']);
const sizes = args.sizes.split(',').map(Number);
const modes = args.modes.split(',');
const root = path.resolve(args.root);
const repeat = Math.max(1, Number(args.repeat));
const VARIANTS: Variant[] = ['direct', 'stream', 'bulk'];
const vendor = args.vendor === undefined ? undefined : path.resolve(args.vendor);
const sql = vendor ? await vendorSql(vendor) : MINIATURE;

function envOf(node: DemoNode): Env {
  const r = node.config.runtime;
  if (r.kind !== 'local') throw new Error('the benchmark runs on the local runtime');
  const credentials = { name: node.config.database.name, user: node.config.database.user, password: node.password };
  const runtime = createLocalRuntime({ images: { old: r.old, new: r.new }, clientBinDir: r.clientBinDir, stateDir: r.stateDir, serverUser: r.serverUser, credentials });
  return { config: node.config, layout: layoutFor(node.config, RUN_TAG), credentials, runtime };
}

async function timed(phases: Phase[], name: string, fn: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  await fn();
  phases.push({ name, ms: Date.now() - started });
}

/** (a) the guide's commands in bash, on servers started by the local runtime. */
async function baseline(node: DemoNode, instances: number): Promise<[Result, string]> {
  const env = envOf(node);
  const { layout, config, credentials } = env;
  const phases: Phase[] = [];
  const sockets: string[] = [];
  for (const role of ['original', 'work', 'new'] as const) {
    await timed(phases, `start ${role}`, async () => sockets.push((await env.runtime.start(serverSpec(env, role), 120_000)).host));
  }
  const scripts = await selectUpdateScripts(config.paths.scriptsDir, config.versions.from, config.versions.to);
  await fs.mkdir(layout.runDir, { recursive: true, mode: 0o700 });
  if (config.runtime.kind !== 'local') throw new Error('local runtime only');
  const child = spawn(path.join(here, 'guide-baseline.sh'), [config.runtime.clientBinDir, layout.runDir, ...sockets, ...scripts.map((s) => s.file)], {
    env: { ...process.env, PGPORT: '5432', PGUSER: credentials.user, PGDATABASE: credentials.name, PGPASSWORD: credentials.password },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`guide-baseline.sh exited with ${code}`);
  for (const m of out.matchAll(/^phase (\S+) (\d+)$/gm)) phases.push({ name: m[1]!, ms: Number(m[2]) });
  for (const role of ['original', 'work', 'new'] as const) await timed(phases, `stop ${role}`, () => env.runtime.stop(layout.serverName[role]));
  const dumpBytes = await Promise.all(Object.values(layout.dumps).map(async (f) => (await fs.stat(f)).size));
  return [{ mode: 'baseline', instances, phases, totalMs: phases.reduce((t, p) => t + p.ms, 0), dumpBytes }, layout.new];
}

/**
 * (b) the workflow, run by the built worker started as the systemd unit starts it (node options
 * and environment read from the unit); the wait for approval is not counted.
 */
async function workflow(h: Harness, node: DemoNode, instances: number, label: string, overrides: Partial<MigrationConfig>): Promise<[Result, string]> {
  return withBuiltWorker(h, node, async (peakRss) => {
    const started = Date.now();
    const handle = await startMigration(h, { ...node, config: { ...node.config, ...overrides } });
    await waitForPhase(handle, 'awaiting-approval', 2 * HOUR);
    await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'bench' }] });
    const report = (await handle.result()) as MigrationReport;
    const wall = Date.now() - started;
    const waited = report.steps.find((s) => s.step === 'awaitApproval')?.ms ?? 0;
    // The archive still serves during these: they are shown, and left out of the downtime.
    const early = beforeTheStop(report.steps);
    const up = early.filter((s) => s.status === 'ok').map((s) => ({ name: s.step, ms: s.ms }));
    const phases = report.steps.filter((s) => s.status === 'ok' && s.step !== 'awaitApproval' && !early.includes(s)).map((s) => ({ name: s.step, ms: s.ms }));
    const durability = report.steps.find((s) => s.step === 'restoreDurability' && s.status === 'ok')?.detail;
    const upMs = early.reduce((t, s) => t + s.ms, 0);
    const result: Result = { mode: label, instances, phases, up, totalMs: wall - waited - upMs, peakRss: peakRss(), dumpBytes: report.dumps.map((d) => d.bytes), statementClasses: classTotals(report.scripts), ...(durability ? { durability } : {}) };
    return [result, layoutFor(node.config, report.runTag).original];
  });
}

/** Runs `fn` while the built worker, started as the systemd unit starts it, serves the node; `peakRss` reads its high-water mark. */
async function withBuiltWorker<T>(h: Harness, node: DemoNode, fn: (peakRss: () => number) => Promise<T>): Promise<T> {
  const { nodeOptions, env } = deployedWorkerCommand();
  const worker = spawn(process.execPath, [...nodeOptions, path.join(here, '..', 'dist', 'workers', 'main.js'), '--node', node.config.node], {
    env: { ...process.env, ...env, TEMPORAL_ADDRESS: h.server.address, TEMPORAL_NAMESPACE: 'default' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(worker, 'close');
  // The worker logs JSON lines on stderr; only its warnings and errors are passed on.
  const lines = createInterface({ input: worker.stderr! });
  lines.on('line', (line) => (JSON.parse(line) as { level: number }).level >= 40 && process.stderr.write(`${line}\n`));
  const ready = new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => line.includes('worker started') && resolve());
    void exited.then(() => reject(new Error('the worker exited before it started')));
  });
  await ready;
  try {
    // The high-water mark of the worker's resident set, read before it stops.
    return await fn(() => peakRssOf(worker.pid!));
  } finally {
    worker.kill('SIGTERM');
    await exited;
  }
}

/**
 * (d) a rehearsal of the guide and fast modes on a copy whose server runs as the PACS's would
 * (writable, on the live directory): its predictions, compared below with the same size's runs.
 */
async function rehearse(h: Harness, node: DemoNode, instances: number): Promise<Prediction[]> {
  const { runtime, credentials } = envOf(node);
  const name = 'postgres-dcm4che';
  const endpoint = await runtime.start({ name, image: 'old', dataDir: node.config.paths.dataDir, readOnly: false, database: credentials }, 120_000);
  try {
    return await withBuiltWorker(h, node, async () => {
      const rehearsal = rehearsalSchema.parse({ live: { host: endpoint.host, port: endpoint.port }, modes: ['guide', 'fast'], nice: rehearsalNice });
      const handle = await h.client.workflow.start(REHEARSAL_WORKFLOW_TYPE, { taskQueue: taskQueueFor(node.config.node), workflowId: rehearsalIdFor(node.config.node), args: [rehearsalInput(node.config, rehearsal)] });
      const report = (await handle.result()) as RehearsalReport;
      if (report.outcome !== 'passed') throw new Error(`the rehearsal at ${instances} instances: ${report.outcome}: ${JSON.stringify(report.problems)}`);
      return report.runs.map((r) => ({ instances, mode: r.mode, predictedMs: r.predictedMs!, snapshotMs: report.live!.snapshot!.ms }));
    });
  } finally {
    await runtime.stop(name);
    await runtime.remove(name);
  }
}

/**
 * (c) a building block of the fast path on its own (no Temporal), run as the workflow orders its
 * activities, in a child process under tsx: what each of direct, stream and bulk adds.
 */
async function fast(variant: Variant, node: DemoNode, instances: number): Promise<[Result, string]> {
  const child = startChild(path.join(here, 'fast-child.ts'), [node.configFile, RUN_TAG, variant]);
  const out = JSON.parse(await child.nextLine()) as { phases: Phase[]; dumpBytes: number; scripts: ScriptResult[] };
  if ((await child.exited) !== 0) throw new Error(`fast-child ${variant} failed`);
  const result: Result = { mode: `blocks-${variant}`, instances, phases: out.phases, totalMs: out.phases.reduce((t, p) => t + p.ms, 0), dumpBytes: [out.dumpBytes], statementClasses: classTotals(out.scripts) };
  return [result, envOf(node).layout.new];
}

/**
 * Removes what a measured run left besides its migrated directory `dir` (the retired original,
 * the working copy, the dumps), which the comparison with guide mode reads later: at 3M instances every kept run
 * would otherwise hold three copies of the database and fill the disk before the size is done.
 */
async function keepOnly(node: DemoNode, dir: string): Promise<void> {
  const parent = path.dirname(dir);
  for (const entry of await fs.readdir(parent)) {
    if (entry !== path.basename(dir)) await fs.rm(path.join(parent, entry), { recursive: true, force: true });
  }
  const backups = node.config.paths.backupDir;
  for (const run of await fs.readdir(backups).catch(() => [])) {
    const files = await fs.readdir(path.join(backups, run)).catch(() => []);
    await Promise.all(files.filter((f) => f.endsWith('.sql')).map((f) => fs.rm(path.join(backups, run, f), { force: true })));
  }
}

/** Workflow runs by mode name: the configuration each one sets. */
const WORKFLOW_MODES: Record<string, Partial<MigrationConfig>> = Object.fromEntries(WORKFLOW_VARIANTS.map((v) => [v.name, { mode: v.mode, verification: v.verification }]));

const results: Result[] = [];
const predictions: Prediction[] = [];
/** The size of each template's database directory, as `plan` measures a node's. */
const dataDirBytes = new Map<number, number>();
const h = modes.some((m) => m in WORKFLOW_MODES || m === 'rehearsal') ? await startHarness() : undefined;
try {
  for (const instances of sizes) {
    const template = await templateNode(root, instances, sql);
    dataDirBytes.set(instances, await directoryBytes(template.config.paths.dataDir));
    const outcomes: [Result, DemoNode, string][] = [];
    const measure = async (label: string, fn: (node: DemoNode) => Promise<[Result, string]>) => {
      const runs: [Result, DemoNode, string][] = [];
      for (let i = 0; i < repeat; i++) {
        const node = await copyNode(root, template, `${label}-${instances}-${i}`, instances, sql);
        const [result, dir] = await fn(node);
        await keepOnly(node, dir);
        console.error(`${instances} ${result.mode}: ${duration(result.totalMs)}`);
        runs.push([result, node, dir]);
      }
      runs.sort(([a], [b]) => a.totalMs - b.totalMs);
      const median = runs[Math.floor((runs.length - 1) / 2)]!;
      for (const [, node] of runs.filter((r) => r !== median)) await fs.rm(node.dir, { recursive: true, force: true });
      outcomes.push(median);
    };
    if (modes.includes('baseline')) await measure('base', (n) => baseline(n, instances));
    if (h && modes.includes('rehearsal')) {
      const node = await copyNode(root, template, `rehearsal-${instances}`, instances, sql);
      predictions.push(...(await rehearse(h, node, instances)));
      await fs.rm(node.dir, { recursive: true, force: true });
    }
    for (const [label, overrides] of Object.entries(WORKFLOW_MODES).filter(([m]) => h && modes.includes(m))) {
      await measure(label, (n) => workflow(h!, n, instances, label, overrides));
    }
    for (const v of VARIANTS.filter((m) => modes.includes(m))) await measure(v, (n) => fast(v, n, instances));

    const reference = outcomes.find(([r]) => r.mode === 'guide');
    const expected: Snapshot | undefined = reference && (await snapshot(reference[1], reference[2], 'snap-guide'));
    for (const [result, node, dir] of outcomes) {
      const snap = result.mode === 'guide' ? expected : expected && (await snapshot(node, dir, `snap-${result.mode}`));
      if (expected && snap) {
        result.equivalence = result.mode === 'guide' ? 'reference' : equivalence(expected, snap);
        // The migrated database's own size (pg_database_size): a faster mode must not leave it larger.
        result.databaseBytes = snap.inventory.databaseBytes;
      }
      results.push(result);
      await fs.rm(node.dir, { recursive: true, force: true });
    }
  }
} finally {
  await h?.close();
}

const command = `npm run bench -- ${vendor ? `--vendor ${vendor} ` : ''}--sizes ${sizes.join(',')} --modes ${modes.join(',')}${repeat > 1 ? ` --repeat ${repeat}` : ''}${modes.includes('rehearsal') && rehearsalNice !== 10 ? ` --rehearsal-nice ${rehearsalNice}` : ''}`;
const date = new Date().toISOString().slice(0, 10);
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim()}), ${gib(totalmem())} RAM`;
const schema = vendor
  ? `the vendor's schemas and update scripts from ${vendor} (5.26 init scripts in old-init/, 5.32 in new-init/, updates in psql/)`
  : `the project's miniature of the schemas and update scripts (src/demo/sql)`;
const markdown = `# Benchmarks

Produced by \`${command}\` on ${date}: ${machine},
PostgreSQL 9.6.24 and 15 from the local runtime, demo nodes seeded with seed ${SEED} into ${schema}.

Times are wall-clock seconds${repeat > 1 ? `, the median of ${repeat} runs per mode and size` : ''}. *baseline*: \`bench/guide-baseline.sh\` (the guide's
pg_dump/psql commands) plus starting and stopping the three servers. The workflow modes run on a real Temporal dev
server with the built worker started as \`deploy/kaapana-migrate-worker.service\` starts it (its node options and
environment), from the end of the steps that run while the archive still serves (preflight, freshSchema, in fast
mode prepareBulkLoad; shown in the phases as "before the stop") to the result, without the wait for approval: *guide* (the default: 9.6 working copy,
\`verification: checksums\`), *guide-counts* (\`verification: counts\`), *fast* (\`mode: fast\`: one dump streamed into
PostgreSQL 15 under bulk-load settings, updates there), *fast-counts*. *blocks-direct/stream/bulk*: the fast path's
building blocks alone, without Temporal (dump file restored into 15; dump streamed; streamed under bulk-load
settings). "checks" are the inventories and verifications; "equal to guide" compares schema-only dumps and every
table's row count and checksum with the guide mode's result; "database size" is the migrated database's
pg_database_size and its ratio to guide mode's. "worker peak RSS" is the worker process's VmHWM.

${renderTable(results)}

Phases (seconds):

${renderPhases(results)}

Ratios:

${renderRatios(results)}

${predictions.length > 0 ? `Rehearsal (\`rehearsal\`: both modes rehearsed on a copy while its server ran as the PACS's, at nice ${rehearsalNice};
the prediction against the same size's run above):

${renderPredictions(predictions, results)}

` : ''}Update statements by class (psql's time for each statement of the scripts, summed; in brackets how many; then all
statements against the update phases; the rest is what a script costs besides its statements: the activity's
dispatch, its probes, psql's start, the commit):

${renderStatementClasses(results)}
`;
// What follows the marker in the file is written by hand (analysis, probes) and kept.
const kept = await fs.readFile(args.out, 'utf8').then((text) => text.slice(text.indexOf(NOTES_MARKER)), () => '');
await fs.writeFile(args.out, kept.startsWith(NOTES_MARKER) ? `${markdown}\n${kept}` : markdown);
console.log(renderTable(results));
console.log(`\nRatios:\n${renderRatios(results)}`);
console.log(`\nUpdate statements by class:\n${renderStatementClasses(results)}`);
if (predictions.length > 0) console.log(`\nRehearsal:\n${renderPredictions(predictions, results)}`);

/** Each workflow variant's runs: its total without the approval wait, against the template's directory size. */
const runsOf = (name: VariantName): MeasuredRun[] =>
  results.filter((r) => r.mode === name).map((r) => ({ instances: r.instances, dataDirBytes: dataDirBytes.get(r.instances)!, seconds: Math.round(r.totalMs / 100) / 10 }));
const runs = Object.fromEntries(WORKFLOW_VARIANTS.map((v) => [v.name, runsOf(v.name)])) as Record<VariantName, MeasuredRun[]>;
if (Object.values(runs).every((r) => new Set(r.map((x) => x.instances)).size >= 2)) {
  await fs.writeFile(args.throughput, `${JSON.stringify(throughputOf({ command, date, machine }, runs), null, 2)}\n`);
  console.log(`\nDowntime figures written to ${args.throughput}.`);
} else {
  console.log(`\nDowntime figures (${args.throughput}) left as they were: they need ${WORKFLOW_VARIANTS.map((v) => v.name).join(', ')} at two sizes or more.`);
}
