// The Kubernetes adapter of the cluster port, on @kubernetes/client-node: Kaapana's dcm4chee, ldap
// and postgres-dcm4che deployments, found by their `app-name` label in one namespace.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import WebSocket from 'ws';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  PatchStrategy,
  VersionApi,
  setHeaderOptions,
  type V1Deployment,
  type V1Pod,
  type V1Status,
} from '@kubernetes/client-node';
import type { Cluster, CommandOutcome, ReplicaRecord } from './port.js';
import { compareDataVersions } from '../plan/ldap-commands.js';

export interface KubernetesClusterOptions {
  namespace: string;
  /** A kubeconfig file; else KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** The archive's LDAP device name; preflight checks that dcm4chee runs with it. */
  deviceName: string;
  /** Site commands (argv, no shell): forward = undeploy then deploy; rollback = rollback. */
  redeploy: { undeploy?: string[]; deploy?: string[]; rollback?: string[] };
  /** Bound of every wait for pods to go away or become Ready. */
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  pollIntervalMs?: number;
  /** Bound of one command run in the ldap pod. */
  execTimeoutMs?: number;
  /** Bound of one redeploy command (Kaapana's undeploy alone waits up to ~5 minutes for pods). */
  commandTimeoutMs?: number;
}

const APPS = ['dcm4chee', 'ldap', 'postgres-dcm4che'] as const;
type App = (typeof APPS)[number];
const LABEL = 'app-name';
const LDAP_CONTAINER = 'ldap-container';
/** Where slapd-dcm4chee keeps its data updates, one directory per version (`update-data <version>`). */
const LDAP_DATA_DIR = '/etc/openldap/data';
/** slapd-dcm4chee's cn=config; database 1 is the mdb holding dc=dcm4che,dc=org. slapcat is safe beside a running slapd on mdb. */
const SLAPCAT = ['slapcat', '-F', '/etc/openldap/slapd.d', '-n', '1'];
/** Replicas before the stop, kept on the deployment so that a retried stop does not record 0. */
const REPLICAS_ANNOTATION = 'kaapana-migrate/replicas-before-stop';
/** v4 and v5 both report the exit code on the status channel. */
const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const CLOSE_CHANNEL = 255;
const DATA_VERSION = /^\d+(\.\d+)*$/;

