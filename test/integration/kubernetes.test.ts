// The Kubernetes adapter (src/cluster/kubernetes.ts) with the real @kubernetes/client-node against
// the test control plane (test/support/kube/cluster.ts: kube-apiserver 1.30.14, controller manager,
// scheduler, kwok node, exec-kubelet), holding a Kaapana node's objects; the ldap pod runs test
// versions of the slapd-dcm4chee commands against a real slapd; the redeploy runs the
// deploy_platform.sh stand-ins as the OS user kaapana-test. Two clusters, started side by side: one
// serving exec as 1.30 does (v5), which holds the node the redeploys work on, and one as the microk8s
// of Kaapana 0.2.x/0.3.x serves it (v4), with an INSTANCE_UID node, stopped after its last test.
// The tests of a describe build on each other's state, in order; every wait is bounded.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import YAML from 'yaml';
import { deployScripts, type DeployScripts } from '../../src/cluster/deploy-script.js';
import { createKubernetesCluster, type KubernetesClusterOptions } from '../../src/cluster/kubernetes.js';
import { judgeLdapOutcome, ldapCommandPlan, neverAppliedLdifs, type LdapCommand } from '../../src/plan/ldap-commands.js';
import { kaapanaNode } from '../fixtures/kaapana-node/index.js';
import { recordingProgress, recordingRunner, type RecordingRunner } from '../support/kube/adapter-doubles.js';
import { isReady, startKubeCluster, type KubeCluster } from '../support/kube/cluster.js';
import { KAAPANA_TEST_USER, writeDeployScripts, type DeployScriptSet } from '../support/kube/deploy-scripts.js';
import { startSlapd, type TestSlapd } from '../support/slapd.js';

// Nothing here may hang the run: every wait is bounded, and so is the file.
setTimeout(() => {
  process.stderr.write('kubernetes.test.ts: still running after 4 minutes, giving up\n');
  process.exit(1);
}, 4 * 60_000).unref();

const APPS = ['dcm4chee', 'ldap', 'postgres-dcm4che'] as const;
const BASE = 'dc=dcm4che,dc=org';
const DEVICE = `dicomDeviceName=KAAPANA,cn=Devices,cn=DICOM Configuration,${BASE}`;
const AE = `dicomAETitle=KAAPANA,${DEVICE}`;
const AUTH = `cn=auth,ou=users,${BASE}`;
const RETRIEVE_AS_RECEIVED = `dcmExporterID=RetrieveAsReceived,${DEVICE}`;
const ENV = ['env', 'ARCHIVE_DEVICE_NAME=KAAPANA'];
const SLAPCAT = ['slapcat', '-F', '/etc/openldap/slapd.d', '-n', '1'];
const ORIGINAL = 'kaapana-migrate/original';
const REPLICAS = 'kaapana-migrate/replicas-before-stop';
const CLAIM = 'dcm4chee-postgres-pv-claim';
const UID_NS = 'k1-services';
const REGISTRY = { username: 'kaapana-admin', password: 's3cret-registry-pw' };
/** What the stand-in keeps as its "helm release" (deploy-platform.mjs): a deployed node has it. */
const RELEASE_MARKER = (release: string, fastDataDir: string): KubernetesObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kaapana-platform-release', namespace: 'default' }, data: { release, fastDataDir } }) as KubernetesObject;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

// Each assigned as soon as it exists, so that after() stops whatever before() got to.
let kube: KubeCluster | undefined;
let kube4: KubeCluster | undefined;
let slapd: TestSlapd | undefined;
let slapd4: TestSlapd | undefined;
let work: string | undefined;
let scripts: DeployScriptSet;
/** Stand-ins whose 0.3.x script has another FAST_DATA_DIR: its deploy binds the volume elsewhere. */
let elsewhere: DeployScriptSet;

const k5 = () => kube!;
const k4 = () => kube4!;
const fastDir = () => path.join(work!, 'fast');
const slowDir = () => path.join(work!, 'slow');
const dataDir = () => path.join(fastDir(), 'postgres-dcm4che');
const node02 = () => kaapanaNode({ version: '0.2.x', fastDataDir: fastDir(), slowDataDir: slowDir() });
const nodeUid = () => kaapanaNode({ version: '0.2.x', instanceUid: 'k1', fastDataDir: fastDir(), slowDataDir: slowDir() });

function runner(set: DeployScriptSet, extra: Partial<DeployScripts> = {}) {
  return deployScripts({
    user: KAAPANA_TEST_USER,
    currentScript: set.current,
    targetScript: set.target,
    deployArgs: [],
    registry: async () => REGISTRY,
    timeoutMs: 60_000,
    log: () => undefined,
    ...extra,
  });
}

function adapter(extra: Partial<KubernetesClusterOptions> = {}, on: KubeCluster = k5()) {
  return createKubernetesCluster({
    namespace: on.namespace,
    kubeconfig: on.kubeconfigPath,
    deviceName: 'KAAPANA',
    dataDir: dataDir(),
    deploy: runner(scripts),
    readyTimeoutMs: 20_000,
    platformTimeoutMs: 40_000,
    pollIntervalMs: 100,
    execTimeoutMs: 15_000,
    ...extra,
  });
}

/** A recording runner that, the moment a script returned, notes which deployments and volumes exist. */
function watchedRunner(set: DeployScriptSet, extra: Partial<DeployScripts> = {}): RecordingRunner<{ events: number; deployments: string[]; volumes: string[] }> {
  const apps = k5().kc.makeApiClient(AppsV1Api);
  const core = k5().kc.makeApiClient(CoreV1Api);
  return recordingRunner(runner(set, extra), async () => ({
    events: k5().events.length,
    deployments: (await apps.listNamespacedDeployment({ namespace: k5().namespace })).items.map((d) => d.metadata!.name!),
    volumes: (await core.listPersistentVolume()).items.map((v) => v.metadata!.name!),
  }));
}

const scriptTimes = (r: RecordingRunner<unknown>) => r.calls.map((c) => `${c.action}:${c.release} ${c.ms} ms`).join(', ');
const uids = async (on: KubeCluster, app: string) => (await on.pods(app)).map((p) => p.metadata!.uid!);
const names = (pods: V1Pod[]) => pods.map((p) => p.metadata!.name!);

