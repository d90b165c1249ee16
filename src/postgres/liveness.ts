// Whether a server is working for a step right now, told by the step's own sessions in
// pg_stat_activity. Our byte and row counters stand still during one long statement (an UPDATE
// of millions of rows, CREATE INDEX at the end of a restore, a checksum scan of a big table); the
// session's state tells such work from a wait that may never end.
//
// Why the session's state and not a server counter: reads write no WAL, and on 9.6 nothing
// counts a running scan or foreign-key check live (pg_stat_* figures arrive at transaction end,
// pg_stat_progress_create_index and _copy exist from 12 and 14 only). A WAL position would call a
// long checksum scan stuck, and would credit our lock wait with autovacuum's writes.
import type pg from 'pg';
import type { DatabaseCredentials, ServerEndpoint } from '../runtime/port.js';
import { endStraySessions, queryRows, withClient } from './client.js';

/** The sessions of one step on one server, found by their application_name. */
export interface WatchedSessions {
  endpoint: ServerEndpoint;
  credentials: DatabaseCredentials;
  /** psql's PGAPPNAME (the exec's appName) or withClient's appName. */
  appName: string;
}

export interface SessionState {
  pid: number;
  state: string | null;
  waitEventType: string | null;
  waitEvent: string | null;
}

/**
 * Waits on something other than the statement's own work: a lock or buffer pin another session
 * holds, the client (psql not sending, a reader not reading), a timer (pg_sleep), an extension.
 * Every other state of an active session is CPU, data-file or WAL I/O, a short internal LWLock or
 * the server's own helpers (IPC: parallel workers, the checkpointer), and counts as working.
 * 9.6 reports Lock, BufferPin and LWLock* only: there a session blocked on its client looks
 * working, so steps whose sessions stream output to us (pg_dump's COPY) are not watched here.
 */
const WAITING_ON_OTHERS = new Set(['Lock', 'BufferPin', 'Client', 'Timeout', 'Extension', 'Activity']);

export function isWorking(s: SessionState): boolean {
  return s.state === 'active' && (s.waitEventType === null || !WAITING_ON_OTHERS.has(s.waitEventType));
}

/**
 * Its own short session, named apart from the watched ones, in the `postgres` database: a restore
 * drops and creates the step's database, which a session there would prevent.
 */
const onServer = <T>(w: WatchedSessions, fn: (client: pg.Client) => Promise<T>) => withClient(w.endpoint, w.credentials, fn, { database: 'postgres', appName: 'kaapana-migrate-liveness' });

export function sampleSessions(w: WatchedSessions): Promise<SessionState[]> {
  return onServer(w, (client) =>
    queryRows<SessionState>(
      client,
      `SELECT pid, state, wait_event_type AS "waitEventType", wait_event AS "waitEvent"
         FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() ORDER BY pid`,
      [w.appName],
    ),
  );
}

export function describeSessions(appName: string, sessions: SessionState[]): string {
  if (sessions.length === 0) return `no session ${appName}`;
  return sessions
    .map((s) => `${appName} (pid ${s.pid}) ${s.state ?? 'in an unknown state'}${s.waitEventType ? `, waiting on ${s.waitEventType} ${s.waitEvent ?? ''}`.trimEnd() : ''}`)
    .join(', ');
}

/** Ends the step's sessions: a statement waiting or running stops now, its transaction rolls back. */
export function endSessions(w: WatchedSessions): Promise<number> {
  return onServer(w, (client) => endStraySessions(client, w.credentials.name, w.appName));
}
