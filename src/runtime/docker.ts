// Docker adapter: each server is a container of the Kaapana database image, configured as the
// migration guide's `docker run` (env POSTGRES_*, data directory bind-mounted, no TTY, no published
// port). Client tools run inside the container with `docker exec`, so they always match the image,
// and the host reaches the server through the socket directory bind-mounted from stateDir. The
// engine must run on this host: the data and socket directories are bind-mounted by host path.
import Docker from 'dockerode';
import { randomUUID } from 'node:crypto';
import { promises as fs, readFileSync, type Stats } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { Writable, type Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as sleep } from 'node:timers/promises';
import { exists, readJsonIfPresent, writeFileDurably } from '../files.js';
import type { ContainerRuntime, ExecIO, ExecResult, ImageRole, ServerEndpoint, ServerSpec, ServerState } from './port.js';
import { cpuSharesOf } from './priority.js';
import { CLIENT_LOCALE, DISCARD_GRACE_MS, InitFailed } from './port.js';
import { alive } from './process.js';
import { readOnlySettings, settingArgs } from './read-only.js';

export interface DockerRuntimeOptions {
  /** Engine address (unix:///path or tcp://host:port); else DOCKER_HOST; else /var/run/docker.sock. */
  host?: string;
  /** Host directory for the servers' socket directories. */
  stateDir: string;
  images: Record<ImageRole, string>;
  /** Marks (labels) and names the containers, so a retry finds its own and nobody else's. */
  migrationId: string;
}

const LABEL_MIGRATION = 'kaapana-migrate.migration';
const LABEL_SERVER = 'kaapana-migrate.server';
const LABEL_ROLE = 'kaapana-migrate.image-role';
const LABEL_READ_ONLY = 'kaapana-migrate.read-only';
const PGDATA = '/var/lib/postgresql/data';
const SOCKET_DIR = '/var/run/postgresql';
const PORT = 5432;
/** docker stop's grace period: a fast shutdown writes a checkpoint, which can take minutes on a big cluster. */
const STOP_TIMEOUT_S = 600;
const PING_TIMEOUT_MS = 15_000;
/** How long the engine may take to record an exec's exit code after its streams closed. */
const EXIT_CODE_WAIT_MS = 10_000;
const STDERR_TAIL = 8192;
const LOG_LINES = 20;
/** Linux allows 108 bytes for a unix socket path (with its NUL), some clients fewer. */
const MAX_SOCKET_PATH = 100;

export interface DockerConnection {
  options: Docker.DockerOptions & { agent?: https.Agent };
  /** The engine address and where it came from, for messages. */
  describe: string;
}

/** Reads the engine address the way the docker CLI does (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH). */
export function dockerConnection(host: string | undefined, env: NodeJS.ProcessEnv = process.env): DockerConnection {
  const address = host || env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  const describe = host ? `${address} (runtime.host)` : env.DOCKER_HOST ? `${address} (DOCKER_HOST)` : `${address} (default; DOCKER_HOST is not set)`;
  // Every key is given: docker-modem merges its own reading of DOCKER_HOST under ours.
  const none = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined, ca: undefined, cert: undefined, key: undefined };
  if (address.startsWith('unix://')) {
    return { options: { ...none, socketPath: address.slice('unix://'.length) || '/var/run/docker.sock' }, describe };
  }
  let url: URL;
  try {
    url = new URL(address.includes('://') ? address : `tcp://${address}`);
  } catch {
    throw new Error(`engine address ${describe} is not unix:///path or tcp://host:port`);
  }
  if (url.protocol !== 'tcp:') throw new Error(`engine address ${describe}: only unix:// and tcp:// are supported`);
  const verify = Boolean(env.DOCKER_TLS_VERIFY);
  const tls = verify || Boolean(env.DOCKER_TLS);
  const port = url.port || (tls ? '2376' : '2375');
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1'); // IPv6 literals without brackets
  if (!tls) return { options: { ...none, host: hostname, port, protocol: 'http' }, describe };
  const certDir = env.DOCKER_CERT_PATH || path.join(os.homedir(), '.docker');
  const read = (file: string, required: boolean): Buffer | undefined => {
    try {
      return readFileSync(path.join(certDir, file));
    } catch (err) {
      if (required) throw new Error(`TLS for ${describe}: cannot read ${path.join(certDir, file)} (DOCKER_CERT_PATH): ${(err as Error).message}`);
      return undefined;
    }
  };
  const tlsFiles = { ca: read('ca.pem', verify), cert: read('cert.pem', false), key: read('key.pem', false) };
  // An agent, because docker-modem cannot switch off verification (DOCKER_TLS without _VERIFY).
  const agent = new https.Agent({ ...tlsFiles, rejectUnauthorized: verify });
  return { options: { ...none, ...tlsFiles, host: hostname, port, protocol: 'https', agent }, describe };
}

