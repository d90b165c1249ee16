// The whole migration on a Kaapana-like node: a real Kubernetes control plane holding the 0.2.x
// charts' objects, deploy_platform.sh stand-ins run as the Kaapana admin, a real slapd behind the
// ldap pod. Scaling down, the redeploy (PVs deleted by the undeploy, the platform appearing after
// the script returned, the claim bound again), the LDAP update, pod restarts; a failing LDAP step
// or redeploy waits for the operator; a rollback brings 0.2.x back with the original database.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { AppsV1Api, CoreV1Api, type KubernetesObject } from '@kubernetes/client-node';
import { layoutFor } from '../../src/config/layout.js';
import type { ConfigInput } from '../../src/config/schema.js';
import type { DemoNode } from '../../src/demo/node.js';
import type { MigrationReport } from '../../src/report/types.js';
import { approveSwapUpdate, progressQuery, resolveUpdate, runTagFor } from '../../src/shared.js';
import { kaapanaNode } from '../fixtures/kaapana-node/index.js';
import { demoNode, fingerprint, recordHistory, startHarness, startMigration, tempDir, waitForPhase, withWorker, type Harness } from '../support/harness.js';
import { isReady, startKubeCluster, type KubeCluster } from '../support/kube/cluster.js';
import { KAAPANA_TEST_USER, writeDeployScripts, type DeployScriptSet } from '../support/kube/deploy-scripts.js';
import { startSlapd, type TestSlapd } from '../support/slapd.js';

let h: Harness;
let kube: KubeCluster;
let slapd: TestSlapd;
/** The node of the running test: cleared away before the next one, and after the last. */
let current: ClusterNode | undefined;

before(async () => {
  // Each is kept as soon as it runs, so that `after` stops it even when another one failed.
  const started = await Promise.allSettled([
    startHarness().then((v) => (h = v)),
    startKubeCluster().then((v) => (kube = v)),
    startSlapd().then((v) => (slapd = v)),
  ]);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});
after(async () => {
  if (current) await clear(current).catch(() => undefined);
  const stopped = await Promise.allSettled([kube?.stop(), slapd?.stop(), h?.close()]);
  const failed = stopped.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

interface ClusterNode {
  node: DemoNode;
  scripts: DeployScriptSet;
  namespace: string;
  /** Everything the node's releases put into the cluster, to clear it for the next test. */
  objects: KubernetesObject[];
}

/**
 * A demo node whose live directory is the 0.2.x platform's database volume, the platform deployed
 * and Ready, and the node's two deploy scripts. A fresh slapd each time: the LDAP tree of 0.2.x.
 */
async function clusterNode(name: string, opts: { instanceUid?: string; mode?: 'guide' | 'fast' } = {}): Promise<ClusterNode> {
  // A test that failed leaves its objects: PVs are cluster-wide and would clash.
  if (current) await clear(current);
  current = undefined;
  // Nor may a failed test's broken exec connections reach the next one.
  await kube.dropExecs(0);
  const dir = await tempDir(name);
  // Kaapana's layout: FAST_DATA_DIR (with -<INSTANCE_UID>) holds postgres-dcm4che.
  const fast = path.join(dir, opts.instanceUid ? `fast-${opts.instanceUid}` : 'fast');
  const base = opts.instanceUid ? path.join(dir, 'fast') : fast;
  const old = kaapanaNode({ version: '0.2.x', fastDataDir: base, slowDataDir: dir, ...(opts.instanceUid ? { instanceUid: opts.instanceUid } : {}) });
  const scripts = await writeDeployScripts(path.join(dir, 'kaapana'), { fastDataDir: base, slowDataDir: dir, ...(opts.instanceUid ? { instanceUid: opts.instanceUid } : {}) });
  await scripts.installKubeconfig(kube.kubeconfigPath);
  await scripts.control('delay-ms', '300');
  // The stand-ins have no credentials baked in: they prompt, and the migration answers on stdin.
  const registryPassword = path.join(dir, 'registry-password');
  await fs.writeFile(registryPassword, 'registry-secret\n', { mode: 0o600 });
  await scripts.control('registry', 'kaapana-registry\nregistry-secret');
  await slapd.stop();
  slapd = await startSlapd();
  await kube.useSlapd(slapd);
  const node = await demoNode(name, {
    dir,
    instances: 500,
    overrides: (raw: ConfigInput) => ({
      ...raw,
      paths: { ...raw.paths, dataDir: path.join(fast, 'postgres-dcm4che'), fastDataDir: fast },
      mode: opts.mode ?? 'fast',
      activityAttempts: 2,
      // Cluster steps retry for this long (four attempts), not the ten minutes a node gets.
      outageMinutes: 0.02,
      retryIntervalSeconds: 0.2,
      readyTimeoutSeconds: 30,
      cluster: {
        kind: 'kubernetes',
        namespace: old.namespace,
        kubeconfig: kube.kubeconfigPath,
        redeploy: {
          user: KAAPANA_TEST_USER,
          currentScript: scripts.current,
          targetScript: scripts.target,
          registry: { username: 'kaapana-registry', password: { file: registryPassword } },
          platformTimeoutMinutes: 1,
        },
      },
    }),
  });
  const target = kaapanaNode({ version: '0.3.x', fastDataDir: base, slowDataDir: dir, ...(opts.instanceUid ? { instanceUid: opts.instanceUid } : {}) });
  current = { node, scripts, namespace: old.namespace, objects: [...old.dcm4chee, ...target.dcm4chee] };
  await kube.apply(old.objects);
  await kube.until('the 0.2.x platform Ready', async () => {
    const ready = await Promise.all(APPS.map(async (app) => (await podsOf(old.namespace, app)).filter(isReady).length));
    return ready.every((n) => n === 1);
  }, 60_000);
  return current;
}

const APPS = ['dcm4chee', 'ldap', 'postgres-dcm4che'];
const podsOf = async (namespace: string, app: string) => (await kube.kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: `app-name=${app}` })).items;
const deploymentOf = async (namespace: string, app: string) =>
  (await kube.kc.makeApiClient(AppsV1Api).listNamespacedDeployment({ namespace })).items.find((d) => d.spec?.selector?.matchLabels?.['app-name'] === app);

