// `kaapana-migrate fleet plan`: every node's plan run, the rollout input written only when all pass;
// a node that fails refuses the fleet, and a fleet file with a mistake is refused by name.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import YAML from 'yaml';
import type { ConfigInput } from '../../src/config/schema.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from '../../src/demo/binaries.js';
import { DEMO_SCRIPTS_DIR } from '../../src/demo/node.js';
import { fleetInputProblems } from '../../src/fleet/input.js';
import type { FleetInput } from '../../src/fleet/shared.js';
import { tempDir } from '../support/harness.js';
import { cli } from './run.js';

let dir: string;
let oldBinDir: string;
before(async () => {
  dir = await tempDir('fleet-plan');
  oldBinDir = await oldPostgresBinDir();
  await fs.mkdir(path.join(dir, 'fast', 'postgres-dcm4che'), { recursive: true });
  await fs.writeFile(path.join(dir, 'fast', 'postgres-dcm4che', 'PG_VERSION'), '9.6\n');
});

/** A node as plan sees it (the nodes share one live directory: plan only reads it). */
async function nodeFile(node: string, scriptsDir = DEMO_SCRIPTS_DIR): Promise<string> {
  const config: ConfigInput = {
    node,
    paths: { dataDir: path.join(dir, 'fast', 'postgres-dcm4che'), fastDataDir: path.join(dir, 'fast'), backupDir: path.join(dir, 'backup'), scriptsDir },
    database: { password: { env: 'PACS_PASSWORD' } },
    runtime: { kind: 'local', old: { binDir: oldBinDir }, new: { binDir: NEW_POSTGRES_BIN_DIR }, clientBinDir: NEW_POSTGRES_BIN_DIR, stateDir: path.join(dir, 'state') },
  };
  const file = path.join(dir, `${node}.yaml`);
  await fs.writeFile(file, YAML.stringify(config));
  return file;
}

async function fleetFile(name: string, content: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, YAML.stringify(content));
  return file;
}

test('fleet plan runs every node\'s plan and writes the rollout input with the settings; fleet start checks it', async () => {
  await Promise.all(['site-a', 'site-b', 'site-c'].map((n) => nodeFile(n)));
  // Node paths are relative to the fleet file.
  const file = await fleetFile('fleet.yaml', { name: 'west', nodes: ['site-a.yaml', 'site-b.yaml', 'site-c.yaml'], canaries: ['site-b'], concurrency: 2, approval: 'fleet', workerWaitMinutes: 10 });
  const out = path.join(dir, 'west.json');
  const { code, stdout, stderr } = await cli(['fleet', 'plan', '--nodes', file, '--write', out]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /✔ site-a: plan passed[\s\S]*✔ site-c: plan passed[\s\S]*Fleet west: every node's plan passed/);
  const input = JSON.parse(await fs.readFile(out, 'utf8')) as FleetInput;
  assert.deepEqual(fleetInputProblems(input), []);
  assert.deepEqual(input.nodes.map((n) => n.node), ['site-a', 'site-b', 'site-c']);
  assert.deepEqual(input.settings, { canaries: ['site-b'], concurrency: 2, failureBudget: 0, approval: 'fleet', workerWaitMinutes: 10, onHalt: 'finish' });
  assert.equal((await fs.stat(out)).mode & 0o777, 0o600);

  // `fleet start` checks the input as the parent workflow does, before it connects anywhere.
  const tampered = path.join(dir, 'tampered.json');
  await fs.writeFile(tampered, JSON.stringify({ ...input, settings: { ...input.settings, concurrency: 0 } }));
  const started = await cli(['fleet', 'start', '--fleet', tampered]);
  assert.equal(started.code, 1);
  assert.match(started.stderr, /^error: .*tampered\.json is not a rollout input: settings\.concurrency: .*\n {2}data: nothing was changed\n/);
});

test('one node whose plan fails refuses the fleet: every failure named, nothing written', async () => {
  await nodeFile('site-ok');
  await nodeFile('site-bad', path.join(dir, 'no-scripts-here'));
  const file = await fleetFile('bad.yaml', { nodes: ['site-ok.yaml', 'site-bad.yaml'], canaries: 1 });
  const out = path.join(dir, 'bad.json');
  const { code, stdout, stderr } = await cli(['fleet', 'plan', '--nodes', file, '--write', out]);
  assert.equal(code, 1);
  assert.match(stdout, /✔ site-ok: plan passed/);
  assert.match(stdout, /✖ .*site-bad\.yaml: /);
  assert.match(stderr, /^error: the fleet is refused: 1 of 2 node plan\(s\) failed \(.*site-bad\.yaml: .*\)\n {2}data: nothing was changed; no rollout input was written\n {2}next: /);
  await assert.rejects(fs.access(out));
});

test('a fleet file with a mistake is refused with the key named', async () => {
  await nodeFile('site-x');
  const typo = await fleetFile('typo.yaml', { nodes: ['site-x.yaml'], concurency: 4 });
  const r1 = await cli(['fleet', 'plan', '--nodes', typo, '--write', path.join(dir, 'typo.json')]);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /^error: .*typo\.yaml: .*concurency/);
  const stranger = await fleetFile('stranger.yaml', { nodes: ['site-x.yaml'], canaries: ['site-y'] });
  const r2 = await cli(['fleet', 'plan', '--nodes', stranger, '--write', path.join(dir, 'stranger.json')]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /canary site-y is not a node of the fleet/);
});
