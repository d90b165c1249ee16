// Fleet rollouts on real servers: 12 demo nodes with small databases, each node's worker in its
// own process on its own task queue, the fleet worker in its own process too; planned, started,
// approved and watched through the CLI's own functions. Fast mode. The node workers serve every
// rollout of the file; each rollout gets fresh demo nodes of the same names.
//  1. 2 canaries, concurrency 4: completes, though the last node's worker goes away after the
//     plan and comes back only once the rollout waits for it, and the fleet worker is killed and
//     restarted in the middle.
//  2. Concurrency 2, no failure budget: a failing update script on node 7 halts the rollout: it
//     rolls back, the node running beside it finishes, the nodes not started stay untouched.
//  3. An abort while 4 nodes run: they roll back, the others stay untouched.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, beforeEach, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import YAML from 'yaml';
import { planFleet, readFleetFile, startFleet } from '../../src/cli/fleet.js';
import { watchFleet } from '../../src/cli/fleet-watch.js';
import { layoutFor } from '../../src/config/layout.js';
import { DEMO_SCRIPTS_DIR, type DemoNode } from '../../src/demo/node.js';
import { exists } from '../../src/files.js';
import { abortFleetUpdate, approveFleetUpdate, fleetIdFor, type FleetInput, type FleetReport, type FleetSettings, type FleetState } from '../../src/fleet/shared.js';
import { CliError } from '../../src/cli/common.js';
import { progressQuery, workflowIdFor } from '../../src/shared.js';
import { BIN, run } from '../cli/run.js';
import { cachedWorkflowBundleFile } from '../support/bundle-cache.js';
import { maxOverlap, untilFleetState } from '../support/fleet-state.js';
import { demoNode, fingerprint, startHarness, tempDir, treeSnapshot, type Harness } from '../support/harness.js';

/** 12 nodes; KM_FLEET_NODES=N runs another count, at least 10 (the halt needs node 7, the node beside it and nodes after them). */
const NODES = Number(process.env.KM_FLEET_NODES ?? 12);
const names = Array.from({ length: NODES }, (_, i) => `fleet-${String(i + 1).padStart(2, '0')}`);
const LATE = names.at(-1)!;

let h: Harness;
let bundleFile: string;
const workers = new Map<string, ChildProcess>();
let fleetWorker: ChildProcess | undefined;

const spawnWorker = (script: string, args: string[]): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, KM_WORKFLOW_BUNDLE: bundleFile },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
const startNodeWorker = (node: string) => workers.set(node, spawnWorker('test/support/node-worker.ts', [node]));
const startFleetWorker = () => (fleetWorker = spawnWorker('test/support/fleet-worker.ts', []));

async function stopProcess(p: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!p || !running(p)) return;
  const exited = once(p, 'exit');
  p.kill(signal);
  await exited;
}

const running = (p: ChildProcess | undefined) => p !== undefined && p.exitCode === null && p.signalCode === null;

before(async () => {
  h = await startHarness();
  bundleFile = await cachedWorkflowBundleFile();
});
// Every worker up as each rollout begins, also after one that stopped a worker failed midway.
beforeEach(() => {
  for (const n of names) if (!running(workers.get(n))) startNodeWorker(n);
  if (!running(fleetWorker)) startFleetWorker();
});
after(async () => {
  await Promise.all([...workers.values(), fleetWorker].map((p) => stopProcess(p, 'SIGTERM')));
  await h?.close();
});

/** Fresh demo nodes of the fleet's names (200 instances, fast mode); `scripts` per node where given. */
function freshNodes(scripts: Record<number, string> = {}): Promise<DemoNode[]> {
  return Promise.all(names.map((name, i) => demoNode(name, { instances: 200, ...(scripts[i] ? { scriptsDir: scripts[i] } : {}), overrides: (raw) => ({ ...raw, mode: 'fast' }) })));
}

