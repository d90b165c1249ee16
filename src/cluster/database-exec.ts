// What execDatabase may run in the postgres-dcm4che container, and the session it runs in.

const CLIENTS = ['pg_dump', 'psql'];

/**
 * Refuses anything but a PostgreSQL client tool, by name as the image's PATH finds it, possibly
 * behind `nice -n <N>`: the database pod is the live archive's, and these are what the rehearsal reads it with.
 */
export function assertDatabaseClient(argv: readonly string[]): void {
  const command = argv[0] === 'nice' && argv[1] === '-n' && /^\d+$/.test(argv[2] ?? '') ? argv[3] : argv[0];
  if (command === undefined || !CLIENTS.includes(command)) {
    throw new Error(`execDatabase runs only ${CLIENTS.join(' or ')} (possibly behind "nice -n <N>"), not "${argv.join(' ')}"`);
  }
}

/**
 * Shell run before the command (a constant). The tools connect over the pod's own unix socket,
 * which both Kaapana images trust (the official entrypoint's initdb leaves local connections at
 * trust; only TCP needs the password), as the image's own scripts do: as POSTGRES_USER to
 * POSTGRES_DB, with the image's defaults, unless the container sets PGUSER or PGDATABASE itself.
 * No password goes anywhere. Every transaction starts read-only: a slip in a query cannot write
 * to the live archive (a guard against mistakes, not against a superuser who turns it off).
 */
export const DATABASE_SESSION =
  'export PGUSER="${PGUSER:-${POSTGRES_USER:-postgres}}"; ' +
  'export PGDATABASE="${PGDATABASE:-${POSTGRES_DB:-${POSTGRES_USER:-postgres}}}"; ' +
  'export PGOPTIONS="${PGOPTIONS:+$PGOPTIONS }-c default_transaction_read_only=on"; ';
