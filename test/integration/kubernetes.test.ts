// The Kubernetes adapter with the real @kubernetes/client-node against the stand-in API server, whose
// ldap pod runs test versions of the slapd-dcm4chee commands against a real slapd.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createKubernetesCluster, type KubernetesClusterOptions } from '../../src/cluster/kubernetes.js';
import { judgeLdapOutcome, ldapCommandPlan, type LdapCommand } from '../../src/plan/ldap-commands.js';
import { kaapanaDeployments, startKubeStandin, type KubeStandin } from '../support/kube-standin.js';
import { startSlapd, type TestSlapd } from '../support/slapd.js';

const NS = 'services';
const LDAP_BIN = fileURLToPath(new URL('../support/ldap-bin', import.meta.url));
const APPS = ['dcm4chee', 'ldap', 'postgres-dcm4che'] as const;
const BASE = 'dc=dcm4che,dc=org';
const DEVICE = `dicomDeviceName=KAAPANA,cn=Devices,cn=DICOM Configuration,${BASE}`;
const AE = `dicomAETitle=KAAPANA,${DEVICE}`;
const AUTH = `cn=auth,ou=users,${BASE}`;
const ENV = ['env', 'ARCHIVE_DEVICE_NAME=KAAPANA'];

let kube: KubeStandin;
let slapd: TestSlapd;
let work: string;

/** A new slapd with the 0.2.x tree, wired into the stand-in's ldap pod. */
async function freshLdap(): Promise<void> {
  await slapd?.stop();
  slapd = await startSlapd();
  kube.execEnv = slapd.env;
  kube.podPaths['/etc/openldap/slapd.d'] = slapd.configDir;
}

function cluster(extra: Partial<KubernetesClusterOptions> = {}) {
  return createKubernetesCluster({
    namespace: NS,
    kubeconfig: kube.kubeconfigPath,
    deviceName: 'KAAPANA',
    redeploy: {},
    readyTimeoutMs: 5_000,
    pollIntervalMs: 20,
    execTimeoutMs: 15_000,
    ...extra,
  });
}

const ready = (p: Record<string, any>) => p.status?.phase === 'Running' && !p.metadata.deletionTimestamp && p.status.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
const uids = (app: string) => kube.pods(app).map((p) => p.metadata.uid as string);

async function allSettled(): Promise<void> {
  await kube.until('every deployment at its replica count, pods Ready', () =>
    APPS.every((app) => {
      const pods = kube.pods(app);
      return pods.length === (kube.deployment(app)?.spec.replicas ?? 0) && pods.every(ready);
    }),
  );
}

async function currentPlan(): Promise<LdapCommand[]> {
  return ldapCommandPlan({ deviceName: 'KAAPANA', available: await cluster().ldapDataVersions(), to: '5.32.0' });
}

function values(ldif: string, attr: string): string[] {
  return ldif
    .split('\n')
    .filter((l) => l.startsWith(`${attr}: `))
    .map((l) => l.slice(attr.length + 2))
    .sort();
}

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-adapter-test-'));
  slapd = await startSlapd();
  kube = await startKubeStandin({
    namespace: NS,
    deployments: kaapanaDeployments({ fastDataDir: '/srv/kaapana-fast', slowDataDir: '/srv/kaapana-slow' }),
    binDir: LDAP_BIN,
    podPaths: { '/etc/openldap/data': path.join(LDAP_BIN, 'data'), '/etc/openldap/slapd.d': slapd.configDir },
    execEnv: slapd.env,
    readyDelayMs: 120,
    terminateDelayMs: 80,
  });
  await allSettled();
});