export function createKubernetesCluster(opts: KubernetesClusterOptions): Cluster {
  const ns = opts.namespace;
  const log = opts.log ?? (() => undefined);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5 * 60_000;
  const pollMs = opts.pollIntervalMs ?? 2_000;
  const execTimeoutMs = opts.execTimeoutMs ?? 10 * 60_000;
  const commandTimeoutMs = opts.commandTimeoutMs ?? 60 * 60_000;
  const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

  // Loaded on first use, so that a missing configuration fails an activity (reported, retried), not the worker.
  let clients: { kc: KubeConfig; apps: AppsV1Api; core: CoreV1Api } | undefined;
  const k8s = () => {
    if (!clients) {
      const kc = loadKubeConfig(opts.kubeconfig);
      clients = { kc, apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api) };
    }
    return clients;
  };

  async function findDeployments(): Promise<Map<App, V1Deployment>> {
    const list = await call(`listing deployments in namespace ${ns}`, () => k8s().apps.listNamespacedDeployment({ namespace: ns }));
    const found = new Map<App, V1Deployment>();
    for (const app of APPS) {
      // Kaapana's charts put the label on the selector and the pods, not on the deployment object.
      const matches = list.items.filter((d) => d.spec?.selector?.matchLabels?.[LABEL] === app || d.metadata?.labels?.[LABEL] === app);
      if (matches.length > 1) throw new Error(`several deployments for ${LABEL}=${app} in namespace ${ns}: ${matches.map((d) => d.metadata?.name).join(', ')}`);
      if (matches[0]) found.set(app, matches[0]);
    }
    return found;
  }

  async function deployment(app: App): Promise<V1Deployment & { metadata: { name: string } }> {
    const d = (await findDeployments()).get(app);
    const name = d?.metadata?.name;
    if (!d || !name) throw new Error(`no deployment with ${LABEL}=${app} in namespace ${ns}`);
    return d as V1Deployment & { metadata: { name: string } };
  }

  async function pods(app: App): Promise<V1Pod[]> {
    const list = await call(`listing ${app} pods`, () => k8s().core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL}=${app}` }));
    return list.items;
  }

  async function scaleTo(name: string, replicas: number): Promise<void> {
    await call(`scaling ${name} to ${replicas}`, () =>
      k8s().apps.patchNamespacedDeploymentScale({ name, namespace: ns, body: { spec: { replicas } } }, mergePatch),
    );
  }

  async function annotate(name: string, value: string | null): Promise<void> {
    await call(`annotating ${name}`, () =>
      k8s().apps.patchNamespacedDeployment({ name, namespace: ns, body: { metadata: { annotations: { [REPLICAS_ANNOTATION]: value } } } }, mergePatch),
    );
  }

  async function poll(what: string, probe: () => Promise<{ done: boolean; state: string }>): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const { done, state } = await probe();
      if (done) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${seconds(readyTimeoutMs)} waiting for ${what}; last seen: ${state}`);
      await sleep(Math.min(pollMs, left));
    }
  }

  async function waitPodsGone(app: App): Promise<void> {
    // A terminating pod may still hold the data directory: it counts until it is gone.
    await poll(`the ${app} pods to terminate`, async () => {
      const left = await pods(app);
      return { done: left.length === 0, state: describePods(left) };
    });
  }

  async function waitReady(apps: App[]): Promise<void> {
    await poll(`${apps.join(', ')} to be Ready`, async () => {
      const states = await Promise.all(apps.map(async (app) => ({ app, pods: (await pods(app)).filter((p) => !terminating(p)) })));
      return {
        done: states.every((s) => s.pods.length > 0 && s.pods.every(ready)),
        state: states.map((s) => `${s.app}: ${describePods(s.pods)}`).join('; '),
      };
    });
  }

  async function ldapPod(): Promise<string> {
    const all = await pods('ldap');
    const running = all.filter((p) => p.status?.phase === 'Running' && !terminating(p));
    if (running.length === 0) {
      throw new Error(`no Running ldap pod (${LABEL}=ldap) in namespace ${ns}${all.length > 0 ? `; there is: ${describePods(all)}` : ''}`);
    }
    if (running.length > 1) {
      throw new Error(`${running.length} Running ldap pods (${running.map((p) => p.metadata?.name).join(', ')}): refusing to guess which one holds the LDAP data`);
    }
    const pod = running[0]!;
    const containers = pod.spec?.containers.map((c) => c.name) ?? [];
    if (!containers.includes(LDAP_CONTAINER)) throw new Error(`pod ${pod.metadata?.name} has no container ${LDAP_CONTAINER} (has: ${containers.join(', ')})`);
    return pod.metadata!.name!;
  }

  /** Runs argv in the ldap container; stdout goes to the given stream (ended by the client on exit). */
  async function execInLdap(pod: string, argv: string[], stdout: Writable): Promise<{ exitCode: number; stderr: string }> {
    const { kc } = k8s();
    const stderr = new Collector();
    const socket = new ChannelSocket(kc);
    let status: V1Status | undefined;
    let ws: WebSocket;
    try {
      ws = await new Exec(kc, socket).exec(ns, pod, LDAP_CONTAINER, argv, stdout, stderr, null, false, (s) => {
        status = s;
      });
    } catch (err) {
      throw new Error(`could not start "${argv.join(' ')}" in pod ${pod}: ${explain(err)}`, { cause: err });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ws.terminate();
    }, execTimeoutMs);
    const closed = await socket.closed;
    clearTimeout(timer);
    if (!status) {
      // No status: the stream broke. The command may have run partly; the caller retries, and the
      // LDAP commands are judged so that a re-run is recognised.
      const why = timedOut ? `did not finish within ${seconds(execTimeoutMs)}` : `lost its connection (websocket closed, code ${closed.code}${closed.error ? `: ${closed.error.message}` : ''}) before the exit status arrived`;
      throw new Error(`"${argv.join(' ')}" in pod ${pod} ${why}`);
    }
    return { exitCode: exitCodeOf(status, argv, pod), stderr: stderr.text() };
  }

  async function runCommand(argv: string[]): Promise<void> {
    const shown = argv.join(' ');
    log(`$ ${shown}`);
    const tail: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGTERM');
      }, commandTimeoutMs);
      for (const stream of [child.stdout, child.stderr]) {
        readline.createInterface({ input: stream }).on('line', (line) => {
          log(line);
          tail.push(line);
          if (tail.length > 20) tail.shift();
        });
      }
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`could not run \`${shown}\`: ${err.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) return resolve();
        const how = timedOut ? `did not finish within ${seconds(commandTimeoutMs)}` : signal ? `was killed by ${signal}` : `exited with ${code}`;
        reject(new Error(`\`${shown}\` ${how}${tail.length > 0 ? `; last output:\n${tail.join('\n')}` : ''}`));
      });
    });
  }

  return {
    kind: 'kubernetes',

    async preflight() {
      const { kc } = k8s();
      const server = kc.getCurrentCluster()?.server ?? '(no server)';
      const version = await call(`Kubernetes API at ${server} not reachable`, () => kc.makeApiClient(VersionApi).getCode());
      const notes = [`Kubernetes ${version.gitVersion} at ${server}, namespace ${ns}`];

      const found = await findDeployments();
      const missing = APPS.filter((app) => !found.has(app));
      if (missing.length > 0) throw new Error(`deployments missing in namespace ${ns}: ${missing.map((a) => `${LABEL}=${a}`).join(', ')}`);
      for (const d of found.values()) {
        notes.push(`${d.metadata?.name}: ${d.spec?.replicas ?? 0} replica(s), ${d.status?.readyReplicas ?? 0} ready`);
      }

      const device = envOf(found.get('dcm4chee')!, 'ARCHIVE_DEVICE_NAME');
      if (device !== undefined && device !== opts.deviceName) {
        throw new Error(`dcm4chee runs with ARCHIVE_DEVICE_NAME=${device}, the configuration says ${opts.deviceName}: the LDAP update would change the wrong device`);
      }

      const db = databaseHostPath(found.get('postgres-dcm4che')!);
      if (db.note) notes.push(db.note);
      return db.path ? { notes, databaseHostPath: db.path } : { notes };
    },

    async stopApplications() {
      const record: ReplicaRecord = {};
      // dcm4chee first: it must not lose its database while running.
      for (const app of ['dcm4chee', 'postgres-dcm4che'] as const) {
        const d = await deployment(app);
        const name = d.metadata.name;
        const scale = await call(`reading the scale of ${name}`, () => k8s().apps.readNamespacedDeploymentScale({ name, namespace: ns }));
        const current = scale.spec?.replicas ?? 0;
        const remembered = Number(d.metadata.annotations?.[REPLICAS_ANNOTATION]);
        if (current > 0) {
          if (remembered !== current) await annotate(name, String(current));
          await scaleTo(name, 0);
          log(`scaled ${name} from ${current} to 0`);
          record[app] = current;
        } else {
          // Already at 0: a retried stop, or stopped by hand; the annotation holds the count from before.
          record[app] = Number.isInteger(remembered) && remembered > 0 ? remembered : 0;
          log(`${name} already at 0 replicas; recorded ${record[app]}`);
        }
        await waitPodsGone(app);
        log(`${name}: no pods left`);
      }
      return record;
    },

    async restoreApplications(record) {
      // The database before the archive that needs it.
      for (const app of ['postgres-dcm4che', 'dcm4chee'] as const) {
        const replicas = record[app];
        if (replicas === undefined) continue;
        const d = await deployment(app);
        const name = d.metadata.name;
        await scaleTo(name, replicas);
        if (d.metadata.annotations?.[REPLICAS_ANNOTATION] !== undefined) await annotate(name, null);
        log(`scaled ${name} to ${replicas}`);
        if (replicas > 0) await waitReady([app]);
      }
    },

    async backupLdap(targetFile) {
      const pod = await ldapPod();
      // Written beside the target and renamed when complete: a broken export never looks like a backup.
      const partial = `${targetFile}.partial`;
      await fs.promises.mkdir(path.dirname(targetFile), { recursive: true });
      await fs.promises.rm(partial, { force: true });
      const out = fs.createWriteStream(partial, { flags: 'wx', mode: 0o600 });
      // A write error (disk full) must fail this call, not surface as an unhandled 'error' event.
      out.on('error', () => undefined);
      try {
        await once(out, 'open');
        const { exitCode, stderr } = await execInLdap(pod, SLAPCAT, out);
        await finished(out);
        if (exitCode !== 0) throw new Error(`${SLAPCAT.join(' ')} in pod ${pod} exited with ${exitCode}: ${stderr.trim()}`);
        const { size } = await fs.promises.stat(partial);
        if (size === 0) throw new Error(`${SLAPCAT.join(' ')} in pod ${pod} wrote nothing`);
        await fs.promises.chmod(partial, 0o600);
        await fs.promises.rename(partial, targetFile);
        log(`LDAP export of pod ${pod}: ${targetFile} (${size} bytes)`);
        return targetFile;
      } catch (err) {
        out.destroy();
        await fs.promises.rm(partial, { force: true });
        throw err;
      }
    },

    async redeploy(which) {
      const { undeploy, deploy, rollback } = opts.redeploy;
      if (which === 'forward' && !deploy) throw new Error('no redeploy.deploy command configured');
      if (which === 'rollback' && !rollback) throw new Error('no redeploy.rollback command configured');
      const commands = which === 'forward' ? [undeploy, deploy] : [rollback];
      for (const argv of commands) if (argv) await runCommand(argv);
      await waitReady(['ldap', 'postgres-dcm4che', 'dcm4chee']);
      log('dcm4chee, ldap and postgres-dcm4che are Ready');
    },

    async execLdap(argv): Promise<CommandOutcome> {
      if (argv.length === 0) throw new Error('execLdap needs a command');
      const pod = await ldapPod();
      const stdout = new Collector();
      const { exitCode, stderr } = await execInLdap(pod, argv, stdout);
      return { argv, exitCode, stdout: stdout.text(), stderr };
    },

    async ldapDataVersions() {
      const pod = await ldapPod();
      const listing = new Collector();
      const { exitCode, stderr } = await execInLdap(pod, ['ls', '-1', LDAP_DATA_DIR], listing);
      if (exitCode !== 0) throw new Error(`listing ${LDAP_DATA_DIR} in pod ${pod} failed (exit ${exitCode}): ${stderr.trim()}`);
      return listing
        .text()
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => DATA_VERSION.test(l))
        .sort(compareDataVersions);
    },

    async restartPods() {
      // ldap first: dcm4chee reads its configuration from LDAP when it starts.
      for (const app of ['ldap', 'dcm4chee'] as const) {
        const old = await pods(app);
        if (old.length === 0) throw new Error(`no ${app} pod to restart in namespace ${ns}`);
        const oldUids = new Set(old.map((p) => p.metadata?.uid));
        for (const p of old) {
          const name = p.metadata!.name!;
          await call(`deleting pod ${name}`, () => k8s().core.deleteNamespacedPod({ name, namespace: ns })).catch((err: unknown) => {
            if (!(err instanceof Error && err.cause instanceof ApiException && err.cause.code === 404)) throw err;
          });
          log(`deleted pod ${name}`);
        }
        await poll(`a new ${app} pod to be Ready`, async () => {
          const now = await pods(app);
          const fresh = now.filter((p) => !oldUids.has(p.metadata?.uid) && !terminating(p));
          const stale = now.filter((p) => oldUids.has(p.metadata?.uid));
          return { done: stale.length === 0 && fresh.length > 0 && fresh.every(ready), state: describePods(now) };
        });
        log(`${app} restarted`);
      }
    },
  };
}

