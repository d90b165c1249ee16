// What every command shares: errors written for people, the Temporal connection, the node option,
// and sending an update to a node's migration.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, type Command } from 'commander';
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { ConfigError, loadConfig } from '../config/load.js';
import { configSchema, type MigrationConfig } from '../config/schema.js';
import { rehearsalIdFor, workflowIdFor } from '../shared.js';
import { MissingPrerequisite } from '../prerequisites.js';
import { connectClient, resolveTemporalTarget, TemporalUnreachable, workerPolls, workflowStatusOf, type TemporalTarget } from '../temporal/connection.js';

/** A failure told in three parts: what happened, what state the data is in, what to do next. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    readonly what: string,
    readonly state: string,
    readonly next: string,
  ) {
    super(what);
  }
}

export function formatError(err: unknown): string {
  const known = knownFailure(err);
  if (known) return `error: ${known.what}\n  data: ${known.state}\n  next: ${known.next}\n`;
  const message = err instanceof Error ? err.message : String(err);
  return (
    `error: ${message}\n` +
    `  data: unknown: this error was not expected here; the migration, if one runs, is not affected by this command failing\n` +
    `  next: check with ${cli('status')}; run again with LOG_LEVEL=debug, and report the error if it repeats\n`
  );
}

/** Failures with a cause a person can act on, told as such wherever they surface. */
function knownFailure(err: unknown): CliError | undefined {
  if (err instanceof CliError) return err;
  if (err instanceof MissingPrerequisite) return new CliError(err.message, NOTHING_CHANGED, err.install);
  if (err instanceof TemporalUnreachable || isUnavailable(err)) {
    const target = err instanceof TemporalUnreachable ? err.target : undefined;
    return new CliError(
      (err as Error).message,
      `${NOTHING_CHANGED} by this command; a migration that runs goes on without it`,
      `start the Temporal service (docker compose -f docker-compose.temporal.yml up -d), or name it with --address/--namespace, TEMPORAL_ADDRESS or a temporal CLI profile${target ? ` (now ${target.address})` : ''}`,
    );
  }
  return undefined;
}

/** The server went away after the connection was made (gRPC UNAVAILABLE). */
function isUnavailable(err: unknown): boolean {
  const UNAVAILABLE = 14;
  return isGrpcServiceError(err) && err.code === UNAVAILABLE;
}

/** The package's root: two levels above src/cli, three above dist/src/cli. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), import.meta.url.includes('/dist/src/') ? '../../..' : '../..');

/** How to run this CLI again from where the user stands. */
export function cli(args: string): string {
  return commandHint(PACKAGE_ROOT, process.env.INIT_CWD ?? process.cwd(), args);
}

/**
 * `kaapana-migrate` when installed (no sources beside the package); in a checkout `npm run cli --`
 * when the shell is inside it (npm finds the package from there), else the checkout's bin by path.
 */
export function commandHint(root: string, cwd: string, args: string): string {
  if (!existsSync(path.join(root, 'src', 'cli', 'main.ts'))) return `kaapana-migrate ${args}`;
  const here = path.relative(root, cwd);
  const inside = !here.startsWith('..') && !path.isAbsolute(here);
  return inside ? `npm run cli -- ${args}` : `${path.join(root, 'bin', 'kaapana-migrate.js')} ${args}`;
}

export const NOTHING_CHANGED = 'nothing was changed';

/** Commander argument parser: node names are used in workflow ids and visibility queries. */
export function parseNode(value: string): string {
  const result = configSchema.shape.node.safeParse(value);
  if (!result.success) throw new InvalidArgumentError(`"${value}" is not a node name (${result.error.issues[0]?.message})`);
  return value;
}

export async function readConfig(file: string): Promise<MigrationConfig> {
  try {
    return await loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, NOTHING_CHANGED, `correct ${file}, then check it with ${cli(`plan --config ${file}`)}`);
    throw err;
  }
}

interface ConnectionOptions {
  address?: string;
  namespace?: string;
}

/** The Temporal service from the profile and TEMPORAL_* variables, overridden by --address/--namespace. */
export function targetOf(command: Command): TemporalTarget {
  return resolveTemporalTarget(command.optsWithGlobals<ConnectionOptions>());
}

