// Local adapter: real PostgreSQL server processes from a binary directory stand in for the
// images. Used by the demo and the tests; behaves like the Kaapana images where it matters
// (first start of an empty directory initialises the cluster and runs the init scripts).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { escapeIdentifier } from 'pg';
import type {
  ContainerRuntime,
  DatabaseCredentials,
  ImageRole,
  ServerEndpoint,
  ServerSpec,
  ServerState,
} from './port.js';
import { priorityArgv, type Priority } from './priority.js';
import { CLIENT_LOCALE, DISCARD_GRACE_MS, ExecFailed, InitFailed } from './port.js';
import { alive, runTool as run } from './process.js';
import { readOnlySettings, settingArgs } from './read-only.js';
import { exists, mustExecute, readJsonIfPresent, renameDurably, writeFileDurably } from '../files.js';
import { osUser } from '../os-users.js';

export interface LocalImage {
  binDir: string;
  initScriptsDir?: string;
}

export interface LocalRuntimeOptions {
  images: Record<ImageRole, LocalImage>;
  clientBinDir: string;
  stateDir: string;
  /** OS user that runs the servers when we are root (PostgreSQL refuses to run as root). */
  serverUser: string;
  /** Credentials for client tools; resolved by the worker, never stored on disk. */
  credentials: DatabaseCredentials;
}

interface ServerRecord {
  name: string;
  image: ImageRole;
  dataDir: string;
  socketDir: string;
  readOnly: boolean;
  /** The server and the tools run beside it are niced (a rehearsal's scratch copies). */
  priority?: Priority;
}

const PORT = 5432;
/** Beside a data directory being initialised: `<dataDir>.initialising-<pid>-<time>`. */
const INITIALISING = '.initialising-';
/** A fast shutdown writes a checkpoint, which can take a while on a big cluster. */
const FAST_SHUTDOWN_MS = 120_000;
const CLIENT_TOOLS = new Set(['psql', 'pg_dump', 'pg_dumpall', 'pg_isready', 'pg_restore']);

