// The whole migration on a Kaapana-like cluster: applications scaled down first, LDAP exported,
// redeploy, LDAP update in the ldap pod, pods restarted; a failing LDAP step waits for the
// operator, who retries or rolls back.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { layoutFor } from '../../src/config/layout.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { MigrationReport } from '../../src/report/types.js';
import { approveSwapUpdate, progressQuery, resolveUpdate } from '../../src/shared.js';
import { demoNode, fingerprint, recordHistory, startHarness, startMigration, tempDir, waitForPhase, withWorker, type Harness } from '../support/harness.js';
import { CLUSTER_STEPS, failFirst, STEP_FAULTS } from '../support/faults.js';
import { kaapanaDeployments, startKubeStandin, type KubeStandin } from '../support/kube-standin.js';
import { startSlapd, type TestSlapd } from '../support/slapd.js';

const LDAP_BIN = fileURLToPath(new URL('../support/ldap-bin', import.meta.url));
let h: Harness;
let kube: KubeStandin;
let slapd: TestSlapd;

before(async () => {
  h = await startHarness();
  slapd = await startSlapd();
});
after(async () => {
  await kube?.close();
  await slapd?.stop();
  await h?.close();
});

/** A node whose postgres-dcm4che deployment mounts its data dir, on a fresh stand-in cluster. */
async function clusterNode(name: string) {
  await kube?.close();
  const dir = await tempDir(name);
  kube = await startKubeStandin({
    namespace: 'services',
    deployments: kaapanaDeployments({ fastDataDir: path.join(dir, 'fast'), slowDataDir: dir }),
    binDir: LDAP_BIN,
    podPaths: { '/etc/openldap/data': path.join(LDAP_BIN, 'data'), '/etc/openldap/slapd.d': slapd.configDir },
    execEnv: slapd.env,
    readyDelayMs: 100,
    terminateDelayMs: 50,
  });
  // What helm uninstall / install do to the cluster, as a site command (argv, no shell).
  const hook = (what: string) => ['env', `NODE_EXTRA_CA_CERTS=${kube.caFile}`, process.execPath, '-e', `fetch('${kube.url}/_standin/${what}', { method: 'POST' }).then((r) => process.exit(r.ok ? 0 : 1))`];
  return demoNode(name, {
    dir,
    instances: 500,
    overrides: (raw: ConfigInput) => ({
      ...raw,
      activityAttempts: 2,
      readyTimeoutSeconds: 20,
      cluster: { kind: 'kubernetes', namespace: 'services', kubeconfig: kube.kubeconfigPath, redeploy: { undeploy: hook('undeploy'), deploy: hook('deploy'), rollback: hook('deploy') } },
    }),
  });
}

test('full migration on a cluster: scale down, migrate, redeploy, LDAP update, restart', async () => {
  const node = await clusterNode('cluster-ok');
  const handle = await startMigration(h, node);
  const report = await withWorker(h, node.config.node, async () => {
    await waitForPhase(handle, 'awaiting-approval', 180_000);
    await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
    return (await handle.result()) as MigrationReport;
  });
  assert.equal(report.outcome, 'completed');
  await recordHistory(h, handle, 'completed-kubernetes');
  assert.ok(kube.events.indexOf('scale dcm4chee 0') < kube.events.indexOf('scale postgres-dcm4che 0'), 'dcm4chee is stopped before its database');
  assert.deepEqual(report.ldap[0]?.argv, ['update-schema']);
  assert.ok(report.ldap.some((c) => c.argv.includes('update-data') && c.argv.includes('5.32.0')));
  assert.deepEqual(report.ldap.at(-1)?.argv.slice(-3), ['unassign-role-from-user', 'auth', 'admin']);
  assert.ok(report.ldapBackup && ((await fs.stat(report.ldapBackup)).mode & 0o777) === 0o600);
  for (const s of ['redeploy', 'ldapUpdate', 'restartPods']) assert.ok(report.steps.some((r) => r.step === s && r.status === 'ok'), s);
});

/** Past the swap, every exec in the ldap pod loses its websocket, so the LDAP update keeps failing. */
async function breakLdapAfterSwap(handle: Awaited<ReturnType<typeof startMigration>>): Promise<void> {
  await waitForPhase(handle, 'awaiting-approval', 180_000);
  kube.faults.dropExecs = 1_000;
  await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
  await waitForPhase(handle, 'awaiting-resolution', 180_000);
  const progress = await handle.query(progressQuery);
  assert.match(progress.failure ?? '', /ldapUpdate/);
}

