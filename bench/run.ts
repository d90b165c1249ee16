// `npm run bench`: the guide's commands (bash baseline), the workflow in guide mode and the fast
// path variants, side by side on the same machine and servers, at each size; results in BENCHMARKS.md.
// usage: tsx bench/run.ts [--sizes 100000,1000000] [--modes baseline,guide,direct,stream,bulk] [--root DIR] [--out FILE]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus, totalmem } from 'node:os';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { serverSpec, type Env } from '../src/activities/context.js';
import { layoutFor } from '../src/config/layout.js';
import { selectUpdateScripts } from '../src/plan/scripts.js';
import type { MigrationReport } from '../src/report/types.js';
import { createLocalRuntime } from '../src/runtime/local.js';
import { approveSwapUpdate } from '../src/shared.js';
import type { Phase, Variant } from '../test/support/fast-sequence.js';
import { startHarness, startMigration, waitForPhase, type Harness } from '../test/support/harness.js';
import { equivalence, snapshot, type Snapshot } from '../test/support/equivalence.js';
import { copyNode, SEED, templateNode, type BenchNode } from './nodes.js';
import { startChild } from './proc.js';
import { renderPhases, renderTable, type Result } from './table.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RUN_TAG = 'bench';
const HOUR = 3_600_000;

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100000,1000000' },
    modes: { type: 'string', default: 'baseline,guide,direct,stream,bulk' },
    root: { type: 'string', default: path.join(here, '..', '.state', 'bench') },
    out: { type: 'string', default: path.join(here, '..', 'BENCHMARKS.md') },
  },
});
const sizes = args.sizes.split(',').map(Number);
const modes = args.modes.split(',');
const root = path.resolve(args.root);
const VARIANTS: Variant[] = ['direct', 'stream', 'bulk'];

function envOf(node: BenchNode): Env {
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
async function baseline(node: BenchNode, instances: number): Promise<[Result, string]> {
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
  return [{ mode: 'baseline', instances, phases, totalMs: phases.reduce((t, p) => t + p.ms, 0), dumpBytes }, layout.next];
}

/** (b) the workflow in guide mode, its worker a child process; the wait for approval is not counted. */
async function guide(h: Harness, bundleFile: string, node: BenchNode, instances: number): Promise<[Result, string]> {
  const worker = startChild(path.join(here, 'worker-child.ts'), [h.server.address, node.config.node, bundleFile]);
  if ((await worker.nextLine()) !== 'ready') throw new Error('the worker did not start');
  const started = Date.now();
  const handle = await startMigration(h, node);
  await waitForPhase(handle, 'awaiting-approval', 2 * HOUR);
  await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'bench' }] });
  const report = (await handle.result()) as MigrationReport;
  const wall = Date.now() - started;
  worker.process.kill('SIGTERM');
  const { peakRss } = JSON.parse(await worker.nextLine()) as { peakRss: number };
  await worker.exited;
  const waited = report.steps.find((s) => s.step === 'awaitApproval')?.ms ?? 0;
  const phases = report.steps.filter((s) => s.status === 'ok' && s.step !== 'awaitApproval').map((s) => ({ name: s.step, ms: s.ms }));
  return [{ mode: 'guide', instances, phases, totalMs: wall - waited, peakRss, dumpBytes: report.dumps.map((d) => d.bytes) }, layoutFor(node.config, report.runTag).original];
}

/** (c) a fast-path variant, run as the workflow would order its activities, in a child process. */
async function fast(variant: Variant, node: BenchNode, instances: number): Promise<[Result, string]> {
  const child = startChild(path.join(here, 'fast-child.ts'), [node.configFile, RUN_TAG, variant]);
  const out = JSON.parse(await child.nextLine()) as { phases: Phase[]; dumpBytes: number; peakRss: number };
  if ((await child.exited) !== 0) throw new Error(`fast-child ${variant} failed`);
  const result: Result = { mode: `fast-${variant}`, instances, phases: out.phases, totalMs: out.phases.reduce((t, p) => t + p.ms, 0), peakRss: out.peakRss, dumpBytes: [out.dumpBytes] };
  return [result, envOf(node).layout.next];
}

const results: Result[] = [];
const h = modes.includes('guide') ? await startHarness() : undefined;
const bundleFile = path.join(root, 'workflow-bundle.json');
if (h) {
  await fs.mkdir(root, { recursive: true });
  await fs.writeFile(bundleFile, JSON.stringify(h.bundle));
}
try {
  for (const instances of sizes) {
    const template = await templateNode(root, instances);
    const outcomes: [Result, BenchNode, string][] = [];
    const measure = async (label: string, fn: (node: BenchNode) => Promise<[Result, string]>) => {
      const node = await copyNode(root, template, `${label}-${instances}`, instances);
      const [result, dir] = await fn(node);
      console.error(`${instances} ${result.mode}: ${(result.totalMs / 1000).toFixed(1)} s`);
      outcomes.push([result, node, dir]);
    };
    if (modes.includes('baseline')) await measure('base', (n) => baseline(n, instances));
    if (h) await measure('guide', (n) => guide(h, bundleFile, n, instances));
    for (const v of VARIANTS.filter((m) => modes.includes(m))) await measure(v, (n) => fast(v, n, instances));

    const reference = outcomes.find(([r]) => r.mode === 'guide');
    const expected: Snapshot | undefined = reference && (await snapshot(reference[1], reference[2], 'snap-guide'));
    for (const [result, node, dir] of outcomes) {
      if (expected && result.mode !== 'guide') result.equivalence = equivalence(expected, await snapshot(node, dir, `snap-${result.mode}`));
      if (expected && result.mode === 'guide') result.equivalence = 'reference';
      results.push(result);
      await fs.rm(node.dir, { recursive: true, force: true });
    }
  }
} finally {
  await h?.close();
}

const command = `npm run bench -- --sizes ${sizes.join(',')} --modes ${modes.join(',')}`;
const markdown = `# Benchmarks

Produced by \`${command}\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM,
PostgreSQL 9.6.24 and 15 from the local runtime, demo nodes seeded with seed ${SEED}.

Times are wall-clock seconds. *baseline*: \`bench/guide-baseline.sh\` (the guide's pg_dump/psql commands) plus
starting and stopping the three servers. *guide*: the workflow in guide mode (real Temporal dev server, worker as a
child process), from start to result without the wait for approval. *fast-direct*: no 9.6 work copy, dump file
restored into 15, updates on 15. *fast-stream*: the dump feeds the backup file and the restore in one pass.
*fast-bulk*: stream plus bulk-load settings on the new server until restoreDurability. "checks" are the inventories
and verifications; "equal to guide" compares schema-only dumps and every table's row count and checksum with the
guide mode's result.

${renderTable(results)}

Phases (seconds):

${renderPhases(results)}
`;
await fs.writeFile(args.out, markdown);
console.log(renderTable(results));
