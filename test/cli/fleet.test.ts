// `kaapana-migrate fleet plan`: every node's plan run by that node's own worker (planNode on the
// node's task queue), the rollout input written only when all pass; a node whose preflight refuses,
// a node without a worker and a fleet file with a mistake each refuse the fleet by name.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { fleetInputProblems } from '../../src/fleet/input.js';
import type { FleetInput } from '../../src/fleet/shared.js';
import { PLAN_WORKFLOW_TYPE, taskQueueFor } from '../../src/shared.js';
import { demoNode, startHarness, tempDir, treeSnapshot, withWorker, type Harness } from '../support/harness.js';
import { cli } from './run.js';

let h: Harness;
let dir: string;
let address: string[];
before(async () => {
  h = await startHarness();
  address = ['--address', h.server.address];
  dir = await tempDir('fleet-plan');
});
after(async () => {
  await h?.close();
});

/** The fleet file in `dir`; node configurations named relative to it. */
async function fleetFile(name: string, content: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, YAML.stringify(content));
  return file;
}

const relative = (file: string) => path.relative(dir, file);

/** The node's plan workflows (visibility follows the history closely, not at once). */
async function plansOf(node: string, count: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ids: string[] = [];
    for await (const w of h.client.workflow.list({ query: `WorkflowType = '${PLAN_WORKFLOW_TYPE}' AND TaskQueue = '${taskQueueFor(node)}'` })) ids.push(w.workflowId);
    if (ids.length >= count || Date.now() > deadline) return ids;
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("fleet plan runs every node's plan on that node's worker and writes the rollout input; fleet start checks it", async () => {
  const nodes = await Promise.all(['fplan-a', 'fplan-b'].map((n) => demoNode(n)));
  const file = await fleetFile('fleet.yaml', { name: 'west', nodes: nodes.map((n) => relative(n.configFile)), canaries: ['fplan-b'], concurrency: 2, approval: 'fleet', workerWaitMinutes: 10 });
  const before = await Promise.all(nodes.map((n) => treeSnapshot(n.dir)));
  const out = path.join(dir, 'west.json');
  // The nodes' workers run in this process; the CLI in its own.
  const { code, stdout, stderr } = await withWorker(h, 'fplan-a', () => withWorker(h, 'fplan-b', () => cli(['fleet', 'plan', '--nodes', file, '--write', out, ...address])));
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Fleet west: every node's plan passed/);
  const input = JSON.parse(await fs.readFile(out, 'utf8')) as FleetInput;
  assert.deepEqual(fleetInputProblems(input), []);
  assert.deepEqual(input.nodes.map((n) => n.node), ['fplan-a', 'fplan-b']);
  assert.deepEqual(input.settings, { canaries: ['fplan-b'], concurrency: 2, failureBudget: 0, approval: 'fleet', workerWaitMinutes: 10, onHalt: 'finish' });
  assert.equal((await fs.stat(out)).mode & 0o777, 0o600);

  for (const n of nodes) {
    const node = n.config.node;
    const id = new RegExp(`^✔ ${node}: plan passed on its worker, 7 update scripts, database directory [\\d.]+ MiB \\(\\S+; workflow (\\S+)\\)$`, 'm').exec(stdout)?.[1];
    assert.ok(id, `${node}'s line names its plan workflow:\n${stdout}`);
    // The checks ran on the node's queue, in its worker: the history names the worker (the one
    // identity of this process, never the CLI's) as the preflight's.
    const handle = h.client.workflow.getHandle(id);
    assert.equal((await handle.describe()).taskQueue, taskQueueFor(node));
    const events = (await handle.fetchHistory()).events ?? [];
    assert.deepEqual(events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []), ['preflight']);
    assert.deepEqual(events.flatMap((e) => e.activityTaskStartedEventAttributes?.identity ?? []), [`${process.pid}@${os.hostname()}`]);
    assert.ok(events.some((e) => e.activityTaskCompletedEventAttributes));
  }
  // Nothing on the nodes changed (no attempts journal either: a plan has no run).
  assert.deepEqual(await Promise.all(nodes.map((n) => treeSnapshot(n.dir))), before);

  // `fleet start` checks the input as the parent workflow does, before it connects anywhere.
  const tampered = path.join(dir, 'tampered.json');
  await fs.writeFile(tampered, JSON.stringify({ ...input, settings: { ...input.settings, concurrency: 0 } }));
  const started = await cli(['fleet', 'start', '--fleet', tampered]);
  assert.equal(started.code, 1);
  assert.match(started.stderr, /^error: .*tampered\.json is not a rollout input: settings\.concurrency: .*\n {2}data: nothing was changed\n/);
});

