// What every activity shares: its dependencies, the run context from the workflow, and helpers
// that make each activity safe to run twice.
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Logger } from 'pino';
import type { Cluster, ClusterProgress } from '../cluster/port.js';
import { layoutFor, type Layout, type ServerRole } from '../config/layout.js';
import { configSchema, type MigrationConfig, type SecretRef } from '../config/schema.js';
import type { RehearsalOptions } from '../config/rehearsal.js';
import type { LiveDatabase } from '../live/port.js';
import type { WatchedSessions } from '../postgres/liveness.js';
import { InitFailed, type ContainerRuntime, type DatabaseCredentials, type ServerEndpoint, type ServerSpec } from '../runtime/port.js';
import type { Priority } from '../runtime/priority.js';
import type { StepProgress } from '../shared.js';
import { oneAtATime } from './one-at-a-time.js';
import { TransferWatch } from './stall.js';

export interface ActivityDeps {
  runtimeFor(config: MigrationConfig, credentials: DatabaseCredentials): ContainerRuntime;
  clusterFor(config: MigrationConfig): Promise<Cluster>;
  resolveSecret(ref: SecretRef): Promise<string>;
  /** The node's live database as its running server serves it (the rehearsal's snapshot). */
  liveFor(config: MigrationConfig, rehearsal: RehearsalOptions, credentials: DatabaseCredentials): Promise<LiveDatabase>;
  /** The status of a workflow of this namespace (RUNNING, COMPLETED, …); undefined when there is none. */
  workflowStatus(workflowId: string): Promise<string | undefined>;
  log: Logger;
}

/** Passed by the workflow to every activity: the configuration (secret by reference) and the run's tag. */
export interface RunContext {
  config: MigrationConfig;
  runTag: string;
  /** A rehearsal's scratch copies: their servers and tools run at this priority. */
  priority?: Priority;
}

/** The run an activity call belongs to: its first argument, when it is a RunContext. */
export function runContextOf(args: unknown[]): RunContext | undefined {
  const ctx = args[0] as Partial<RunContext> | undefined;
  const paths = ctx?.config?.paths as Partial<RunContext['config']['paths']> | undefined;
  if (typeof ctx?.runTag !== 'string' || typeof ctx.config?.node !== 'string') return undefined;
  if (typeof paths?.dataDir !== 'string' || typeof paths.fastDataDir !== 'string' || typeof paths.backupDir !== 'string') return undefined;
  return ctx as RunContext;
}

export interface Env {
  config: MigrationConfig;
  layout: Layout;
  credentials: DatabaseCredentials;
  runtime: ContainerRuntime;
  priority?: Priority;
}

export async function envFor(deps: ActivityDeps, ctx: RunContext): Promise<Env> {
  const credentials = {
    name: ctx.config.database.name,
    user: ctx.config.database.user,
    password: await deps.resolveSecret(ctx.config.database.password),
  };
  return { config: ctx.config, layout: layoutFor(ctx.config, ctx.runTag), credentials, runtime: deps.runtimeFor(ctx.config, credentials), ...(ctx.priority ? { priority: ctx.priority } : {}) };
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
    ...(env.priority ? { priority: env.priority } : {}),
  };
}

/**
 * Start the role's server, or find it running: every step that needs a server calls this first,
 * one call at a time per server (steps running at once may ask for the same one).
 */
export function ensureServer(env: Env, role: ServerRole): Promise<ServerEndpoint> {
  const spec = serverSpec(env, role);
  return oneAtATime(spec.name, () => env.runtime.start(spec, env.config.readyTimeoutSeconds * 1000)).catch((err: unknown) => {
    // The image's initialisation would fail the same way again: the step fails now, with its reason.
    throw err instanceof InitFailed ? fatal('InitFailed', err.message) : err;
  });
}

const lastDetails = new WeakMap<Context, StepProgress>();
const watches = new WeakMap<Context, TransferWatch>();

/** Often enough for the heartbeat timeout to see a live worker (Temporal throttles what it sends). */
const heartbeatEvery = (ctx: Context) => Math.min(10_000, Math.max(500, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));

/**
 * A control step heartbeats while it runs (repeating its last progress), so a dead worker is
 * noticed within the heartbeat timeout even during one long call.
 */