after(async () => {
  // Every piece is cleaned up even when another fails; a slapd left behind would outlive the run.
  const results = await Promise.allSettled([kube?.close(), slapd?.stop(), fs.rm(work, { recursive: true, force: true })]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
});

describe('preflight', () => {
  test('reads the database hostPath from the postgres-dcm4che deployment', async () => {
    const result = await cluster().preflight();
    assert.equal(result.databaseHostPath, '/srv/kaapana-fast/postgres-dcm4che');
    assert.ok(result.notes.some((n) => n.includes('v1.30.0-standin')), result.notes.join('\n'));
    assert.ok(result.notes.some((n) => /^postgres-dcm4che: 1 replica\(s\), 1 ready$/.test(n)), result.notes.join('\n'));
  });

  test('refuses a device name dcm4chee does not run with, a namespace without the deployments, an unreachable API', async () => {
    await assert.rejects(cluster({ deviceName: 'OTHER' }).preflight(), /ARCHIVE_DEVICE_NAME=KAAPANA, the configuration says OTHER/);
    await assert.rejects(cluster({ namespace: 'elsewhere' }).preflight(), /deployments missing in namespace elsewhere: app-name=dcm4chee, app-name=ldap, app-name=postgres-dcm4che/);

    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(p));
      });
    });
    const dead = path.join(work, 'dead-kubeconfig');
    const config = JSON.parse(await fs.readFile(kube.kubeconfigPath, 'utf8'));
    config.clusters[0].cluster.server = `https://127.0.0.1:${port}`;
    await fs.writeFile(dead, JSON.stringify(config));
    await assert.rejects(cluster({ kubeconfig: dead }).preflight(), /Kubernetes API at https:\/\/127\.0\.0\.1:\d+ not reachable: .*ECONNREFUSED/);
  });
});

describe('stopping and restoring the applications', () => {
  test('stopApplications scales dcm4chee, then postgres-dcm4che, to 0 and returns when their pods are gone', async () => {
    const c = cluster();
    const mark = kube.events.length;
    const record = await c.stopApplications();
    assert.deepEqual(record, { dcm4chee: 1, 'postgres-dcm4che': 1 });
    assert.equal(kube.pods('dcm4chee').length, 0);
    assert.equal(kube.pods('postgres-dcm4che').length, 0);
    assert.equal(kube.pods('ldap').length, 1, 'ldap stays up');

    const events = kube.events.slice(mark);
    const at = (re: RegExp) => {
      const i = events.findIndex((e) => re.test(e));
      assert.ok(i >= 0, `no event ${re} in ${events.join(', ')}`);
      return i;
    };
    assert.ok(at(/^scale dcm4chee 0$/) < at(/^gone dcm4chee-/));
    assert.ok(at(/^gone dcm4chee-/) < at(/^scale postgres-dcm4che 0$/), 'the database stops only after dcm4chee is gone');
    assert.ok(at(/^scale postgres-dcm4che 0$/) < at(/^gone postgres-dcm4che-/));

    // A retried stop (e.g. after a timeout) finds 0 replicas but still records the counts from before.
    assert.deepEqual(await c.stopApplications(), record);
  });

  test('restoreApplications scales back in reverse order to the recorded counts', async () => {
    const mark = kube.events.length;
    await cluster().restoreApplications({ dcm4chee: 1, 'postgres-dcm4che': 1 });
    const events = kube.events.slice(mark);
    assert.ok(events.indexOf('scale postgres-dcm4che 1') >= 0 && events.indexOf('scale postgres-dcm4che 1') < events.indexOf('scale dcm4chee 1'), events.join(', '));
    for (const app of ['dcm4chee', 'postgres-dcm4che']) {
      assert.equal(kube.deployment(app)!.spec.replicas, 1);
      assert.ok(kube.pods(app).length === 1 && kube.pods(app).every(ready), `${app} Ready`);
      assert.equal(kube.deployment(app)!.metadata.annotations?.['kaapana-migrate/replicas-before-stop'], undefined, 'bookkeeping removed');
    }
    await allSettled();
  });
});