/** Every deployment of the namespace at its replica count, with that many Ready pods and no others. */
async function settled(on: KubeCluster, timeoutMs = 30_000): Promise<void> {
  const apps = on.kc.makeApiClient(AppsV1Api);
  await on.until(
    'every deployment at its replica count, its pods Ready',
    async () => {
      const list = (await apps.listNamespacedDeployment({ namespace: on.namespace })).items;
      if (list.length !== 3) return false;
      for (const d of list) {
        const pods = await on.pods(d.spec!.selector.matchLabels!['app-name']!);
        if (pods.length !== (d.spec?.replicas ?? 1) || !pods.every(isReady)) return false;
      }
      return true;
    },
    timeoutMs,
  );
}

async function claimAndVolume(on: KubeCluster) {
  const core = on.kc.makeApiClient(CoreV1Api);
  const claim = await core.readNamespacedPersistentVolumeClaim({ name: CLAIM, namespace: on.namespace });
  const volume = claim.spec?.volumeName ? await core.readPersistentVolume({ name: claim.spec.volumeName }) : undefined;
  return { claim, volume };
}

async function annotations(on: KubeCluster, app: string): Promise<Record<string, string>> {
  const d = await on.deployment(app);
  return Object.fromEntries(Object.entries(d?.metadata?.annotations ?? {}).filter(([k]) => k.startsWith('kaapana-migrate/')));
}

/** Once every pattern was seen after mark: the index of the first event matching a pattern. */
async function eventIndex(on: KubeCluster, mark: number, patterns: RegExp[]) {
  const events = await on.eventsAfter(mark, patterns);
  return (re: RegExp) => {
    const i = events.findIndex((e) => re.test(e));
    assert.ok(i >= 0, `no event ${re} in ${events.join(', ')}`);
    return i;
  };
}

/** A new slapd with the 0.2.x tree, wired into the v5 cluster's ldap pod. */
async function freshLdap(): Promise<TestSlapd> {
  const old = slapd;
  slapd = undefined;
  await old?.stop();
  slapd = await startSlapd();
  await k5().useSlapd(slapd);
  return slapd;
}

function values(ldif: string, attr: string): string[] {
  return ldif
    .split('\n')
    .filter((l) => l.startsWith(`${attr}: `))
    .map((l) => l.slice(attr.length + 2))
    .sort();
}

/** n users with some bulk: an LDIF of about n/2 MB. */
function bulkEntries(n: number): string {
  const entries = [`dn: ou=bulk,${BASE}\nchangetype: add\nobjectClass: organizationalUnit\nou: bulk\n`];
  for (let i = 0; i < n; i++) entries.push(`dn: uid=bulk${i},ou=bulk,${BASE}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: bulk${i}\ncn: bulk ${i}\nsn: bulk\ndescription: ${'x'.repeat(800)}\n`);
  return entries.join('\n');
}

async function currentPlan(on: KubeCluster = k5()): Promise<LdapCommand[]> {
  return ldapCommandPlan({ deviceName: 'KAAPANA', available: (await adapter({}, on).ldapData()).versions, to: '5.32.0' });
}

async function plannedUpdate(version: string, on: KubeCluster = k5()): Promise<string[]> {
  return (await currentPlan(on)).find((p) => p.argv.includes('update-data') && p.argv.includes(version))!.argv;
}

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-adapter-test-'));
  // The stand-ins run as kaapana-test: it must reach the scripts below this directory.
  await fs.chmod(work, 0o711);
  const started = await Promise.allSettled([
    startKubeCluster().then((k) => (kube = k)),
    startKubeCluster({ execProtocol: 'v4', namespace: UID_NS }).then((k) => (kube4 = k)),
    startSlapd().then((s) => (slapd = s)),
    startSlapd().then((s) => (slapd4 = s)),
  ]);
  for (const r of started) if (r.status === 'rejected') throw r.reason;

  await k5().useSlapd(slapd!);
  await k4().useSlapd(slapd4!);
  scripts = await writeDeployScripts(path.join(work, 'deploy'), { fastDataDir: fastDir(), slowDataDir: slowDir() });
  elsewhere = await writeDeployScripts(path.join(work, 'deploy-elsewhere'), { fastDataDir: path.join(work, 'fast-elsewhere'), slowDataDir: slowDir() });
  for (const set of [scripts, elsewhere]) {
    // kube-helm's delay after the deploy returned: minutes on a node, half a second here.
    await set.control('delay-ms', '500');
    await set.control('registry', `${REGISTRY.username}\n${REGISTRY.password}`);
  }
  for (const set of [scripts, elsewhere]) await set.installKubeconfig(k5().kubeconfigPath);

  // A deployed 0.2.x node: the platform's objects and the stand-in's release marker.
  await Promise.all([k5().apply([...node02().objects, RELEASE_MARKER('0.2.x', node02().fastDataDir)]), k4().apply(nodeUid().objects)]);
  await Promise.all([settled(k5()), settled(k4())]);
});

after(async () => {
  // Each piece is stopped even when another fails, or when before() failed half-way.
  const results = await Promise.allSettled([kube?.stop(), kube4?.stop(), slapd?.stop(), slapd4?.stop()]);
  results.push(...(await Promise.allSettled([work ? fs.rm(work, { recursive: true, force: true }) : undefined])));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
});

