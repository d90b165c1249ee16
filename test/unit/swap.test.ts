// The swap and its undoing from every intermediate state: an interrupted attempt is finished by
// running it again, never left half done. A rollback before the swap keeps the migrated copy too.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createServerActivities } from '../../src/activities/servers.js';
import { createSwapActivities } from '../../src/activities/swap.js';
import { layoutFor } from '../../src/config/layout.js';
import { parseConfig } from '../../src/config/load.js';
import { realDeps } from '../../src/deps.js';
import { createLogger } from '../../src/log.js';

async function setup(state: { live?: string; next?: string; old?: string }) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-swap-'));
  await fs.writeFile(path.join(dir, 'pw'), 'x', { mode: 0o600 });
  const config = parseConfig({
    node: 'swap',
    paths: { dataDir: path.join(dir, 'postgres-dcm4che'), fastDataDir: dir, backupDir: path.join(dir, 'backup'), scriptsDir: dir },
    database: { password: { file: path.join(dir, 'pw') } },
    runtime: { kind: 'local', old: { binDir: '/usr/bin' }, new: { binDir: '/usr/bin' }, clientBinDir: '/usr/bin', stateDir: path.join(dir, 'state') },
  });
  const ctx = { config, runTag: 'test' };
  const layout = layoutFor(config, ctx.runTag);
  for (const [where, version] of [[layout.original, state.live], [layout.new, state.next], [layout.retired, state.old]] as const) {
    if (!version) continue;
    await fs.mkdir(where);
    await fs.writeFile(path.join(where, 'PG_VERSION'), `${version}\n`);
  }
  const deps = realDeps(createLogger('swap-test', 'silent'));
  const activities = createSwapActivities(deps);
  const servers = createServerActivities(deps);
  const env = new MockActivityEnvironment();
  const versions = async () => {
    const read = (d: string) => fs.readFile(path.join(d, 'PG_VERSION'), 'utf8').then((t) => t.trim(), () => undefined);
    return { live: await read(layout.original), next: await read(layout.new), old: await read(layout.retired) };
  };
  return {
    swap: () => env.run(activities.swap, ctx) as Promise<string>,
    // The workflow passes a random tag of its own, which the kept copy's name does not use.
    unswap: () => env.run(activities.unswap, ctx, 'random') as Promise<string>,
    discard: (role: 'work' | 'new') => env.run(servers.discardServer, ctx, role) as Promise<string>,
    layout,
    versions,
  };
}

test('swap from the start, and again (already swapped)', async () => {
  const s = await setup({ live: '9.6', next: '15' });
  assert.match(await s.swap(), /moved .* to .*-old and .*-new to/);
  assert.deepEqual(await s.versions(), { live: '15', next: undefined, old: '9.6' });
  assert.equal(await s.swap(), 'already swapped');
});

test('a swap interrupted between its renames is finished by the next attempt', async () => {
  const s = await setup({ next: '15', old: '9.6' });
  assert.match(await s.swap(), /finished an interrupted swap/);
  assert.deepEqual(await s.versions(), { live: '15', next: undefined, old: '9.6' });
});

test('undo after a full swap keeps the migrated copy aside, named by the run tag like a rollback before the swap', async () => {
  const s = await setup({ live: '15', old: '9.6' });
  assert.equal(s.layout.failed, `${s.layout.original}-failed-test`);
  assert.equal(await s.unswap(), `moved the migrated directory to ${s.layout.failed} and ${s.layout.retired} back to ${s.layout.original}`);
  assert.deepEqual(await s.versions(), { live: '9.6', next: undefined, old: undefined });
  assert.equal((await fs.readFile(path.join(s.layout.failed, 'PG_VERSION'), 'utf8')).trim(), '15');
  // A copy already there is never overwritten: the undo stops before its first rename.
  const taken = await setup({ live: '15', old: '9.6' });
  await fs.mkdir(taken.layout.failed);
  await fs.writeFile(path.join(taken.layout.failed, 'kept'), '');
  await assert.rejects(taken.unswap(), /cannot keep the migrated .* as .*-failed-test: that directory exists already/);
  assert.deepEqual(await taken.versions(), { live: '15', next: undefined, old: '9.6' });
});

test('undo of a half swap, and of an interrupted undo, puts the original back', async () => {
  const half = await setup({ next: '15', old: '9.6' });
  assert.match(await half.unswap(), /moved .*-old back/);
  assert.deepEqual(await half.versions(), { live: '9.6', next: '15', old: undefined });
  const interruptedUndo = await setup({ old: '9.6' });
  assert.match(await interruptedUndo.unswap(), /finished an interrupted undo/);
  assert.deepEqual(await interruptedUndo.versions(), { live: '9.6', next: undefined, old: undefined });
});

test('an unrecognisable state is refused without touching anything', async () => {
  const s = await setup({ live: '9.6', next: '15', old: '9.6' });
  await assert.rejects(s.swap(), /cannot tell the swap's state .*nothing was changed/);
  assert.deepEqual(await s.versions(), { live: '9.6', next: '15', old: '9.6' });
  const untouched = await setup({ live: '9.6', next: '15' });
  assert.equal(await untouched.unswap(), 'not swapped: nothing to undo');
});

test('a rollback before the swap keeps the migrated directory aside, once; the 9.6 working copy is removed', async () => {
  const s = await setup({ live: '9.6', next: '15' });
  await fs.mkdir(s.layout.work);
  assert.equal(s.layout.failed, `${s.layout.original}-failed-test`, 'named like the copy an undone swap keeps, with the run tag');
  assert.equal(await s.discard('new'), `stopped the new server and moved ${s.layout.new} to ${s.layout.failed} (kept for diagnosis; remove it when no longer needed)`);
  assert.deepEqual(await s.versions(), { live: '9.6', next: undefined, old: undefined });
  assert.equal((await fs.readFile(path.join(s.layout.failed, 'PG_VERSION'), 'utf8')).trim(), '15');
  assert.equal(await s.discard('new'), `stopped the new server; the migrated directory is already kept at ${s.layout.failed}`, 'a retry says where it is');
  assert.match(await s.discard('work'), /removed .*postgres-dcm4che9\.6/);
  await assert.rejects(fs.access(s.layout.work));
  const never = await setup({ live: '9.6' });
  assert.match(await never.discard('new'), /was never created, nothing to keep/);
});