describe('the LDAP update in the ldap pod', () => {
  test('ldapDataVersions lists the data updates the image ships', async () => {
    assert.deepEqual(await cluster().ldapDataVersions(), ['5.28.0', '5.29.0', '5.29.1', '5.29.2', '5.30.0', '5.31.0', '5.31.1', '5.31.2', '5.32.0']);
  });

  test('the plan, run in order, passes and leaves the expected tree', async () => {
    await freshLdap();
    const c = cluster();
    const plan = await currentPlan();
    const mark = kube.execs.length;
    for (const { argv } of plan) {
      const outcome = await c.execLdap(argv);
      const judged = judgeLdapOutcome(outcome);
      assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: false }, `${argv.join(' ')}: ${judged.reason} ${outcome.stderr}`);
    }
    const ran = kube.execs.slice(mark);
    assert.deepEqual(
      ran.map((e) => e.argv),
      plan.map((p) => p.argv),
    );
    assert.ok(ran.every((e) => e.container === 'ldap-container' && e.pod.startsWith('ldap-')));

    const device = await slapd.read(DEVICE);
    assert.deepEqual(values(device, 'dcmTag'), ['00081250', '00400275', '0040E001']);
    assert.deepEqual(values(device, 'dcmNewIn532'), ['TRUE'], 'needs update-schema first');
    assert.ok(values(device, 'dcmProperty').includes('storageVerification=true'));
    assert.deepEqual(values(await slapd.read(AE), 'dcmAcceptedUserRole'), ['admin'], '5.28.0 added admin, 5.32.0 removed user');
    assert.notEqual(await slapd.read(`dcmExporterID=UpdateStudySize,${DEVICE}`), '');
    assert.deepEqual(values(await slapd.read(AUTH, ['member']), 'member'), [`uid=user,ou=users,${BASE}`]);
  });

  test('re-running each command right after it ran is judged already applied, from real LDAP result codes', async () => {
    await freshLdap();
    const c = cluster();
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
    const before = [await slapd.read(DEVICE), await slapd.read(AE), await slapd.read(AUTH)];
    for (const { argv } of await currentPlan()) assert.equal(judgeLdapOutcome(await c.execLdap(argv)).ok, true, argv.join(' '));
    assert.deepEqual([await slapd.read(DEVICE), await slapd.read(AE), await slapd.read(AUTH)], before);
  });

  test('update-data that fails silently (exit 0, ldap_modify error on stderr) is judged a failure', async () => {
    // Without ARCHIVE_DEVICE_NAME the container's own (lower case) name addresses no device.
    const outcome = await cluster().execLdap(['update-data', '5.29.1']);
    assert.equal(outcome.exitCode, 0);
    assert.match(outcome.stderr, /ldap_modify: No such object \(32\)/);
    const judged = judgeLdapOutcome(outcome);
    assert.equal(judged.ok, false);
    assert.match(judged.reason!, /No such object \(32\)/);
  });

  test('init-role with one argument prints its usage and exits 0: judged a failure', async () => {
    const outcome = await cluster().execLdap([...ENV, 'init-role', 'auth']);
    assert.equal(outcome.exitCode, 0);
    assert.equal(judgeLdapOutcome(outcome).ok, false);
  });

  test('-c: a re-run after a partial run applies the rest of the file; without it the rest is skipped', async () => {
    await freshLdap();
    const c = cluster();
    const firstChangeOnly = `dn: ${DEVICE}\nchangetype: modify\nadd: dcmTag\ndcmTag: 0040E001\n`;
    assert.equal((await slapd.modify(firstChangeOnly)).code, 0);

    const guideWay = judgeLdapOutcome(await c.execLdap([...ENV, 'update-data', '5.28.0']));
    assert.deepEqual({ ok: guideWay.ok, alreadyApplied: guideWay.alreadyApplied }, { ok: true, alreadyApplied: true });
    assert.ok(!values(await slapd.read(DEVICE), 'dcmProperty').includes('storageVerification=true'), 'ldapmodify stopped at the first "value exists"');

    const planned = (await currentPlan()).find((p) => p.argv.includes('5.28.0'))!;
    const judged = judgeLdapOutcome(await c.execLdap(planned.argv));
    assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: true });
    assert.ok(values(await slapd.read(DEVICE), 'dcmProperty').includes('storageVerification=true'));
  });

  test('a command exiting non-zero is reported with its exit code; one the image lacks cannot run', async () => {
    const c = cluster();
    const outcome = await c.execLdap(['ls', '/etc/openldap/data/9.9.9']);
    assert.equal(outcome.exitCode, 2);
    assert.match(outcome.stderr, /No such file or directory/);
    assert.match(judgeLdapOutcome(outcome).reason!, /^exit code 2/);
    await assert.rejects(c.execLdap(['no-such-command']), /"no-such-command" could not run in pod ldap-.*ENOENT/);
  });

  test('v4.channel.k8s.io (API servers before 1.30) reports exit codes the same way', async () => {
    kube.execProtocol = 'v4.channel.k8s.io';
    try {
      const outcome = await cluster().execLdap(['ls', '/etc/openldap/data/9.9.9']);
      assert.equal(outcome.exitCode, 2);
      assert.equal(kube.execs.at(-1)!.protocol, 'v4.channel.k8s.io');
    } finally {
      kube.execProtocol = 'v5.channel.k8s.io';
    }
  });

  test('a websocket dropped mid-command is an error; the retry is judged already applied', async () => {
    await freshLdap();
    const c = cluster();
    const planned = (await currentPlan()).find((p) => p.argv.includes('5.28.0'))!;
    kube.faults.dropExecs = 1;
    await assert.rejects(c.execLdap(planned.argv), /lost its connection \(websocket closed, code 1006\) before the exit status arrived/);
    await kube.execsSettled(); // the command went on running in the pod
    const judged = judgeLdapOutcome(await c.execLdap(planned.argv));
    assert.deepEqual({ ok: judged.ok, alreadyApplied: judged.alreadyApplied }, { ok: true, alreadyApplied: true });
  });

  test('no Running ldap pod, or several: clear errors, nothing runs', async () => {
    const c = cluster();
    const mark = kube.execs.length;
    kube.setReplicas('ldap', 0);
    await kube.until('no ldap pods', () => kube.pods('ldap').length === 0);
    await assert.rejects(c.execLdap(['ls']), /no Running ldap pod \(app-name=ldap\) in namespace services/);

    kube.setReplicas('ldap', 2);
    await kube.until('two Running ldap pods', () => kube.pods('ldap').filter((p) => p.status.phase === 'Running').length === 2);
    const names = kube.pods('ldap').map((p) => p.metadata.name as string);
    await assert.rejects(c.execLdap(['ls']), (err: Error) => {
      assert.match(err.message, /^2 Running ldap pods \(.*\): refusing to guess/);
      for (const n of names) assert.ok(err.message.includes(n), `${n} named`);
      return true;
    });
    assert.equal(kube.execs.length, mark);

    kube.setReplicas('ldap', 1);
    await allSettled();
  });
});

