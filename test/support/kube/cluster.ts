// A real Kubernetes control plane on 127.0.0.1 for the tests: etcd, kube-apiserver v1.30.14 (TLS with
// our own CA, client-certificate users, Node+RBAC authorization, service-account tokens),
// kube-controller-manager (deployments, replica sets, the PV binder) and kube-scheduler, with kwok
// as the one node's agent (pods on it become Running/Ready, deleted pods go away) and exec-kubelet as
// the node's exec endpoint: it runs the ldap container's commands as local processes in a private
// mount namespace where /etc/openldap is a test directory. Binaries: test/support/kube/build.sh.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import YAML from 'yaml';
import { freePorts } from '../../../src/free-ports.js';
import { KUBE_BIN_DIR, kubeBinaries } from './binaries.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const LDAP_BIN = path.join(HERE, '..', 'ldap-bin');
/** microk8s' service range, so that cluster IPs look like a Kaapana node's. */
const SERVICE_RANGE = '10.152.183.0/24';
const POD_CIDR = '10.1.0.0/16';
const FIELD_MANAGER = 'kaapana-test';
const LABEL = 'app-name';

export interface KubeClusterOptions {
  /** The namespace pods(), deployment() and scale() work in (default services). */
  namespace?: string;
  /** Where build.sh put the binaries. */
  binDir?: string;
  /** Containers whose exec'd commands run here as local processes (default ldap-container). */
  execContainers?: string[];
  /** The image's commands: first on the PATH of exec'd commands (default test/support/ldap-bin). */
  imageBinDir?: string;
  /**
   * How the API server serves exec websockets. 'v5' (1.30's default): it ends the client's websocket
   * itself and speaks SPDY to the node; a node connection that breaks mid-command then reaches the
   * client as exit status Success with the output cut short. 'v4' (as the microk8s 1.26 and 1.28 of
   * Kaapana 0.2.x and 0.3.x): the websocket is proxied to the node, which speaks v4.channel.k8s.io at
   * most; a broken node connection reaches the client as an abnormal close (1006), no status.
   * 'v4' is the feature gate TranslateStreamCloseWebsocketRequests=false. Default 'v5'.
   */
  execProtocol?: 'v5' | 'v4';
  /** More API server feature gates. */
  apiServerFeatureGates?: Record<string, boolean>;
  /** kwok stage delays: a scheduled pod turns Running/Ready after this; a deleted pod goes away after this. */
  podReadyDelayMs?: number;
  podStopDelayMs?: number;
  /** Bound of the whole start (default 90 s). */
  startTimeoutMs?: number;
}

/** One `pods/exec` request, from the API server's audit log. */
export interface ExecRecord {
  namespace: string;
  pod: string;
  container: string;
  argv: string[];
  user: string;
}

export interface KubeCluster {
  /** The cluster's temp dir: certificates, kubeconfigs, etcd data, one log per process (logs/<name>.log). */
  dir: string;
  server: string;
  /** An admin kubeconfig shaped like microk8s' client.config (client certificate, O=system:masters). */
  kubeconfigPath: string;
  caFile: string;
  nodeName: string;
  namespace: string;
  kc: KubeConfig;
  /** What the ldap container sees as /etc/openldap: data → test/support/ldap-bin/data, slapd.d → useSlapd's config. */
  openldapDir: string;
  /**
   * What happened, in the order the watches saw it: "deployment <name> <replicas>" (created),
   * "scale <name> <n>" (spec.replicas changed), "deployment <name> gone", "created <pod>",
   * "ready <pod>", "terminating <pod>", "gone <pod>". Watches can trail the API by some
   * milliseconds: after an action, wait for the events it causes with eventsAfter().
   */
  events: string[];
  /** The events from index mark on, once each pattern matches one of them (bounded, default 10 s). */
  eventsAfter(mark: number, expected: (string | RegExp)[], timeoutMs?: number): Promise<string[]>;
  /** Creates or updates (server-side apply), cluster-scoped objects and namespaces first. */
  apply(objects: KubernetesObject[]): Promise<void>;
  /** Deletes (missing ones are fine); with wait, returns when they are gone. */
  delete(objects: KubernetesObject[], opts?: { wait?: boolean; timeoutMs?: number }): Promise<void>;
  /** Pods of the namespace, by `app-name` when given, as the API lists them now. */
  pods(app?: string): Promise<V1Pod[]>;
  deployment(name: string): Promise<V1Deployment | undefined>;
  /** As `kubectl scale`: patches the scale subresource. */
  scale(name: string, replicas: number): Promise<void>;
  /** Polls until predicate holds (bounded; 100 ms between polls). */
  until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** Points the ldap container at a slapd: /etc/openldap/slapd.d and the env its commands get. */
  useSlapd(slapd: { configDir: string; env: Record<string, string> }): Promise<void>;
  /**
   * The next n execs lose their node connection right after their first output: exec-kubelet resets
   * the TCP connection from the API server under the stream, as a network failure or a dying node
   * would. The command runs on to its end, as in a pod. What the client sees depends on execProtocol.
   */
  dropExecs(n: number): Promise<void>;
  /** Resolves when no exec'd command is running any more (a dropped exec's command goes on). */
  execsSettled(timeoutMs?: number): Promise<void>;
  /** Every exec so far, in order. */
  execs(): Promise<ExecRecord[]>;
  /** Pods of these apps scheduled from now on turn Running but never Ready (kwok restarts with other stages, ~1 s). */
  setNeverReady(apps: string[]): Promise<void>;
  /** The last lines of a process's log (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, exec-kubelet). */
  logTail(name: string, lines?: number): string;
  /** How long the start took, and when (ms after it began) each part was up. */
  startup: { totalMs: number; marks: Record<string, number> };
  /** Stops every process and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
  /** Set when the program could not be started at all (e.g. not installed). */
  error?: Error;
}

