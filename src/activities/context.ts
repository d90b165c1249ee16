// What every activity shares: its dependencies, the run context from the workflow, and helpers
// that make each activity safe to run twice.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { Cluster, ClusterProgress } from '../cluster/port.js';
import { layoutFor, type Layout, type ServerRole } from '../config/layout.js';
import type { MigrationConfig, SecretRef } from '../config/schema.js';
import type { ContainerRuntime, DatabaseCredentials, ServerEndpoint, ServerSpec } from '../runtime/port.js';
import type { StepProgress } from '../shared.js';

export interface ActivityDeps {
  runtimeFor(config: MigrationConfig, credentials: DatabaseCredentials): ContainerRuntime;
  clusterFor(config: MigrationConfig): Promise<Cluster>;
  resolveSecret(ref: SecretRef): Promise<string>;
  log: Logger;
}

/** Passed by the workflow to every activity: the configuration (secret by reference) and the run's tag. */
export interface RunContext {
  config: MigrationConfig;
  runTag: string;
}

export interface Env {
  config: MigrationConfig;
  layout: Layout;
  credentials: DatabaseCredentials;
  runtime: ContainerRuntime;
}

export async function envFor(deps: ActivityDeps, ctx: RunContext): Promise<Env> {
  const credentials = {
    name: ctx.config.database.name,
    user: ctx.config.database.user,
    password: await deps.resolveSecret(ctx.config.database.password),
  };
  return { config: ctx.config, layout: layoutFor(ctx.config, ctx.runTag), credentials, runtime: deps.runtimeFor(ctx.config, credentials) };
}

export function serverSpec(env: Env, role: ServerRole): ServerSpec {
  return {
    name: env.layout.serverName[role],
    // The scratch server makes a fresh schema with the new image's own init scripts.
    image: role === 'new' || role === 'scratch' ? 'new' : 'old',
    dataDir: env.layout.dataDirOf[role],
    // The live directory: its sessions cannot write (the server's own start and stop still do, see the README).
    readOnly: role === 'original',
    database: env.credentials,
  };
}

/** Start the role's server, or find it running: every step that needs a server calls this first. */
export function ensureServer(env: Env, role: ServerRole): Promise<ServerEndpoint> {
  return env.runtime.start(serverSpec(env, role), env.config.readyTimeoutSeconds * 1000);
}

const lastDetails = new WeakMap<Context, StepProgress>();

/**
 * Every activity heartbeats while it runs (repeating its last progress), so a dead worker is
 * noticed within the heartbeat timeout even during one long statement.
 */
export function keepAlive<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const ctx = Context.current();
    const every = Math.min(10_000, Math.max(500, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
    const timer = setInterval(() => ctx.heartbeat(lastDetails.get(ctx)), every);
    try {
      return await fn(...args);
    } finally {
      clearInterval(timer);
    }
  };
}

/** Progress in heartbeat details, sent at most once a second. */
export function progressReporter(step: StepProgress) {
  const ctx = Context.current();
  let current = step;
  let last = 0;
  const beat = () => {
    last = Date.now();
    lastDetails.set(ctx, current);
    ctx.heartbeat(current);
  };
  beat();
  return {
    update(patch: Partial<StepProgress>, now = false) {
      current = { ...current, ...patch };
      if (now || Date.now() - last >= 1_000) beat();
    },
    signal: ctx.cancellationSignal,
  };
}

/**
 * Progress of a cluster step whose finished stages survive a retry: they travel in the heartbeat
 * details, which Temporal hands to the next attempt.
 */
export function clusterProgress(step: StepProgress['step']): ClusterProgress {
  const previous = Context.current().info.heartbeatDetails as StepProgress | undefined;
  const stages = new Set(previous?.stages ?? []);
  const reporter = progressReporter({ step, stages: [...stages] });
  return {
    say: (detail) => reporter.update({ detail }),
    done: stages,
    mark(stage) {
      stages.add(stage);
      reporter.update({ stages: [...stages] }, true);
    },
  };
}

export async function withProgress<T>(step: StepProgress, fn: (p: ReturnType<typeof progressReporter>) => Promise<T>): Promise<T> {
  return fn(progressReporter(step));
}

/**
 * A failure that a retry cannot mend: bad input, a failed script, a verification mismatch.
 * `details` reach the workflow with the failure (e.g. what the report should show of it).
 */
export function fatal(type: string, message: string, cause?: unknown, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, cause: cause instanceof Error ? cause : undefined, details });
}