/** Container names are per migration and server, so a retry (or another worker) finds the same one. */
export function containerName(migrationId: string, server: string): string {
  return `kaapana-migrate-${migrationId}-${server}`.replace(/[^A-Za-z0-9_.-]/g, '-');
}

export function createDockerRuntime(opts: DockerRuntimeOptions): ContainerRuntime {
  const connection = dockerConnection(opts.host);
  let docker: Docker;
  try {
    docker = new Docker(connection.options);
  } catch (err) {
    // docker-modem also reads DOCKER_HOST / DOCKER_CERT_PATH itself and throws on bad values.
    throw new Error(`cannot set up the Docker client for ${connection.describe}: ${(err as Error).message}`);
  }
  const nameOf = (server: string) => containerName(opts.migrationId, server);
  const fileNameOf = (server: string) => server.replace(/[^A-Za-z0-9_.-]/g, '-');
  const socketDirOf = (server: string) => path.join(opts.stateDir, 'sockets', fileNameOf(server));
  const initMarkerOf = (server: string) => path.join(opts.stateDir, 'initialising', `${fileNameOf(server)}.json`);

  async function inspect(server: string): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      const info = await docker.getContainer(nameOf(server)).inspect();
      // The engine also resolves id prefixes; only an exact name is this server's.
      return info.Name.replace(/^\//, '') === nameOf(server) ? info : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  const isOurs = (info: Docker.ContainerInspectInfo, server: string) =>
    info.Config.Labels?.[LABEL_MIGRATION] === opts.migrationId && info.Config.Labels?.[LABEL_SERVER] === server;

  function foreign(server: string): Error {
    return new Error(
      `a container named ${nameOf(server)} exists but was not created by kaapana-migrate for migration ${opts.migrationId}; ` +
        `it is left alone: rename or remove it (docker rm) and retry`,
    );
  }

  /** Our container of that server, or undefined; a foreign one of that name is an error. */
  async function ours(server: string): Promise<Docker.ContainerInspectInfo | undefined> {
    const info = await inspect(server);
    if (info && !isOurs(info, server)) throw foreign(server);
    return info;
  }

  async function imageId(role: ImageRole): Promise<string> {
    try {
      return (await docker.getImage(opts.images[role]).inspect()).Id;
    } catch (err) {
      if (statusOf(err) === 404) throw missingImages([opts.images[role]]);
      throw err;
    }
  }

  async function stopContainer(info: Docker.ContainerInspectInfo, graceS = STOP_TIMEOUT_S): Promise<void> {
    const container = docker.getContainer(info.Id);
    try {
      // Blocks until the container stopped (the engine kills it after the grace period).
      await container.stop({ t: graceS });
    } catch (err) {
      if (statusOf(err) !== 304) throw err; // 304: already stopped
    }
    const after = await container.inspect();
    if (after.State.Running) throw new Error(`container ${info.Name} is still running after docker stop`);
  }

  async function lastLogLines(id: string, password: string): Promise<string> {
    try {
      const raw = await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: LOG_LINES, follow: false });
      return redact(demuxBuffer(raw).trimEnd(), password);
    } catch (err) {
      return `(logs unavailable: ${(err as Error).message})`;
    }
  }

  async function execIn(info: Docker.ContainerInspectInfo, argv: string[], io: ExecIO): Promise<ExecResult> {
    io.signal?.throwIfAborted();
    const env = envOf(info);
    const password = env.POSTGRES_PASSWORD ?? '';
    // Always named: an abort ends the tool by ending its sessions (the engine cannot signal an exec).
    const appName = io.appName ?? `kaapana-migrate-${argv[0] ?? 'exec'}-${randomUUID().slice(0, 8)}`;
    try {
      const exec = await docker.getContainer(info.Id).exec({
        Cmd: argv,
        AttachStdin: Boolean(io.stdin),
        AttachStdout: true,
        AttachStderr: true,
        Tty: false, // a TTY would turn LF into CRLF in dumps
        Env: [
          `PGHOST=${SOCKET_DIR}`,
          `PGPORT=${PORT}`,
          `PGUSER=${env.POSTGRES_USER ?? 'postgres'}`,
          `PGDATABASE=${env.POSTGRES_DB ?? env.POSTGRES_USER ?? 'postgres'}`,
          `PGPASSWORD=${password}`,
          `PGAPPNAME=${appName}`,
          `LC_ALL=${CLIENT_LOCALE}`,
        ],
      });
      const stream = await exec.start({ hijack: true, stdin: Boolean(io.stdin) });
      const abort = () => {
        stream.destroy();
        void terminateSessions(info, appName);
      };
      io.signal?.addEventListener('abort', abort, { once: true });
      if (io.signal?.aborted) abort(); // aborted while the exec was being set up
      let stderr: string;
      try {
        stderr = await pump(docker, stream, io, password);
      } finally {
        io.signal?.removeEventListener('abort', abort);
      }
      if (io.signal?.aborted) {
        await exitCodeOf(exec, argv[0] ?? '', stderr).catch(() => undefined);
        throw io.signal.reason;
      }
      return { exitCode: await exitCodeOf(exec, argv[0] ?? '', stderr), stderr };
    } catch (err) {
      throw scrub(err, password);
    }
  }

  /** Best effort: the server ends the sessions of an aborted tool, so the tool fails and exits. */
  async function terminateSessions(info: Docker.ContainerInspectInfo, appName: string): Promise<void> {
    const sql = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${appName.replace(/'/g, "''")}'`;
    await execIn(info, ['psql', '-X', '-q', '-c', sql], {}).catch(() => undefined);
  }

  async function exitCodeOf(exec: Docker.Exec, tool: string, stderr: string): Promise<number> {
    const deadline = Date.now() + EXIT_CODE_WAIT_MS;
    for (;;) {
      let state: Docker.ExecInspectInfo;
      try {
        state = await exec.inspect();
      } catch (err) {
        // The container (and its execs) went away while the tool ran.
        if (statusOf(err) === 404) throw lostExit(tool, 'the container is gone', stderr);
        throw err;
      }
      if (!state.Running && typeof state.ExitCode === 'number' && state.ExitCode >= 0) return state.ExitCode;
      if (!state.Running && state.ExitCode !== null && state.ExitCode < 0) throw lostExit(tool, `the engine reports exit code ${state.ExitCode}`, stderr);
      if (Date.now() > deadline) throw lostExit(tool, state.Running ? 'it still runs after its output ended' : 'the engine recorded no exit code', stderr);
      await sleep(100);
    }
  }

  async function waitReady(info: Docker.ContainerInspectInfo, spec: ServerSpec, timeoutMs: number, initialising: boolean): Promise<void> {
    const password = spec.database.password;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await docker.getContainer(info.Id).inspect();
      if (!current.State.Running) {
        const stopped = `(container ${nameOf(spec.name)}) stopped while starting (exit code ${current.State.ExitCode})`;
        const log = `last log lines:\n${await lastLogLines(info.Id, password)}`;
        // The entrypoint exits at the first failing init script, after initdb wrote PG_VERSION.
        if (initialising) {
          throw new InitFailed(`the image's initialisation of ${spec.dataDir} failed: server ${spec.name} ${stopped}; the directory is half-initialised, the next start removes it and initialises again; ${log}`);
        }
        throw new Error(`server ${spec.name} ${stopped}; ${log}`);
      }
      // Over TCP inside the container: on first start the image initialises the cluster on a
      // server that listens on the socket only, which must not count as ready.
      const probe = await execIn(current, ['pg_isready', '-q', '-t', '5', '-h', '127.0.0.1', '-p', String(PORT)], {}).then(
        (r) => (r.exitCode === 0 ? undefined : `pg_isready exited with ${r.exitCode}`),
        // The container may stop between inspect and exec: the next round reports that.
        (err: Error) => `pg_isready could not run: ${err.message}`,
      );
      if (probe === undefined) return;
      if (Date.now() >= deadline) {
        throw new Error(
          `server ${spec.name} (container ${nameOf(spec.name)}) was not ready within ${Math.round(timeoutMs / 1000)} s ` +
            `(${probe}); last log lines:\n${await lastLogLines(info.Id, password)}`,
        );
      }
      await sleep(Math.min(500, Math.max(0, deadline - Date.now())));
    }
  }

  async function create(spec: ServerSpec, socketDir: string): Promise<Docker.ContainerInspectInfo> {
    await fs.mkdir(spec.dataDir, { recursive: true, mode: 0o700 });
    await fs.mkdir(socketDir, { recursive: true, mode: 0o755 });
    const container = await docker.createContainer({
      name: nameOf(spec.name),
      Image: opts.images[spec.image],
      Env: [
        `POSTGRES_DB=${spec.database.name}`,
        `POSTGRES_USER=${spec.database.user}`,
        `POSTGRES_PASSWORD=${spec.database.password}`,
      ],
      // Without Cmd the image's own (`postgres`) runs; the entrypoint passes `-c` options on.
      ...(spec.readOnly ? { Cmd: ['postgres', ...settingArgs(readOnlySettings(await pgVersionOf(spec.dataDir), SOCKET_DIR))] } : {}),
      Labels: {
        [LABEL_MIGRATION]: opts.migrationId,
        [LABEL_SERVER]: spec.name,
        [LABEL_ROLE]: spec.image,
        [LABEL_READ_ONLY]: String(spec.readOnly),
      },
      Tty: false,
      OpenStdin: false,
      AttachStdin: false,
      // SIGINT is PostgreSQL's fast shutdown (sessions end, checkpoint written), as in the official image.
      StopSignal: 'SIGINT',
      StopTimeout: STOP_TIMEOUT_S,
      HostConfig: {
        Binds: [`${spec.dataDir}:${PGDATA}`, `${socketDir}:${SOCKET_DIR}`],
        RestartPolicy: { Name: 'no' },
        // A container has no niceness: its CPU weight stands in for it (its tools run inside it).
        ...(spec.priority ? { CpuShares: cpuSharesOf(spec.priority) } : {}),
      },
    });
    await container.start();
    return container.inspect();
  }

  /** Our running container with the same image, binds, mode and credentials: it can be reused. */
  async function reusable(info: Docker.ContainerInspectInfo, spec: ServerSpec, socketDir: string, image: string): Promise<boolean> {
    const labels = info.Config.Labels ?? {};
    const env = envOf(info);
    return (
      info.State.Running &&
      info.Image === image &&
      labels[LABEL_ROLE] === spec.image &&
      labels[LABEL_READ_ONLY] === String(spec.readOnly) &&
      env.POSTGRES_DB === spec.database.name &&
      env.POSTGRES_USER === spec.database.user &&
      env.POSTGRES_PASSWORD === spec.database.password &&
      (await bindsTo(info, PGDATA, spec.dataDir)) &&
      (await bindsTo(info, SOCKET_DIR, socketDir))
    );
  }

  async function dataDirInUse(dataDir: string): Promise<boolean> {
    let dir: Stats;
    try {
      dir = await fs.stat(dataDir);
    } catch {
      return false;
    }
    return (await runningContainerBinds(dir, dataDir)) || (await livePostmaster(dataDir, dir)) || (await serverProcessIn(dir));
  }

  /** Any running container of this engine, ours or not, with the directory bind-mounted. */
  async function runningContainerBinds(dir: Stats, dataDir: string): Promise<boolean> {
    for (const c of await docker.listContainers()) {
      for (const m of c.Mounts ?? []) {
        if (m.Type === 'bind' && (await sameDir(m.Source, dir, dataDir))) return true;
      }
    }
    return false;
  }

  /**
   * The image initialises an empty directory on its first start, in place: a failing init script
   * leaves initdb's files behind, which the image's next start takes for a cluster. So a first
   * start is marked (in stateDir) until its server is ready, and a directory still marked when
   * the next start comes holds only what the incomplete initialisation wrote: it is removed and
   * initialised again. Never for a read-only server (the live directory), which must hold a cluster.
   */
  async function prepareFirstStart(spec: ServerSpec): Promise<void> {
    if (spec.readOnly) return;
    const marker = initMarkerOf(spec.name);
    if ((await readJsonIfPresent<InitMarker>(marker))?.dataDir === spec.dataDir) await fs.rm(spec.dataDir, { recursive: true, force: true });
    if (!(await exists(path.join(spec.dataDir, 'PG_VERSION')))) await writeFileDurably(marker, JSON.stringify({ dataDir: spec.dataDir } satisfies InitMarker));
  }

  return {
    kind: 'docker',

    async preflight() {
      try {
        await (docker as unknown as Pingable).ping({ abortSignal: AbortSignal.timeout(PING_TIMEOUT_MS) });
      } catch (err) {
        throw new Error(
          `the Docker engine at ${connection.describe} does not answer: ${(err as Error).message}. ` +
            `Is Docker running on this node, and does DOCKER_HOST (or runtime.host) point at it?`,
        );
      }
      const missing: string[] = [];
      for (const role of ['old', 'new'] as const) {
        try {
          await docker.getImage(opts.images[role]).inspect();
        } catch (err) {
          if (statusOf(err) !== 404) throw err;
          missing.push(opts.images[role]);
        }
      }
      if (missing.length > 0) throw missingImages(missing);
    },

    async start(spec, readyTimeoutMs): Promise<ServerEndpoint> {
      const socketDir = socketDirOf(spec.name);
      if (path.join(socketDir, `.s.PGSQL.${PORT}`).length > MAX_SOCKET_PATH) {
        throw new Error(`the socket path under ${opts.stateDir} would be too long for a unix socket: choose a shorter runtime.stateDir`);
      }
      if (spec.dataDir.includes(':')) throw new Error(`data directory ${spec.dataDir}: a path with ":" cannot be bind-mounted`);
      try {
        const image = await imageId(spec.image);
        let info = await ours(spec.name);
        if (info && !(await reusable(info, spec, socketDir, image))) {
          // Stopped, or configured otherwise: replace it (the data stays in the bind-mounted directory).
          if (info.State.Running) await stopContainer(info);
          await docker.getContainer(info.Id).remove({ v: true, force: true });
          info = undefined;
        }
        if (!info) {
          if (await dataDirInUse(spec.dataDir)) {
            throw new Error(`another PostgreSQL server is running on ${spec.dataDir}: stop it before the migration starts a server there`);
          }
          await prepareFirstStart(spec);
          info = await create(spec, socketDir);
        }
        const marker = initMarkerOf(spec.name);
        await waitReady(info, spec, readyTimeoutMs, (await readJsonIfPresent<InitMarker>(marker))?.dataDir === spec.dataDir);
        await fs.rm(marker, { force: true });
        return { host: socketDir, port: PORT };
      } catch (err) {
        throw scrub(err, spec.database.password);
      }
    },

    async exec(name, argv, io = {}) {
      if (argv.length === 0) throw new Error('exec needs a command');
      const info = await ours(name);
      if (!info?.State.Running) throw new Error(`server ${name} is not running (container ${nameOf(name)} ${info ? info.State.Status : 'does not exist'})`);
      return execIn(info, argv, io);
    },

    async stop(name, opts) {
      const info = await inspect(name);
      // Never stop someone else's container.
      if (!info || !isOurs(info, name) || !info.State.Running) return;
      await stopContainer(info, opts?.discarding ? DISCARD_GRACE_MS / 1000 : STOP_TIMEOUT_S);
    },

    async remove(name) {
      const info = await inspect(name);
      if (!info || !isOurs(info, name)) return;
      if (info.State.Running) throw new Error(`server ${name} is still running; stop it first`);
      try {
        // v: anonymous volumes only; binds (the data directory) are never touched.
        await docker.getContainer(info.Id).remove({ v: true });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
      await fs.rm(socketDirOf(name), { recursive: true, force: true });
    },

    async state(name): Promise<ServerState> {
      const info = await inspect(name);
      if (!info || !isOurs(info, name)) return 'absent';
      return info.State.Running ? 'running' : 'stopped';
    },

    dataDirInUse,
  };
}