/** Processes and dirs of every cluster in this test process, killed and removed if it exits without stop(). */
const live = new Set<Proc>();
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const p of live) {
    if (p.name === 'exec-kubelet') killExecChildren(p);
    p.child.kill('SIGKILL');
  }
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

const run = promisify(execFile);

/** A component could not bind its port: another process took it between our pick and its bind. */
class PortTaken extends Error {}

const START_ATTEMPTS = 3;

/**
 * The components bind their ports one after another over several seconds; another test file's
 * server may take one of them meanwhile. Such a start is made again on other ports.
 */
export async function startKubeCluster(opts: KubeClusterOptions = {}): Promise<KubeCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === START_ATTEMPTS) throw err;
      process.stderr.write(`test cluster: ${err.message.split('\n')[0]}; starting again on other ports\n`);
    }
  }
}

async function startOnce(opts: KubeClusterOptions): Promise<KubeCluster> {
  if (process.getuid?.() !== 0) throw new Error('the test cluster needs root: exec-kubelet runs in its own mount namespace');
  const bin = opts.binDir ?? KUBE_BIN_DIR;
  for (const p of Object.values(kubeBinaries(bin))) {
    if (!existsSync(p)) throw new Error(`${p} is missing: run test/support/kube/build.sh first`);
  }
  const started = Date.now();
  const deadline = started + (opts.startTimeoutMs ?? 90_000);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kaapana-kube-'));
  liveDirs.add(dir);
  const procs: Proc[] = [];
  const informers: Informer<KubernetesObject>[] = [];
  let stopping = false;

  async function stopAll(): Promise<void> {
    stopping = true;
    await Promise.allSettled(informers.map((i) => i.stop()));
    killExecChildren(procs.find((p) => p.name === 'exec-kubelet'));
    // The agents and controllers first, then the API server, etcd last.
    const last = ['kube-apiserver', 'etcd'];
    await Promise.all(procs.filter((p) => !last.includes(p.name)).map(terminate));
    for (const name of last) await Promise.all(procs.filter((p) => p.name === name).map(terminate));
    await fs.rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
  }

  try {
    const ports = await freePorts(7);
    const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort, execPort] = ports as [number, number, number, number, number, number, number];
    const server = `https://127.0.0.1:${apiPort}`;
    const nodeName = 'kaapana-node';
    const pki = await makePki(path.join(dir, 'pki'), nodeName);
    await fs.mkdir(path.join(dir, 'logs'));

    const kubeconfigFor = async (name: string, user: string, cert: string) => {
      const file = path.join(dir, `${name}.kubeconfig`);
      await fs.writeFile(file, await kubeconfigYaml(server, pki.ca, user, path.join(pki.dir, `${cert}.crt`), path.join(pki.dir, `${cert}.key`)), { mode: 0o600 });
      return file;
    };
    const kubeconfigPath = await kubeconfigFor('admin', 'admin', 'admin');
    const kcmConfig = await kubeconfigFor('kube-controller-manager', 'system:kube-controller-manager', 'kube-controller-manager');
    const schedConfig = await kubeconfigFor('kube-scheduler', 'system:kube-scheduler', 'kube-scheduler');
    const kwokConfig = await kubeconfigFor('kwok', 'kwok', 'kwok');
    const nodeConfig = await kubeconfigFor('node', `system:node:${nodeName}`, 'node');

    const start = (name: string, argv: string[]) => {
      const p = spawnLogged(name, argv, path.join(dir, 'logs', `${name}.log`), dir);
      procs.push(p);
      return p;
    };
    /** Polls probe until it holds; fails early, with the log's last lines, when a process has died. */
    const waitFor = async (what: string, culprit: Proc, probe: () => Promise<boolean>, end = deadline) => {
      const since = Date.now();
      for (;;) {
        const dead = procs.find(gone);
        if (dead) throw startError(`${dead.name} ${dead.error ? `could not start (${dead.error.message})` : `exited (${dead.child.exitCode ?? dead.child.signalCode})`} while waiting for ${what}`, dead);
        if (await probe().catch(() => false)) return;
        if (Date.now() > end) throw startError(`timed out after ${Math.round((Date.now() - since) / 1000)} s waiting for ${what}`, culprit);
        await sleep(100);
      }
    };
    const marks: Record<string, number> = {};
    const mark = (what: string) => (marks[what] = Date.now() - started);
    mark('certificates');
    const tls = { ca: pki.ca, cert: await fs.readFile(path.join(pki.dir, 'admin.crt')), key: await fs.readFile(path.join(pki.dir, 'admin.key')) };

    // --- etcd ----------------------------------------------------------------------------------
    const etcd = start('etcd', [
      'etcd',
      '--name=default',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-level=warn',
    ]);
    await waitFor('etcd', etcd, async () => (await httpGet(`http://127.0.0.1:${etcdPort}/health`)).includes('"true"'));
    mark('etcd');

    // --- kube-apiserver ------------------------------------------------------------------------
    const auditLog = path.join(dir, 'audit.log');
    const auditPolicy = path.join(dir, 'audit-policy.yaml');
    await fs.writeFile(
      auditPolicy,
      YAML.stringify({
        apiVersion: 'audit.k8s.io/v1',
        kind: 'Policy',
        // One line per exec, written (blocking mode) before the command starts.
        omitStages: ['ResponseStarted', 'ResponseComplete', 'Panic'],
        rules: [{ level: 'Metadata', resources: [{ group: '', resources: ['pods/exec'] }] }, { level: 'None' }],
      }),
    );
    const gateValues = { ...(opts.execProtocol === 'v4' ? { TranslateStreamCloseWebsocketRequests: false } : {}), ...opts.apiServerFeatureGates };
    const gates = Object.entries(gateValues).map(([k, v]) => `${k}=${v}`);
    const apiserver = start('kube-apiserver', [
      path.join(bin, 'kube-apiserver'),
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${path.join(dir, 'apiserver')}`,
      `--tls-cert-file=${path.join(pki.dir, 'kube-apiserver.crt')}`,
      `--tls-private-key-file=${path.join(pki.dir, 'kube-apiserver.key')}`,
      `--client-ca-file=${pki.caFile}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${path.join(pki.dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(pki.dir, 'sa.key')}`,
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      `--kubelet-client-certificate=${path.join(pki.dir, 'apiserver-kubelet-client.crt')}`,
      `--kubelet-client-key=${path.join(pki.dir, 'apiserver-kubelet-client.key')}`,
      `--kubelet-certificate-authority=${pki.caFile}`,
      '--kubelet-preferred-address-types=InternalIP',
      // The aggregation layer's front proxy, as kubeadm sets it up; without it the components'
      // delegated authentication keeps logging a missing request-header CA.
      `--requestheader-client-ca-file=${path.join(pki.dir, 'front-proxy-ca.crt')}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${path.join(pki.dir, 'front-proxy-client.crt')}`,
      `--proxy-client-key-file=${path.join(pki.dir, 'front-proxy-client.key')}`,
      // It would taint the new node not-ready until kcm's node lifecycle controller, ~4 s into kcm's
      // start, lifts the taint; kwok has the node Ready within a second.
      '--disable-admission-plugins=TaintNodesByCondition',
      // The kubernetes service's endpoint would be 127.0.0.1, which endpoints may not hold.
      '--endpoint-reconciler-type=none',
      `--audit-policy-file=${auditPolicy}`,
      `--audit-log-path=${auditLog}`,
      '--profiling=false',
      ...(gates.length > 0 ? [`--feature-gates=${gates.join(',')}`] : []),
    ]);
    await waitFor('kube-apiserver /readyz', apiserver, async () => (await httpGet(`${server}/readyz`, tls)) === 'ok');
    mark('kube-apiserver');

    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const apps = kc.makeApiClient(AppsV1Api);
    const objects = KubernetesObjectApi.makeApiClient(kc);

    // --- controllers, scheduler, node ----------------------------------------------------------
    const serving = [`--tls-cert-file=${path.join(pki.dir, 'serving.crt')}`, `--tls-private-key-file=${path.join(pki.dir, 'serving.key')}`];
    const kcm = start('kube-controller-manager', [
      path.join(bin, 'kube-controller-manager'),
      `--kubeconfig=${kcmConfig}`,
      `--authentication-kubeconfig=${kcmConfig}`,
      `--authorization-kubeconfig=${kcmConfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${kcmPort}`,
      ...serving,
      '--leader-elect=false',
      // Each controller with its own service account, as kubeadm and microk8s run it.
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${path.join(pki.dir, 'sa.key')}`,
      `--root-ca-file=${pki.caFile}`,
      `--cluster-signing-cert-file=${pki.caFile}`,
      `--cluster-signing-key-file=${path.join(pki.dir, 'ca.key')}`,
      `--service-cluster-ip-range=${SERVICE_RANGE}`,
      // With each controller on its own service account, kcm fetches ~40 tokens before its informers
      // start: at the default 20 requests/s that alone is 4-5 s.
      '--kube-api-qps=200',
      '--kube-api-burst=400',
      // A claim synced before the informer saw its volume waits for the binder's resync (15 s by default).
      '--pvclaimbinder-sync-period=1s',
    ]);
    const schedulerConfig = path.join(dir, 'kube-scheduler.yaml');
    await fs.writeFile(
      schedulerConfig,
      YAML.stringify({
        apiVersion: 'kubescheduler.config.k8s.io/v1',
        kind: 'KubeSchedulerConfiguration',
        clientConnection: { kubeconfig: schedConfig },
        leaderElection: { leaderElect: false },
        // A pod created before its claim is bound fails once and is retried after the backoff
        // (1 s, doubling up to 10 s by default): keep it at 1 s.
        podInitialBackoffSeconds: 1,
        podMaxBackoffSeconds: 1,
      }),
    );
    const scheduler = start('kube-scheduler', [
      path.join(bin, 'kube-scheduler'),
      `--config=${schedulerConfig}`,
      `--authentication-kubeconfig=${schedConfig}`,
      `--authorization-kubeconfig=${schedConfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${schedPort}`,
      ...serving,
    ]);

    await core.createNode({
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: nodeName,
          labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', type: 'kwok' },
          annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'kwok.x-k8s.io/node': 'fake' },
        },
      },
    });

    // exec-kubelet, in its own mount namespace: an overlay on /etc (so that /etc/openldap can exist
    // there without touching the host's /etc), and the test directory bound on /etc/openldap.
    const openldapDir = path.join(dir, 'openldap');
    const execDir = path.join(dir, 'exec');
    await fs.mkdir(openldapDir);
    await fs.symlink(path.join(LDAP_BIN, 'data'), path.join(openldapDir, 'data'));
    await fs.mkdir(path.join(execDir, 'etc-upper', 'openldap'), { recursive: true });
    await fs.mkdir(path.join(execDir, 'etc-work'));
    const envFile = path.join(execDir, 'exec.env');
    const dropFile = path.join(execDir, 'drop-execs');
    await fs.writeFile(envFile, '', { mode: 0o600 });
    await fs.writeFile(dropFile, '0', { mode: 0o600 });
    const hostMountNs = await fs.readlink('/proc/self/ns/mnt');
    const imagePath = [opts.imageBinDir ?? LDAP_BIN, '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':');
    const execKubelet = start('exec-kubelet', [
      'unshare',
      '--mount',
      '--propagation=private',
      '--',
      path.join(bin, 'exec-kubelet'),
      `-listen=127.0.0.1:${execPort}`,
      `-tls-cert-file=${path.join(pki.dir, 'serving.crt')}`,
      `-tls-private-key-file=${path.join(pki.dir, 'serving.key')}`,
      `-client-ca-file=${pki.caFile}`,
      `-kubeconfig=${nodeConfig}`,
      `-containers=${(opts.execContainers ?? ['ldap-container']).join(',')}`,
      `-path=${imagePath}`,
      `-env-file=${envFile}`,
      `-drop-file=${dropFile}`,
      `-host-mount-ns=${hostMountNs}`,
      `-etc-upper=${path.join(execDir, 'etc-upper')}`,
      `-etc-work=${path.join(execDir, 'etc-work')}`,
      `-bind=${openldapDir}=/etc/openldap`,
    ]);

    const kwokArgs = [
      path.join(bin, 'kwok'),
      `--kubeconfig=${kwokConfig}`,
      `--config=${path.join(dir, 'kwok.yaml')}`,
      `--manage-single-node=${nodeName}`,
      '--node-ip=127.0.0.1',
      `--node-name=${nodeName}`,
      // The port the node advertises (daemonEndpoints): exec-kubelet's. kwok's own server (healthz) is elsewhere.
      `--node-port=${execPort}`,
      `--server-address=127.0.0.1:${kwokPort}`,
      `--cidr=${POD_CIDR}`,
      // A node lease, renewed as a kubelet renews it: without one kwok's status heartbeat (~45 s)
      // outlasts the controller manager's grace period (40 s), the node turns NotReady for a few
      // seconds every time, and every pod on it NotReady for good.
      '--node-lease-duration-seconds=40',
    ];
    const writeKwokConfig = (neverReady: string[]) =>
      fs.writeFile(path.join(dir, 'kwok.yaml'), podStages({ readyMs: opts.podReadyDelayMs ?? 200, stopMs: opts.podStopDelayMs ?? 100, neverReady }));
    await writeKwokConfig([]);
    let kwok = start('kwok', kwokArgs);

    await waitFor('kube-controller-manager /healthz', kcm, async () => (await httpGet(`https://127.0.0.1:${kcmPort}/healthz`, { ca: pki.ca })) === 'ok');
    // Until the garbage collector has synced, a deleted deployment's replica sets and pods stay
    // (a real node's controller manager has long synced when an undeploy runs).
    await waitFor('the garbage collector to sync', kcm, async () => (await fs.readFile(kcm.log, 'utf8').catch(() => '')).includes('All resource monitors have synced'));
    mark('kube-controller-manager');
    await waitFor('kube-scheduler /healthz', scheduler, async () => (await httpGet(`https://127.0.0.1:${schedPort}/healthz`, { ca: pki.ca })) === 'ok');
    mark('kube-scheduler');
    await waitFor('exec-kubelet /healthz', execKubelet, async () => (await httpGet(`https://127.0.0.1:${execPort}/healthz`, { ca: pki.ca })) === 'ok');
    mark('exec-kubelet');
    await waitFor('kwok /healthz', kwok, async () => (await httpGet(`http://127.0.0.1:${kwokPort}/healthz`)) === 'ok');
    await waitFor(`node ${nodeName} Ready and schedulable`, kwok, async () => {
      const node = await core.readNode({ name: nodeName });
      const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      return ready && (node.spec?.taints ?? []).length === 0;
    });
    mark('node Ready');
    // Pods are refused in a namespace until kcm's service-account controller gave it its default account.
    await waitFor('the default service account', kcm, async () => (await core.listNamespacedServiceAccount({ namespace: 'default' })).items.some((s) => s.metadata?.name === 'default'));
    mark('default service account');

    // --- recording ------------------------------------------------------------------------------
    const events: string[] = [];
    const replicas = new Map<string, number | undefined>();
    const podSeen = new Map<string, { ready: boolean; terminating: boolean }>();
    const deployInformer = makeInformer<V1Deployment>(kc, '/apis/apps/v1/deployments', () => apps.listDeploymentForAllNamespaces());
    deployInformer.on('add', (d) => {
      replicas.set(d.metadata!.uid!, d.spec?.replicas);
      events.push(`deployment ${d.metadata!.name} ${d.spec?.replicas ?? 1}`);
    });
    deployInformer.on('update', (d) => {
      const uid = d.metadata!.uid!;
      if (replicas.get(uid) !== d.spec?.replicas) events.push(`scale ${d.metadata!.name} ${d.spec?.replicas}`);
      replicas.set(uid, d.spec?.replicas);
    });
    deployInformer.on('delete', (d) => {
      replicas.delete(d.metadata!.uid!);
      events.push(`deployment ${d.metadata!.name} gone`);
    });
    const podInformer = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
    const notePod = (p: V1Pod) => {
      const name = p.metadata!.name!;
      const seen = podSeen.get(p.metadata!.uid!) ?? { ready: false, terminating: false };
      if (!podSeen.has(p.metadata!.uid!)) events.push(`created ${name}`);
      if (!seen.terminating && p.metadata?.deletionTimestamp) {
        seen.terminating = true;
        events.push(`terminating ${name}`);
      }
      if (!seen.ready && isReady(p)) {
        seen.ready = true;
        events.push(`ready ${name}`);
      }
      podSeen.set(p.metadata!.uid!, seen);
    };
    podInformer.on('add', notePod);
    podInformer.on('update', notePod);
    podInformer.on('delete', (p) => {
      podSeen.delete(p.metadata!.uid!);
      events.push(`gone ${p.metadata!.name}`);
    });
    for (const informer of [deployInformer, podInformer] as (Informer<any> & ObjectCache<any>)[]) {
      informers.push(informer);
      // A broken watch (e.g. the API server busy) is restarted: the log must not silently stop.
      informer.on('error', () => {
        if (!stopping) setTimeout(() => void informer.start().catch(() => undefined), 200).unref();
      });
      await informer.start();
    }
    mark('watches');

    const ns = opts.namespace ?? 'services';
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const until: KubeCluster['until'] = async (what, predicate, timeoutMs = 30_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        if (await predicate()) return;
        if (Date.now() > end) {
          // What the node agent and the controllers last said is most often why.
          const logs = ['kwok', 'kube-controller-manager', 'kube-scheduler'].map((name) => `--- ${name}:\n${tail(path.join(dir, 'logs', `${name}.log`), 15)}`).join('\n');
          throw new Error(`test cluster: timed out after ${timeoutMs / 1000} s waiting for ${what}; last lines of the logs:\n${logs}`);
        }
        await sleep(100);
      }
    };
    const execKubeletPid = () => procs.find((p) => p.name === 'exec-kubelet')?.child.pid;

    const cluster: KubeCluster = {
      dir,
      server,
      kubeconfigPath,
      caFile: pki.caFile,
      nodeName,
      namespace: ns,
      kc,
      openldapDir,
      events,

      async apply(list) {
        const rank = (o: KubernetesObject) => (o.kind === 'Namespace' ? 0 : o.metadata?.namespace ? 2 : 1);
        const sorted = [...list].sort((a, b) => rank(a) - rank(b));
        const namespaces: string[] = [];
        for (const o of sorted) {
          if (rank(o) === 2 && namespaces.length > 0) {
            // Pods are refused until the namespace's default service account exists.
            for (const n of namespaces.splice(0)) {
              await until(`service account default in ${n}`, async () => (await core.listNamespacedServiceAccount({ namespace: n })).items.some((s) => s.metadata?.name === 'default'));
            }
          }
          await objects.patch(o, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
          if (o.kind === 'Namespace') namespaces.push(o.metadata!.name!);
        }
      },

      async delete(list, { wait = false, timeoutMs = 30_000 } = {}) {
        for (const o of list) {
          await objects.delete(o).catch((err: unknown) => {
            if ((err as { code?: number }).code !== 404) throw err;
          });
        }
        if (!wait) return;
        for (const o of list) {
          await until(
            `${o.kind} ${o.metadata?.name} gone`,
            async () => objects.read(o as Parameters<typeof objects.read>[0]).then(() => false, (err: { code?: number }) => err.code === 404),
            timeoutMs,
          );
        }
      },

      async pods(app) {
        return (await core.listNamespacedPod({ namespace: ns, ...(app ? { labelSelector: `${LABEL}=${app}` } : {}) })).items;
      },

      async deployment(name) {
        return apps.readNamespacedDeployment({ name, namespace: ns }).catch((err: { code?: number }) => {
          if (err.code === 404) return undefined;
          throw err;
        });
      },

      async scale(name, n) {
        await apps.patchNamespacedDeploymentScale({ name, namespace: ns, body: { spec: { replicas: n } } }, mergePatch);
      },

      until,

      async eventsAfter(from, expected, timeoutMs = 10_000) {
        const matches = (e: string, p: string | RegExp) => (typeof p === 'string' ? e === p : p.test(e));
        const missing = () => expected.filter((p) => !events.slice(from).some((e) => matches(e, p)));
        await until('the expected events', () => missing().length === 0, timeoutMs).catch((err: Error) => {
          throw new Error(`${err.message}; missing: ${missing().join(', ')}; seen: ${events.slice(from).join(', ')}`);
        });
        return events.slice(from);
      },

      async useSlapd(slapd) {
        // Renames: a command starting meanwhile sees the old or the new slapd, never half of one.
        const link = path.join(openldapDir, 'slapd.d');
        await fs.rm(`${link}.new`, { force: true });
        await fs.symlink(slapd.configDir, `${link}.new`);
        await fs.rename(`${link}.new`, link);
        const text = Object.entries(slapd.env).map(([k, v]) => `${k}=${v}\n`).join('');
        await fs.writeFile(`${envFile}.new`, text, { mode: 0o600 });
        await fs.rename(`${envFile}.new`, envFile);
      },

      async dropExecs(n) {
        await fs.writeFile(`${dropFile}.new`, String(n), { mode: 0o600 });
        await fs.rename(`${dropFile}.new`, dropFile);
      },

      async execsSettled(timeoutMs = 60_000) {
        await until('the exec\'d commands to finish', () => childPids(execKubeletPid()).length === 0, timeoutMs);
      },

      async execs() {
        const text = await fs.readFile(auditLog, 'utf8').catch(() => '');
        return text
          .split('\n')
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as { requestURI: string; user: { username: string }; objectRef: { namespace: string; name: string } })
          .map((e) => {
            const q = new URL(e.requestURI, server).searchParams;
            return { namespace: e.objectRef.namespace, pod: e.objectRef.name, container: q.get('container') ?? '', argv: q.getAll('command'), user: e.user.username };
          });
      },

      async setNeverReady(appsNeverReady) {
        await terminate(kwok);
        procs.splice(procs.indexOf(kwok), 1);
        await writeKwokConfig(appsNeverReady);
        // kwok looks after a node's pods only while it holds the node's lease. The lease of the
        // kwok just stopped would keep the new one waiting until it expires (40 s): it goes now.
        const leases = kc.makeApiClient(CoordinationV1Api);
        const lease = { name: nodeName, namespace: 'kube-node-lease' };
        await leases.deleteNamespacedLease(lease).catch(() => undefined);
        kwok = start('kwok', kwokArgs);
        const end = Date.now() + 30_000;
        await waitFor('kwok /healthz', kwok, async () => (await httpGet(`http://127.0.0.1:${kwokPort}/healthz`)) === 'ok', end);
        await waitFor('kwok to hold the node lease again', kwok, async () => Boolean((await leases.readNamespacedLease(lease)).spec?.holderIdentity), end);
      },

      logTail: (name, lines = 30) => tail(path.join(dir, 'logs', `${name}.log`), lines),

      startup: { totalMs: Date.now() - started, marks },

      async stop() {
        if (!stopping) await stopAll();
      },
    };
    return cluster;
  } catch (err) {
    await stopAll();
    throw err;
  }

  function startError(message: string, p: Proc): Error {
    const last = tail(p.log, 25);
    const text = `test cluster did not start: ${message}; last lines of ${p.name}'s log:\n${last}`;
    return /address already in use/.test(last) ? new PortTaken(text) : new Error(text);
  }
}