describe('preflight', () => {
  test('finds the database directory through the pod volume, its claim and the bound PV; reports the API server', async () => {
    const result = await adapter().preflight();
    assert.equal(result.databaseHostPath, dataDir());
    const notes = result.notes.join('\n');
    assert.ok(result.notes.includes(`Kubernetes v1.30.14 at ${k5().server}, namespace services`), notes);
    for (const app of APPS) assert.ok(result.notes.includes(`${app}: 1 replica(s), 1 ready`), notes);
    assert.ok(result.notes.includes(`postgres-dcm4che's database directory (through its volume): ${dataDir()}`), notes);
    assert.ok(result.notes.includes(`redeploy as kaapana-test: ${scripts.current} (undeploy), then ${scripts.target} (deploy)`), notes);
    // The chart's pod template mounts the claim, not a hostPath.
    const pod = (await k5().pods('postgres-dcm4che'))[0]!;
    assert.equal(pod.spec?.volumes?.find((v) => v.name === 'postgres-data')?.persistentVolumeClaim?.claimName, CLAIM);
  });

  test('refuses: a device name dcm4chee does not run with, a namespace without the deployments, an unreachable API, unusable deploy scripts', async () => {
    await assert.rejects(adapter({ deviceName: 'OTHER' }).preflight(), /^Error: dcm4chee runs with ARCHIVE_DEVICE_NAME=KAAPANA, the configuration says OTHER: the LDAP update would change the wrong device$/);
    await assert.rejects(adapter({ namespace: 'elsewhere' }).preflight(), /^Error: deployments missing in namespace elsewhere: app-name=dcm4chee, app-name=ldap, app-name=postgres-dcm4che$/);

    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(p));
      });
    });
    const dead = path.join(work!, 'dead-kubeconfig');
    const config = YAML.parse(await fs.readFile(k5().kubeconfigPath, 'utf8'));
    config.clusters[0].cluster.server = `https://127.0.0.1:${port}`;
    await fs.writeFile(dead, YAML.stringify(config), { mode: 0o600 });
    await assert.rejects(adapter({ kubeconfig: dead }).preflight(), /^Error: Kubernetes API at https:\/\/127\.0\.0\.1:\d+ not reachable: .*ECONNREFUSED/);

    const missing = path.join(work!, 'no-such', 'deploy_platform.sh');
    await assert.rejects(adapter({ deploy: runner(scripts, { currentScript: missing }) }).preflight(), new RegExp(`cluster\\.redeploy\\.currentScript: ${missing} is missing or not executable`));
    await assert.rejects(adapter({ deploy: runner(scripts, { user: 'root' }) }).preflight(), /cluster\.redeploy\.user must not be root: deploy_platform\.sh refuses to run as root/);
  });

  test('refuses a database claim that is not bound to a volume', async () => {
    // A node in another namespace whose database claim names a volume that does not exist.
    const broken = kaapanaNode({ version: '0.2.x', instanceUid: 'nopv', fastDataDir: fastDir(), slowDataDir: slowDir() });
    const objects = broken.objects
      .filter((o) => o.kind === 'Namespace' || o.kind === 'Deployment' || (o.kind === 'PersistentVolumeClaim' && o.metadata?.name === CLAIM))
      .map((o) => (o.kind === 'PersistentVolumeClaim' ? { ...o, spec: { ...(o as { spec: object }).spec, volumeName: 'no-such-volume' } } : o)) as KubernetesObject[];
    await k4().apply(objects);
    try {
      const core = k4().kc.makeApiClient(CoreV1Api);
      await k4().until('the claim Pending', async () => (await core.readNamespacedPersistentVolumeClaim({ name: CLAIM, namespace: broken.namespace })).status?.phase === 'Pending', 10_000);
      await assert.rejects(
        adapter({ namespace: broken.namespace }, k4()).preflight(),
        /^Error: cannot tell where postgres-dcm4che keeps its database: claim dcm4chee-postgres-pv-claim is not bound to a volume \(phase Pending\)$/,
      );
    } finally {
      await k4().delete(objects.filter((o) => o.kind === 'Namespace'));
    }
  });

  test('an INSTANCE_UID node: namespace <uid>-services and suffixed data directories, with the namespace option set', async () => {
    const uid = nodeUid();
    assert.equal(uid.namespace, UID_NS);
    const result = await adapter({ namespace: UID_NS, dataDir: path.join(uid.fastDataDir, 'postgres-dcm4che') }, k4()).preflight();
    assert.equal(result.databaseHostPath, `${fastDir()}-k1/postgres-dcm4che`);
    assert.ok(result.notes.includes(`Kubernetes v1.30.14 at ${k4().server}, namespace ${UID_NS}`), result.notes.join('\n'));
    // The default namespace holds nothing of that node.
    await assert.rejects(adapter({ namespace: 'services' }, k4()).preflight(), /deployments missing in namespace services/);
  });
});

describe('stopping and restoring the applications through the controller manager', () => {
  test('stopApplications marks the deployments, scales dcm4chee, then postgres-dcm4che, to 0 and returns when their pods are gone; a retry records the same', async () => {
    const ldapBefore = await uids(k5(), 'ldap');
    const mark = k5().events.length;
    const progress = recordingProgress();
    const record = await adapter().stopApplications(progress);
    assert.deepEqual(record, { dcm4chee: 1, 'postgres-dcm4che': 1 });
    assert.deepEqual(names(await k5().pods('dcm4chee')), []);
    assert.deepEqual(names(await k5().pods('postgres-dcm4che')), []);
    assert.deepEqual(await uids(k5(), 'ldap'), ldapBefore, 'ldap stays up');
    for (const app of APPS) assert.ok((await annotations(k5(), app))[ORIGINAL], `${app} marked as the original`);
    assert.equal((await annotations(k5(), 'dcm4chee'))[REPLICAS], '1');
    assert.equal((await annotations(k5(), 'postgres-dcm4che'))[REPLICAS], '1');
    assert.equal((await annotations(k5(), 'ldap'))[REPLICAS], undefined);

    const at = await eventIndex(k5(), mark, [/^scale dcm4chee 0$/, /^gone dcm4chee-/, /^scale postgres-dcm4che 0$/, /^gone postgres-dcm4che-/]);
    assert.ok(at(/^scale dcm4chee 0$/) < at(/^terminating dcm4chee-/));
    assert.ok(at(/^gone dcm4chee-/) < at(/^scale postgres-dcm4che 0$/), 'the database is scaled only after dcm4chee is gone');
    assert.ok(at(/^scale postgres-dcm4che 0$/) < at(/^gone postgres-dcm4che-/));
    assert.ok(!k5().events.slice(mark).some((e) => /^(terminating|gone) ldap-/.test(e)));

    // A retried stop (e.g. after a timeout) finds 0 replicas but records the counts from before.
    const retryMark = k5().events.length;
    assert.deepEqual(await adapter().stopApplications(recordingProgress()), record);
    assert.ok(!k5().events.slice(retryMark).some((e) => e.startsWith('scale ')), k5().events.slice(retryMark).join(', '));
  });

  test('restoreApplications scales back in reverse order, each Ready before the next, and removes the marks; a retry of it finds nothing left to do', async () => {
    const mark = k5().events.length;
    const progress = recordingProgress();
    assert.equal(await adapter().restoreApplications(progress), 'scaled back: postgres-dcm4che=1, dcm4chee=1');
    const at = await eventIndex(k5(), mark, [/^scale postgres-dcm4che 1$/, /^ready postgres-dcm4che-/, /^scale dcm4chee 1$/, /^ready dcm4chee-/]);
    assert.ok(at(/^scale postgres-dcm4che 1$/) < at(/^ready postgres-dcm4che-/));
    assert.ok(at(/^ready postgres-dcm4che-/) < at(/^scale dcm4chee 1$/), 'the archive comes back only once its database is Ready');
    for (const app of APPS) assert.deepEqual(await annotations(k5(), app), {}, `${app}: bookkeeping removed`);
    for (const app of ['dcm4chee', 'postgres-dcm4che']) assert.ok((await k5().pods(app)).every(isReady) && (await k5().pods(app)).length === 1, `${app} Ready`);

    // The same activity retried (its completion lost): the stage it marked says it is done.
    assert.equal(await adapter().restoreApplications(recordingProgress(progress.done)), 'scaled back by an earlier attempt');
    await settled(k5());
  });

  test('restoreApplications after a stop that failed half-way (only dcm4chee scaled) brings dcm4chee back', async () => {
    const core = k5().kc.makeApiClient(CoreV1Api);
    // The dcm4chee pod does not go away (a finalizer holds it): the stop times out waiting for it.
    const [held] = names(await k5().pods('dcm4chee'));
    await core.patchNamespacedPod({ name: held!, namespace: 'services', body: { metadata: { finalizers: ['kaapana.test/hold'] } } }, mergePatch);
    const mark = k5().events.length;
    try {
      await assert.rejects(
        adapter({ readyTimeoutMs: 1_500 }).stopApplications(recordingProgress()),
        new RegExp(`^Error: timed out after 1\\.5 s waiting for the dcm4chee pods to terminate; last seen: ${held} Terminating$`),
      );
    } finally {
      await core.patchNamespacedPod({ name: held!, namespace: 'services', body: { metadata: { finalizers: null } } }, mergePatch);
    }
    assert.equal((await k5().deployment('dcm4chee'))?.spec?.replicas, 0);
    assert.equal((await k5().deployment('postgres-dcm4che'))?.spec?.replicas, 1, 'never scaled');
    assert.ok(!k5().events.slice(mark).includes('scale postgres-dcm4che 0'));
    assert.deepEqual(await annotations(k5(), 'postgres-dcm4che'), { [ORIGINAL]: (await annotations(k5(), 'postgres-dcm4che'))[ORIGINAL]! });
    await k5().until('the held pod gone', async () => (await k5().pods('dcm4chee')).length === 0, 10_000);

    assert.equal(await adapter().restoreApplications(recordingProgress()), 'scaled back: dcm4chee=1');
    for (const app of APPS) assert.deepEqual(await annotations(k5(), app), {}, `${app}: bookkeeping removed`);
    await settled(k5());
  });
});

