// `pg` sessions to a server reached over its unix socket.
import pg from 'pg';
import type { DatabaseCredentials, ServerEndpoint } from '../runtime/port.js';

export async function withClient<T>(
  endpoint: ServerEndpoint,
  credentials: DatabaseCredentials,
  fn: (client: pg.Client) => Promise<T>,
  database = credentials.name,
  /** A step whose server-side work is watched names its session (see liveness.ts). */
  appName = 'kaapana-migrate',
): Promise<T> {
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
    return await fn(client);
  } finally {
    await client.end();
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