/** Kaapana's pods are Ready when their Ready condition is. */
export function isReady(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

// --- processes ------------------------------------------------------------------------------------

function spawnLogged(name: string, argv: string[], log: string, home: string): Proc {
  const fd = openSync(log, 'a', 0o600);
  // Nothing of ours in the env: HOME keeps kwok's defaults (~/.kwok) inside the cluster dir.
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home } });
  closeSync(fd);
  const p: Proc = { name, child, log, exited: once(child, 'exit').then(() => undefined, () => undefined) };
  // Registered before anything can fail, so that stop() and the exit handler always find it.
  live.add(p);
  child.on('error', (err) => {
    p.error = err;
    live.delete(p);
  });
  void p.exited.then(() => live.delete(p));
  return p;
}

function gone(p: Proc): boolean {
  return p.error !== undefined || p.child.exitCode !== null || p.child.signalCode !== null;
}

async function terminate(p: Proc): Promise<void> {
  if (gone(p) || p.child.pid === undefined) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5_000);
  await p.exited;
  clearTimeout(timer);
}

/** Children of a process (all its threads'), from /proc. */
function childPids(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .split(' ')
        .filter((s) => s.trim() !== '')
        .map(Number),
    );
  } catch {
    return []; // gone
  }
}

/** exec-kubelet starts each command in its own process group: those groups go first. */
function killExecChildren(p: Proc | undefined): void {
  for (const pid of childPids(p?.child.pid)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// --- network --------------------------------------------------------------------------------------

/** GET with a 2 s bound; resolves with the body of a 200, rejects otherwise. */
function httpGet(url: string, tls?: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<string> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body.trim()) : reject(new Error(`${url}: HTTP ${res.statusCode} ${body.slice(0, 200)}`))));
    };
    const req = url.startsWith('https:') ? https.get(url, { ...tls, timeout: 2_000 }, onResponse) : http.get(url, { timeout: 2_000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`${url}: timeout`)));
    req.on('error', reject);
  });
}

