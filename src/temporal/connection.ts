// Where the worker and the CLI find the Temporal server. Resolution is delegated to
// @temporalio/envconfig so that a site configures us exactly like the `temporal` CLI and every
// other SDK: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, and a TOML
// profile file (TEMPORAL_CONFIG_FILE, else ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE).
import { Client, Connection, WorkflowNotFoundError, type Metadata, type TLSConfig } from '@temporalio/client';
import { loadClientConfigProfile, toClientOptions } from '@temporalio/envconfig';

/** A worker on the node talks to the Temporal service of docker-compose.temporal.yml. */
export const DEFAULT_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_NAMESPACE = 'default';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** Secret: log {@link describeTemporalTarget} instead of the target itself. */
  apiKey?: string;
  /** `true`: TLS with the system roots; an object: custom CA, client certificate, server name. */
  tls?: TLSConfig | boolean;
  /** gRPC headers from the profile's grpc_meta or TEMPORAL_GRPC_META_* variables. */
  metadata?: Metadata;
}

/**
 * Later sources win: the defaults, the profile file, TEMPORAL_* variables, `overrides` (command-line
 * options). Certificate and key files are read here, so a wrong path fails before connecting.
 */
export function resolveTemporalTarget(overrides: { address?: string; namespace?: string } = {}): TemporalTarget {
  const profile = loadClientConfigProfile({ overrideEnvVars: presentEnvironment() });
  const { connectionOptions, namespace } = toClientOptions(profile);
  const target: TemporalTarget = {
    address: overrides.address ?? connectionOptions.address ?? DEFAULT_ADDRESS,
    namespace: overrides.namespace ?? namespace ?? DEFAULT_NAMESPACE,
  };
  if (connectionOptions.apiKey !== undefined) target.apiKey = connectionOptions.apiKey;
  if (connectionOptions.tls !== undefined && connectionOptions.tls !== null) target.tls = connectionOptions.tls;
  if (connectionOptions.metadata !== undefined) target.metadata = connectionOptions.metadata;
  return target;
}

/**
 * An empty line such as `TEMPORAL_API_KEY=` in a systemd EnvironmentFile means "not set"; envconfig
 * would take it as an empty key and switch TLS on. Empty TEMPORAL_GRPC_META_* values keep their
 * documented meaning (remove that header).
 */
function presentEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (value === '' && !name.startsWith('TEMPORAL_GRPC_META_')) continue;
    env[name] = value;
  }
  return env;
}

/** For logs and error messages: says whether a key and TLS are used, never the key itself. */
export function describeTemporalTarget(target: TemporalTarget): string {
  const security = [target.tls ? 'TLS' : 'plaintext'];
  if (target.apiKey !== undefined) security.push('API key');
  return `${target.address} (namespace ${target.namespace}, ${security.join(', ')})`;
}

/** A person at the CLI learns within 3 s (start-up included) that the server is not there, not after the SDK's 10 s. */
export const CLIENT_CONNECT_TIMEOUT_MS = 1_500;

/** The Temporal service did not answer: the target, the cause, and how a site names the right one. */
export class TemporalUnreachable extends Error {
  override name = 'TemporalUnreachable';
  constructor(
    readonly target: TemporalTarget,
    cause: unknown,
  ) {
    super(`cannot connect to Temporal at ${describeTemporalTarget(target)}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** A client for the CLI; fails fast when the server does not answer. */
export async function connectClient(target: TemporalTarget): Promise<Client> {
  try {
    const connection = await Connection.connect({
      address: target.address,
      tls: target.tls,
      apiKey: target.apiKey,
      metadata: target.metadata,
      connectTimeout: CLIENT_CONNECT_TIMEOUT_MS,
    });
    return new Client({ connection, namespace: target.namespace });
  } catch (err) {
    throw new TemporalUnreachable(target, err);
  }
}

/** The status name of the workflow's latest run (RUNNING, COMPLETED, …); undefined when there is none. */
export async function workflowStatusOf(client: Client, workflowId: string): Promise<string | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/**
 * A poller seen this recently still serves the queue: a waiting long poll renews it every minute
 * or so, and the server keeps the pollers of the last minutes in its list.
 */
const POLLER_FRESH_MS = 90_000;

/** Whether a worker polls `taskQueue` now. */
export async function workerPolls(client: Client, taskQueue: string): Promise<boolean> {
  const described = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: taskQueue } });
  const now = Date.now();
  return (described.pollers ?? []).some((p) => now - Number(p.lastAccessTime?.seconds ?? 0) * 1000 < POLLER_FRESH_MS);
}
