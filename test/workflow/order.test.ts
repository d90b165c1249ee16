// The order of the workflow's activities in guide and fast mode, with and without a cluster
// (README, "What it does, step by step"), against a fake node: no real server runs.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { approveSwapUpdate, STEPS } from '../../src/shared.js';
import { ARCHIVE_UPDATE_CHAIN } from '../../src/plan/versions.js';
import { LDAP_NEVER_APPLIED } from '../support/fake-node.js';
import { assertMigrated } from '../support/fake-saga.js';
import { drive, fakeNode, lastReport, startFakeEnv, waitForPhase, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

const updates = (from = 0) => ARCHIVE_UPDATE_CHAIN.slice(from).map((v) => `applyUpdate:${v}`);
const ldapCommands = (n: number) => Array.from({ length: n }, () => 'ldapCommand');

/** The calls of a whole run, as the README's step table orders them. */
function expectedCalls(mode: 'guide' | 'fast', cluster: boolean, ldapCount = 0, from = 0): string[] {
  const head = ['preflight', 'freshSchema', ...(mode === 'fast' ? ['prepareBulkLoad'] : []), ...(cluster ? ['stopApplications', 'backupLdap'] : []), 'startServer:original', 'inventory:original'];
  const middle =
    mode === 'guide'
      ? [
          'dump:original',
          'stopServer:original',
          'startServer:work',
          'restore:work',
          'verify:work',
          ...updates(from),
          'verifyUpdated:work',
          'dump:work',
          'stopServer:work',
          'startServer:new',
          'restore:new',
          'verify:new',
        ]
      : ['streamOriginalToNew', 'verify:new', 'stopServer:original', ...updates(from), 'restoreDurability', 'verifyUpdated:new'];
  const tail = ['schemaDrift', 'stopServer:new', 'swap', 'removeWork', ...(cluster ? ['redeploy', 'ldapPlan', ...ldapCommands(ldapCount), 'restartPods'] : []), 'writeReport'];
  return [...head, ...middle, ...tail];
}

const TOUCHES_DATA_DIR = new Set(['startServer:original', 'inventory:original', 'dump:original', 'streamOriginalToNew', 'swap']);
const CLUSTER_ONLY = ['stopApplications', 'backupLdap', 'restoreApplications', 'redeploy', 'undeployTarget', 'ldapPlan', 'ldapCommand', 'restartPods'];

for (const mode of ['guide', 'fast'] as const) {
  describe(`${mode} mode`, () => {
    test('without a cluster: the documented order, no cluster step, the cluster steps skipped in the report', async () => {
      const fake = fakeNode(`order-${mode}`, { mode });
      const { report, error } = await withFakeRun(env, fake, (run) => drive(run));
      assert.equal(error, undefined, error?.cause?.message);
      assert.deepEqual(fake.keys(), expectedCalls(mode, false));
      assert.ok(!fake.calls.some((c) => CLUSTER_ONLY.includes(c.name)));
      for (const step of ['stopApplications', 'backupLdap', 'redeploy', 'ldapUpdate', 'restartPods'] as const) {
        const record = report!.steps.find((s) => s.step === step);
        assert.equal(record?.status, 'skipped', step);
        assert.match(record?.detail ?? '', /no cluster configured/);
      }
      assert.equal(report!.outcome, 'completed');
      assert.deepEqual(report!.versions.applied, [...ARCHIVE_UPDATE_CHAIN]);
      assert.deepEqual(lastReport(fake).outcome, 'completed', 'the written report is the final one');
      assert.deepEqual(fake.calls.map((c) => c.attempt), fake.calls.map(() => 1), 'nothing was retried');
      assertMigrated(fake);
      if (mode === 'guide') assert.deepEqual(report!.steps.map((s) => s.step), [...STEPS], 'the report lists every step in order');
      else assert.deepEqual(new Set(report!.steps.map((s) => s.step)), new Set(STEPS), 'the report lists every step');
    });

    test('with a cluster: applications stopped and LDAP exported first; redeploy, LDAP update, restart after the swap', async () => {
      const fake = fakeNode(`order-${mode}-kube`, { mode, cluster: true });
      const { report, error } = await withFakeRun(env, fake, (run) => drive(run));
      assert.equal(error, undefined, error?.cause?.message);
      const ldap = fake.calls.filter((c) => c.name === 'ldapCommand').length;
      assert.ok(ldap > 0);
      assert.deepEqual(fake.keys(), expectedCalls(mode, true, ldap));
      const keys = fake.keys();
      const firstTouch = keys.findIndex((k) => TOUCHES_DATA_DIR.has(k));
      assert.ok(keys.indexOf('stopApplications') < firstTouch, 'stopApplications before anything touches the data directory');
      assert.ok(keys.indexOf('backupLdap') < firstTouch, 'the LDAP export before anything changes');
      assert.equal(report!.outcome, 'completed');
      assert.equal(report!.ldapBackup, fake.model.cluster!.ldapBackup);
      assert.deepEqual(report!.ldapNeverApplied, LDAP_NEVER_APPLIED);
      assert.deepEqual(report!.ldap.map((c) => c.argv.join(' ')), fake.model.cluster!.ldapRan);
      assert.deepEqual(fake.model.cluster!.deploys, ['undeploy 0.2', 'deploy 0.3']);
      assertMigrated(fake);
    });

    test('archive updates the original already carries are not applied again', async () => {
      const fake = fakeNode(`order-${mode}-applied`, { mode, alreadyApplied: ['5.27', '5.28'] });
      const { report, error } = await withFakeRun(env, fake, (run) => drive(run));
      assert.equal(error, undefined, error?.cause?.message);
      assert.deepEqual(fake.keys(), expectedCalls(mode, false, 0, 2));
      assert.deepEqual(report!.versions.alreadyPresent, ['5.27', '5.28']);
      assert.deepEqual(report!.versions.applied, ARCHIVE_UPDATE_CHAIN.slice(2));
      assert.ok(report!.scripts.every((s) => s.outcome === 'applied'));
      assertMigrated(fake, { alreadyApplied: ['5.27', '5.28'] });
    });

    test('no swap before approval: at the gate the live directory is the original, the new one waits beside it', async () => {
      const fake = fakeNode(`order-${mode}-gate`, { mode, cluster: true });
      await withFakeRun(env, fake, async (run) => {
        await waitForPhase(run, 'awaiting-approval');
        await new Promise((r) => setTimeout(r, 300));
        const { layout, dirs } = fake.model;
        assert.equal(fake.keys().at(-1), 'stopServer:new', 'nothing runs after the verified new server is stopped');
        assert.equal(dirs.get(layout.original), fake.original, 'the original is live');
        assert.equal(dirs.get(layout.new)?.pg, '15');
        assert.ok(!dirs.has(layout.retired));
        assert.equal(fake.model.servers.size, 0, 'every server is stopped before the swap');
        assert.deepEqual(fake.model.cluster?.replicas, { dcm4chee: 0, 'postgres-dcm4che': 0 }, 'the applications stay down');
        await run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin', comment: 'go' }] });
        const { report } = await run.outcome();
        assert.equal(report?.approval?.by, 'admin');
        assert.equal(report?.approval?.comment, 'go');
        const keys = fake.keys();
        assert.equal(keys[keys.indexOf('stopServer:new') + 1], 'swap', 'the swap is the first thing after approval');
      });
      assertMigrated(fake);
    });
  });
}