// --- certificates and kubeconfigs -----------------------------------------------------------------

interface Pki {
  dir: string;
  ca: Buffer;
  caFile: string;
}

/** A CA and every certificate the cluster needs, EC P-256, valid for two days. */
async function makePki(dir: string, nodeName: string): Promise<Pki> {
  await fs.mkdir(dir, { mode: 0o700 });
  const f = (name: string) => path.join(dir, name);
  const ca = (name: string, cn: string) =>
    run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', f(`${name}.key`), '-out', f(`${name}.crt`),
    ]);
  await Promise.all([ca('ca', 'kaapana-test-ca'), ca('front-proxy-ca', 'kaapana-test-front-proxy-ca')]);
  const leaf = async (name: string, subject: string, ext: string[], issuer = 'ca') => {
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', subject, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)]);
    await fs.writeFile(f(`${name}.ext`), [...ext, 'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment'].join('\n') + '\n');
    const serial = `0x${randomBytes(12).toString('hex')}`;
    await run('openssl', ['x509', '-req', '-in', f(`${name}.csr`), '-CA', f(`${issuer}.crt`), '-CAkey', f(`${issuer}.key`), '-set_serial', serial, '-days', '2', '-extfile', f(`${name}.ext`), '-out', f(`${name}.crt`)]);
  };
  const client = ['extendedKeyUsage=clientAuth'];
  const serverExt = (sans: string) => [`subjectAltName=${sans}`, 'extendedKeyUsage=serverAuth'];
  await Promise.all([
    leaf('kube-apiserver', '/CN=kube-apiserver', serverExt('IP:127.0.0.1,IP:10.152.183.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local')),
    leaf('serving', '/CN=127.0.0.1', serverExt('IP:127.0.0.1,DNS:localhost')),
    leaf('admin', '/O=system:masters/CN=admin', client),
    leaf('kube-controller-manager', '/CN=system:kube-controller-manager', client),
    leaf('kube-scheduler', '/CN=system:kube-scheduler', client),
    // kwok plays the node agent for pods and the node object alike: it gets admin rights, as kwokctl gives it.
    leaf('kwok', '/O=system:masters/CN=kwok', client),
    // exec-kubelet reads pods as the node (Node authorizer: only pods bound to it).
    leaf('node', `/O=system:nodes/CN=system:node:${nodeName}`, client),
    leaf('apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', client),
    leaf('front-proxy-client', '/CN=front-proxy-client', client, 'front-proxy-ca'),
    (async () => {
      await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', f('sa.key')]);
      await run('openssl', ['pkey', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')]);
    })(),
  ]);
  return { dir, ca: await fs.readFile(f('ca.crt')), caFile: f('ca.crt') };
}

/** Shaped like microk8s' credentials/client.config: everything inline. */
async function kubeconfigYaml(server: string, ca: Buffer, user: string, certFile: string, keyFile: string): Promise<string> {
  const b64 = async (file: string) => (await fs.readFile(file)).toString('base64');
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'microk8s-cluster', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: user, user: { 'client-certificate-data': await b64(certFile), 'client-key-data': await b64(keyFile) } }],
    contexts: [{ name: 'microk8s', context: { cluster: 'microk8s-cluster', user } }],
    'current-context': 'microk8s',
    preferences: {},
  });
}

