// The test cluster itself (test/support/kube): a real control plane with kwok's node and the exec
// endpoint, given a Kaapana 0.2.x node's objects. What the adapter's tests build on: deployments
// become available, the database claim binds to its hostPath volume, scaling removes and brings back
// pods, a deleted pod is replaced, exec in the ldap pod runs the image's commands against a real
// slapd with their exit codes, and a dropped exec looks as it does on a real cluster.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api, Exec, VersionApi, type V1Pod, type V1Status } from '@kubernetes/client-node';
import YAML from 'yaml';
import { kaapanaNode } from '../fixtures/kaapana-node/index.js';
import { isReady, startKubeCluster, type KubeCluster } from '../support/kube/cluster.js';
import { startSlapd, type TestSlapd } from '../support/slapd.js';

// Nothing here may hang the run: every wait is bounded, and so is the file.
setTimeout(() => {
  process.stderr.write('kube-cluster.test.ts: still running after 5 minutes, giving up\n');
  process.exit(1);
}, 5 * 60_000).unref();

const BASE = 'dc=dcm4che,dc=org';
const DEVICE = `dicomDeviceName=KAAPANA,cn=Devices,cn=DICOM Configuration,${BASE}`;
const WITH_DEVICE = ['env', 'ARCHIVE_DEVICE_NAME=KAAPANA'];
/** The cluster's processes as /proc/<pid>/comm names them (15 characters at most). */
const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller', 'kube-scheduler', 'kwok', 'exec-kubelet'];

interface ExecResult {
  protocol: string;
  stdout: string;
  stderr: string;
  /** The status channel's message; undefined when the connection ended without one. */
  status?: V1Status;
  closeCode: number;
}

