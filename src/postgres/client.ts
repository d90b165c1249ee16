// `pg` sessions to a server reached over its unix socket.
import pg from 'pg';
import type { DatabaseCredentials, ServerEndpoint } from '../runtime/port.js';

export interface SessionOptions {
  /** Default the archive's database. */
  database?: string;
  /** A step whose server-side work is watched names its session (see liveness.ts). */
  appName?: string;
  /**
   * Aborting ends the session on the server: a cancelled scan would otherwise read on until its
   * statement ends (minutes for the largest table) while the workflow waits for it to stop.
   */
  signal?: AbortSignal;
}

export async function withClient<T>(
  endpoint: ServerEndpoint,
  credentials: DatabaseCredentials,
  fn: (client: pg.Client) => Promise<T>,
  { database = credentials.name, appName = 'kaapana-migrate', signal }: SessionOptions = {},
): Promise<T> {
  signal?.throwIfAborted();
  const client = new pg.Client({
    host: endpoint.host,
    port: endpoint.port,
    user: credentials.user,
    password: credentials.password,
    database,
    application_name: appName,
    connectionTimeoutMillis: 15_000,
  });
  await client.connect();
  try {
    if (!signal) return await fn(client);
    return await endedOnAbort(client, signal, (pid) => withClient(endpoint, credentials, (c) => c.query('SELECT pg_terminate_backend($1)', [pid]), { database }), fn);
  } finally {
    await client.end();
  }
}

async function endedOnAbort<T>(client: pg.Client, signal: AbortSignal, terminate: (pid: number) => Promise<unknown>, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
  // The end reaches the client as an error event when no statement is running; the next one fails.
  client.on('error', () => undefined);
  let ending: Promise<unknown> = Promise.resolve();
  // From a session of its own: the running statement holds this one.
  const end = () => (ending = terminate(pid).catch(() => undefined));
  signal.addEventListener('abort', end, { once: true });
  try {
    signal.throwIfAborted();
    return await fn(client);
  } catch (err) {
    // Ended because it was aborted: the abort's reason (the cancellation, the stall) is the cause, not the lost session.
    throw signal.aborted ? signal.reason : err;
  } finally {
    signal.removeEventListener('abort', end);
    await ending;
  }
}

export async function queryRows<R extends pg.QueryResultRow>(client: pg.Client, sql: string, values: unknown[] = []): Promise<R[]> {
  return (await client.query<R>(sql, values)).rows;
}

/**
 * End other sessions of this tool on a database: a crashed worker's psql may still be running
 * (it outlives its parent) and would fight the retry for locks.
 */
export async function endStraySessions(client: pg.Client, database: string, appNamePrefix = 'kaapana-migrate-'): Promise<number> {
  const rows = await queryRows<{ ended: boolean }>(
    client,
    `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
      WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name LIKE $2`,
    [database, `${appNamePrefix}%`],
  );
  return rows.length;
}