test("a node whose preflight refuses and a node file that cannot be read refuse the fleet: every failure named, nothing written", async () => {
  const [ok, busy] = await Promise.all([demoNode('fplan-ok'), demoNode('fplan-busy')]);
  // Left from an earlier attempt, as far as preflight can tell.
  const work = path.join(busy.config.paths.fastDataDir, 'postgres-dcm4che9.6');
  await fs.mkdir(work);
  const broken = path.join(dir, 'broken.yaml');
  await fs.writeFile(broken, YAML.stringify({ ...ok.config, node: 'fplan-broken', mdoe: 'fast' }));
  const file = await fleetFile('refused.yaml', { nodes: [relative(ok.configFile), relative(busy.configFile), 'broken.yaml'], canaries: 1 });
  const out = path.join(dir, 'refused.json');
  const { code, stdout, stderr } = await withWorker(h, 'fplan-ok', () => withWorker(h, 'fplan-busy', () => cli(['fleet', 'plan', '--nodes', file, '--write', out, ...address])));
  assert.equal(code, 1, stderr);
  assert.match(stdout, /^✔ fplan-ok: plan passed on its worker/m);
  const refusal = `preflight refuses this node: ${work} (the 9.6 working directory) already exists`;
  assert.ok(stdout.includes(`✖ ${busy.configFile}: ${refusal}`), stdout);
  assert.match(stdout, /^✖ \S+broken\.yaml: [^✖✔]*"mdoe"/m);
  assert.match(stderr, /^error: the fleet is refused: 2 of 3 node plan\(s\) failed \([\s\S]*\)\n {2}data: nothing was changed; no rollout input was written\n {2}next: /);
  assert.ok(stderr.includes(`${busy.configFile}: ${refusal}`), stderr);
  await assert.rejects(fs.access(out));

  // The refusal is the preflight's own, not retried: one attempt, failed as PlanRefused.
  const [id, more] = await plansOf('fplan-busy', 1);
  assert.ok(id && !more, 'one plan of fplan-busy');
  const events = (await h.client.workflow.getHandle(id).fetchHistory()).events ?? [];
  assert.deepEqual(events.flatMap((e) => e.activityTaskStartedEventAttributes?.attempt ?? []), [1]);
  assert.ok(events.some((e) => e.activityTaskFailedEventAttributes));
  assert.equal(events.at(-1)?.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.type, 'PlanRefused');
});

test('a node without a worker refuses the fleet within the worker wait, naming its queue; its plan is terminated', async () => {
  const away = await demoNode('fplan-away');
  const file = await fleetFile('away.yaml', { nodes: [relative(away.configFile)] });
  const out = path.join(dir, 'away.json');
  const began = Date.now();
  const { code, stdout, stderr } = await cli(['fleet', 'plan', '--nodes', file, '--write', out, '--worker-wait', '2', ...address]);
  const ms = Date.now() - began;
  assert.equal(code, 1, stderr);
  assert.ok(ms < 20_000, `refused after ${ms} ms`);
  assert.match(stderr, /^note: no worker polls kaapana-migrate-fplan-away now; the plan of fplan-away waits up to 2 s for one$/m);
  const id = /^✖ \S+: no worker serves kaapana-migrate-fplan-away \(waited \d+ s; its plan, workflow (\S+), was terminated\): start the node's worker/m.exec(stdout)?.[1];
  assert.ok(id, stdout);
  assert.match(stderr, /^error: the fleet is refused: 1 of 1 node plan\(s\) failed \(.*no worker serves kaapana-migrate-fplan-away/m);
  await assert.rejects(fs.access(out));
  assert.equal((await h.client.workflow.getHandle(id).describe()).status.name, 'TERMINATED');
  assert.deepEqual(await plansOf('fplan-away', 1), [id], 'no other plan of fplan-away was started');
});

test('a fleet file with a mistake is refused with the key named, before any node is asked', async () => {
  const node = await demoNode('fplan-x');
  // No --address: nothing here may need the Temporal service.
  const typo = await fleetFile('typo.yaml', { nodes: [relative(node.configFile)], concurency: 4 });
  const r1 = await cli(['fleet', 'plan', '--nodes', typo, '--write', path.join(dir, 'typo.json')]);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /^error: .*typo\.yaml: .*concurency/);
  const stranger = await fleetFile('stranger.yaml', { nodes: [relative(node.configFile)], canaries: ['site-y'] });
  const r2 = await cli(['fleet', 'plan', '--nodes', stranger, '--write', path.join(dir, 'stranger.json')]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /canary site-y is not a node of the fleet/);
});