type Pingable = { ping(opts: { abortSignal: AbortSignal }): Promise<unknown> };

/** A first start of `dataDir` whose initialisation has not been seen to complete. */
interface InitMarker {
  dataDir: string;
}

/** The PostgreSQL version of the cluster in a (host) data directory. */
async function pgVersionOf(dataDir: string): Promise<string> {
  try {
    return (await fs.readFile(path.join(dataDir, 'PG_VERSION'), 'utf8')).trim();
  } catch {
    throw new Error(`${dataDir} holds no PostgreSQL cluster (no PG_VERSION)`);
  }
}

/**
 * Copies the exec's output to io.stdout (pausing the connection while io.stdout is full) and its
 * stderr to io.onStderr, streams io.stdin in and half-closes after it; resolves with the stderr tail
 * once the engine closed the connection.
 */
async function pump(docker: Docker, stream: Duplex, io: ExecIO, password: string): Promise<string> {
  let tail = '';
  let failure: Error | undefined;
  const decoder = new StringDecoder('utf8');
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = redact(decoder.write(chunk), password);
      tail = (tail + text).slice(-STDERR_TAIL);
      io.onStderr?.(text);
      done();
    },
  });
  const out = io.stdout;
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!out || out.write(chunk)) return done();
      // demuxStream ignores write()'s answer, so the backpressure is applied to the connection here.
      stream.pause();
      out.once('drain', () => {
        stream.resume();
        done();
      });
    },
  });
  const onOutError = (err: Error) => {
    failure = err;
    stream.destroy();
  };
  out?.once('error', onOutError);
  const closed = new Promise<void>((resolve) => stream.once('close', resolve));
  stream.on('error', (err: NodeJS.ErrnoException) => {
    // The tool may exit before reading all its input; the exit code says why.
    if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') failure ??= err;
  });
  docker.modem.demuxStream(stream, stdout, stderr);

  const input = io.stdin;
  const onInputError = (err: Error) => {
    failure ??= err;
    stream.destroy();
  };
  if (input) {
    input.once('error', onInputError);
    input.pipe(stream); // ends (half-closes) the connection after the last byte
  }
  stream.once('end', () => stream.destroy());
  await closed;
  if (input) {
    input.unpipe(stream);
    input.off('error', onInputError);
    // The tool is gone: release the caller's source (file, upstream exec) instead of leaving it open.
    if (!input.readableEnded) input.destroy();
  }
  out?.off('error', onOutError);
  if (failure) {
    // A write may wait for a 'drain' that a failed io.stdout never sends.
    stdout.destroy();
    throw failure;
  }
  stdout.end();
  stderr.end();
  await Promise.all([finished(stdout), finished(stderr)]);
  return tail;
}