describe('the LDAP update in the ldap pod', () => {
  test('ldapData lists the data versions the image ships and every LDIF, the two ui-config files among them', async () => {
    const data = await adapter().ldapData();
    assert.deepEqual(data.versions, ['5.28.0', '5.29.0', '5.29.1', '5.29.2', '5.30.0', '5.31.0', '5.31.1', '5.31.2', '5.32.0']);
    assert.ok(data.files.includes('5.30.0/update-ui-config.ldif') && data.files.includes('5.32.0/update-ui-config-5.32.0.ldif'), data.files.join(' '));
    assert.ok(data.files.includes('5.29.0/update-dev-5.29.0.ldif') && data.files.includes('init-role.ldif'), data.files.join(' '));
    assert.deepEqual(neverAppliedLdifs(data.files), ['5.30.0/update-ui-config.ldif', '5.32.0/update-ui-config-5.32.0.ldif']);
  });

  test('the plan, run in order, passes and leaves the expected tree', async () => {
    const ldap = await freshLdap();
    const c = adapter();
    const plan = await currentPlan();
    const mark = (await k5().execs()).length;
    for (const { argv } of plan) {
      const outcome = await c.execLdap(argv);
      const judged = judgeLdapOutcome(outcome);
      assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: false }, `${argv.join(' ')}: ${judged.reason} ${outcome.stderr}`);
      assert.ok(!outcome.stderr.includes('kaapana-migrate-exec-end'), 'the end marker is not part of the output');
    }
    const ran = (await k5().execs()).slice(mark);
    // Each through the image's sh, which writes the end marker; the argv stays argv.
    assert.deepEqual(ran.map((e) => e.argv.slice(4)), plan.map((p) => p.argv));
    assert.ok(ran.every((e) => e.argv[0] === 'sh' && e.argv[1] === '-c' && e.argv[3] === 'sh'));
    assert.ok(ran.every((e) => e.container === 'ldap-container' && e.pod.startsWith('ldap-') && e.namespace === 'services'));

    const device = await ldap.read(DEVICE);
    assert.deepEqual(values(device, 'dcmTag'), ['00081250', '00400275', '0040E001']);
    assert.deepEqual(values(device, 'dcmNewIn532'), ['TRUE'], 'needs update-schema first');
    assert.ok(values(device, 'dcmProperty').includes('storageVerification=true'));
    assert.ok(!values(device, 'dcmProperty').some((p) => p.startsWith('uiConfig=')), 'the ui-config LDIFs are never applied');
    assert.deepEqual(values(await ldap.read(AE), 'dcmAcceptedUserRole'), ['admin'], '5.28.0 added admin, 5.32.0 removed user');
    assert.notEqual(await ldap.read(`dcmExporterID=UpdateStudySize,${DEVICE}`), '');
    assert.notEqual(await ldap.read(`dcmExporterID=CalculateQueryAttributes,${DEVICE}`), '');
    assert.deepEqual(values(await ldap.read(RETRIEVE_AS_RECEIVED), 'dcmProperty'), ['asReceived=5.29']);
    assert.deepEqual(values(await ldap.read(AUTH, ['member']), 'member'), [`uid=user,ou=users,${BASE}`]);
  });

  test('re-running each command right after it ran is judged already applied, from real LDAP result codes', async () => {
    const ldap = await freshLdap();
    const c = adapter();
    const codes = new Set<string>();
    for (const { argv } of await currentPlan()) {
      assert.equal(judgeLdapOutcome(await c.execLdap(argv)).ok, true, argv.join(' '));
      const again = await c.execLdap(argv);
      const judged = judgeLdapOutcome(again);
      if (argv[0] === 'update-schema') {
        assert.deepEqual(judged, { ok: true, alreadyApplied: false }, 'update-schema replaces the schema: re-runnable');
        continue;
      }
      assert.equal(judged.ok, true, `${argv.join(' ')}: ${judged.reason}`);
      assert.equal(judged.alreadyApplied, true, `${argv.join(' ')}: ${again.stderr}`);
      for (const m of judged.reason!.matchAll(/\((\d+)\)/g)) codes.add(m[1]!);
    }
    assert.deepEqual([...codes].sort(), ['16', '20', '68']);

    // The whole plan once more converges to the same tree (assign/unassign admin undo each other).
    const before = [await ldap.read(DEVICE), await ldap.read(AE), await ldap.read(AUTH)];
    for (const { argv } of await currentPlan()) assert.equal(judgeLdapOutcome(await c.execLdap(argv)).ok, true, argv.join(' '));
    assert.deepEqual([await ldap.read(DEVICE), await ldap.read(AE), await ldap.read(AUTH)], before);
  });

  test('5.29.0 interrupted between its delete and its add of RetrieveAsReceived: the re-run\'s ldap_delete 32 is judged already applied, the entry is back', async () => {
    const ldap = await freshLdap();
    const c = adapter();
    const argv = await plannedUpdate('5.29.0');
    assert.deepEqual(judgeLdapOutcome(await c.execLdap(argv)), { ok: true, alreadyApplied: false });
    // What a run cut off after the delete leaves: the exporter added, RetrieveAsReceived gone.
    assert.equal((await ldap.modify(`dn: ${RETRIEVE_AS_RECEIVED}\nchangetype: delete\n`)).code, 0);
    assert.equal(await ldap.read(RETRIEVE_AS_RECEIVED), '');

    const outcome = await c.execLdap(argv);
    assert.equal(outcome.exitCode, 0);
    assert.match(outcome.stderr, /^ldap_add: Already exists \(68\)$/m);
    assert.match(outcome.stderr, /^ldap_delete: No such object \(32\)$/m);
    const judged = judgeLdapOutcome(outcome);
    assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: true }, judged.reason);
    assert.deepEqual(values(await ldap.read(RETRIEVE_AS_RECEIVED), 'dcmProperty'), ['asReceived=5.29'], '-c went on to the add');
  });

  test('update-data that fails silently (exit 0, ldap_modify error on stderr) is judged a failure', async () => {
    // Without ARCHIVE_DEVICE_NAME in argv the container's own (lower case) name addresses no device.
    const outcome = await adapter().execLdap(['update-data', '5.29.1']);
    assert.equal(outcome.exitCode, 0);
    assert.match(outcome.stderr, /ldap_modify: No such object \(32\)/);
    const judged = judgeLdapOutcome(outcome);
    assert.equal(judged.ok, false);
    assert.match(judged.reason!, /No such object \(32\)/);
  });

  test('init-role with one argument prints its usage and exits 0: judged a failure', async () => {
    const outcome = await adapter().execLdap([...ENV, 'init-role', 'auth']);
    assert.equal(outcome.exitCode, 0);
    assert.match(outcome.stdout, /^Usage: init-role/);
    const judged = judgeLdapOutcome(outcome);
    assert.equal(judged.ok, false);
    assert.match(judged.reason!, /printed its usage/);
  });

  test('-c: a re-run after a partial run applies the rest of the file; without it the rest is skipped', async () => {
    const ldap = await freshLdap();
    const c = adapter();
    const firstChangeOnly = `dn: ${DEVICE}\nchangetype: modify\nadd: dcmTag\ndcmTag: 0040E001\n`;
    assert.equal((await ldap.modify(firstChangeOnly)).code, 0);

    const guideWay = judgeLdapOutcome(await c.execLdap([...ENV, 'update-data', '5.28.0']));
    assert.deepEqual({ ok: guideWay.ok, alreadyApplied: guideWay.alreadyApplied }, { ok: true, alreadyApplied: true });
    assert.ok(!values(await ldap.read(DEVICE), 'dcmProperty').includes('storageVerification=true'), 'ldapmodify stopped at the first "value exists"');

    const planned = await plannedUpdate('5.28.0');
    assert.ok(planned.includes('-c'));
    const judged = judgeLdapOutcome(await c.execLdap(planned));
    assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: true });
    assert.ok(values(await ldap.read(DEVICE), 'dcmProperty').includes('storageVerification=true'));
  });

  test('a command exiting non-zero is reported with its exit code and stderr; one the image lacks too; stderr without a final newline is kept', async () => {
    const c = adapter();
    const outcome = await c.execLdap(['ls', '/etc/openldap/data/9.9.9']);
    assert.equal(outcome.exitCode, 2);
    assert.match(outcome.stderr, /No such file or directory\n$/);
    assert.match(judgeLdapOutcome(outcome).reason!, /^exit code 2/);

    // Run through the image's sh: a missing command is sh's 127, not a failure to start.
    const missing = await c.execLdap(['no-such-command', 'arg']);
    assert.equal(missing.exitCode, 127);
    assert.match(missing.stderr, /no-such-command: not found/);
    assert.match(judgeLdapOutcome(missing).reason!, /^exit code 127/);

    const partialLine = await c.execLdap(['sh', '-c', 'echo out; printf "no newline at the end" >&2; exit 3']);
    assert.deepEqual({ exitCode: partialLine.exitCode, stdout: partialLine.stdout, stderr: partialLine.stderr }, { exitCode: 3, stdout: 'out\n', stderr: 'no newline at the end' });
  });

  test('no Running ldap pod, or several: clear errors, nothing runs', async () => {
    const c = adapter();
    const mark = (await k5().execs()).length;
    await k5().scale('ldap', 0);
    await k5().until('no ldap pods', async () => (await k5().pods('ldap')).length === 0);
    await assert.rejects(c.execLdap(['ls']), /^Error: no Running ldap pod \(app-name=ldap\) in namespace services$/);

    await k5().scale('ldap', 2);
    await k5().until('two Running ldap pods', async () => (await k5().pods('ldap')).filter((p) => p.status?.phase === 'Running').length === 2);
    const running = names(await k5().pods('ldap'));
    await assert.rejects(c.execLdap(['ls']), (err: Error) => {
      assert.match(err.message, /^2 Running ldap pods \(.*\): refusing to guess/);
      for (const n of running) assert.ok(err.message.includes(n), `${n} named`);
      return true;
    });
    assert.equal((await k5().execs()).length, mark);

    await k5().scale('ldap', 1);
    await settled(k5());
  });
});