/** Runs `fn` with a client of the Temporal service and closes it afterwards. */
export async function withTemporal<T>(target: TemporalTarget, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(target);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** A node's two workflows: its migration, and the rehearsal of it. */
export type RunKind = 'migration' | 'rehearsal';

export const workflowIdOf = (kind: RunKind, node: string): string => (kind === 'migration' ? workflowIdFor(node) : rehearsalIdFor(node));

/** The node's latest migration (or rehearsal); says so clearly when there is none. */
export async function migrationOf(client: Client, node: string, kind: RunKind = 'migration'): Promise<WorkflowHandle> {
  const handle = client.workflow.getHandle(workflowIdOf(kind, node));
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      const begin = kind === 'migration' ? cli('start --config <file>') : cli('rehearse --config <file>');
      throw new CliError(`there is no ${kind} of node ${node} (workflow id ${handle.workflowId})`, NOTHING_CHANGED, `list the migrations with ${cli('status')}, or start one with ${begin}`);
    }
    throw err;
  }
  return handle;
}

/** The node's migration (or rehearsal), which must still run for the command to mean anything. */
export async function runningMigrationOf(client: Client, node: string, kind: RunKind = 'migration'): Promise<WorkflowHandle> {
  const handle = await migrationOf(client, node, kind);
  const { status } = await handle.describe();
  if (status.name !== 'RUNNING') {
    const flag = kind === 'rehearsal' ? ' --rehearsal' : '';
    throw new CliError(`the ${kind} of node ${node} is not running any more (${status.name.toLowerCase()})`, `${NOTHING_CHANGED} by this command`, `see how it ended with ${cli(`watch${flag} --node ${node}`)} or ${cli(`status --node ${node}`)}`);
  }
  return handle;
}

/**
 * Refuses to start one of the node's workflows while the other runs: the rehearsal reads the live
 * database through the server the migration stops.
 */
export async function refuseWhileOtherRuns(client: Client, node: string, starting: RunKind): Promise<void> {
  const other: RunKind = starting === 'migration' ? 'rehearsal' : 'migration';
  const workflowId = workflowIdOf(other, node);
  if ((await workflowStatusOf(client, workflowId)) !== 'RUNNING') return;
  const flag = other === 'rehearsal' ? ' --rehearsal' : '';
  throw new CliError(
    `the ${other} of node ${node} runs (workflow ${workflowId}): a ${starting} starts only when it has ended`,
    NOTHING_CHANGED,
    `follow it with ${cli(`watch${flag} --node ${node}`)}, or stop it with ${cli(`abort${flag} --node ${node}`)} (${other === 'rehearsal' ? 'it removes its scratch copies' : 'it rolls back'})`,
  );
}

/** Without a worker polling `taskQueue` a started workflow would wait silently: says so. Best effort only. */
export async function warnWithoutPoller(client: Client, taskQueue: string, what: string): Promise<void> {
  if (!(await workerPolls(client, taskQueue).catch(() => true))) process.stderr.write(`note: no worker polls ${taskQueue} now; ${what}\n`);
}

const UPDATE_TIMEOUT_MS = 60_000;

/**
 * Sends an update to the node's running migration and waits for its result. A refusal by the
 * workflow's validator changes nothing, so the message says so.
 */
export async function sendUpdate<Ret, Args extends [unknown, ...unknown[]]>(client: Client, node: string, update: UpdateDefinition<Ret, Args>, args: Args): Promise<Ret> {
  return executeUpdateTold(client, await runningMigrationOf(client, node), update, args, {
    refusedBy: 'the workflow',
    goesOn: 'the migration goes on as before',
    mayStill: "the workflow may still accept it once the node's worker runs",
    checkWorker: 'check that the worker runs on the node (systemctl status kaapana-migrate-worker)',
    follow: cli(`watch --node ${node}`),
  });
}

/** How a command names the workflow it steered, and what to do next, when an update fails. */
export interface UpdateWords {
  refusedBy: string;
  goesOn: string;
  mayStill: string;
  checkWorker: string;
  follow: string;
}

/**
 * Sends an update to a running workflow and waits for its result, bounded (without a worker it
 * would wait for ever); a refusal or no answer is told in `words`.
 */
export async function executeUpdateTold<Ret, Args extends [unknown, ...unknown[]]>(client: Client, handle: WorkflowHandle, update: UpdateDefinition<Ret, Args>, args: Args, words: UpdateWords): Promise<Ret> {
  try {
    return await client.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () => handle.executeUpdate(update, { args }));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new CliError(`${words.refusedBy} refused "${update.name}": ${err.cause?.message ?? err.message}`, `${NOTHING_CHANGED}: ${words.goesOn}`, `see where it stands with ${words.follow}`);
    }
    if (isGrpcServiceError(err) || (err as Error).name === 'WorkflowUpdateRPCTimeoutOrCancelledError') {
      throw new CliError(`no answer to "${update.name}" within ${UPDATE_TIMEOUT_MS / 1000} s (${(err as Error).message})`, `unknown: ${words.mayStill}`, `${words.checkWorker}, then ${words.follow}`);
    }
    throw err;
  }
}