function fixLdap(): void {
  kube.faults.dropExecs = 0;
}

test('an LDAP step that keeps failing waits for the operator; retry after the fix completes the run', async () => {
  const node = await clusterNode('cluster-retry');
  const handle = await startMigration(h, node);
  const report = await withWorker(h, node.config.node, async () => {
    await breakLdapAfterSwap(handle);
    fixLdap();
    assert.equal(await handle.executeUpdate(resolveUpdate, { args: ['retry'] }), 'retry');
    return (await handle.result()) as MigrationReport;
  });
  assert.equal(report.outcome, 'completed');
  await recordHistory(h, handle, 'ldap-failure-retried');
  assert.ok(report.steps.some((s) => s.step === 'ldapUpdate' && s.status === 'failed'), 'the failure is in the report');
  assert.deepEqual(report.ldap.at(-1)?.argv.slice(-3), ['unassign-role-from-user', 'auth', 'admin']);
});

test('an LDAP step that keeps failing, resolved with rollback: the original is back, the migrated copy kept aside', async () => {
  const node = await clusterNode('cluster-rollback');
  const before = await fingerprint(node, node.config.paths.dataDir, 'old');
  const handle = await startMigration(h, node);
  const error = await withWorker(h, node.config.node, async () => {
    await breakLdapAfterSwap(handle);
    await handle.executeUpdate(resolveUpdate, { args: ['rollback'] });
    return handle.result().then(() => undefined, (e: unknown) => e);
  });
  fixLdap();
  assert.ok(error instanceof WorkflowFailedError);
  assert.match(error.cause?.message ?? '', /step ldapUpdate failed: .*rolled back/);
  const layout = layoutFor(node.config, (await handle.describe()).runId.slice(0, 8));
  const report = JSON.parse(await fs.readFile(layout.report.json, 'utf8')) as MigrationReport;
  assert.equal(report.outcome, 'rolled-back');
  await recordHistory(h, handle, 'ldap-failure-rolled-back');
  assert.deepEqual(report.rollback?.notUndone, []);
  assert.ok(report.rollback?.undone.some((u) => /scaled the 0\.3\.x applications to 0/.test(u)));
  assert.ok(report.rollback?.undone.some((u) => /ran the rollback redeploy/.test(u)));
  assert.ok(report.steps.some((s) => s.step === 'redeploy' && s.status === 'ok'), 'the report says what ran');
  assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), before);
  const kept = (await fs.readdir(path.dirname(layout.original))).filter((f) => f.startsWith('postgres-dcm4che-failed-'));
  assert.equal(kept.length, 1, 'the migrated directory is kept for diagnosis');
  assert.equal((await fs.readFile(path.join(path.dirname(layout.original), kept[0]!, 'PG_VERSION'), 'utf8')).trim(), '15');
});

/** A cluster step failing for good: before the swap it rolls back by itself, after it on `resolve rollback`. */
for (const step of CLUSTER_STEPS) {
  const key = STEP_FAULTS[step];
  test(`${step} failing for good (${key}) ends with the original back and the applications restored`, async () => {
    const node = await clusterNode(`cluster-${step}`);
    const before = await fingerprint(node, node.config.paths.dataDir, 'old');
    const handle = await startMigration(h, node);
    const afterSwap = step === 'redeploy' || step === 'ldapUpdate' || step === 'restartPods';
    const error = await withWorker(h, node.config.node, async () => {
      if (afterSwap) {
        await waitForPhase(handle, 'awaiting-approval', 180_000);
        await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
        await waitForPhase(handle, 'awaiting-resolution', 180_000);
        await handle.executeUpdate(resolveUpdate, { args: ['rollback'] });
      }
      return handle.result().then(() => undefined, (e: unknown) => e);
    }, undefined, failFirst(key));
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(error.cause?.message ?? '', new RegExp(`step ${step} failed: injected fault at ${key}.*(rolled back|nothing was changed)`));
    assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), before);
    for (const app of ['dcm4chee', 'postgres-dcm4che']) assert.equal(kube.deployment(app)?.spec.replicas, 1, `${app} runs again`);
    const kept = (await fs.readdir(path.dirname(node.config.paths.dataDir))).filter((f) => f.startsWith('postgres-dcm4che-failed-'));
    assert.equal(kept.length, afterSwap ? 1 : 0);
  });
}