describe('a node connection dropped mid-command', () => {
  test('v5 (1.30): the stream reads as Success cut short; the adapter reports an error, the retry is judged already applied', async () => {
    await freshLdap();
    const c = adapter();
    const argv = await plannedUpdate('5.28.0');
    // The node connection goes 20 ms after the first output; update-data can be through by then, and
    // then nothing is lost. Started a little later, the command certainly runs on past the drop.
    const late = ['sh', '-c', 'echo "starting $*"; sleep 0.3; exec "$@"', 'sh', ...argv];
    await k5().dropExecs(1);
    await assert.rejects(c.execLdap(late), /the stream ended before the command did \(exit status 0 without the end marker on (stdout|stderr)\); it may have run partly$/);
    await k5().execsSettled(); // the command went on running in the pod
    assert.match(k5().logTail('exec-kubelet', 5), /connection dropped: true/);
    const judged = judgeLdapOutcome(await c.execLdap(argv));
    assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: true }, judged.reason);
  });

  test('v4 (microk8s 1.26/1.28): the websocket closes abnormally; the adapter reports an error, the retry is judged already applied', async () => {
    const c = adapter({ namespace: UID_NS }, k4());
    const failing = await c.execLdap(['ls', '/etc/openldap/data/9.9.9']);
    assert.equal(failing.exitCode, 2, 'v4 reports exit codes on the status channel as v5 does');
    const argv = await plannedUpdate('5.29.0', k4());
    await k4().dropExecs(1);
    await assert.rejects(c.execLdap(argv), /lost its connection \(websocket closed, code 1006\) before the exit status arrived$/);
    await k4().execsSettled();
    const judged = judgeLdapOutcome(await c.execLdap(argv));
    assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: true }, judged.reason);
    assert.ok((await k4().execs()).every((e) => e.namespace === UID_NS));
  });

  test('backupLdap writes the slapcat LDIF with mode 0600, durably; a dropped stream leaves no file, under v5 and v4', async () => {
    // A tree as big as a site's: its export outruns the pipe, so a drop cuts it (a small one would be through before the reset).
    for (const ldap of [slapd!, slapd4!]) assert.equal((await ldap.modify(bulkEntries(600))).code, 0);
    const dir = path.join(work!, 'run');
    const file = path.join(dir, 'ldap-backup.ldif');
    // Written like the dumps (src/files.ts writeFileDurably): what a killed attempt left is removed.
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(`${file}.partial-4242-1700000000000`, 'dn: cut short');
    assert.equal(await adapter().backupLdap(file), file);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const ldif = (await fs.readFile(file, 'utf8')).replace(/\n /g, ''); // unfold LDIF continuation lines
    assert.ok(ldif.startsWith(`dn: ${BASE}\n`), ldif.slice(0, 80));
    assert.ok(ldif.includes(`dn: ${DEVICE}\n`) && ldif.includes('entryUUID: '), 'a full slapcat export');
    assert.deepEqual((await k5().execs()).at(-1)!.argv.slice(4), SLAPCAT);
    assert.deepEqual(await fs.readdir(dir), ['ldap-backup.ldif']);

    await k5().dropExecs(1);
    await assert.rejects(adapter().backupLdap(path.join(dir, 'broken-v5.ldif')), /the stream ended before the command did/);
    await k5().execsSettled();
    await k4().dropExecs(1);
    await assert.rejects(adapter({ namespace: UID_NS }, k4()).backupLdap(path.join(dir, 'broken-v4.ldif')), /lost its connection/);
    await k4().execsSettled();
    assert.deepEqual(await fs.readdir(dir), ['ldap-backup.ldif'], 'neither a broken export nor its partial file');
  });
});