function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const home = path.join(os.homedir(), '.kube', 'config');
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBECONFIG) kc.loadFromDefault();
  else if (fs.existsSync(home)) kc.loadFromFile(home);
  // loadFromDefault would fall back to http://localhost:8080 here; only a real service account will do.
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else throw new Error('no Kubernetes configuration: set cluster.kubeconfig or KUBECONFIG, provide ~/.kube/config, or run inside the cluster');
  if (!kc.getCurrentCluster()) throw new Error(`the Kubernetes configuration${file ? ` ${file}` : ''} has no current cluster`);
  return kc;
}

/** Kaapana's data directory: the hostPath behind PGDATA of the postgres-dcm4che container. */
function databaseHostPath(d: V1Deployment): { path?: string; note?: string } {
  const spec = d.spec?.template?.spec;
  const container = spec?.containers.find((c) => c.name === 'postgres-dcm4che-container') ?? spec?.containers[0];
  const pgdata = container?.env?.find((e) => e.name === 'PGDATA')?.value ?? '/var/lib/postgresql/data';
  const mount = (container?.volumeMounts ?? [])
    .filter((m) => pgdata === m.mountPath || pgdata.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return { note: `postgres-dcm4che mounts no volume at ${pgdata}: take the database directory from the configuration` };
  const volume = spec?.volumes?.find((v) => v.name === mount.name);
  if (!volume?.hostPath) {
    return { note: `postgres-dcm4che's ${pgdata} is not a hostPath volume: take the database directory from the configuration` };
  }
  return { path: path.posix.join(volume.hostPath.path, mount.subPath ?? '', path.posix.relative(mount.mountPath, pgdata)) };
}

function envOf(d: V1Deployment, name: string): string | undefined {
  for (const c of d.spec?.template?.spec?.containers ?? []) {
    const value = c.env?.find((e) => e.name === name)?.value;
    if (value !== undefined) return value;
  }
  return undefined;
}

function terminating(p: V1Pod): boolean {
  return p.metadata?.deletionTimestamp !== undefined && p.metadata.deletionTimestamp !== null;
}

function ready(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && !terminating(p) && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function describePods(list: V1Pod[]): string {
  if (list.length === 0) return 'no pods';
  return list.map((p) => `${p.metadata?.name} ${terminating(p) ? 'Terminating' : p.status?.phase ?? 'Unknown'}${ready(p) ? ' Ready' : ''}`).join(', ');
}

function exitCodeOf(status: V1Status, argv: string[], pod: string): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  if (cause && Number.isInteger(code)) return code;
  // Failure without an exit code: the command never ran (e.g. not found in the image).
  throw new Error(`"${argv.join(' ')}" could not run in pod ${pod}: ${status.message ?? status.reason ?? 'unknown failure'}`);
}

/** Runs an API call; failures name what was being done and keep the client's error as cause. */
async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`${what}: ${explain(err)}`, { cause: err });
  }
}