/** The text of a non-TTY log buffer: 8-byte frame headers (stream, 0, 0, 0, length) before each part. */
function demuxBuffer(raw: Buffer | string): string {
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= buf.length && buf[at]! <= 2 && buf[at + 1] === 0 && buf[at + 2] === 0 && buf[at + 3] === 0) {
    const length = buf.readUInt32BE(at + 4);
    parts.push(buf.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  parts.push(buf.subarray(at));
  return Buffer.concat(parts).toString('utf8');
}

function envOf(info: Docker.ContainerInspectInfo): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of info.Config.Env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

async function bindsTo(info: Docker.ContainerInspectInfo, destination: string, source: string): Promise<boolean> {
  const mount = info.Mounts.find((m) => m.Destination === destination);
  if (!mount || mount.Type !== 'bind') return false;
  const dir = await fs.stat(source).catch(() => undefined);
  return dir ? sameDir(mount.Source, dir, source) : path.resolve(mount.Source) === path.resolve(source);
}

/** Same directory by device and inode (symlinks, bind mounts); by path when the engine's path is not visible here. */
async function sameDir(candidate: string, dir: Stats, dirPath: string): Promise<boolean> {
  const st = await fs.stat(candidate).catch(() => undefined);
  if (!st) return path.resolve(candidate) === path.resolve(dirPath);
  return st.dev === dir.dev && st.ino === dir.ino;
}

/**
 * postmaster.pid names a live PostgreSQL process on this host that works in this directory. A server
 * in a container writes its own namespace's pid (often 1), so a live pid alone proves nothing; a
 * live process that cannot be inspected counts as in use.
 */
async function livePostmaster(dataDir: string, dir: Stats): Promise<boolean> {
  const text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text?.split('\n')[0] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return false;
  return (await postgresWorkingIn(pid, dir)) !== false;
}

/**
 * Any PostgreSQL process on this host working in the directory (postgres chdirs into its data
 * directory): finds servers in containers of other engines too, e.g. Kubernetes' containerd.
 */
async function serverProcessIn(dir: Stats): Promise<boolean> {
  const pids = await fs.readdir('/proc').catch(() => [] as string[]);
  for (const pid of pids) {
    if (/^\d+$/.test(pid) && (await postgresWorkingIn(Number(pid), dir)) === true) return true;
  }
  return false;
}

/** true or false; undefined when the process cannot be inspected (gone meanwhile counts as false). */
async function postgresWorkingIn(pid: number, dir: Stats): Promise<boolean | undefined> {
  const comm = await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? '' : undefined));
  if (comm === undefined) return undefined;
  if (comm.trim() !== 'postgres' && comm.trim() !== 'postmaster') return false;
  try {
    const cwd = await fs.stat(`/proc/${pid}/cwd`);
    return cwd.dev === dir.dev && cwd.ino === dir.ino;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? false : undefined;
  }
}

function missingImages(images: string[]): Error {
  return new Error(
    `image ${images.join(' and ')} not found on the Docker engine. kaapana-migrate never pulls (Kaapana nodes often ` +
      `have no registry access): on a machine that has the image run \`docker save -o image.tar ${images[0]}\`, copy ` +
      `the file to the node and run \`docker load -i image.tar\`.`,
  );
}

function lostExit(tool: string, why: string, stderr: string): Error {
  const last = stderr.trim().split('\n').slice(-3).join(' | ');
  return new Error(`${tool} did not report how it ended (${why}): count it as failed${last ? `; stderr: ${last}` : ''}`);
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

function redact(text: string, secret: string): string {
  return secret ? text.split(secret).join('***') : text;
}

/** The error with the password cut out of its message and stack (engine replies can echo requests). */
function scrub(err: unknown, secret: string): unknown {
  if (err instanceof Error && secret) {
    err.message = redact(err.message, secret);
    if (err.stack) err.stack = redact(err.stack, secret);
  }
  return err;
}