export function keepAlive<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const ctx = Context.current();
    const timer = setInterval(() => ctx.heartbeat(lastDetails.get(ctx)), heartbeatEvery(ctx));
    try {
      return await fn(...args);
    } finally {
      clearInterval(timer);
    }
  };
}

/** Inputs recorded before stallSeconds existed lack it: they get the schema's default. */
const DEFAULT_STALL_SECONDS = configSchema.shape.stallSeconds.parse(undefined);

/** A tool that ignores its abort is left behind after this long rather than holding up the failure. */
const STOP_WAIT_MS = 30_000;

/**
 * A transfer heartbeats only while it moves (stall.ts): once nothing has moved for stallSeconds
 * its tools and server sessions are stopped and the attempt fails with the retryable `Stalled`,
 * saying what stood still. A lock wait or a hung exec thus fails and is retried instead of
 * holding the step until its start-to-close timeout; the heartbeat timeout still catches a dead
 * worker.
 */
export function watchProgress<A extends [RunContext, ...unknown[]], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const ctx = Context.current();
    const stallMs = (args[0].config.stallSeconds ?? DEFAULT_STALL_SECONDS) * 1000;
    const watch = new TransferWatch(stallMs);
    watches.set(ctx, watch);
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<string>((resolve) => {
      // Several looks within the stall time, so that one slow sample does not decide it.
      timer = setInterval(() => {
        const why = watch.clock.stalled(Date.now());
        if (why) return resolve(why);
        ctx.heartbeat(lastDetails.get(ctx));
        watch.sample();
      }, Math.min(heartbeatEvery(ctx), Math.max(500, stallMs / 6)));
    });
    const work = fn(...args);
    try {
      const why = await Promise.race([work.then(() => undefined, () => undefined), stalled]);
      if (why === undefined) return await work;
      clearInterval(timer);
      await watch.stopWork(why);
      const ended = await Promise.race([work.then((value) => ({ value }), (error: unknown) => ({ error })), sleep(STOP_WAIT_MS, undefined, { ref: false })]);
      // Finished after all (say its COMMIT went out first): the result stands.
      if (ended && 'value' in ended) return ended.value;
      throw ApplicationFailure.create({ type: 'Stalled', message: why, cause: ended?.error instanceof Error ? ended.error : undefined });
    } finally {
      clearInterval(timer);
    }
  };
}

/**
 * Progress in heartbeat details, sent at most once a second. `sessions`: the step's sessions on
 * the server, whose work counts as movement during a long statement (transfers only).
 */
export function progressReporter(step: StepProgress, sessions?: WatchedSessions) {
  const ctx = Context.current();
  const watch = watches.get(ctx);
  if (sessions) watch?.watch(sessions);
  let current = step;
  let last = 0;
  const beat = () => {
    last = Date.now();
    lastDetails.set(ctx, current);
    ctx.heartbeat(current);
  };
  watch?.progress(current);
  beat();
  return {
    update(patch: Partial<StepProgress>, now = false) {
      current = { ...current, ...patch };
      watch?.progress(current);
      if (now || Date.now() - last >= 1_000) beat();
    },
    signal: watch ? AbortSignal.any([ctx.cancellationSignal, watch.signal]) : ctx.cancellationSignal,
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

export type Progress = ReturnType<typeof progressReporter>;

export async function withProgress<T>(step: StepProgress, fn: (p: Progress) => Promise<T>, sessions?: WatchedSessions): Promise<T> {
  return fn(progressReporter(step, sessions));
}

/**
 * A failure that a retry cannot mend: bad input, a failed script, a verification mismatch.
 * `details` reach the workflow with the failure (e.g. what the report should show of it).
 */
export function fatal(type: string, message: string, cause?: unknown, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, cause: cause instanceof Error ? cause : undefined, details });
}

/** A full disk does not heal by retrying: the step fails at once, with a message that says where. */
export function diskFull(err: unknown, where: string): ApplicationFailure | undefined {
  const text = err instanceof Error ? `${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}` : String(err);
  if (/ENOSPC|No space left on device|could not extend file/i.test(text)) {
    return fatal('DiskFull', `the disk holding ${where} is full (${text.trim().slice(0, 300)}); free space there and start again`, err);
  }
  return undefined;
}
