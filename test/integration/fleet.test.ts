// A fleet rollout on real servers: demo nodes with small databases, each with its own worker
// process on its own task queue, the fleet worker running the parent; planned (each node's plan
// on its worker), started, approved and watched through the CLI's own functions. 2 canaries,
// concurrency 4, fast mode.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { planFleet, readFleetFile, startFleet } from '../../src/cli/fleet.js';
import { watchFleet } from '../../src/cli/fleet-watch.js';
import { createFleetWorker } from '../../src/fleet/worker.js';
import { approveFleetUpdate, fleetIdFor, fleetStateQuery, type FleetReport } from '../../src/fleet/shared.js';
import { cachedWorkflowBundleFile } from '../support/bundle-cache.js';
import { demoNode, startHarness, tempDir, type Harness } from '../support/harness.js';

/** 12 nodes; KM_FLEET_NODES=N runs another count (times for 12 and 6 in the README). */
const NODES = Number(process.env.KM_FLEET_NODES ?? 12);

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

function overlap(spans: [number, number][]): number {
  const events = spans.flatMap(([a, b]) => [[a, 1] as const, [b, -1] as const]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (now += d));
  return most;
}

test(`${NODES} demo nodes, each with its own worker process: 2 canaries, concurrency 4, completes`, async () => {
  const began = Date.now();
  const nodes = await Promise.all(Array.from({ length: NODES }, (_, i) => demoNode(`fleet-${String(i + 1).padStart(2, '0')}`, { instances: 200, overrides: (raw) => ({ ...raw, mode: 'fast' }) })));
  const dir = await tempDir('fleet');
  const nodesFile = path.join(dir, 'fleet.yaml');
  await fs.writeFile(nodesFile, YAML.stringify({ name: 'it-fleet', nodes: nodes.map((n) => n.configFile), canaries: 2, concurrency: 4, approval: 'fleet', workerWaitMinutes: 5, reportDir: path.join(dir, 'report') }));
  const bundleFile = await cachedWorkflowBundleFile();
  const workers: ChildProcess[] = [];
  const fleetWorker = await createFleetWorker({ connection: h.native, namespace: 'default', workflowBundle: h.bundle, pollMs: 500 });
  const fleetRun = fleetWorker.run();
  try {
    // Every node's worker in its own process: the node's plan runs there, then its migration.
    for (const n of nodes) {
      workers.push(
        spawn(process.execPath, ['--import', 'tsx', 'test/support/node-worker.ts', n.config.node], {
          env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, KM_WORKFLOW_BUNDLE: bundleFile },
          stdio: ['ignore', 'ignore', 'inherit'],
        }),
      );
    }
    // The plans wait for the workers still coming up (many at once on this machine) as long as
    // the rollout would wait for them.
    const planStart = Date.now();
    const plan = await planFleet(h.client, await readFleetFile(nodesFile), 5 * 60);
    // The rollout looks for a worker every second rather than the default 15 s.
    const input = { ...plan, tuning: { ...plan.tuning, workerPollSeconds: 1, followHeartbeatSeconds: 10 } };
    const planned = Date.now();
    await startFleet(h.client, input);
    const handle = h.client.workflow.getHandle(fleetIdFor(input.name));
    const approving = (async () => {
      for (;;) {
        const s = await handle.query(fleetStateQuery);
        if (s.phase === 'awaiting-fleet-approval') return handle.executeUpdate(approveFleetUpdate, { args: [{ by: 'it-admin' }] });
        if (s.phase !== 'canaries') throw new Error(`the rollout left the canaries as ${s.phase}: ${s.reason}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    const out = new PassThrough();
    const watched: string[] = [];
    out.on('data', (chunk: Buffer) => watched.push(chunk.toString()));
    const [report] = (await Promise.all([watchFleet(h.client, input.name, out as unknown as NodeJS.WriteStream, 1000), approving])) as [FleetReport, unknown];

    assert.equal(report.outcome, 'completed', report.reason);
    assert.deepEqual(report.nodes.map((n) => n.outcome), Array(NODES).fill('completed'));
    for (const n of report.nodes) {
      assert.ok(n.counts && n.counts.rowsAfter === n.counts.rowsBefore && n.counts.rowsBefore > 0, `${n.node}: every row arrived`);
      assert.deepEqual(n.counts.versionsApplied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
      await fs.access(n.reportPath!);
    }
    const spans = report.nodes.map((n) => [Date.parse(n.startedAt!), Date.parse(n.endedAt!)] as [number, number]);
    const canariesEnd = Math.max(...spans.slice(0, 2).map(([, e]) => e));
    assert.ok(spans.slice(2).every(([s]) => s >= canariesEnd), 'the other nodes began after the canaries ended');
    assert.ok(overlap(spans.slice(2)) <= 4, 'at most 4 at once');
    const md = await fs.readFile(report.reportPath!, 'utf8');
    for (const n of nodes) assert.ok(md.includes(n.config.node), `the fleet report lists ${n.config.node}`);
    const text = watched.join('');
    assert.match(text, /fleet: rolling-out/);
    assert.match(text, /running (preflight|startOriginal|inventory|prepareBulkLoad|streamOriginalToNew|verifyLoad|applyUpdates|restoreDurability|verifyUpdated|schemaDrift)/, 'fleet watch showed a running node with its step');
    const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const wave = (s: [number, number][]) => secs(Math.max(...s.map(([, e]) => e)) - Math.min(...s.map(([b]) => b)));
    process.stderr.write(`fleet of ${NODES}: nodes made in ${secs(planStart - began)}, plan ${secs(planned - planStart)} (the workers coming up), rollout ${secs(Date.now() - planned)} (first canary started after ${secs(spans[0]![0] - planned)}, canaries ${wave(spans.slice(0, 2))}, the other nodes ${wave(spans.slice(2))})\n`);
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.exitCode === null ? once(w, 'exit') : undefined)));
    fleetWorker.shutdown();
    await fleetRun;
  }
});