/** Leaves the cluster as the next test expects it: no dcm4chee objects, no PVs, no release marker. */
async function clear(c: ClusterNode): Promise<void> {
  await kube.delete([...c.objects, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kaapana-platform-release', namespace: 'default' } }], { wait: true, timeoutMs: 60_000 });
}

async function approveWhenVerified(handle: WorkflowHandle): Promise<void> {
  await waitForPhase(handle, 'awaiting-approval', 120_000);
  await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
}

/** The 0.2.x pods run again on the original database (the image tag tells the releases apart). */
async function assertOriginalPlatformRuns(c: ClusterNode): Promise<void> {
  for (const app of APPS) {
    const d = await deploymentOf(c.namespace, app);
    assert.ok(d, `${app} is deployed`);
    assert.match(d.spec?.template.spec?.containers[0]?.image ?? '', /:0\.2\.6$/, `${app} runs the 0.2.x image`);
    await kube.until(`${app} Ready`, async () => (await podsOf(c.namespace, app)).some(isReady), 60_000);
  }
  assert.equal((await fs.readFile(path.join(c.node.config.paths.dataDir, 'PG_VERSION'), 'utf8')).trim(), '9.6');
}

/** Past the swap, every exec in the ldap pod loses its connection, so the LDAP update keeps failing. */
async function breakLdapAfterSwap(handle: WorkflowHandle): Promise<void> {
  await waitForPhase(handle, 'awaiting-approval', 120_000);
  await kube.dropExecs(1_000);
  await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
  await waitForPhase(handle, 'awaiting-resolution', 120_000);
  assert.match((await handle.query(progressQuery)).failure ?? '', /ldapUpdate/);
}

test('full migration: scale down, migrate, redeploy through deploy_platform.sh, LDAP update (failing until fixed, then retried), restart', async () => {
  const c = await clusterNode('cluster-ok', { mode: 'guide' });
  const mark = kube.events.length;
  const handle = await startMigration(h, c.node);
  const report = await withWorker(h, c.node.config.node, async () => {
    await breakLdapAfterSwap(handle);
    await kube.dropExecs(0);
    await kube.execsSettled();
    assert.equal(await handle.executeUpdate(resolveUpdate, { args: ['retry'] }), 'retry');
    return (await handle.result()) as MigrationReport;
  });
  assert.equal(report.outcome, 'completed', report.failure);
  await recordHistory(h, handle, 'completed-kubernetes');
  assert.ok(report.steps.some((s) => s.step === 'ldapUpdate' && s.status === 'failed'), 'the failed attempt is in the report');
  await kube.eventsAfter(mark, [/^scale dcm4chee 0$/, /^gone dcm4chee-/, /^scale postgres-dcm4che 0$/, /^gone postgres-dcm4che-/]);
  for (const s of ['stopApplications', 'backupLdap', 'redeploy', 'ldapUpdate', 'restartPods']) assert.ok(report.steps.some((r) => r.step === s && r.status === 'ok'), s);

  // The 0.3.x platform runs on the migrated directory, through a PV the deploy created anew.
  const db = await deploymentOf(c.namespace, 'postgres-dcm4che');
  assert.match(db?.spec?.template.spec?.containers[0]?.image ?? '', /:0\.3\.0$/);
  assert.ok((await deploymentOf(c.namespace, 'dcm4chee'))?.spec?.template.spec?.containers.some((k) => k.name === 'dcm4chee-nginx'), 'the 0.3.x sidecar');
  assert.equal((await fs.readFile(path.join(c.node.config.paths.dataDir, 'PG_VERSION'), 'utf8')).trim(), '15');

  assert.deepEqual(report.ldap[0]?.argv, ['update-schema']);
  assert.ok(report.ldap.some((l) => l.argv.includes('update-data') && l.argv.includes('5.31.2')), 'the version the guide skips');
  assert.deepEqual(report.ldap.at(-1)?.argv.slice(-3), ['unassign-role-from-user', 'auth', 'admin']);
  assert.deepEqual(report.ldapNeverApplied, ['5.30.0/update-ui-config.ldif', '5.32.0/update-ui-config-5.32.0.ldif']);
  const markdown = await fs.readFile(layoutFor(c.node.config, report.runTag).report.markdown, 'utf8');
  assert.match(markdown, /update-ui-config-5\.32\.0\.ldif/);
  assert.ok(report.ldapBackup && ((await fs.stat(report.ldapBackup)).mode & 0o777) === 0o600);
});

test('LDAP failing after the swap, resolved with rollback, on an INSTANCE_UID node: 0.2.x runs again on the original, the migrated copy kept', async () => {
  const c = await clusterNode('cluster-rollback', { instanceUid: 'uid7' });
  assert.equal(c.namespace, 'uid7-services');
  const before = await fingerprint(c.node, c.node.config.paths.dataDir, 'old');
  const handle = await startMigration(h, c.node);
  const error = await withWorker(h, c.node.config.node, async () => {
    await breakLdapAfterSwap(handle);
    await handle.executeUpdate(resolveUpdate, { args: ['rollback'] });
    return handle.result().then(() => undefined, (e: unknown) => e);
  });
  await kube.dropExecs(0);
  assert.ok(error instanceof WorkflowFailedError);
  assert.match(error.cause?.message ?? '', /step ldapUpdate failed: .*rolled back/);
  const layout = layoutFor(c.node.config, runTagFor((await handle.describe()).runId));
  const report = JSON.parse(await fs.readFile(layout.report.json, 'utf8')) as MigrationReport;
  assert.equal(report.outcome, 'rolled-back');
  await recordHistory(h, handle, 'ldap-failure-rolled-back');
  assert.deepEqual(report.rollback?.notUndone, []);
  assert.deepEqual(report.rollback?.undone.slice(0, 1), ['undeployed the 0.3.x platform']);
  assert.ok(report.rollback?.undone.includes('deployed the 0.2.x platform again'), report.rollback?.undone.join('; '));
  await assertOriginalPlatformRuns(c);
  assert.deepEqual(await fingerprint(c.node, c.node.config.paths.dataDir, 'old'), before);
  const kept = (await fs.readdir(path.dirname(layout.original))).filter((f) => f.startsWith('postgres-dcm4che-failed-'));
  assert.equal(kept.length, 1, 'the migrated directory is kept for diagnosis');
});

test('a 0.3.x deploy that fails after the 0.2.x undeploy ran, and an undo that fails too: the operator decides each, 0.2.x runs again on the original', async () => {
  const c = await clusterNode('cluster-deploy-fails');
  const before = await fingerprint(c.node, c.node.config.paths.dataDir, 'old');
  // The forward deploy fails, and so does the 0.2.x deploy that the rollback runs.
  await c.scripts.control('fail-deploy', 'yes');
  const handle = await startMigration(h, c.node);
  const error = await withWorker(h, c.node.config.node, async () => {
    await approveWhenVerified(handle);
    await waitForPhase(handle, 'awaiting-resolution', 120_000);
    assert.match((await handle.query(progressQuery)).failure ?? '', /^redeploy: .*kaapana-0\.3\.x\/deploy_platform\.sh --quiet.* exited with 1.*the test made this deploy fail/s);
    await handle.executeUpdate(resolveUpdate, { args: ['rollback'] });
    await waitForPhase(handle, 'awaiting-resolution', 120_000);
    assert.match((await handle.query(progressQuery)).failure ?? '', /^undoing failed: bring the 0\.2\.x applications back: .*kaapana-0\.2\.x\/deploy_platform\.sh --quiet.* exited with 1/s);
    await c.scripts.control('fail-deploy', undefined);
    await handle.executeUpdate(resolveUpdate, { args: ['retry'] });
    return handle.result().then(() => undefined, (e: unknown) => e);
  });
  assert.ok(error instanceof WorkflowFailedError);
  assert.match(error.cause?.message ?? '', /step redeploy failed: .*; rolled back: the original database directory is in place/s);
  await assertOriginalPlatformRuns(c);
  assert.deepEqual(await fingerprint(c.node, c.node.config.paths.dataDir, 'old'), before);
});