describe('backup, restart and redeploy', () => {
  test('backupLdap writes the slapcat LDIF with mode 0600; a broken stream leaves no file', async () => {
    const c = cluster();
    const file = path.join(work, 'run', 'ldap-backup.ldif');
    assert.equal(await c.backupLdap(file), file);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const ldif = (await fs.readFile(file, 'utf8')).replace(/\n /g, ''); // unfold LDIF continuation lines
    assert.ok(ldif.startsWith(`dn: ${BASE}\n`), ldif.slice(0, 80));
    assert.ok(ldif.includes(`dn: ${DEVICE}\n`) && ldif.includes('entryUUID: '), 'a full slapcat export');
    assert.deepEqual(kube.execs.at(-1)!.argv, ['slapcat', '-F', '/etc/openldap/slapd.d', '-n', '1']);
    assert.deepEqual(await fs.readdir(path.dirname(file)), ['ldap-backup.ldif']);

    const broken = path.join(work, 'run', 'broken.ldif');
    kube.faults.dropExecs = 1;
    await assert.rejects(c.backupLdap(broken), /lost its connection/);
    await kube.execsSettled();
    assert.deepEqual(await fs.readdir(path.dirname(file)), ['ldap-backup.ldif']);
  });

  test('restartPods replaces the ldap pod, then the dcm4chee pod, and returns when the new ones are Ready', async () => {
    const old = { ldap: uids('ldap'), dcm4chee: uids('dcm4chee') };
    const mark = kube.events.length;
    await cluster().restartPods();
    for (const app of ['ldap', 'dcm4chee'] as const) {
      const pods = kube.pods(app);
      assert.equal(pods.length, 1);
      assert.ok(pods.every(ready), `${app} Ready`);
      assert.ok(!old[app].includes(pods[0]!.metadata.uid), `${app} has a new uid`);
    }
    const events = kube.events.slice(mark);
    const ldapGone = events.findIndex((e) => e.startsWith('gone ldap-'));
    const dcmCreated = events.findIndex((e) => e.startsWith('created dcm4chee-'));
    assert.ok(ldapGone >= 0 && ldapGone < dcmCreated, events.join(', '));
    assert.deepEqual(uids('postgres-dcm4che').length, 1, 'the database is left alone');
  });

  test('pods that never become Ready end the wait with a timeout error', async () => {
    kube.faults.neverReady.add('ldap');
    const started = Date.now();
    try {
      await assert.rejects(cluster({ readyTimeoutMs: 800 }).restartPods(), /timed out after 0\.8 s waiting for a new ldap pod to be Ready; last seen: ldap-\S+ Running$/);
      assert.ok(Date.now() - started < 3_000);
    } finally {
      kube.faults.neverReady.clear();
    }
    await cluster().restartPods();
    await allSettled();
  });

  test('redeploy runs the site commands in order, streams their output, and waits until the pods are Ready', async () => {
    const node = process.execPath;
    // What helm uninstall / install do to the cluster, as a site command (argv, no shell).
    const hook = (what: string) => ['env', `NODE_EXTRA_CA_CERTS=${kube.caFile}`, node, '-e', `fetch('${kube.url}/_standin/${what}', { method: 'POST' }).then((r) => { console.log('${what}: HTTP ' + r.status); console.error('${what} finished'); })`];
    const lines: string[] = [];
    const old = APPS.flatMap((app) => uids(app));
    await cluster({ redeploy: { undeploy: hook('undeploy'), deploy: hook('deploy') }, log: (l) => lines.push(l) }).redeploy('forward');

    const idx = (s: string) => lines.indexOf(s);
    assert.ok(idx('undeploy: HTTP 200') >= 0 && idx('undeploy finished') >= 0, lines.join('\n'));
    assert.ok(idx('undeploy: HTTP 200') < idx('deploy: HTTP 200'), lines.join('\n'));
    assert.ok(lines[0]!.startsWith('$ ') && lines[0]!.includes('_standin/undeploy'));
    for (const app of APPS) {
      const pods = kube.pods(app).filter((p) => !p.metadata.deletionTimestamp);
      assert.ok(pods.length === 1 && pods.every(ready) && !old.includes(pods[0]!.metadata.uid), `${app}: a new Ready pod`);
    }
    await allSettled();
  });

  test('a failing redeploy command fails with its output; a missing one is named', async () => {
    const node = process.execPath;
    const failing = cluster({ redeploy: { deploy: [node, '-e', "console.log('kaapana is already deployed'); process.exit(1)"] } });
    await assert.rejects(failing.redeploy('forward'), /exited with 1; last output:\nkaapana is already deployed$/);
    await assert.rejects(cluster().redeploy('rollback'), /no redeploy\.rollback command configured/);
    await assert.rejects(cluster({ redeploy: { rollback: ['/nonexistent/deploy_platform.sh'] } }).redeploy('rollback'), /could not run `\/nonexistent\/deploy_platform.sh`: .*ENOENT/);
  });
});
