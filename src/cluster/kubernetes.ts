// The Kubernetes adapter of the cluster port, on @kubernetes/client-node: Kaapana's dcm4chee, ldap
// and postgres-dcm4che deployments, found by their `app-name` label in one namespace, and the
// platform's own deploy_platform.sh for the redeploy.
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoreV1Api, KubeConfig, PatchStrategy, VersionApi, setHeaderOptions, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { writeFileDurably } from '../files.js';
import { duration } from '../format.js';
import type { DeployScriptRunner } from './deploy-script.js';
import { call, isNotFound } from './kube-errors.js';
import { assertDatabaseClient, DATABASE_SESSION } from './database-exec.js';
import { Collector } from '../streams.js';
import { execToEnd } from './kube-exec.js';
import type { Cluster, ClusterProgress, CommandOutcome, ReplicaRecord } from './port.js';

export interface KubernetesClusterOptions {
  namespace: string;
  /** A kubeconfig file; else KUBECONFIG, ~/.kube/config, or the in-cluster service account. */
  kubeconfig?: string;
  /** The archive's LDAP device name; preflight checks that dcm4chee runs with it. */
  deviceName: string;
  /** The live database directory: the volume of postgres-dcm4che must be it, before and after the redeploy. */
  dataDir: string;
  deploy: DeployScriptRunner;
  /** Bound of every wait for pods to go away or become Ready. */
  readyTimeoutMs?: number;
  /** Bound of the wait for the platform after the deploy script returned (kube-helm installs it later). */
  platformTimeoutMs?: number;
  log?: (line: string) => void;
  pollIntervalMs?: number;
  /**
   * Bound of one command run in the ldap pod. Commands in the database pod have none: a dump of a
   * large archive runs for hours, as long as it needs; their caller ends them through the signal.
   */
  execTimeoutMs?: number;
}

const APPS = ['dcm4chee', 'ldap', 'postgres-dcm4che'] as const;
type App = (typeof APPS)[number];
const LABEL = 'app-name';
const DB_CONTAINER = 'postgres-dcm4che-container';
const LDAP_CONTAINER = 'ldap-container';
/** Where slapd-dcm4chee keeps its data updates, one directory per version (`update-data <version>`). */
const LDAP_DATA_DIR = '/etc/openldap/data';
/** slapd-dcm4chee's cn=config; database 1 is the mdb holding dc=dcm4che,dc=org. slapcat is safe beside a running slapd on mdb. */
const SLAPCAT = ['slapcat', '-F', '/etc/openldap/slapd.d', '-n', '1'];
/** On the 0.2.x deployments from the stop on: tells them apart from what a deploy creates. */
const ORIGINAL_ANNOTATION = 'kaapana-migrate/original';
/** Replicas before the stop, kept on the deployment so that a retried stop does not record 0. */
const REPLICAS_ANNOTATION = 'kaapana-migrate/replicas-before-stop';
const DATA_VERSION = /^\d+(\.\d+)*$/;
/** Stage of restoreApplications: the marked deployments are back at their counts (only the marks may be left). */
const SCALED_BACK = 'scaled-back';

type Named = V1Deployment & { metadata: { name: string } };