/** Plans the rollout of `nodes` (a fleet file beside them) with the test's quicker worker polls. */
async function plan(name: string, nodes: DemoNode[], settings: Partial<Omit<FleetSettings, 'canaries'>> & { canaries: number }): Promise<FleetInput> {
  const dir = await tempDir(name);
  const nodesFile = path.join(dir, 'fleet.yaml');
  await fs.writeFile(nodesFile, YAML.stringify({ name, nodes: nodes.map((n) => n.configFile), workerWaitMinutes: 5, reportDir: path.join(dir, 'report'), ...settings }));
  // Each node's plan runs on its worker: the late one's is up by then, the plan waits as the rollout would.
  const planned = await planFleet(h.client, await readFleetFile(nodesFile), 5 * 60);
  // Nodes' workers looked for every second rather than every 15 s; a killed fleet worker's follows retried after 10 s.
  return { ...planned, tuning: { ...planned.tuning, workerPollSeconds: 1, followHeartbeatSeconds: 10 } };
}

/** The first state `ok` accepts (polled twice a second), bounded. */
const until = (handle: WorkflowHandle, what: string, ok: (s: FleetState) => boolean) => untilFleetState(handle, ok, what, 180_000, 500);

/** Follows the rollout with `fleet watch` until it ends: its report (or the CLI's error) and what it printed. */
async function watched(name: string): Promise<{ ended: Promise<FleetReport | CliError>; text: () => string }> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  const ended = watchFleet(h.client, name, out as unknown as NodeJS.WriteStream, 500).catch((err: unknown) => {
    if (err instanceof CliError) return err;
    throw err;
  });
  return { ended, text: () => chunks.join('') };
}

async function report(input: FleetInput): Promise<FleetReport> {
  return (await h.client.workflow.getHandle(fleetIdFor(input.name)).result()) as FleetReport;
}

/** None of the directories a migration makes beside the live one (their names do not depend on the run). */
async function assertNoMigrationDirs(node: DemoNode): Promise<void> {
  const layout = layoutFor(node.config, 'any');
  for (const dir of [layout.work, layout.new, layout.retired]) assert.ok(!(await exists(dir)), `${node.config.node}: no ${dir}`);
}

/** Untouched: the live directory exactly as before, no directory or dump of a run. */
async function assertUntouched(node: DemoNode, before: string[]): Promise<void> {
  assert.deepEqual(await treeSnapshot(node.config.paths.dataDir), before, `${node.config.node}: the live directory as it was`);
  await assertNoMigrationDirs(node);
  assert.deepEqual(await fs.readdir(node.config.paths.backupDir).catch(() => []), [], `${node.config.node}: no run directory`);
}

/** Rolled back: the original in place and identical to what it held before the rollout. */
async function assertOriginalBack(node: DemoNode, before: Awaited<ReturnType<typeof fingerprint>>): Promise<void> {
  await assertNoMigrationDirs(node);
  assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), before, `${node.config.node}: the original as it was`);
}

