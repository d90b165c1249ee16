// The container-runtime port: start a PostgreSQL "image" on a data directory, run client tools
// beside it, stop it. Adapters: local server processes (demo, tests) and Docker (real nodes).
import type { Readable, Writable } from 'node:stream';
import type { Priority } from './priority.js';

export type ImageRole = 'old' | 'new';

export interface DatabaseCredentials {
  name: string;
  user: string;
  password: string;
}

export interface ServerSpec {
  /** Unique per migration and role, so a retry finds (and reuses) its own server. */
  name: string;
  image: ImageRole;
  /** Host directory used as PGDATA. */
  dataDir: string;
  /** Sessions default to read-only: used for the original data directory. */
  readOnly: boolean;
  database: DatabaseCredentials;
  /** Lowered CPU and I/O priority for the server and the tools run beside it (a rehearsal's scratch servers). */
  priority?: Priority;
}

/** Where a `pg` client reaches the server: a unix-socket directory and port. */
export interface ServerEndpoint {
  host: string;
  port: number;
}

export interface ExecIO {
  stdin?: Readable;
  stdout?: Writable;
  /** Session application_name, so a retry can find and end sessions an earlier attempt left. */
  appName?: string;
  /** Aborting ends the tool (e.g. when the activity is cancelled). */
  signal?: AbortSignal;
  /** Called with each stderr chunk (e.g. to stream it to the log). */
  onStderr?: (chunk: string) => void;
}

/**
 * Every client tool runs under this locale, whatever the worker's or the image's: the migration
 * reads psql's output (its statement timings) and quotes the tools' messages, so both come
 * untranslated and with a decimal point ("Time: 1.234 ms", not "Zeit: 1,234 ms").
 */
export const CLIENT_LOCALE = 'C';

export interface ExecResult {
  exitCode: number;
  /** The last part of stderr, for error messages. */
  stderr: string;
}

export type ServerState = 'running' | 'stopped' | 'absent';

export interface ContainerRuntime {
  readonly kind: 'local' | 'docker';
  /** The engine answers and both images exist; nothing is changed. */
  preflight(): Promise<void>;
  /** Start (or find running) the server; resolves when it accepts connections. */
  start(spec: ServerSpec, readyTimeoutMs: number): Promise<ServerEndpoint>;
  /**
   * Run a client tool (`psql`, `pg_dump`, …) against the named server, connected as the spec's
   * user to its database unless argv says otherwise. Never allocates a TTY.
   */
  exec(name: string, argv: string[], io?: ExecIO): Promise<ExecResult>;
  /**
   * Stop the server and wait until it has released its data directory. Idempotent. `discarding`:
   * its directory is thrown away next, so a fast shutdown that has not ended it within
   * DISCARD_GRACE_MS (a checkpoint that cannot be written on a full disk never ends) is cut short
   * by an immediate one.
   */
  stop(name: string, opts?: { discarding?: boolean }): Promise<void>;
  /** Forget the server (container, records, what a killed first start left beside it). Idempotent; never touches the data directory. */
  remove(name: string): Promise<void>;
  state(name: string): Promise<ServerState>;
  /** Some PostgreSQL server (ours or not) is running on this data directory. */
  dataDirInUse(dataDir: string): Promise<boolean>;
}

export class ExecFailed extends Error {
  constructor(
    readonly argv0: string,
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(`${argv0} exited with ${exitCode}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`);
    this.name = 'ExecFailed';
  }
}

/**
 * The first start of an empty data directory failed in the image's own initialisation (an init
 * script's SQL error): it fails the same way on every retry.
 */
export class InitFailed extends Error {
  override name = 'InitFailed';
}

/** How long a server being discarded is given to shut down cleanly before it is ended at once. */
export const DISCARD_GRACE_MS = 30_000;