// --- kwok -----------------------------------------------------------------------------------------

/**
 * kwok's pod lifecycle: a pod bound to the node turns Running and Ready after readyMs (or Running
 * and never Ready, for the neverReady apps); a pod marked for deletion is deleted for good after
 * stopMs, as the kubelet does once its containers stopped (finalizers are left alone). The node's
 * own stages are kwok's defaults (initialize, lease heartbeat).
 */
function podStages(o: { readyMs: number; stopMs: number; neverReady: string[] }): string {
  const statusTemplate = (ready: boolean) => `{{ $now := Now }}
conditions:
- type: Initialized
  status: "True"
  lastTransitionTime: {{ $now | Quote }}
- type: ContainersReady
  status: "${ready ? 'True' : 'False'}"
  lastTransitionTime: {{ $now | Quote }}
- type: Ready
  status: "${ready ? 'True' : 'False'}"
  lastTransitionTime: {{ $now | Quote }}
containerStatuses:
{{ range .spec.containers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: ${ready}
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- name: {{ .name | Quote }}
  image: {{ .image | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      reason: Completed
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
podIP: {{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}
phase: Running
startTime: {{ $now | Quote }}
`;
  const starting = [
    { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
    { key: '.status.podIP', operator: 'DoesNotExist' },
  ];
  const app = `.metadata.labels["${LABEL}"]`;
  const stage = (name: string, selector: object[], next: object, delayMs: number) => ({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name },
    spec: { resourceRef: { apiGroup: 'v1', kind: 'Pod' }, selector: { matchExpressions: selector }, delay: { durationMilliseconds: delayMs }, next },
  });
  const stages = [
    stage('pod-ready', o.neverReady.length > 0 ? [...starting, { key: app, operator: 'NotIn', values: o.neverReady }] : starting, { statusTemplate: statusTemplate(true) }, o.readyMs),
    ...(o.neverReady.length > 0 ? [stage('pod-never-ready', [...starting, { key: app, operator: 'In', values: o.neverReady }], { statusTemplate: statusTemplate(false) }, o.readyMs)] : []),
    stage('pod-delete', [{ key: '.metadata.deletionTimestamp', operator: 'Exists' }], { delete: true }, o.stopMs),
  ];
  return stages.map((s) => YAML.stringify(s)).join('---\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