/** One command in the ldap container through client-node's websocket Exec, to the end of the socket. */
async function exec(kube: KubeCluster, pod: string, argv: string[]): Promise<ExecResult> {
  const sink = () => {
    const chunks: Buffer[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    });
    return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = sink();
  const err = sink();
  let status: V1Status | undefined;
  const ws = await new Exec(kube.kc).exec(kube.namespace, pod, 'ldap-container', argv, out.stream, err.stream, null, false, (s) => {
    status = s;
  });
  const closeCode = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${argv.join(' ')}: no end after 30 s`)), 30_000);
    ws.on('close', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { protocol: ws.protocol, stdout: out.text(), stderr: err.text(), ...(status ? { status } : {}), closeCode };
}

const exitCode = (s: V1Status | undefined) => (s?.status === 'Success' ? 0 : Number(s?.details?.causes?.find((c) => c.reason === 'ExitCode')?.message));
const names = (pods: V1Pod[]) => pods.map((p) => p.metadata!.name!);

async function runningLdapPod(kube: KubeCluster): Promise<string> {
  let name = '';
  await kube.until('one Ready ldap pod', async () => {
    const ready = (await kube.pods('ldap')).filter(isReady);
    name = ready.length === 1 ? ready[0]!.metadata!.name! : '';
    return name !== '';
  });
  return name;
}

/** Once every pattern was seen after mark: the index of the first event matching a pattern. */
async function eventIndex(kube: KubeCluster, mark: number, patterns: RegExp[]) {
  const events = await kube.eventsAfter(mark, patterns);
  return (re: RegExp) => events.findIndex((e) => re.test(e));
}

describe('a Kaapana 0.2.x node on the test cluster (exec as 1.30 serves it, v5)', () => {
  let kube: KubeCluster;
  let slapd: TestSlapd;
  let work: string;
  const node = () => kaapanaNode({ version: '0.2.x', fastDataDir: path.join(work, 'fast'), slowDataDir: path.join(work, 'slow') });

  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-cluster-test-'));
    slapd = await startSlapd();
    kube = await startKubeCluster();
    await kube.useSlapd(slapd);
    await kube.apply(node().objects);
  });

  after(async () => {
    // Each piece is stopped even when another fails, or when before() failed half-way.
    const results = await Promise.allSettled([kube?.stop(), slapd?.stop(), work ? fs.rm(work, { recursive: true, force: true }) : undefined]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  test('started within the bound; the API server says v1.30.14; the kubeconfig is shaped like microk8s\' client.config', async (t) => {
    t.diagnostic(`startup ${kube.startup.totalMs} ms: ${JSON.stringify(kube.startup.marks)}`);
    // Catches a stand-in that hangs, not a slow one: beside the whole suite on 2 cores it took 49 s.
    assert.ok(kube.startup.totalMs < 90_000, `startup took ${kube.startup.totalMs} ms`);
    assert.equal((await kube.kc.makeApiClient(VersionApi).getCode()).gitVersion, 'v1.30.14');

    const config = YAML.parse(await fs.readFile(kube.kubeconfigPath, 'utf8'));
    const cluster = config.clusters[0].cluster;
    const user = config.users[0].user;
    assert.equal(cluster.server, kube.server);
    assert.match(cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(cluster['certificate-authority-data'] && user['client-certificate-data'] && user['client-key-data']);
    const cert = new X509Certificate(Buffer.from(user['client-certificate-data'], 'base64'));
    assert.match(cert.subject, /O=system:masters/);
    assert.ok(cert.checkIssued(new X509Certificate(await fs.readFile(kube.caFile))));
  });

  test('the three deployments become available, their pods Running and Ready on the kwok node', async (t) => {
    const started = Date.now();
    const apps = kube.kc.makeApiClient(AppsV1Api);
    await kube.until('dcm4chee, ldap and postgres-dcm4che available', async () => {
      const list = await apps.listNamespacedDeployment({ namespace: kube.namespace });
      return list.items.length === 3 && list.items.every((d) => d.status?.availableReplicas === 1);
    });
    t.diagnostic(`available ${Date.now() - started} ms after the first check`);
    const pods = await kube.pods();
    assert.equal(pods.length, 3);
    for (const p of pods) {
      assert.equal(p.spec?.nodeName, kube.nodeName);
      assert.ok(isReady(p), `${p.metadata?.name} Ready`);
    }
    // The label is on the selector and the pods only, as in the chart.
    const d = await kube.deployment('postgres-dcm4che');
    assert.equal(d?.metadata?.labels?.['app-name'], undefined);
    assert.equal(d?.spec?.selector.matchLabels?.['app-name'], 'postgres-dcm4che');
    await kube.eventsAfter(0, names(pods).flatMap((p) => [`created ${p}`, `ready ${p}`]));
  });

  test('the database claim is bound by the PV controller to the host-dir volume on FAST_DATA_DIR', async () => {
    const core = kube.kc.makeApiClient(CoreV1Api);
    let claim = await core.readNamespacedPersistentVolumeClaim({ name: 'dcm4chee-postgres-pv-claim', namespace: kube.namespace });
    await kube.until('the claim Bound', async () => {
      claim = await core.readNamespacedPersistentVolumeClaim({ name: 'dcm4chee-postgres-pv-claim', namespace: kube.namespace });
      return claim.status?.phase === 'Bound';
    });
    assert.equal(claim.spec?.volumeName, 'dcm4chee-postgres-pv-volume');
    assert.equal(claim.spec?.storageClassName, 'nfs', 'the chart\'s claim names nfs; binding works because both sides are pre-bound');
    const volume = await core.readPersistentVolume({ name: 'dcm4chee-postgres-pv-volume' });
    assert.equal(volume.status?.phase, 'Bound');
    assert.equal(volume.spec?.storageClassName, 'host-dir');
    assert.equal(volume.spec?.persistentVolumeReclaimPolicy, 'Retain');
    assert.equal(volume.spec?.hostPath?.path, path.join(node().fastDataDir, 'postgres-dcm4che'));
    assert.equal(volume.spec?.claimRef?.uid, claim.metadata?.uid, 'the binder completed the claim reference');
    const pod = (await kube.pods('postgres-dcm4che'))[0]!;
    assert.equal(pod.spec?.volumes?.find((v) => v.name === 'postgres-data')?.persistentVolumeClaim?.claimName, 'dcm4chee-postgres-pv-claim');
  });

  test('scaling postgres-dcm4che to 0 removes its pod for good; scaling back brings a new Ready one', async (t) => {
    const [old] = await kube.pods('postgres-dcm4che');
    const mark = kube.events.length;
    let started = Date.now();
    await kube.scale('postgres-dcm4che', 0);
    await kube.until('no postgres-dcm4che pod', async () => (await kube.pods('postgres-dcm4che')).length === 0);
    t.diagnostic(`scale to 0: pod gone after ${Date.now() - started} ms`);
    const gone = new RegExp(`^gone ${old!.metadata!.name}$`);
    const at = await eventIndex(kube, mark, [/^scale postgres-dcm4che 0$/, /^terminating postgres-dcm4che-/, gone]);
    assert.ok(at(/^scale postgres-dcm4che 0$/) < at(/^terminating postgres-dcm4che-/));
    assert.ok(at(/^terminating postgres-dcm4che-/) < at(gone));

    started = Date.now();
    await kube.scale('postgres-dcm4che', 1);
    await kube.until('a Ready postgres-dcm4che pod', async () => (await kube.pods('postgres-dcm4che')).some(isReady));
    t.diagnostic(`scale to 1: pod Ready after ${Date.now() - started} ms`);
    const [fresh] = await kube.pods('postgres-dcm4che');
    assert.notEqual(fresh!.metadata!.uid, old!.metadata!.uid);
    assert.equal((await kube.deployment('postgres-dcm4che'))?.spec?.replicas, 1);
  });

  test('a deleted ldap pod is replaced by the replica set with a new Ready pod', async (t) => {
    const old = await runningLdapPod(kube);
    const core = kube.kc.makeApiClient(CoreV1Api);
    const started = Date.now();
    await core.deleteNamespacedPod({ name: old, namespace: kube.namespace });
    await kube.until('the old ldap pod gone and a new one Ready', async () => {
      const pods = await kube.pods('ldap');
      return pods.length === 1 && pods[0]!.metadata!.name !== old && isReady(pods[0]!);
    });
    t.diagnostic(`replacement Ready after ${Date.now() - started} ms`);
    await kube.eventsAfter(0, [`terminating ${old}`, `gone ${old}`]);
  });

  test('exec in the ldap pod runs the image\'s commands against slapd, with the container\'s env and real exit codes', async () => {
    const pod = await runningLdapPod(kube);
    const listing = await exec(kube, pod, ['ls', '-1', '/etc/openldap/data']);
    assert.equal(listing.protocol, 'v5.channel.k8s.io', 'client-node offers v5 first; 1.30 accepts it');
    assert.deepEqual(listing.status, { metadata: {}, status: 'Success' });
    assert.ok(listing.stdout.split('\n').includes('5.28.0') && listing.stdout.split('\n').includes('5.32.0'), listing.stdout);

    const env = await exec(kube, pod, ['printenv', 'ARCHIVE_DEVICE_NAME', 'LDAP_URLS']);
    assert.equal(env.stdout, `kaapana\n${slapd.url}\n`, 'the chart\'s lower-case device name; the slapd of useSlapd');

    const update = await exec(kube, pod, [...WITH_DEVICE, 'update-data', '5.28.0']);
    assert.equal(exitCode(update.status), 0, update.stderr);
    assert.match(update.stdout, /^ldapmodify -f 5\.28\.0\/update-dev-5\.28\.0\.ldif$/m);
    assert.match(await slapd.read(DEVICE), /dcmProperty: storageVerification=true/);

    const again = await exec(kube, pod, ['init-role', 'auth', 'user']);
    const rerun = await exec(kube, pod, ['init-role', 'auth', 'user']);
    assert.equal(exitCode(again.status), 0, again.stderr);
    assert.equal(rerun.status?.reason, 'NonZeroExitCode');
    assert.equal(exitCode(rerun.status), 68, 'ldapmodify\'s "Already exists" as the exit code');

    const missing = await exec(kube, pod, ['ls', '/etc/openldap/data/9.9.9']);
    assert.equal(exitCode(missing.status), 2);
    assert.match(missing.stderr, /No such file or directory/);
    const unknown = await exec(kube, pod, ['no-such-command']);
    assert.equal(unknown.status?.reason, 'InternalError');
    assert.match(unknown.status?.message ?? '', /executable file not found in \$PATH/);

    const backup = await exec(kube, pod, ['slapcat', '-F', '/etc/openldap/slapd.d', '-n', '1']);
    assert.equal(exitCode(backup.status), 0, backup.stderr);
    assert.ok(backup.stdout.startsWith(`dn: ${BASE}\n`) && backup.stdout.includes('entryUUID: '), backup.stdout.slice(0, 100));

    const execs = await kube.execs();
    assert.deepEqual(execs.at(-1), { namespace: kube.namespace, pod, container: 'ldap-container', argv: ['slapcat', '-F', '/etc/openldap/slapd.d', '-n', '1'], user: 'admin' });
  });

  test('a dropped node connection reads as success with the output cut short (1.30); the command runs to its end', async () => {
    const pod = await runningLdapPod(kube);
    await kube.dropExecs(1);
    const dropped = await exec(kube, pod, [...WITH_DEVICE, 'update-data', '5.29.0']);
    // The API server's SPDY side sees the error stream end and reports Success: the hazard of 1.30's translation.
    assert.deepEqual(dropped.status, { metadata: {}, status: 'Success' });
    assert.equal(dropped.stdout, 'ldapmodify -f 5.29.0/update-dev-5.29.0.ldif\n', 'only the first output got through');
    await kube.execsSettled();
    assert.match(kube.logTail('exec-kubelet', 5), /update-data" "5\.29\.0"\]: exit 0, connection dropped: true/);
    assert.notEqual(await slapd.read(`dcmExporterID=CalculateQueryAttributes,${DEVICE}`), '', 'the command went on in the pod');

    const next = await exec(kube, pod, ['ls', '-1', '/etc/openldap/data']);
    assert.equal(exitCode(next.status), 0, 'only one exec was dropped');
  });
});

describe('a Kaapana 0.3.x node with INSTANCE_UID; exec as the microk8s 1.26/1.28 of Kaapana serve it (v4, proxied to the node)', () => {
  let kube: KubeCluster | undefined;
  let slapd: TestSlapd | undefined;
  const node = kaapanaNode({ version: '0.3.x', instanceUid: 'k1', fastDataDir: '/srv/kaapana-fast', slowDataDir: '/srv/kaapana-slow' });

  before(async () => {
    slapd = await startSlapd();
    kube = await startKubeCluster({ execProtocol: 'v4', namespace: node.namespace });
    await kube.useSlapd(slapd);
    await kube.apply(node.objects);
  });

  after(async () => {
    const results = await Promise.allSettled([kube?.stop(), slapd?.stop()]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  test('the 0.3.x objects: namespace and directories of the instance, nginx sidecar, read-only database container', async () => {
    assert.equal(node.namespace, 'k1-services');
    await kube!.until('three Ready pods', async () => (await kube!.pods()).filter(isReady).length === 3);
    const [dcm4chee] = await kube!.pods('dcm4chee');
    assert.deepEqual(dcm4chee!.spec?.containers.map((c) => c.name), ['dcm4chee-nginx', 'dcm4chee-container']);
    assert.equal(dcm4chee!.status?.containerStatuses?.length, 2);
    const postgres = (await kube!.deployment('postgres-dcm4che'))!.spec!.template.spec!;
    const container = postgres.containers[0]!;
    assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(container.resources?.limits?.memory, '500Mi');
    assert.deepEqual(container.volumeMounts?.find((m) => m.mountPath === '/var/run/postgresql')?.name, 'unix-socket-dir');
    assert.ok(postgres.volumes?.find((v) => v.name === 'unix-socket-dir')?.emptyDir);
    assert.equal(container.image, 'registry.kaapana.test/kaapana/dcm4che-postgres:0.3.0');
    const core = kube!.kc.makeApiClient(CoreV1Api);
    await kube!.until('the claim Bound', async () => (await core.readNamespacedPersistentVolumeClaim({ name: 'dcm4chee-postgres-pv-claim', namespace: node.namespace })).status?.phase === 'Bound');
    const volume = await core.readPersistentVolume({ name: 'dcm4chee-postgres-pv-volume' });
    assert.equal(volume.spec?.hostPath?.path, '/srv/kaapana-fast-k1/postgres-dcm4che');
    assert.equal(volume.spec?.claimRef?.namespace, 'k1-services');
    assert.equal((await core.readPersistentVolume({ name: 'dcm4chee-dicom-pv-volume' })).spec?.hostPath?.path, '/srv/kaapana-slow-k1/dcm4che/dicom_data');
  });

  test('v4.channel.k8s.io, exit codes on the status channel', async () => {
    const pod = await runningLdapPod(kube!);
    const missing = await exec(kube!, pod, ['ls', '/etc/openldap/data/9.9.9']);
    assert.equal(missing.protocol, 'v4.channel.k8s.io');
    assert.equal(exitCode(missing.status), 2);
  });

  test('a dropped node connection ends the websocket abnormally, without a status; the command runs on', async () => {
    const pod = await runningLdapPod(kube!);
    await kube!.dropExecs(1);
    const dropped = await exec(kube!, pod, [...WITH_DEVICE, 'update-data', '5.29.0']);
    assert.equal(dropped.status, undefined);
    assert.equal(dropped.closeCode, 1006);
    assert.equal(dropped.stdout, 'ldapmodify -f 5.29.0/update-dev-5.29.0.ldif\n');
    await kube!.execsSettled();
    assert.notEqual(await slapd!.read(`dcmExporterID=CalculateQueryAttributes,${DEVICE}`), '');
    // The retry finds the entry: what the adapter's judging of re-runs relies on.
    const retry = await exec(kube!, pod, [...WITH_DEVICE, 'update-data', '5.29.0']);
    assert.equal(exitCode(retry.status), 0);
    assert.match(retry.stderr, /Already exists \(68\)/);
  });

  test('pods of a never-ready app run but stay unready; stop() leaves no process and no directory', async () => {
    await kube!.setNeverReady(['ldap']);
    const old = await runningLdapPod(kube!);
    await kube!.kc.makeApiClient(CoreV1Api).deleteNamespacedPod({ name: old, namespace: kube!.namespace });
    await kube!.until('a Running, unready ldap pod', async () => (await kube!.pods('ldap')).some((p) => p.metadata?.name !== old && p.status?.phase === 'Running'));
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok(!(await kube!.pods('ldap')).some(isReady));

    const { dir } = kube!;
    assert.equal((await processesNamed(COMPONENTS)).length, COMPONENTS.length, 'one of each runs');
    await kube!.stop();
    assert.equal(existsSync(dir), false);
    assert.deepEqual(await processesNamed(COMPONENTS), []);
  });
});

test('a component that fails to start fails the start with its log, and leaves nothing running', async () => {
  const before = await processesNamed(COMPONENTS);
  await assert.rejects(
    startKubeCluster({ apiServerFeatureGates: { NoSuchFeatureGate: true }, startTimeoutMs: 30_000 }),
    (err: Error) => {
      assert.match(err.message, /^test cluster did not start: kube-apiserver exited \(1\) while waiting for kube-apiserver \/readyz; last lines of kube-apiserver's log:\n/);
      assert.match(err.message, /unrecognized feature gate: NoSuchFeatureGate/);
      return true;
    },
  );
  assert.deepEqual(await processesNamed(COMPONENTS), before);
});

/** This test process's children with these names, from /proc. */
async function processesNamed(wanted: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await fs.readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    const ppid = (await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')).split(') ')[1]?.split(' ')[1];
    if (wanted.includes(comm.trim()) && Number(ppid) === process.pid) pids.push(Number(entry));
  }
  return pids.sort();
}
