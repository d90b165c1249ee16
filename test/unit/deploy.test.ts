// The ways the workers are deployed: the node's worker by its systemd unit or the container image,
// which start it alike; the fleet worker by its own unit, started like the node's worker but
// without any access to a node.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { deployedWorkerCommand, UNITS, unitText, unitValues, type UnitName } from '../support/deployed-worker.js';

const root = new URL('../../', import.meta.url);
const containerfile = readFileSync(new URL('deploy/Containerfile', root), 'utf8');
const readme = readFileSync(new URL('README.md', root), 'utf8');

for (const name of Object.keys(UNITS) as UnitName[]) {
  const { script } = UNITS[name];
  test(`the ${name} worker's unit runs node with memory options on ${script}, which the build makes from workers/`, () => {
    const unit = deployedWorkerCommand(unitText(name), script);
    assert.ok(unit.nodeOptions.length > 0, 'the unit passes memory options to node');
    assert.ok(existsSync(new URL(script.replace(/^dist\//, '').replace(/\.js$/, '.ts'), root)), `the source of ${script}`);
  });
}

test('the container image starts the worker with the unit’s node options and environment', () => {
  const unit = deployedWorkerCommand();
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(containerfile)?.[1] ?? '[]') as string[];
  assert.deepEqual(cmd, ['node', ...unit.nodeOptions, 'dist/workers/main.js']);
  for (const [name, value] of Object.entries(unit.env).filter(([k]) => k !== 'NODE_ENV')) {
    assert.match(containerfile, new RegExp(`^ENV ${name}=${value}$`, 'm'), `${name} in the image`);
  }
});

test('the fleet worker’s unit starts node as the node’s unit does, on its own script', () => {
  assert.deepEqual(deployedWorkerCommand(unitText('fleet'), UNITS.fleet.script), deployedWorkerCommand());
  assert.throws(() => deployedWorkerCommand(unitText('fleet')), /does not run dist\/workers\/main\.js/);
});

test('the fleet worker’s unit has no node access: no root, no capabilities, nothing writable but its state directory', () => {
  const fleet = (key: string) => unitValues(unitText('fleet'), key);
  assert.deepEqual(fleet('DynamicUser'), ['yes']);
  assert.deepEqual(fleet('User'), []);
  assert.deepEqual(fleet('CapabilityBoundingSet'), ['']);
  assert.deepEqual(fleet('AmbientCapabilities'), ['']);
  assert.deepEqual(fleet('ProtectSystem'), ['strict']);
  assert.deepEqual(fleet('ReadWritePaths'), []);
  // The README's fleet file has the fleet worker write its report where the unit lets it.
  const [state] = fleet('StateDirectory');
  const reportDir = /^ {3}reportDir: (\S+)/m.exec(readme)?.[1];
  assert.ok(state && reportDir?.startsWith(`/var/lib/${state}/`), `reportDir ${reportDir} below /var/lib/${state}`);
});

test('a unit is read as node options, script and environment', () => {
  const parsed = deployedWorkerCommand('Environment=A=1\nExecStart=/usr/bin/node --x=1 --y /opt/k/dist/workers/main.js --node n\n');
  assert.deepEqual(parsed, { nodeOptions: ['--x=1', '--y'], env: { A: '1' } });
  assert.deepEqual(deployedWorkerCommand('ExecStart=/usr/bin/node --z /opt/k/dist/workers/fleet.js\n', 'dist/workers/fleet.js'), { nodeOptions: ['--z'], env: {} });
  assert.throws(() => deployedWorkerCommand('ExecStart=/usr/bin/python3 main.py\n'), /does not run node/);
  assert.deepEqual(unitValues('CapabilityBoundingSet=\nUser=a\nUser= b \n', 'User'), ['a', 'b']);
});