function explain(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeJson(err.body) : err.body;
    const message = body && typeof body === 'object' && 'message' in body ? String(body.message) : undefined;
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  if (err instanceof Error) {
    // fetch reports "fetch failed" and puts the reason (ECONNREFUSED, …) in cause.
    return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
  }
  return String(err);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Collects a stream's bytes; decoded once at the end so split multi-byte characters survive. */
class Collector extends Writable {
  private readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    done();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * The websocket under client-node's Exec. Its own handler would end process.stdout when a v5 server
 * closes a stream, and tells nobody when the socket drops; this one ignores close frames and exposes
 * how the socket ended.
 */
class ChannelSocket {
  /** Set by connect: resolves when the socket is gone, with the close code and any error. */
  closed!: Promise<{ code: number; error?: Error }>;

  constructor(private readonly kc: KubeConfig) {}

  async connect(apiPath: string, _text: unknown, binary: ((channel: number, data: Buffer) => boolean) | null): Promise<WebSocket> {
    const server = this.kc.getCurrentCluster()!.server.replace(/\/$/, '');
    const options: WebSocket.ClientOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    const ws = new WebSocket(`${server.replace(/^http/, 'ws')}${apiPath}`, CHANNEL_PROTOCOLS, options);
    let failure: Error | undefined;
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve({ code, ...(failure ? { error: failure } : {}) })));
    ws.on('error', (err) => {
      failure = err;
    });
    ws.on('message', (data: WebSocket.RawData) => {
      const frame = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (frame.length === 0 || frame[0] === CLOSE_CHANNEL) return;
      try {
        if (binary && !binary(frame[0]!, frame.subarray(1))) ws.close(1000);
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
        ws.terminate();
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return ws;
  }
}
