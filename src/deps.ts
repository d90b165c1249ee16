// The real dependencies of the activities: one adapter per configured system.
import type { Logger } from 'pino';
import type { ActivityDeps } from './activities/context.js';
import { createNoCluster } from './cluster/none.js';
import { resolveSecret } from './config/load.js';
import type { MigrationConfig } from './config/schema.js';
import { createLocalRuntime } from './runtime/local.js';
import type { ContainerRuntime, DatabaseCredentials } from './runtime/port.js';
import type { Cluster } from './cluster/port.js';

export function runtimeFor(config: MigrationConfig, credentials: DatabaseCredentials): ContainerRuntime {
  const r = config.runtime;
  switch (r.kind) {
    case 'local':
      return createLocalRuntime({ images: { old: r.old, new: r.new }, clientBinDir: r.clientBinDir, stateDir: r.stateDir, serverUser: r.serverUser, credentials });
    case 'docker':
      throw new Error('the docker runtime is not available in this build');
  }
}

export function clusterFor(config: MigrationConfig): Cluster {
  const c = config.cluster;
  switch (c.kind) {
    case 'none':
      return createNoCluster();
    case 'kubernetes':
      throw new Error('the kubernetes cluster adapter is not available in this build');
  }
}

export function realDeps(log: Logger): ActivityDeps {
  return { runtimeFor, clusterFor, resolveSecret, log };
}