describe('restarting the pods', () => {
  // The v4 cluster's last use: stopped here, so that it does not share the CPU with the redeploys.
  after(async () => {
    const [k, s4] = [kube4, slapd4];
    kube4 = undefined;
    slapd4 = undefined;
    const results = await Promise.allSettled([k?.stop(), s4?.stop()]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  test('restartPods replaces the ldap pod, then the dcm4chee pod, and returns when the new ones are Ready', async () => {
    const old = { ldap: await uids(k5(), 'ldap'), dcm4chee: await uids(k5(), 'dcm4chee'), postgres: await uids(k5(), 'postgres-dcm4che') };
    const mark = k5().events.length;
    await adapter().restartPods(recordingProgress());
    for (const app of ['ldap', 'dcm4chee'] as const) {
      const pods = await k5().pods(app);
      assert.equal(pods.length, 1);
      assert.ok(pods.every(isReady), `${app} Ready`);
      assert.ok(!old[app].includes(pods[0]!.metadata!.uid!), `${app} has a new pod`);
    }
    const at = await eventIndex(k5(), mark, [/^gone ldap-/, /^ready ldap-/, /^terminating dcm4chee-/, /^created dcm4chee-/]);
    assert.ok(at(/^ready ldap-/) < at(/^terminating dcm4chee-/), 'dcm4chee restarts once the new ldap is Ready');
    assert.deepEqual(await uids(k5(), 'postgres-dcm4che'), old.postgres, 'the database is left alone');
  });

  test('pods that never become Ready end the wait with a timeout error naming them', async () => {
    // On the v4 cluster, whose ldap stays unready from here on.
    await k4().setNeverReady(['ldap']);
    const old = names(await k4().pods('ldap'));
    const dcm4chee = await uids(k4(), 'dcm4chee');
    const started = Date.now();
    const err = await adapter({ namespace: UID_NS, readyTimeoutMs: 1_500 }, k4()).restartPods(recordingProgress()).then(
      () => assert.fail('restartPods returned'),
      (e: Error) => e,
    );
    assert.ok(Date.now() - started < 5_000, `${Date.now() - started} ms`);
    const fresh = names(await k4().pods('ldap')).filter((n) => !old.includes(n));
    assert.equal(fresh.length, 1);
    assert.match(err.message, new RegExp(`^timed out after 1\\.5 s waiting for a new ldap pod to be Ready; last seen: (.*, )?${fresh[0]} Running(, .*)?$`));
    assert.deepEqual(await uids(k4(), 'dcm4chee'), dcm4chee, 'dcm4chee is not restarted without its LDAP');
  });
});

describe('redeploy with the deploy_platform.sh stand-ins, run as kaapana-test', () => {
  let stopped: ReturnType<typeof recordingProgress>;

  test('a deploy that fails after the undeploy: 0.2.x and every PV are gone; the error is the script\'s', async (t) => {
    await adapter().stopApplications(recordingProgress());
    await scripts.control('fail-deploy-0.3.x', 'yes');
    const deploy = watchedRunner(scripts);
    stopped = recordingProgress();
    const started = Date.now();
    try {
      await assert.rejects(
        adapter({ deploy }).redeploy(stopped),
        (err: Error) => {
          assert.match(err.message, new RegExp(`^\`${scripts.target} --quiet\` \\(as kaapana-test\\) exited with 1; last output:\\n`));
          assert.match(err.message, /Error: INSTALLATION FAILED: the test made this deploy fail$/);
          return true;
        },
      );
    } finally {
      await scripts.control('fail-deploy-0.3.x', undefined);
    }
    t.diagnostic(`undeploy and failed deploy: ${Date.now() - started} ms (scripts: ${scriptTimes(deploy)})`);
    assert.deepEqual(deploy.stages(), ['undeploy:current', 'deploy:target']);
    assert.deepEqual(deploy.calls[0]!.seen!.volumes, [], 'the undeploy deleted every PV');
    assert.deepEqual(deploy.calls[0]!.seen!.deployments, []);
    assert.deepEqual([...stopped.done], ['undeploy:current']);
    assert.ok(stopped.said.includes(`running ${scripts.current} --quiet --undeploy`), stopped.said.join('\n'));
    assert.deepEqual(names(await k5().pods()), []);
  });

  test('the stand-in\'s refusals reach the caller in its own words: KUBECONFIG set, a prompt without stdin, wrong registry credentials; a missing script', async () => {
    // A site whose script gets KUBECONFIG from somewhere: the preflight refuses and asks; no stdin, so exit 1.
    const wrapper = path.join(work!, 'deploy', 'with-kubeconfig.sh');
    await fs.writeFile(wrapper, `#!/bin/sh\nexport KUBECONFIG="$HOME/.kube/config"\nexec '${scripts.target}' "$@"\n`, { mode: 0o755 });
    const missing = path.join(work!, 'deploy', 'kaapana-0.1', 'deploy_platform.sh');
    // Independent of each other (none gets as far as deploying): run side by side.
    await Promise.all([
      assert.rejects(runner(scripts, { targetScript: wrapper, registry: undefined }).run('target', 'deploy'), (err: Error) => {
        assert.match(err.message, new RegExp(`^\`${wrapper} --quiet\` \\(as kaapana-test\\) exited with 1; last output:\n`));
        assert.match(err.message, /^100 Check that \$KUBECONFIG is untouched: failed \(KUBECONFIG=\/home\/kaapana-test\/\.kube\/config\)$/m);
        assert.match(err.message, /^Problems with a high severity have been found!$/m);
        return true;
      }),
      // Without registry credentials the script prompts; with no stdin the prompt ends it.
      assert.rejects(runner(scripts, { registry: undefined }).run('target', 'deploy'), /exited with 1; last output:\nRegistry username: $/),
      assert.rejects(runner(scripts, { registry: async () => ({ ...REGISTRY, password: 'wrong' }) }).run('target', 'deploy'), /exited with 1; last output:\nRegistry username: Registry password: Error: login failed: unauthorized$/),
      assert.rejects(runner(scripts, { currentScript: missing }).run('current', 'undeploy'), { message: `could not run \`${missing} --quiet --undeploy\`: ${missing} is missing or not executable` }),
    ]);
    assert.equal(await k5().deployment('dcm4chee'), undefined, 'nothing was deployed');
  });

  test('a retried redeploy deploys without undeploying again; a volume bound elsewhere: dcm4chee and postgres-dcm4che scaled to 0, both paths named', async (t) => {
    const deploy = watchedRunner(elsewhere);
    const wrongDir = path.join(work!, 'fast-elsewhere', 'postgres-dcm4che');
    const message = `after the deploy, postgres-dcm4che's volume is ${wrongDir}, not the migrated ${dataDir()}: dcm4chee and postgres-dcm4che were scaled to 0; correct the volume (FAST_DATA_DIR in ${elsewhere.target}), then retry`;
    const started = Date.now();
    await assert.rejects(adapter({ deploy }).redeploy(stopped), { message });
    t.diagnostic(`deploy to the wrong volume: ${Date.now() - started} ms (scripts: ${scriptTimes(deploy)}); last waits: ${stopped.said.slice(-3).join(' | ')}`);
    assert.deepEqual(deploy.stages(), ['deploy:target'], 'the undeploy is not repeated');
    assert.deepEqual([...stopped.done], ['undeploy:current', 'deploy:target']);
    assert.deepEqual(deploy.calls[0]!.seen!.deployments, [], 'the platform comes up after the script returned');
    assert.equal((await claimAndVolume(k5())).volume?.spec?.hostPath?.path, wrongDir);
    for (const app of ['dcm4chee', 'postgres-dcm4che']) assert.equal((await k5().deployment(app))?.spec?.replicas, 0, app);
    await k5().until('no dcm4chee and postgres-dcm4che pods', async () => (await k5().pods('dcm4chee')).length + (await k5().pods('postgres-dcm4che')).length === 0, 10_000);
    assert.equal((await k5().deployment('ldap'))?.spec?.replicas, 1);

    // Retried once more: no script runs, the same refusal.
    await assert.rejects(adapter({ deploy }).redeploy(stopped), { message });
    assert.deepEqual(deploy.stages(), ['deploy:target']);
  });

  test('undeployTarget after that failed deploy removes 0.3.x, its pods and volumes; a retry does not run it again', async () => {
    const deploy = watchedRunner(elsewhere);
    const progress = recordingProgress();
    assert.equal(await adapter({ deploy }).undeployTarget(progress), 'undeployed the 0.3.x platform');
    assert.deepEqual(deploy.stages(), ['undeploy:target']);
    assert.deepEqual(deploy.calls[0]!.seen!.volumes, []);
    assert.deepEqual(deploy.calls[0]!.seen!.deployments, []);
    assert.deepEqual(names(await k5().pods()), []);
    assert.equal(await adapter({ deploy }).undeployTarget(progress), 'undeployed the 0.3.x platform');
    assert.deepEqual(deploy.stages(), ['undeploy:target']);
  });

  test('restoreApplications after the undeploy deploys 0.2.x again with the current script, on the original volume', async (t) => {
    const deploy = watchedRunner(scripts);
    const progress = recordingProgress();
    const started = Date.now();
    assert.equal(await adapter({ deploy }).restoreApplications(progress), 'deployed the 0.2.x platform again');
    t.diagnostic(`0.2.x deploy until Ready: ${Date.now() - started} ms (scripts: ${scriptTimes(deploy)})`);
    assert.deepEqual(deploy.stages(), ['deploy:current']);
    assert.deepEqual(deploy.calls[0]!.seen!.deployments, []);
    const { claim, volume } = await claimAndVolume(k5());
    assert.equal(claim.status?.phase, 'Bound');
    assert.equal(volume?.spec?.hostPath?.path, dataDir());
    for (const app of APPS) assert.ok((await k5().pods(app)).some(isReady), `${app} Ready`);
    assert.deepEqual((await k5().pods('dcm4chee'))[0]!.spec?.containers.map((c) => c.name), ['dcm4chee-container'], 'the 0.2.x chart: no nginx sidecar');

    // Retried after it finished: deploy:current is done, nothing runs, the platform is found Ready.
    assert.equal(await adapter({ deploy }).restoreApplications(recordingProgress(progress.done)), 'deployed the 0.2.x platform again');
    assert.deepEqual(deploy.stages(), ['deploy:current']);
    await settled(k5());
  });

  test('the forward path: undeploy 0.2.x, deploy 0.3.x (credentials on stdin), the claim bound again to the same directory, all Ready', async (t) => {
    await adapter().stopApplications(recordingProgress());
    const volumeBefore = (await claimAndVolume(k5())).volume!;
    const lines: string[] = [];
    const deploy = watchedRunner(scripts, { log: (l) => lines.push(l) });
    const progress = recordingProgress();
    const mark = k5().events.length;
    // The worker's own KUBECONFIG must not reach the script (its preflight would refuse it, its undeploy use it).
    const savedEnv = process.env.KUBECONFIG;
    process.env.KUBECONFIG = path.join(work!, 'no-such-kubeconfig');
    const started = Date.now();
    try {
      assert.equal(await adapter({ deploy }).redeploy(progress), `0.3.x deployed; database volume ${dataDir()}; dcm4chee, ldap and postgres-dcm4che Ready`);
    } finally {
      if (savedEnv === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = savedEnv;
    }
    t.diagnostic(`undeploy, deploy and Ready: ${Date.now() - started} ms (scripts: ${scriptTimes(deploy)})`);
    assert.deepEqual(deploy.stages(), ['undeploy:current', 'deploy:target']);
    assert.deepEqual([...progress.done], ['undeploy:current', 'deploy:target']);
    const [undeployed, deployed] = deploy.calls.map((c) => c.seen!);
    assert.deepEqual(undeployed!.volumes, [], 'the undeploy deleted every PV');
    assert.deepEqual(deployed!.deployments, [], 'the deploy returned before the platform existed');
    const events = k5().events.slice(mark);
    const created = (e: string) => /^deployment (dcm4chee|ldap|postgres-dcm4che) 1$/.test(e);
    assert.ok(!events.slice(0, deployed!.events - mark).some(created), events.join(', '));
    await k5().eventsAfter(deployed!.events, APPS.map((a) => `deployment ${a} 1`));

    const { claim, volume } = await claimAndVolume(k5());
    assert.equal(claim.status?.phase, 'Bound');
    assert.equal(volume?.spec?.hostPath?.path, dataDir(), 'the same directory');
    assert.notEqual(volume?.metadata?.uid, volumeBefore.metadata?.uid, 'a re-created PV');
    for (const app of APPS) {
      const pods = await k5().pods(app);
      assert.ok(pods.length === 1 && pods.every(isReady), `${app}: one Ready pod`);
      assert.deepEqual(await annotations(k5(), app), {}, `${app}: a 0.3.x deployment, not marked`);
    }
    assert.deepEqual((await k5().pods('dcm4chee'))[0]!.spec?.containers.map((c) => c.name), ['dcm4chee-nginx', 'dcm4chee-container']);

    // The credentials went in on stdin (the stand-in checks them), never in argv or the log.
    assert.deepEqual(deploy.argvOf('target', 'deploy'), [scripts.target, '--quiet']);
    assert.ok(lines.includes(`$ ${scripts.target} --quiet (as kaapana-test)`), lines.join('\n'));
    const line = (re: RegExp) => {
      const i = lines.findIndex((l) => re.test(l));
      assert.ok(i >= 0, `no line ${re} in:\n${lines.join('\n')}`);
      return i;
    };
    // Each script's output streamed to the log, in order.
    assert.ok(line(/^\$ .*kaapana-0\.2\.x\/deploy_platform\.sh --quiet --undeploy \(as kaapana-test\)$/) < line(/^UNDEPLOYMENT DONE$/));
    assert.ok(line(/^UNDEPLOYMENT DONE$/) < line(/^\$ .*kaapana-0\.3\.x\/deploy_platform\.sh --quiet \(as kaapana-test\)$/));
    assert.ok(line(/^\$ .*kaapana-0\.3\.x\/deploy_platform\.sh --quiet/) < line(/Deployed kaapana-platform-chart 0\.3\.x/));
    assert.ok(!lines.some((l) => l.includes(REGISTRY.password)), lines.join('\n'));
  });

  test('a retried redeploy does not run the undeploy or the deploy again; a deploy over it is refused; restore refuses the 0.3.x platform', async () => {
    const deploy = watchedRunner(scripts);
    const c = adapter({ deploy });
    await c.redeploy(recordingProgress(['undeploy:current', 'deploy:target']));
    const fresh = recordingProgress();
    await c.redeploy(fresh); // the heartbeat lost: the deployments found are the target's
    assert.deepEqual([...fresh.done], ['deploy:target']);
    assert.deepEqual(deploy.stages(), []);

    await assert.rejects(deploy.run('target', 'deploy'), /exited with 1; last output:\nRegistry username: Registry password: Project already deployed!\nabort\.$|exited with 1; last output:\nProject already deployed!\nabort\.$/);
    await assert.rejects(
      c.restoreApplications(recordingProgress()),
      /^Error: deployments dcm4chee, ldap, postgres-dcm4che are not those of the 0\.2\.x platform \(the 0\.3\.x platform is still deployed\?\): undeploy it first$/,
    );
    await settled(k5());
  });
});
