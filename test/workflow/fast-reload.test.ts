// Fast mode: a machine crash during the bulk load (seen as BulkLoadLost: the boot id changed while
// fsync was off) redoes the load from the backup dump instead of rolling the migration back.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { permanent } from '../support/fake-node.js';
import { assertMigrated } from '../support/fake-saga.js';
import { drive, fakeNode, startFakeEnv, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

test('a crash of the machine during the updates: loaded again from the backup, updated again, completed', async () => {
  const fake = fakeNode('fast-reload', { mode: 'fast', faults: { 'applyUpdate:5.30': permanent('BulkLoadLost', { times: 1, message: 'the machine restarted while the new directory ran without fsync' }) } });
  const { report, error } = await withFakeRun(env, fake, (run) => drive(run));
  assert.equal(error, undefined, error?.cause?.message);
  assert.equal(report?.outcome, 'completed');
  const keys = fake.keys();
  const lost = keys.indexOf('applyUpdate:5.30');
  assert.deepEqual(keys.slice(lost, lost + 4), ['applyUpdate:5.30', 'prepareBulkLoad', 'restore:new', 'verify:new'], 'prepared again, loaded from the backup, verified');
  assert.equal(keys.filter((k) => k === 'streamOriginalToNew').length, 1, 'the original is not read again');
  assert.ok(!keys.some((k) => k.startsWith('discardServer')), 'nothing rolled back');
  assert.deepEqual(report?.versions.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32'], 'each version once in the report');
  assert.equal(report?.reloads?.length, 1);
  assert.match(report!.reloads![0]!, /without fsync/);
  assert.equal(report?.steps.filter((s) => s.step === 'applyUpdates' && s.status === 'failed').length, 1, 'the lost attempt shows in the report');
  assertMigrated(fake);
});

test('a machine that keeps crashing during the load is rolled back after the third load', async () => {
  const fake = fakeNode('fast-reload-3', { mode: 'fast', faults: { 'applyUpdate:5.28': permanent('BulkLoadLost') } });
  const { error } = await withFakeRun(env, fake, (run) => drive(run));
  assert.match(error?.cause?.message ?? '', /step applyUpdates failed: .*; rolled back/);
  assert.equal(fake.keys().filter((k) => k === 'prepareBulkLoad').length, 3);
});
