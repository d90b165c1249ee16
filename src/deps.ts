// The real dependencies of the activities: one adapter per configured system.
import type { Logger } from 'pino';
import type { ActivityDeps } from './activities/context.js';
import { deployScripts } from './cluster/deploy-script.js';
import { createNoCluster } from './cluster/none.js';
import type { Cluster } from './cluster/port.js';
import { ConfigError, resolveSecret } from './config/load.js';
import { rehearsalProblems, type RehearsalOptions } from './config/rehearsal.js';
import { createLiveEndpoint } from './live/endpoint.js';
import { createLivePod } from './live/pod.js';
import type { LiveDatabase } from './live/port.js';
import type { MigrationConfig } from './config/schema.js';
import { createDockerRuntime } from './runtime/docker.js';
import { createLocalRuntime } from './runtime/local.js';
import type { ContainerRuntime, DatabaseCredentials } from './runtime/port.js';

export function runtimeFor(config: MigrationConfig, credentials: DatabaseCredentials): ContainerRuntime {
  const r = config.runtime;
  switch (r.kind) {
    case 'local':
      return createLocalRuntime({ images: { old: r.old, new: r.new }, clientBinDir: r.clientBinDir, stateDir: r.stateDir, serverUser: r.serverUser, credentials });
    case 'docker':
      return createDockerRuntime({ host: r.host, stateDir: r.stateDir, images: { old: r.old.image, new: r.new.image }, migrationId: config.node });
  }
}

export async function clusterFor(config: MigrationConfig, log?: Logger): Promise<Cluster> {
  const c = config.cluster;
  switch (c.kind) {
    case 'none':
      return createNoCluster();
    case 'kubernetes': {
      // The Kubernetes client takes seconds of CPU to load: only a node with a cluster pays for it.
      const { createKubernetesCluster } = await import('./cluster/kubernetes.js');
      const say = (line: string) => log?.info({ node: config.node }, line);
      const { registry } = c.redeploy;
      return createKubernetesCluster({
        namespace: c.namespace,
        kubeconfig: c.kubeconfig,
        deviceName: c.ldapDeviceName,
        dataDir: config.paths.dataDir,
        readyTimeoutMs: config.readyTimeoutSeconds * 1000,
        platformTimeoutMs: c.redeploy.platformTimeoutMinutes * 60_000,
        log: say,
        deploy: deployScripts({
          user: c.redeploy.user,
          currentScript: c.redeploy.currentScript,
          targetScript: c.redeploy.targetScript,
          deployArgs: c.redeploy.deployArgs,
          ...(registry ? { registry: async () => ({ username: registry.username, password: await resolveSecret(registry.password) }) } : {}),
          // Kaapana's undeploy alone waits up to 5.5 min per release and 5 min for the pods.
          timeoutMs: 60 * 60_000,
          log: say,
        }),
      });
    }
  }
}

/**
 * `workflowStatus`: from the worker's Temporal connection; activities driven without one (the
 * benchmark, tests of single activities) run where no workflow of the node can be running.
 */
/** The live database through the node's pod (a cluster), else through the server named in rehearsal.live. */
export async function liveFor(config: MigrationConfig, rehearsal: RehearsalOptions, credentials: DatabaseCredentials, log?: Logger): Promise<LiveDatabase> {
  const problems = rehearsalProblems(config, rehearsal);
  if (problems.length > 0) throw new ConfigError(problems.join('; '));
  const priority = { nice: rehearsal.nice, io: rehearsal.io };
  if (config.cluster.kind === 'kubernetes') return createLivePod(await clusterFor(config, log), credentials, priority);
  if (config.runtime.kind !== 'local' || !rehearsal.live) throw new Error('unreachable: rehearsalProblems checks both');
  return createLiveEndpoint({ ...rehearsal.live, clientBinDir: config.runtime.clientBinDir, credentials, priority });
}

export function realDeps(log: Logger, workflowStatus: ActivityDeps['workflowStatus'] = async () => undefined): ActivityDeps {
  return { runtimeFor, clusterFor: (config) => clusterFor(config, log), liveFor: (config, rehearsal, credentials) => liveFor(config, rehearsal, credentials, log), resolveSecret, workflowStatus, log };
}