export function createLocalRuntime(opts: LocalRuntimeOptions): ContainerRuntime {
  const asRoot = process.getuid?.() === 0;
  const recordFile = (name: string) => path.join(opts.stateDir, 'servers', `${name}.json`);
  // Hashed: a unix socket path must stay under ~100 bytes whatever the node name.
  const socketDirFor = (name: string) => path.join(opts.stateDir, 'sockets', createHash('sha256').update(name).digest('hex').slice(0, 12));
  const logFile = (name: string) => path.join(opts.stateDir, 'logs', `${name}.log`);

  /** argv for a server binary, switched to the server user when we are root. */
  const serverArgv = (image: ImageRole, tool: string, args: string[]) => {
    const bin = path.join(opts.images[image].binDir, tool);
    return asRoot ? ['runuser', '-u', opts.serverUser, '--', bin, ...args] : [bin, ...args];
  };

  async function ownForServer(dir: string): Promise<void> {
    if (!asRoot) return;
    const { uid, gid } = await osUser(opts.serverUser, 'runtime.serverUser');
    await fs.chown(dir, uid, gid);
  }

  const readRecord = (name: string) => readJsonIfPresent<ServerRecord>(recordFile(name));

  async function mustRecord(name: string): Promise<ServerRecord> {
    const record = await readRecord(name);
    if (!record) throw new Error(`no server named ${name} was started by this runtime`);
    return record;
  }

  async function runOrThrow(label: string, argv: string[], env?: NodeJS.ProcessEnv): Promise<void> {
    const result = await run(argv, { env });
    if (result.exitCode !== 0) throw new ExecFailed(label, result.exitCode, result.stderr);
  }

  function clientEnv(record: ServerRecord, database = opts.credentials.name): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PGHOST: record.socketDir,
      PGPORT: String(PORT),
      PGUSER: opts.credentials.user,
      PGDATABASE: database,
      PGPASSWORD: opts.credentials.password,
      PGCONNECT_TIMEOUT: '10',
    };
  }

  /**
   * Like the images' entrypoint: initdb, create the database, run the init scripts. All or
   * nothing: it happens in a sibling directory that is renamed into place only once every step
   * succeeded, so a failure (or a killed worker) never leaves a half-initialised data directory
   * that the next start would take for a complete one.
   */
  async function initialise(spec: ServerSpec, record: ServerRecord): Promise<void> {
    await removeAbandonedInits(record);
    await fs.mkdir(path.dirname(spec.dataDir), { recursive: true });
    const scratch: ServerRecord = { ...record, dataDir: `${spec.dataDir}${INITIALISING}${process.pid}-${Date.now()}` };
    try {
      await fs.mkdir(scratch.dataDir, { mode: 0o700 });
      await ownForServer(scratch.dataDir);
      const pwDir = await fs.mkdtemp(path.join(opts.stateDir, 'pw-'));
      const pwFile = path.join(pwDir, 'pw');
      try {
        await fs.writeFile(pwFile, spec.database.password, { mode: 0o600 });
        await ownForServer(pwDir);
        await ownForServer(pwFile);
        await runOrThrow(
          'initdb',
          serverArgv(spec.image, 'initdb', [
            '-D', scratch.dataDir, '-U', spec.database.user, `--pwfile=${pwFile}`,
            '--auth=md5', '-E', 'UTF8', '--locale=C',
          ]),
        );
      } finally {
        await fs.rm(pwDir, { recursive: true, force: true });
      }
      await launch(spec.image, scratch, false);
      try {
        await waitReady(scratch, 60_000);
        await runOrThrow('psql', [clientBin('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', `CREATE DATABASE ${escapeIdentifier(spec.database.name)}`], clientEnv(scratch, 'postgres'));
        for (const script of await initScripts(spec.image)) {
          const result = await run([clientBin('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', script], { env: clientEnv(scratch) });
          if (result.exitCode !== 0) {
            const why = new ExecFailed(`init script ${path.basename(script)}`, result.exitCode, result.stderr).message;
            throw new InitFailed(`initialising ${spec.dataDir} failed: ${why}; nothing was left behind (the next start initialises from scratch)`);
          }
        }
      } finally {
        await shutdown(scratch);
      }
      // Replaces an empty directory of that name too (a rename onto an empty directory is allowed).
      await renameDurably(scratch.dataDir, spec.dataDir);
    } catch (err) {
      await fs.rm(scratch.dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Initialisations a killed worker left beside the data directory: their server (which may still
   * run, detached) is stopped and the directory removed.
   */
  async function removeAbandonedInits(record: ServerRecord): Promise<void> {
    const parent = path.dirname(record.dataDir);
    const prefix = `${path.basename(record.dataDir)}${INITIALISING}`;
    const names = await fs.readdir(parent).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith(prefix))) {
      const abandoned: ServerRecord = { ...record, dataDir: path.join(parent, name) };
      await shutdown(abandoned);
      await fs.rm(abandoned.dataDir, { recursive: true, force: true });
    }
  }

  async function initScripts(image: ImageRole): Promise<string[]> {
    const dir = opts.images[image].initScriptsDir;
    if (!dir) return [];
    return (await fs.readdir(dir)).filter((f) => f.endsWith('.sql')).sort().map((f) => path.join(dir, f));
  }

  const clientBin = (tool: string) => path.join(opts.clientBinDir, tool);

  async function launch(image: ImageRole, record: ServerRecord, readOnly: boolean): Promise<void> {
    // The server user must be able to pass through to its own socket directory.
    await fs.mkdir(path.dirname(record.socketDir), { recursive: true, mode: 0o711 });
    await fs.mkdir(record.socketDir, { recursive: true, mode: 0o700 });
    await ownForServer(record.socketDir);
    const log = await fs.open(logFile(record.name), 'a', 0o600);
    try {
      const args = ['-D', record.dataDir, '-k', record.socketDir, '-p', String(PORT), '-c', 'listen_addresses='];
      if (readOnly) args.push(...settingArgs(readOnlySettings(await fs.readFile(path.join(record.dataDir, 'PG_VERSION'), 'utf8'), record.socketDir)));
      const argv = [...priorityArgv(record.priority), ...serverArgv(image, 'postgres', args)];
      // Detached: the server must outlive a crashed worker, like a container would.
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', log.fd, log.fd] });
      child.unref();
    } finally {
      await log.close();
    }
  }

  /** Ready means the maintenance database accepts our user: the migration's own may be mid-restore. */
  async function waitReady(record: ServerRecord, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    let downPolls = 0;
    while (Date.now() < deadline) {
      const result = await run([clientBin('psql'), '-X', '-q', '-A', '-t', '-c', 'SELECT 1'], { env: clientEnv(record, 'postgres') });
      if (result.exitCode === 0) return;
      last = result.stderr.trim();
      if (/password authentication failed/.test(last)) {
        throw new Error(`the server ${record.name} rejected the credentials for user ${opts.credentials.user}: check database.password`);
      }
      // A server that died at start leaves no live postmaster.pid; give it a moment to write one.
      downPolls = (await postmasterPid(record.dataDir)) ? 0 : downPolls + 1;
      if (downPolls > 15) {
        const log = await fs.readFile(logFile(record.name), 'utf8').catch(() => '');
        throw new Error(`server ${record.name} did not start: ${log.trim().split('\n').slice(-5).join(' | ')}`);
      }
      await sleep(200);
    }
    throw new Error(`server ${record.name} was not ready within ${Math.round(timeoutMs / 1000)} s: ${last}`);
  }

  async function shutdown(record: ServerRecord, discarding = false): Promise<void> {
    const pid = await postmasterPid(record.dataDir);
    if (!pid) return;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(pid, sig);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    };
    const gone = async (ms: number) => {
      for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(100)) if (!alive(pid)) return true;
      return !alive(pid);
    };
    // SIGINT is PostgreSQL's fast shutdown: sessions end, a checkpoint is written.
    signal('SIGINT');
    if (await gone(discarding ? DISCARD_GRACE_MS : FAST_SHUTDOWN_MS)) return;
    if (!discarding) throw new Error(`server ${record.name} (pid ${pid}) did not stop within ${FAST_SHUTDOWN_MS / 1000} s`);
    // SIGQUIT: immediate shutdown, no checkpoint; nothing of this directory is kept.
    signal('SIGQUIT');
    if (await gone(DISCARD_GRACE_MS)) return;
    throw new Error(`server ${record.name} (pid ${pid}) did not stop, not even on an immediate shutdown`);
  }

  return {
    kind: 'local',

    async preflight() {
      for (const role of ['old', 'new'] as const) {
        for (const tool of ['postgres', 'initdb']) await mustExecute(path.join(opts.images[role].binDir, tool), `runtime.${role}.binDir`);
      }
      for (const tool of ['psql', 'pg_dump']) await mustExecute(clientBin(tool), 'runtime.clientBinDir');
      if (asRoot) await osUser(opts.serverUser, 'runtime.serverUser');
    },

    async start(spec, readyTimeoutMs): Promise<ServerEndpoint> {
      await fs.mkdir(opts.stateDir, { recursive: true, mode: 0o711 });
      await fs.mkdir(path.dirname(recordFile(spec.name)), { recursive: true, mode: 0o700 });
      await fs.mkdir(path.dirname(logFile(spec.name)), { recursive: true, mode: 0o700 });
      const record: ServerRecord = { name: spec.name, image: spec.image, dataDir: spec.dataDir, socketDir: socketDirFor(spec.name), readOnly: spec.readOnly, ...(spec.priority ? { priority: spec.priority } : {}) };
      const previous = await readRecord(spec.name);
      if (previous && (previous.dataDir !== spec.dataDir || previous.image !== spec.image)) {
        throw new Error(`server name ${spec.name} is already used for ${previous.dataDir}`);
      }
      await writeFileDurably(recordFile(spec.name), JSON.stringify(record));
      const pid = await postmasterPid(spec.dataDir);
      if (!pid) {
        if (!(await exists(path.join(spec.dataDir, 'PG_VERSION')))) {
          if (spec.readOnly) throw new Error(`${spec.dataDir} holds no PostgreSQL cluster (no PG_VERSION)`);
          if (await nonEmptyDir(spec.dataDir)) throw new Error(`${spec.dataDir} is neither empty nor a PostgreSQL cluster`);
          await initialise(spec, record);
        }
        await launch(spec.image, record, spec.readOnly);
      } else if (!(await exists(path.join(record.socketDir, `.s.PGSQL.${PORT}`)))) {
        throw new Error(`a PostgreSQL server (pid ${pid}) not started by kaapana-migrate is running on ${spec.dataDir}`);
      }
      await waitReady(record, readyTimeoutMs);
      return { host: record.socketDir, port: PORT };
    },

    async exec(name, argv, io = {}) {
      const record = await mustRecord(name);
      const tool = argv[0]!;
      if (!CLIENT_TOOLS.has(tool)) throw new Error(`not a client tool: ${tool}`);
      return run([...priorityArgv(record.priority), clientBin(tool), ...argv.slice(1)], { ...io, env: { ...clientEnv(record), PGAPPNAME: io.appName ?? `kaapana-migrate-${tool}`, LC_ALL: CLIENT_LOCALE } });
    },

    async stop(name, opts) {
      const record = await readRecord(name);
      if (record) await shutdown(record, opts?.discarding);
    },

    async remove(name) {
      const record = await readRecord(name);
      if (!record) return;
      if (await postmasterPid(record.dataDir)) throw new Error(`server ${name} is still running; stop it first`);
      await removeAbandonedInits(record);
      await fs.rm(record.socketDir, { recursive: true, force: true });
      await fs.rm(recordFile(name), { force: true });
    },

    async state(name): Promise<ServerState> {
      const record = await readRecord(name);
      if (!record) return 'absent';
      return (await postmasterPid(record.dataDir)) ? 'running' : 'stopped';
    },

    async dataDirInUse(dataDir) {
      return (await postmasterPid(dataDir)) !== undefined;
    },
  };
}

/** The pid in postmaster.pid when that process is alive. */
async function postmasterPid(dataDir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

async function nonEmptyDir(dir: string): Promise<boolean> {
  return fs.readdir(dir).then((e) => e.length > 0, () => false);
}
