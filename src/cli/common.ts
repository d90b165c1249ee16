// What every command shares: errors written for people, the Temporal connection, the node option,
// and sending an update to a node's migration.
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
import { workflowIdFor } from '../shared.js';
import { connectClient, describeTemporalTarget, resolveTemporalTarget, type TemporalTarget } from '../temporal/connection.js';

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
  if (err instanceof CliError) return `error: ${err.what}\n  data: ${err.state}\n  next: ${err.next}\n`;
  const message = err instanceof Error ? err.message : String(err);
  return (
    `error: ${message}\n` +
    `  data: unknown: this error was not expected here; the migration, if one runs, is not affected by this command failing\n` +
    `  next: check with ${cli('status')}; run again with LOG_LEVEL=debug, and report the error if it repeats\n`
  );
}

/** How to run this CLI again: through npm when npm started us (the demo), else the installed command. */
export function cli(args: string): string {
  const viaNpm = process.env.npm_lifecycle_event === 'demo' || process.env.npm_lifecycle_event === 'cli';
  return viaNpm ? `npm run cli -- ${args}` : `kaapana-migrate ${args}`;
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
  let client: Client;
  try {
    client = await connectClient(target);
  } catch (err) {
    throw new CliError(
      (err as Error).message,
      `${NOTHING_CHANGED} by this command; a migration that runs goes on without it`,
      `start the Temporal service (docker compose -f docker-compose.temporal.yml up -d), or point at it with --address/--namespace or TEMPORAL_ADDRESS (now ${describeTemporalTarget(target)})`,
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

/** The node's latest migration; says so clearly when there is none. */
export async function migrationOf(client: Client, node: string): Promise<WorkflowHandle> {
  const handle = client.workflow.getHandle(workflowIdFor(node));
  try {
    await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new CliError(`there is no migration of node ${node} (workflow id ${handle.workflowId})`, NOTHING_CHANGED, `list the migrations with ${cli('status')}, or start one with ${cli('start --config <file>')}`);
    }
    throw err;
  }
  return handle;
}

/** The node's migration, which must still run for the command to mean anything. */
export async function runningMigrationOf(client: Client, node: string): Promise<WorkflowHandle> {
  const handle = await migrationOf(client, node);
  const { status } = await handle.describe();
  if (status.name !== 'RUNNING') {
    throw new CliError(`the migration of node ${node} is not running any more (${status.name.toLowerCase()})`, `${NOTHING_CHANGED} by this command`, `see how it ended with ${cli(`watch --node ${node}`)} or ${cli(`status --node ${node}`)}`);
  }
  return handle;
}

const UPDATE_TIMEOUT_MS = 60_000;

/**
 * Sends an update to the node's running migration and waits for its result. A refusal by the
 * workflow's validator changes nothing, so the message says so.
 */
export async function sendUpdate<Ret, Args extends [unknown, ...unknown[]]>(client: Client, node: string, update: UpdateDefinition<Ret, Args>, args: Args): Promise<Ret> {
  const handle = await runningMigrationOf(client, node);
  try {
    // Without a worker the update would wait for ever.
    return await client.withDeadline(Date.now() + UPDATE_TIMEOUT_MS, () => handle.executeUpdate(update, { args }));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new CliError(`the workflow refused "${update.name}": ${err.cause?.message ?? err.message}`, `${NOTHING_CHANGED}: the migration goes on as before`, `see where it stands with ${cli(`watch --node ${node}`)}`);
    }
    if (isGrpcServiceError(err) || (err as Error).name === 'WorkflowUpdateRPCTimeoutOrCancelledError') {
      throw new CliError(
        `no answer to "${update.name}" within ${UPDATE_TIMEOUT_MS / 1000} s (${(err as Error).message})`,
        'unknown: the workflow may still accept it once the node\'s worker runs',
        `check that the worker runs on the node (systemctl status kaapana-migrate-worker), then ${cli(`watch --node ${node}`)}`,
      );
    }
    throw err;
  }
}