/** Until the node's migration has completed its step startOriginal (bounded). */
async function startedOriginal(node: string): Promise<void> {
  const handle = h.client.workflow.getHandle(workflowIdFor(node));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const p = await handle.query(progressQuery).catch(() => undefined);
    if (p?.completed.some((c) => c.step === 'startOriginal')) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${node}: its original server did not start within 120 s`);
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

test(`${NODES} demo nodes: 2 canaries, concurrency 4, a late node worker, the fleet worker killed and restarted: completes`, async () => {
  const began = Date.now();
  const nodes = await freshNodes();
  const input = await plan('it-fleet', nodes, { canaries: 2, concurrency: 4, approval: 'fleet' });
  const planned = Date.now();
  // The last node's worker goes away (a restart of its host, say) before the rollout begins.
  await stopProcess(workers.get(LATE), 'SIGTERM');
  const handle = await startFleet(h.client, input);
  const watch = await watched(input.name);

  await until(handle, 'awaiting the fleet approval', (s) => s.phase === 'awaiting-fleet-approval');
  await handle.executeUpdate(approveFleetUpdate, { args: [{ by: 'it-admin' }] });

  // The fleet worker dies while node migrations run; the parent goes on in the restarted one.
  await until(handle, 'a node after the canaries running', (s) => s.nodes.some((n) => !n.canary && n.status === 'running' && n.view !== 'queued'));
  await stopProcess(fleetWorker, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 2_000));
  startFleetWorker();

  // The last node's turn comes while its worker is away: it waits, not failed, and goes on once the
  // worker polls again. Not started yet, or started and queued, as the server still listed the
  // worker's poller when its turn came (it does for a while after the worker stopped).
  const away = (s: FleetState) => s.nodes.some((n) => n.node === LATE && (n.status === 'waiting-for-worker' || (n.status === 'running' && n.view === 'waiting-for-worker')));
  const waiting = await until(handle, `${LATE} waiting for its worker`, away);
  assert.ok(waiting.nodes.every((n) => n.outcome === undefined || n.outcome === 'completed'), 'no node failed meanwhile');
  startNodeWorker(LATE);

  const result = await watch.ended;
  assert.ok(!(result instanceof CliError), result instanceof CliError ? result.what : '');
  assert.equal(result.outcome, 'completed', result.reason);
  assert.deepEqual(result.nodes.map((n) => n.outcome), Array(NODES).fill('completed'));
  for (const n of result.nodes) {
    assert.ok(n.counts && n.counts.rowsAfter === n.counts.rowsBefore && n.counts.rowsBefore > 0, `${n.node}: every row arrived`);
    assert.deepEqual(n.counts.versionsApplied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
    await fs.access(n.reportPath!);
  }
  const spans = result.nodes.map((n) => [Date.parse(n.startedAt!), Date.parse(n.endedAt!)] as [number, number]);
  const canariesEnd = Math.max(...spans.slice(0, 2).map(([, e]) => e));
  assert.ok(spans.slice(2).every(([s]) => s >= canariesEnd), 'the other nodes began after the canaries ended');
  assert.ok(maxOverlap(spans.slice(2)) <= 4, 'at most 4 at once');
  const md = await fs.readFile(result.reportPath!, 'utf8');
  for (const n of nodes) assert.ok(md.includes(n.config.node), `the fleet report lists ${n.config.node}`);
  const text = watch.text();
  assert.match(text, /fleet: rolling-out/);
  assert.match(text, /running (preflight|startOriginal|inventory|prepareBulkLoad|streamOriginalToNew|verifyLoad|applyUpdates|restoreDurability|verifyUpdated|schemaDrift)/, 'fleet watch showed a running node with its step');
  assert.match(text, new RegExp(`${LATE} .*waiting for its worker`), 'fleet watch showed the late node waiting for its worker');
  assert.match(text, /no fleet worker answers/, 'fleet watch said so while the fleet worker was away');
  const wave = (s: [number, number][]) => secs(Math.max(...s.map(([, e]) => e)) - Math.min(...s.map(([b]) => b)));
  process.stderr.write(`fleet of ${NODES}: plan ${secs(planned - began)}, rollout ${secs(Date.now() - planned)} (canaries ${wave(spans.slice(0, 2))}, the other nodes ${wave(spans.slice(2))}, with a 2 s fleet worker outage and a late worker)\n`);
});

test('a failing update script on node 7 halts the rollout: node 7 rolls back, the node running beside it finishes, the rest stay untouched', async () => {
  const began = Date.now();
  const scripts = await tempDir('fleet-scripts');
  for (const f of await fs.readdir(DEMO_SCRIPTS_DIR)) await fs.copyFile(path.join(DEMO_SCRIPTS_DIR, f), path.join(scripts, f));
  await fs.appendFile(path.join(scripts, 'update-5.27-psql.sql'), '\nALTER TABLE mwl_item ADD COLUMN no_such_type no_such_type;\n');
  const seventh = 6;
  const nodes = await freshNodes({ [seventh]: scripts });
  const trees = await Promise.all(nodes.map((n) => treeSnapshot(n.config.paths.dataDir)));
  const original = await fingerprint(nodes[seventh]!, nodes[seventh]!.config.paths.dataDir, 'old');
  const input = await plan('it-fleet-halt', nodes, { canaries: 0, concurrency: 2, approval: 'fleet', failureBudget: 0, onHalt: 'finish' });
  await startFleet(h.client, input);
  const watch = await watched(input.name);

  const ended = await watch.ended;
  assert.ok(ended instanceof CliError, 'fleet watch exits with an error on a halt');
  assert.match(ended.what, /halted/);
  const result = await report(input);
  assert.equal(result.outcome, 'halted');
  assert.match(result.reason ?? '', new RegExp(`${names[seventh]}, rolled-back`));
  const stoppedAt = Date.parse(result.stoppedAt!);
  const bad = result.nodes[seventh]!;
  assert.equal(bad.outcome, 'rolled-back');
  assert.match(bad.failure ?? '', /5\.27/);
  for (const [i, n] of result.nodes.entries()) {
    if (i === seventh) continue;
    if (n.outcome === 'not-started') {
      assert.equal(n.startedAt, undefined, n.node);
      await assertUntouched(nodes[i]!, trees[i]!);
    } else {
      // Started before the halt, and (onHalt: finish) carried through.
      assert.equal(n.outcome, 'completed', `${n.node}: ${n.failure}`);
      assert.ok(Date.parse(n.startedAt!) <= stoppedAt, `${n.node} started before the halt`);
    }
  }
  assert.ok(result.nodes.some((n) => n.outcome === 'not-started'), 'the halt left nodes unstarted');
  await assertOriginalBack(nodes[seventh]!, original);
  assert.match(watch.text(), /fleet: halting/);
  process.stderr.write(`halted fleet of ${NODES}: ${secs(Date.now() - began)}; not started: ${result.nodes.filter((n) => n.outcome === 'not-started').map((n) => n.node).join(', ')}\n`);
});

test('abort while 4 nodes run: their migrations roll back, the other nodes stay untouched', async () => {
  const began = Date.now();
  const nodes = await freshNodes();
  // The first 4 start at once: their contents (a server reads them), the rest's files as they lie.
  const originals = await Promise.all(nodes.slice(0, 4).map((n) => fingerprint(n, n.config.paths.dataDir, 'old')));
  const trees = await Promise.all(nodes.map((n) => treeSnapshot(n.config.paths.dataDir)));
  const input = await plan('it-fleet-abort', nodes, { canaries: 0, concurrency: 4, approval: 'fleet' });
  const handle = await startFleet(h.client, input);
  // `fleet watch` on a terminal (`script` gives it a pseudo-terminal): the block redrawn in place.
  const watchArgv = [process.execPath, BIN, 'fleet', 'watch', '--name', input.name, '--address', h.server.address];
  const onTty = run(['script', '-q', '-e', '-c', watchArgv.map((a) => `'${a}'`).join(' '), '/dev/null'], { timeoutMs: 180_000 });
  // Aborted once each of the first 4 has begun its work: its original server started.
  await until(handle, 'the first 4 nodes running', (s) => s.nodes.slice(0, 4).every((n) => n.status === 'running'));
  await Promise.all(nodes.slice(0, 4).map((n) => startedOriginal(n.config.node)));
  await handle.executeUpdate(abortFleetUpdate, { args: [{ by: 'it-admin', comment: 'maintenance window over' }] });
  const result = await report(input);
  assert.equal(result.outcome, 'aborted');
  assert.match(result.reason ?? '', /aborted by it-admin \(maintenance window over\)/);
  for (const [i, n] of result.nodes.entries()) {
    if (i < 4) {
      assert.ok(n.cancelRequested, `${n.node}: its migration was cancelled`);
      assert.ok(['cancelled', 'rolled-back'].includes(n.outcome!), `${n.node}: ${n.outcome} ${n.failure ?? ''}`);
    } else {
      assert.equal(n.outcome, 'not-started', n.node);
      await assertUntouched(nodes[i]!, trees[i]!);
    }
  }
  for (const [i, before] of originals.entries()) await assertOriginalBack(nodes[i]!, before);
  const tty = await onTty;
  assert.equal(tty.code, 1, 'fleet watch exits 1 for an aborted rollout');
  const redraws = tty.stdout.match(new RegExp(`\x1b\\[${NODES + 1}A\x1b\\[J`, 'g')) ?? [];
  assert.ok(redraws.length > 0, 'the block of the rollout and its nodes moved up over and drawn again');
  // The last block drawn: the aborted rollout, every node in its final standing.
  const last = tty.stdout.split(/\x1b\[\d+A\x1b\[J/).at(-1)!;
  assert.match(last, /^fleet: aborted: aborted by it-admin/);
  for (const n of nodes.slice(4)) assert.match(last, new RegExp(`${n.config.node} +not-started`));
  assert.match(last, /error: the rollout of fleet it-fleet-abort aborted/);
  process.stderr.write(`aborted fleet of ${NODES}: ${secs(Date.now() - began)}\n`);
});
