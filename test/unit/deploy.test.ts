// The two ways a node runs the worker (systemd unit, container image) start it alike.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { deployedWorkerCommand } from '../support/deployed-worker.js';

const containerfile = readFileSync(new URL('../../deploy/Containerfile', import.meta.url), 'utf8');

test('the container image starts the worker with the unit’s node options and environment', () => {
  const unit = deployedWorkerCommand();
  assert.ok(unit.nodeOptions.length > 0, 'the unit passes memory options to node');
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(containerfile)?.[1] ?? '[]') as string[];
  assert.deepEqual(cmd, ['node', ...unit.nodeOptions, 'dist/workers/main.js']);
  for (const [name, value] of Object.entries(unit.env).filter(([k]) => k !== 'NODE_ENV')) {
    assert.match(containerfile, new RegExp(`^ENV ${name}=${value}$`, 'm'), `${name} in the image`);
  }
});

test('the unit is read as node options, script and environment', () => {
  const parsed = deployedWorkerCommand('Environment=A=1\nExecStart=/usr/bin/node --x=1 --y /opt/k/dist/workers/main.js --node n\n');
  assert.deepEqual(parsed, { nodeOptions: ['--x=1', '--y'], env: { A: '1' } });
  assert.throws(() => deployedWorkerCommand('ExecStart=/usr/bin/python3 main.py\n'), /does not run node/);
});
