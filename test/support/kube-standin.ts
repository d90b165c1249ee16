// A stand-in Kubernetes API server on 127.0.0.1 for the Kubernetes adapter's tests: the few REST
// routes the adapter uses (version, deployments with the scale subresource and merge patches, pods
// with label selectors and delete), a small controller (replica sets: pods follow the replica count,
// come up Ready after a delay, get replaced when deleted), and the websocket exec endpoint, which runs
// the command as a real process from a bin dir standing in for the image. HTTPS with a throwaway
// self-signed certificate (the client refuses plain HTTP) and bearer-token auth, as a kubeconfig has them.
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';

/** Kubernetes objects are open-ended JSON; the stand-in handles them loosely. */
type Json = Record<string, any>;

export interface StandinOptions {
  namespace: string;
  /** Deployment objects (apps/v1 JSON) to create at start and on each /_standin/deploy. */
  deployments: Json[];
  /** PATH head for exec: the image's commands. */
  binDir: string;
  /** Absolute paths inside the "container" and where they live on this machine (argv is rewritten). */
  podPaths?: Record<string, string>;
  /** Environment every exec gets besides the container's own env. */
  execEnv?: Record<string, string>;
  readyDelayMs?: number;
  terminateDelayMs?: number;
}

export type ChannelProtocol = 'v5.channel.k8s.io' | 'v4.channel.k8s.io';

export interface ExecRecord {
  pod: string;
  container: string;
  argv: string[];
  protocol: string;
}