export function createKubernetesCluster(opts: KubernetesClusterOptions): Cluster {
  const ns = opts.namespace;
  const log = opts.log ?? (() => undefined);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5 * 60_000;
  const platformTimeoutMs = opts.platformTimeoutMs ?? 30 * 60_000;
  // About sixty looks within a wait's bound, at most one every 2 s.
  const pollMs = opts.pollIntervalMs ?? Math.min(2_000, Math.max(100, readyTimeoutMs / 60));
  const execTimeoutMs = opts.execTimeoutMs ?? 10 * 60_000;
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

  async function findDeployments(): Promise<Map<App, Named>> {
    const list = await call(`listing deployments in namespace ${ns}`, () => k8s().apps.listNamespacedDeployment({ namespace: ns }));
    const found = new Map<App, Named>();
    for (const app of APPS) {
      // Kaapana's charts put the label on the selector and the pods, not on the deployment object.
      const matches = list.items.filter((d) => d.spec?.selector?.matchLabels?.[LABEL] === app || d.metadata?.labels?.[LABEL] === app);
      if (matches.length > 1) throw new Error(`several deployments for ${LABEL}=${app} in namespace ${ns}: ${matches.map((d) => d.metadata?.name).join(', ')}`);
      if (matches[0]?.metadata?.name) found.set(app, matches[0] as Named);
    }
    return found;
  }

  async function deployment(app: App): Promise<Named> {
    const d = (await findDeployments()).get(app);
    if (!d) throw new Error(`no deployment with ${LABEL}=${app} in namespace ${ns}`);
    return d;
  }

  /** The platform as the stop found it: all three deployments, marked by stopApplications. */
  async function originalsState(): Promise<{ found: Map<App, Named>; originals: App[] }> {
    const found = await findDeployments();
    return { found, originals: APPS.filter((app) => found.get(app)?.metadata.annotations?.[ORIGINAL_ANNOTATION] !== undefined) };
  }

  async function pods(app: App): Promise<V1Pod[]> {
    const list = await call(`listing ${app} pods`, () => k8s().core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL}=${app}` }));
    return list.items;
  }

  async function scaleTo(name: string, replicas: number): Promise<void> {
    await call(`scaling ${name} to ${replicas}`, () => k8s().apps.patchNamespacedDeploymentScale({ name, namespace: ns, body: { spec: { replicas } } }, mergePatch));
  }

  async function annotate(name: string, annotations: Record<string, string | null>): Promise<void> {
    await call(`annotating ${name}`, () => k8s().apps.patchNamespacedDeployment({ name, namespace: ns, body: { metadata: { annotations } } }, mergePatch));
  }

  async function poll(what: string, timeoutMs: number, probe: () => Promise<{ done: boolean; state: string }>, progress?: ClusterProgress): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { done, state } = await probe();
      if (done) return;
      progress?.say(`waiting for ${what}: ${state}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${duration(timeoutMs)} waiting for ${what}; last seen: ${state}`);
      await sleep(Math.min(pollMs, left));
    }
  }

  async function waitPodsGone(apps: readonly App[], progress?: ClusterProgress): Promise<void> {
    // A terminating pod may still hold the data directory: it counts until it is gone.
    await poll(`the ${apps.join(', ')} pods to terminate`, readyTimeoutMs, async () => {
      const left = (await Promise.all(apps.map(pods))).flat();
      return { done: left.length === 0, state: describePods(left) };
    }, progress);
  }

  async function waitReady(apps: readonly App[], timeoutMs: number, progress?: ClusterProgress): Promise<void> {
    await poll(`${apps.join(', ')} to be Ready`, timeoutMs, async () => {
      const found = await findDeployments();
      const states = await Promise.all(apps.map(async (app) => ({ app, exists: found.has(app), pods: (await pods(app)).filter((p) => !terminating(p)) })));
      return {
        done: states.every((s) => s.exists && s.pods.length > 0 && s.pods.every(ready)),
        state: states.map((s) => `${s.app}: ${s.exists ? describePods(s.pods) : 'not deployed yet'}`).join('; '),
      };
    }, progress);
  }

  /** The host directory behind PGDATA of postgres-dcm4che: volume → claim → bound PV → hostPath. */
  async function databaseDirectory(d: V1Deployment): Promise<string> {
    const spec = d.spec?.template?.spec;
    const container = spec?.containers.find((c) => c.name === DB_CONTAINER) ?? spec?.containers[0];
    const pgdata = container?.env?.find((e) => e.name === 'PGDATA')?.value ?? '/var/lib/postgresql/data';
    const mount = (container?.volumeMounts ?? [])
      .filter((m) => pgdata === m.mountPath || pgdata.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
      .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
    if (!mount) throw new Error(`postgres-dcm4che mounts no volume at PGDATA ${pgdata}`);
    const within = (base: string) => path.posix.join(base, mount.subPath ?? '', path.posix.relative(mount.mountPath, pgdata));
    const volume = spec?.volumes?.find((v) => v.name === mount.name);
    if (volume?.hostPath) return within(volume.hostPath.path);
    const claimName = volume?.persistentVolumeClaim?.claimName;
    if (!claimName) throw new Error(`postgres-dcm4che's volume ${mount.name} is neither a hostPath nor a claim`);
    const claim = await call(`reading claim ${claimName}`, () => k8s().core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace: ns }));
    const pvName = claim.spec?.volumeName;
    if (claim.status?.phase !== 'Bound' || !pvName) throw new Error(`claim ${claimName} is not bound to a volume (phase ${claim.status?.phase ?? 'unknown'})`);
    const pv = await call(`reading volume ${pvName}`, () => k8s().core.readPersistentVolume({ name: pvName }));
    if (!pv.spec?.hostPath) throw new Error(`volume ${pvName} behind claim ${claimName} is not a hostPath volume`);
    return within(pv.spec.hostPath.path);
  }

  /**
   * After a deploy the claim is bound to a re-created volume: it must point at the migrated
   * directory. If not, the new database server would initialise an empty database elsewhere, so
   * the database and the archive are stopped at once and the operator asked.
   */
  async function waitForDatabaseVolume(progress: ClusterProgress, script: string): Promise<void> {
    let seen = '';
    await poll('the postgres-dcm4che volume to be bound', platformTimeoutMs, async () => {
      const d = (await findDeployments()).get('postgres-dcm4che');
      if (!d) return { done: false, state: 'postgres-dcm4che not deployed yet' };
      try {
        seen = await databaseDirectory(d);
        return { done: true, state: seen };
      } catch (err) {
        return { done: false, state: (err as Error).message };
      }
    }, progress);
    if (path.resolve(seen) === path.resolve(opts.dataDir)) return;
    // postgres-dcm4che first. The chart's objects are applied one by one (kube-helm, minutes after
    // the deploy): dcm4chee may not exist yet, and would come up after a scale that skipped it.
    const wrong = `after the deploy, postgres-dcm4che's volume is ${seen}, not the migrated ${opts.dataDir}`;
    for (const app of ['postgres-dcm4che', 'dcm4chee'] as const) {
      let d: Named | undefined;
      await poll(`the ${app} deployment, to scale it to 0`, readyTimeoutMs, async () => {
        d = (await findDeployments()).get(app);
        return { done: d !== undefined, state: d ? 'deployed' : 'not deployed yet' };
      }, progress).catch((err: Error) => {
        throw new Error(`${wrong}; scaling ${app} to 0: ${err.message}`);
      });
      await scaleTo(d!.metadata.name, 0);
    }
    throw new Error(`${wrong}: dcm4chee and postgres-dcm4che were scaled to 0; correct the volume (FAST_DATA_DIR in ${script}), then retry`);
  }

  /** Runs a deploy script stage once: an earlier attempt that finished it (heartbeat) is not repeated. */
  async function stage(progress: ClusterProgress, release: 'current' | 'target', action: 'undeploy' | 'deploy'): Promise<void> {
    const name = `${action}:${release}`;
    if (progress.done.has(name)) return;
    progress.say(`running ${opts.deploy.argvOf(release, action).join(' ')}`);
    await opts.deploy.run(release, action);
    progress.mark(name);
  }

  /** The one Running, not terminating pod of app, which has the container; `role` says why one must be chosen. */
  async function runningPod(app: App, container: string, role: string): Promise<string> {
    const all = await pods(app);
    const running = all.filter((p) => p.status?.phase === 'Running' && !terminating(p));
    if (running.length === 0) {
      throw new Error(`no Running ${app} pod (${LABEL}=${app}) in namespace ${ns}${all.length > 0 ? `; there is: ${describePods(all)}` : ''}`);
    }
    if (running.length > 1) {
      throw new Error(`${running.length} Running ${app} pods (${running.map((p) => p.metadata?.name).join(', ')}): refusing to guess which one ${role}`);
    }
    const pod = running[0]!;
    const containers = pod.spec?.containers.map((c) => c.name) ?? [];
    if (!containers.includes(container)) throw new Error(`pod ${pod.metadata?.name} has no container ${container} (has: ${containers.join(', ')})`);
    return pod.metadata!.name!;
  }

  const ldapPod = () => runningPod('ldap', LDAP_CONTAINER, 'holds the LDAP data');

  /** Runs argv in the ldap container, its output proven complete (execToEnd). */
  function execInLdap(pod: string, argv: string[], stdout: Writable): Promise<{ exitCode: number; stderr: string }> {
    return execToEnd(k8s().kc, { namespace: ns, pod, container: LDAP_CONTAINER }, argv, stdout, { timeoutMs: execTimeoutMs });
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
      for (const d of found.values()) notes.push(`${d.metadata.name}: ${d.spec?.replicas ?? 0} replica(s), ${d.status?.readyReplicas ?? 0} ready`);

      const device = envOf(found.get('dcm4chee')!, 'ARCHIVE_DEVICE_NAME');
      if (device !== undefined && device !== opts.deviceName) {
        throw new Error(`dcm4chee runs with ARCHIVE_DEVICE_NAME=${device}, the configuration says ${opts.deviceName}: the LDAP update would change the wrong device`);
      }
      const databaseHostPath = await databaseDirectory(found.get('postgres-dcm4che')!).catch((err: Error) => {
        throw new Error(`cannot tell where postgres-dcm4che keeps its database: ${err.message}`);
      });
      notes.push(`postgres-dcm4che's database directory (through its volume): ${databaseHostPath}`);
      notes.push(...(await opts.deploy.check()));
      return { notes, databaseHostPath };
    },

    async stopApplications(progress) {
      const record: ReplicaRecord = {};
      const found = await findDeployments();
      for (const app of APPS) {
        const d = found.get(app);
        if (!d) throw new Error(`no deployment with ${LABEL}=${app} in namespace ${ns}`);
        if (d.metadata.annotations?.[ORIGINAL_ANNOTATION] === undefined) await annotate(d.metadata.name, { [ORIGINAL_ANNOTATION]: new Date().toISOString() });
      }
      // dcm4chee first: it must not lose its database while running.
      for (const app of ['dcm4chee', 'postgres-dcm4che'] as const) {
        const d = await deployment(app);
        const name = d.metadata.name;
        const scale = await call(`reading the scale of ${name}`, () => k8s().apps.readNamespacedDeploymentScale({ name, namespace: ns }));
        const current = scale.spec?.replicas ?? 0;
        const remembered = Number(d.metadata.annotations?.[REPLICAS_ANNOTATION]);
        if (current > 0) {
          if (remembered !== current) await annotate(name, { [REPLICAS_ANNOTATION]: String(current) });
          await scaleTo(name, 0);
          log(`scaled ${name} from ${current} to 0`);
          record[app] = current;
        } else {
          // Already at 0: a retried stop, or stopped by hand; the annotation holds the count from before.
          record[app] = Number.isInteger(remembered) && remembered > 0 ? remembered : 0;
          log(`${name} already at 0 replicas; recorded ${record[app]}`);
        }
        await waitPodsGone([app], progress);
        log(`${name}: no pods left`);
      }
      return record;
    },

    async restoreApplications(progress) {
      const { found, originals } = await originalsState();
      // A retry of an attempt that scaled back and then died (or lost its result) removing the marks:
      // the deployments are unmarked or partly so, which would otherwise read as a foreign platform.
      if (progress.done.has(SCALED_BACK)) {
        for (const app of originals) await annotate(found.get(app)!.metadata.name, { [ORIGINAL_ANNOTATION]: null, [REPLICAS_ANNOTATION]: null });
        return 'scaled back by an earlier attempt';
      }
      if (originals.length === APPS.length) {
        const restored: string[] = [];
        // The database before the archive that needs it.
        for (const app of ['postgres-dcm4che', 'dcm4chee'] as const) {
          const d = found.get(app)!;
          const replicas = Number(d.metadata.annotations?.[REPLICAS_ANNOTATION]);
          if (Number.isInteger(replicas) && replicas > 0) {
            await scaleTo(d.metadata.name, replicas);
            log(`scaled ${d.metadata.name} to ${replicas}`);
            restored.push(`${app}=${replicas}`);
            await waitReady([app], readyTimeoutMs, progress);
          }
        }
        progress.mark(SCALED_BACK);
        for (const app of APPS) await annotate(found.get(app)!.metadata.name, { [ORIGINAL_ANNOTATION]: null, [REPLICAS_ANNOTATION]: null });
        return restored.length > 0 ? `scaled back: ${restored.join(', ')}` : 'nothing was scaled down';
      }
      const others = APPS.filter((app) => found.has(app) && !originals.includes(app));
      // Unless an earlier attempt of this restore deployed them (the 0.2.x deploy leaves no marks).
      if (others.length > 0 && !progress.done.has('deploy:current')) {
        throw new Error(`deployments ${others.join(', ')} are not those of the 0.2.x platform (the 0.3.x platform is still deployed?): undeploy it first`);
      }
      // The 0.2.x platform was (partly) undeployed: what is left of it goes, then it is deployed again.
      if (originals.length > 0) await stage(progress, 'current', 'undeploy');
      await stage(progress, 'current', 'deploy');
      await waitForDatabaseVolume(progress, opts.deploy.argvOf('current', 'deploy')[0]!);
      await waitReady(APPS, platformTimeoutMs, progress);
      return 'deployed the 0.2.x platform again';
    },

    async backupLdap(targetFile) {
      const pod = await ldapPod();
      // Written durably like the dumps: a broken export never looks like a backup.
      const size = await writeFileDurably(targetFile, async (partial) => {
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
          return size;
        } catch (err) {
          out.destroy();
          throw err;
        }
      });
      log(`LDAP export of pod ${pod}: ${targetFile} (${size} bytes)`);
      return targetFile;
    },

    async redeploy(progress) {
      if (!progress.done.has('deploy:target')) {
        if ((await originalsState()).originals.length > 0) {
          await stage(progress, 'current', 'undeploy');
          await waitPodsGone(APPS, progress);
          const left = (await originalsState()).originals;
          if (left.length > 0) throw new Error(`the undeploy of 0.2.x left deployments ${left.join(', ')} behind`);
        }
        // Deployments after the undeploy are the target's: an earlier attempt's deploy ran.
        if ((await findDeployments()).size === 0) await stage(progress, 'target', 'deploy');
        else progress.mark('deploy:target');
      }
      await waitForDatabaseVolume(progress, opts.deploy.argvOf('target', 'deploy')[0]!);
      await waitReady(APPS, platformTimeoutMs, progress);
      log('dcm4chee, ldap and postgres-dcm4che of the 0.3.x platform are Ready');
      return `0.3.x deployed; database volume ${opts.dataDir}; dcm4chee, ldap and postgres-dcm4che Ready`;
    },

    async undeployTarget(progress) {
      const { originals } = await originalsState();
      if (originals.length === APPS.length) return 'the 0.2.x platform was never undeployed: nothing of 0.3.x to remove';
      await stage(progress, 'target', 'undeploy');
      await waitPodsGone(APPS, progress);
      return 'undeployed the 0.3.x platform';
    },

    async execLdap(argv): Promise<CommandOutcome> {
      if (argv.length === 0) throw new Error('execLdap needs a command');
      const pod = await ldapPod();
      const stdout = new Collector();
      const { exitCode, stderr } = await execInLdap(pod, argv, stdout);
      return { argv, exitCode, stdout: stdout.text(), stderr };
    },

    async execDatabase(argv, stdout, signal) {
      assertDatabaseClient(argv);
      signal?.throwIfAborted();
      const pod = await runningPod('postgres-dcm4che', DB_CONTAINER, 'serves the database');
      // No timeout (see execTimeoutMs): the signal ends it.
      return execToEnd(k8s().kc, { namespace: ns, pod, container: DB_CONTAINER }, argv, stdout, { setup: DATABASE_SESSION, ...(signal ? { signal } : {}) });
    },

    async ldapData() {
      const pod = await ldapPod();
      const listing = new Collector();
      // The trailing slash: find does not descend into a starting point that is a symlink.
      const argv = ['find', `${LDAP_DATA_DIR}/`, '-name', '*.ldif'];
      const { exitCode, stderr } = await execInLdap(pod, argv, listing);
      if (exitCode !== 0) throw new Error(`${argv.join(' ')} in pod ${pod} failed (exit ${exitCode}): ${stderr.trim()}`);
      const files = listing
        .text()
        .split('\n')
        .map((l) => path.posix.relative(LDAP_DATA_DIR, l.trim()))
        .filter((l) => l && !l.startsWith('..'))
        .sort();
      const versions = [...new Set(files.map((f) => f.split('/')[0]!).filter((d, i, all) => DATA_VERSION.test(d) && all.indexOf(d) === i))];
      return { versions, files };
    },

    async restartPods(progress) {
      // ldap first: dcm4chee reads its configuration from LDAP when it starts.
      for (const app of ['ldap', 'dcm4chee'] as const) {
        const old = await pods(app);
        if (old.length === 0) throw new Error(`no ${app} pod to restart in namespace ${ns}`);
        const oldUids = new Set(old.map((p) => p.metadata?.uid));
        for (const p of old) {
          const name = p.metadata!.name!;
          await call(`deleting pod ${name}`, () => k8s().core.deleteNamespacedPod({ name, namespace: ns })).catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
          log(`deleted pod ${name}`);
        }
        await poll(`a new ${app} pod to be Ready`, readyTimeoutMs, async () => {
          const now = await pods(app);
          const fresh = now.filter((p) => !oldUids.has(p.metadata?.uid) && !terminating(p));
          const stale = now.filter((p) => oldUids.has(p.metadata?.uid));
          return { done: stale.length === 0 && fresh.length > 0 && fresh.every(ready), state: describePods(now) };
        }, progress);
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