export interface KubeStandin {
  url: string;
  kubeconfigPath: string;
  /** The server's self-signed certificate, for other clients (e.g. NODE_EXTRA_CA_CERTS). */
  caFile: string;
  namespace: string;
  /** Changeable between tests, e.g. after restarting slapd. */
  execEnv: Record<string, string>;
  podPaths: Record<string, string>;
  /** Subprotocol chosen for exec when the client offers it (API servers before 1.30 only speak v4). */
  execProtocol: ChannelProtocol;
  faults: {
    /** Apps whose pods created from now on run but never turn Ready. */
    neverReady: Set<string>;
    /** The next n execs lose their websocket right after the command's first output. */
    dropExecs: number;
  };
  /** What happened, in order: "scale <deployment> <n>", "created <pod>", "gone <pod>", "patch <deployment>". */
  events: string[];
  execs: ExecRecord[];
  deployment(name: string): Json | undefined;
  pods(app?: string): Json[];
  /** As `kubectl scale`: the controller follows. */
  setReplicas(deployment: string, replicas: number): void;
  /** Resolves when every exec command started so far has exited (a dropped socket leaves it running). */
  execsSettled(): Promise<void>;
  /** Polls until predicate holds (bounded). */
  until(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const SELECTOR_KEY = 'app-name';

export async function startKubeStandin(opts: StandinOptions): Promise<KubeStandin> {
  const ns = opts.namespace;
  const readyDelay = opts.readyDelayMs ?? 150;
  const terminateDelay = opts.terminateDelayMs ?? 100;
  const token = randomBytes(16).toString('hex');
  const deployments = new Map<string, Json>();
  const pods = new Map<string, Json>();
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();
  let resourceVersion = 1;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const bump = (obj: Json) => {
    obj.metadata.resourceVersion = String(++resourceVersion);
  };

  const state: KubeStandin = {
    url: '',
    kubeconfigPath: '',
    caFile: '',
    namespace: ns,
    execEnv: { ...(opts.execEnv ?? {}) },
    podPaths: { ...(opts.podPaths ?? {}) },
    execProtocol: 'v5.channel.k8s.io',
    faults: { neverReady: new Set(), dropExecs: 0 },
    events: [],
    execs: [],
    deployment: (name) => deployments.get(name),
    pods: (app) => [...pods.values()].filter((p) => app === undefined || p.metadata.labels?.[SELECTOR_KEY] === app),
    setReplicas(name, replicas) {
      const d = deployments.get(name);
      if (!d) throw new Error(`no deployment ${name}`);
      d.spec.replicas = replicas;
      bump(d);
      state.events.push(`scale ${name} ${replicas}`);
      reconcile(d);
    },
    async execsSettled() {
      await Promise.all([...running]);
    },
    async until(what, predicate, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`stand-in: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: async () => undefined,
  };

  // --- controller -------------------------------------------------------------------------------

  function createDeployment(template: Json): void {
    const d: Json = structuredClone(template);
    d.apiVersion = 'apps/v1';
    d.kind = 'Deployment';
    d.metadata = { ...d.metadata, namespace: ns, uid: randomUUID(), creationTimestamp: new Date().toISOString(), generation: 1 };
    bump(d);
    deployments.set(d.metadata.name, d);
    reconcile(d);
  }

  function ownedPods(d: Json): Json[] {
    return [...pods.values()].filter((p) => p.metadata.ownerDeployment === d.metadata.name);
  }

  function reconcile(d: Json): void {
    const live = ownedPods(d).filter((p) => !p.metadata.deletionTimestamp);
    const want = d.spec.replicas ?? 1;
    for (let i = live.length; i < want; i++) createPod(d);
    for (const p of live.slice(want)) terminate(p);
  }

  function createPod(d: Json): void {
    const app = d.spec.selector.matchLabels[SELECTOR_KEY];
    const name = `${d.metadata.name}-${randomBytes(4).toString('hex')}-${randomBytes(3).toString('hex').slice(0, 5)}`;
    const pod: Json = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        uid: randomUUID(),
        labels: { ...d.spec.template.metadata.labels },
        creationTimestamp: new Date().toISOString(),
        ownerDeployment: d.metadata.name, // stand-in bookkeeping; a real pod points at its ReplicaSet
      },
      spec: structuredClone(d.spec.template.spec),
      status: { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False' }] },
    };
    bump(pod);
    pods.set(name, pod);
    state.events.push(`created ${name}`);
    const neverReady = state.faults.neverReady.has(app);
    later(readyDelay, () => {
      if (!pods.has(name) || pod.metadata.deletionTimestamp) return;
      pod.status = {
        phase: 'Running',
        podIP: '127.0.0.1',
        startTime: new Date().toISOString(),
        conditions: [{ type: 'Ready', status: neverReady ? 'False' : 'True', lastTransitionTime: new Date().toISOString() }],
      };
      bump(pod);
    });
  }

  function terminate(pod: Json): void {
    if (pod.metadata.deletionTimestamp) return;
    pod.metadata.deletionTimestamp = new Date().toISOString();
    pod.metadata.deletionGracePeriodSeconds = 30;
    bump(pod);
    later(terminateDelay, () => {
      pods.delete(pod.metadata.name);
      state.events.push(`gone ${pod.metadata.name}`);
    });
  }

  // --- REST -------------------------------------------------------------------------------------

  const status = (code: number, reason: string, message: string): Json => ({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });

  function send(res: http.ServerResponse, code: number, body: Json): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  function selects(selector: string | null, labels: Record<string, string> | undefined): boolean {
    if (!selector) return true;
    return selector.split(',').every((term) => {
      const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
      if (!m) return false;
      const value = labels?.[m[1]!];
      return m[2] === '!=' ? value !== m[3] : value === m[3];
    });
  }

  /** The API view of a pod: without the stand-in's bookkeeping field. */
  function podView(p: Json): Json {
    const { ownerDeployment: _owner, ...metadata } = p.metadata;
    return { ...p, metadata };
  }

  function deploymentView(d: Json): Json {
    const owned = ownedPods(d).filter((p) => !p.metadata.deletionTimestamp);
    const readyCount = owned.filter(isReady).length;
    return { ...d, status: { replicas: owned.length, readyReplicas: readyCount, availableReplicas: readyCount, observedGeneration: d.metadata.generation } };
  }

  function scaleView(d: Json): Json {
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: { name: d.metadata.name, namespace: ns, uid: d.metadata.uid, resourceVersion: d.metadata.resourceVersion },
      spec: { replicas: d.spec.replicas },
      status: { replicas: ownedPods(d).filter((p) => !p.metadata.deletionTimestamp).length, selector: `${SELECTOR_KEY}=${d.spec.selector.matchLabels[SELECTOR_KEY]}` },
    };
  }

  async function body(req: http.IncomingMessage): Promise<Json> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  }

  function authorised(req: http.IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${token}`;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const method = req.method ?? 'GET';

    // Test hooks for the redeploy commands (what helm uninstall / install would do).
    if (url.pathname === '/_standin/undeploy' && method === 'POST') {
      for (const d of deployments.values()) for (const p of ownedPods(d)) terminate(p);
      deployments.clear();
      return send(res, 200, { undeployed: true });
    }
    if (url.pathname === '/_standin/deploy' && method === 'POST') {
      for (const d of opts.deployments) createDeployment(d);
      return send(res, 200, { deployed: true });
    }

    if (!authorised(req)) return send(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (url.pathname === '/version' && method === 'GET') {
      return send(res, 200, { major: '1', minor: '30', gitVersion: 'v1.30.0-standin', platform: 'linux/amd64' });
    }

    const deploymentsPath = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const podsPath = `/api/v1/namespaces/${ns}/pods`;
    const selector = url.searchParams.get('labelSelector');
    // Lists in another namespace are empty, as for a namespace that does not exist.
    const list =
      /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments)$/.exec(url.pathname) ?? /^\/api\/v1\/namespaces\/([^/]+)\/(pods)$/.exec(url.pathname);
    const elsewhere = list !== null && list[1] !== ns;

    if (list?.[2] === 'deployments' && method === 'GET') {
      const items = elsewhere ? [] : [...deployments.values()].filter((d) => selects(selector, d.metadata.labels)).map(deploymentView);
      return send(res, 200, { kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: String(resourceVersion) }, items });
    }
    const dm = new RegExp(`^${deploymentsPath}/([^/]+)(/scale)?$`).exec(url.pathname);
    if (dm) {
      const d = deployments.get(dm[1]!);
      if (!d) return send(res, 404, status(404, 'NotFound', `deployments.apps "${dm[1]}" not found`));
      const isScale = dm[2] !== undefined;
      if (method === 'GET') return send(res, 200, isScale ? scaleView(d) : deploymentView(d));
      if (method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/merge-patch+json') {
          return send(res, 415, status(415, 'UnsupportedMediaType', `the stand-in only does merge patches, got ${req.headers['content-type']}`));
        }
        const patch = await body(req);
        if (isScale) {
          const replicas = patch.spec?.replicas;
          if (!Number.isInteger(replicas) || replicas < 0) return send(res, 422, status(422, 'Invalid', 'spec.replicas must be a non-negative integer'));
          state.setReplicas(d.metadata.name, replicas);
          return send(res, 200, scaleView(d));
        }
        const merged = mergePatch(d, patch);
        for (const k of ['name', 'namespace', 'uid']) merged.metadata[k] = d.metadata[k];
        deployments.set(d.metadata.name, merged);
        bump(merged);
        state.events.push(`patch ${d.metadata.name}`);
        reconcile(merged);
        return send(res, 200, deploymentView(merged));
      }
    }

    if (list?.[2] === 'pods' && method === 'GET') {
      const items = elsewhere ? [] : [...pods.values()].filter((p) => selects(selector, p.metadata.labels)).map(podView);
      return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(resourceVersion) }, items });
    }
    const pm = new RegExp(`^${podsPath}/([^/]+)$`).exec(url.pathname);
    if (pm) {
      const pod = pods.get(pm[1]!);
      if (!pod) return send(res, 404, status(404, 'NotFound', `pods "${pm[1]}" not found`));
      if (method === 'DELETE') {
        terminate(pod);
        const owner = deployments.get(pod.metadata.ownerDeployment);
        if (owner) reconcile(owner); // the replica set replaces it at once
        return send(res, 200, podView(pod));
      }
    }
    return send(res, 404, status(404, 'NotFound', `the stand-in has no route ${method} ${url.pathname}`));
  }

  // --- exec -------------------------------------------------------------------------------------

  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => {
      if (offered.has(state.execProtocol)) return state.execProtocol;
      return ['v5.channel.k8s.io', 'v4.channel.k8s.io'].find((p) => offered.has(p)) ?? false;
    },
  });

  function refuse(socket: Socket, code: number, reason: string, message: string): void {
    const text = JSON.stringify(status(code, reason, message));
    socket.end(`HTTP/1.1 ${code} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
  }

  function mapPath(arg: string): string {
    for (const [inside, outside] of Object.entries(state.podPaths)) {
      if (arg === inside || arg.startsWith(`${inside}/`)) return outside + arg.slice(inside.length);
    }
    return arg;
  }

  function onUpgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://standin');
    const m = new RegExp(`^/api/v1/namespaces/${ns}/pods/([^/]+)/exec$`).exec(url.pathname);
    if (!authorised(req)) return refuse(socket, 401, 'Unauthorized', 'Unauthorized');
    if (!m) return refuse(socket, 404, 'NotFound', `no websocket route ${url.pathname}`);
    const pod = pods.get(m[1]!);
    if (!pod) return refuse(socket, 404, 'NotFound', `pods "${m[1]}" not found`);
    if (pod.status.phase !== 'Running') return refuse(socket, 400, 'BadRequest', `pod ${m[1]} is not running`);
    const containerName = url.searchParams.get('container') ?? '';
    const container = pod.spec.containers.find((c: Json) => c.name === containerName);
    if (!container) return refuse(socket, 400, 'BadRequest', `container ${containerName} is not valid for pod ${m[1]}`);
    const argv = url.searchParams.getAll('command');
    if (argv.length === 0) return refuse(socket, 400, 'BadRequest', 'you must specify at least 1 command');
    if (url.searchParams.get('tty') === 'true') return refuse(socket, 400, 'BadRequest', 'the stand-in has no TTY');

    wss.handleUpgrade(req, socket, head, (ws) => {
      state.execs.push({ pod: pod.metadata.name, container: containerName, argv, protocol: ws.protocol });
      const env: Record<string, string> = { PATH: `${opts.binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: '/root' };
      for (const e of container.env ?? []) if (typeof e.value === 'string') env[e.name] = e.value;
      Object.assign(env, state.execEnv);
      const drop = state.faults.dropExecs > 0;
      if (drop) state.faults.dropExecs--;
      running.add(runExec(ws, argv.map(mapPath), env, drop));
    });
  }

  function runExec(ws: WebSocket, argv: string[], env: Record<string, string>, drop: boolean): Promise<void> {
    const frame = (channel: number, data: Buffer | string) => {
      if (ws.readyState === ws.OPEN) ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
    };
    const done = new Promise<void>((resolve) => {
      const child = spawn(argv[0]!, argv.slice(1), { env, cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
      const forward = (channel: number) => (chunk: Buffer) => {
        frame(channel, chunk);
        // The fault: the connection breaks mid-command; the process itself carries on, as in a pod.
        if (drop && ws.readyState === ws.OPEN) ws.terminate();
      };
      child.stdout.on('data', forward(1));
      child.stderr.on('data', forward(2));
      child.on('error', (err) => {
        // As the kubelet reports a command it cannot start: Failure without an exit code.
        frame(3, JSON.stringify({ metadata: {}, status: 'Failure', message: `exec: "${argv[0]}": ${err.message}`, reason: 'InternalError', code: 500 }));
        ws.close(1000);
        resolve();
      });
      child.on('close', (code, signal) => {
        const exitCode = code ?? 128 + (signal ? os.constants.signals[signal] : 0);
        frame(
          3,
          JSON.stringify(
            exitCode === 0
              ? { metadata: {}, status: 'Success' }
              : {
                  metadata: {},
                  status: 'Failure',
                  message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`,
                  reason: 'NonZeroExitCode',
                  details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
                },
          ),
        );
        if (ws.readyState === ws.OPEN) ws.close(1000);
        resolve();
      });
    });
    void done.then(() => running.delete(done));
    return done;
  }

  // --- server -----------------------------------------------------------------------------------

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kube-standin-'));
  const tls = await selfSignedCertificate(dir);
  state.caFile = tls.certFile;
  const server = https.createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, status(500, 'InternalError', String(err))));
  });
  server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = `https://127.0.0.1:${port}`;

  state.kubeconfigPath = path.join(dir, 'kubeconfig');
  // JSON is YAML: the client reads it like any kubeconfig.
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'standin', cluster: { server: state.url, 'certificate-authority-data': tls.cert.toString('base64') } }],
    users: [{ name: 'standin', user: { token } }],
    contexts: [{ name: 'standin', context: { cluster: 'standin', user: 'standin', namespace: ns } }],
    'current-context': 'standin',
  };
  await fs.writeFile(state.kubeconfigPath, JSON.stringify(kubeconfig, null, 2), { mode: 0o600 });

  for (const d of opts.deployments) createDeployment(d);

  state.close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const ws of wss.clients) ws.terminate();
    await state.execsSettled();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await fs.rm(dir, { recursive: true, force: true });
  };
  return state;
}

async function selfSignedCertificate(dir: string): Promise<{ key: Buffer; cert: Buffer; certFile: string }> {
  const key = path.join(dir, 'tls.key');
  const cert = path.join(dir, 'tls.crt');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=kube-standin', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
  ]);
  return { key: await fs.readFile(key), cert: await fs.readFile(cert), certFile: cert };
}

function isReady(p: Json): boolean {
  return p.status?.phase === 'Running' && !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some((c: Json) => c.type === 'Ready' && c.status === 'True');
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): Json {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch as Json;
  const result: Json = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Json) } : {};
  for (const [k, v] of Object.entries(patch as Json)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

/** Kaapana 0.2.x/0.3.x as its charts lay it out: app-name on selector and pods only, hostPath volumes. */
export function kaapanaDeployments(opts: { fastDataDir: string; slowDataDir: string }): Json[] {
  const deployment = (name: string, container: Json, volumes: Json[]): Json => ({
    metadata: { name },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [SELECTOR_KEY]: name } },
      template: { metadata: { labels: { [SELECTOR_KEY]: name } }, spec: { containers: [container], volumes } },
    },
  });
  return [
    deployment(
      'dcm4chee',
      {
        name: 'dcm4chee-container',
        image: 'dcm4chee-arc:5.32.0',
        env: [
          { name: 'ARCHIVE_DEVICE_NAME', value: 'KAAPANA' },
          { name: 'POSTGRES_HOST', value: 'postgres-dcm4che-service.services.svc' },
        ],
        volumeMounts: [{ name: 'storage-data', mountPath: '/storage' }],
      },
      [{ name: 'storage-data', hostPath: { path: `${opts.slowDataDir}/dcm4che/dicom_data`, type: 'DirectoryOrCreate' } }],
    ),
    deployment(
      'ldap',
      {
        name: 'ldap-container',
        image: 'slapd-dcm4chee:2.6.6-32.0',
        // Lower case as in Kaapana's chart: without ARCHIVE_DEVICE_NAME=KAAPANA per command, update-data
        // addresses a device that does not exist.
        env: [
          { name: 'ARCHIVE_DEVICE_NAME', value: 'kaapana' },
          { name: 'AE_TITLE', value: 'KAAPANA' },
        ],
        volumeMounts: [
          { name: 'ldap-data', mountPath: '/var/lib/openldap/openldap-data' },
          { name: 'slapd-config', mountPath: '/etc/openldap/slapd.d' },
        ],
      },
      [
        { name: 'ldap-data', hostPath: { path: `${opts.fastDataDir}/ldap`, type: 'DirectoryOrCreate' } },
        { name: 'slapd-config', hostPath: { path: `${opts.fastDataDir}/slapd.d`, type: 'DirectoryOrCreate' } },
      ],
    ),
    deployment(
      'postgres-dcm4che',
      {
        name: 'postgres-dcm4che-container',
        image: 'postgres:15.6-alpine',
        env: [
          { name: 'POSTGRES_DB', value: 'pacsdb' },
          { name: 'PGDATA', value: '/var/lib/postgresql/data' },
        ],
        volumeMounts: [{ name: 'postgres-data', mountPath: '/var/lib/postgresql/data' }],
      },
      [{ name: 'postgres-data', hostPath: { path: `${opts.fastDataDir}/postgres-dcm4che`, type: 'DirectoryOrCreate' } }],
    ),
  ];
}
