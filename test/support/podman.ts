// Test support: a podman service speaking the Docker Engine API on a unix socket (there is no
// Docker engine here), with the project's containers.conf and all podman state under .state/podman,
// and the two dcm4che-postgres-like test images, assembled from this host's files (no registry).
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STATE = path.join(ROOT, '.state', 'podman');
const IMAGES_DIR = path.join(ROOT, 'test', 'support', 'images');
const SERVICE_START_MS = 30_000;
const BUILD_TIMEOUT_MS = 180_000;

export const TEST_IMAGES = {
  old: 'localhost/kaapana-test/dcm4che-postgres:9.6',
  new: 'localhost/kaapana-test/dcm4che-postgres:15',
} as const;

const VARIANTS = [
  { tag: TEST_IMAGES.old, version: '9.6', initDir: path.join(ROOT, 'src', 'demo', 'sql', 'old-init') },
  { tag: TEST_IMAGES.new, version: '15', initDir: path.join(ROOT, 'src', 'demo', 'sql', 'new-init') },
];
/** Image label holding a hash of everything the image is built from: a change rebuilds it. */
const INPUTS_LABEL = 'kaapana-test.inputs';

// Storage, run and tmp directories of our own: nothing under /var/lib/containers or /run is shared.
const PODMAN_GLOBAL = ['--root', path.join(STATE, 'storage'), '--runroot', path.join(STATE, 'run'), '--tmpdir', path.join(STATE, 'tmp')];
const PODMAN_ENV = { ...process.env, CONTAINERS_CONF: path.join(ROOT, 'test', 'support', 'podman', 'containers.conf') };

export interface PodmanService {
  socketPath: string;
  stop(): Promise<void>;
}

let service: Promise<PodmanService> | undefined;
let images: Promise<typeof TEST_IMAGES> | undefined;

/** The service, started once per test process. */
export function startPodman(): Promise<PodmanService> {
  service ??= launch().catch((err: unknown) => {
    service = undefined;
    throw err;
  });
  return service;
}

/** Builds both test images once, skipping an image whose inputs have not changed. */
export function ensureTestImages(): Promise<typeof TEST_IMAGES> {
  images ??= buildImages().catch((err: unknown) => {
    images = undefined;
    throw err;
  });
  return images;
}

/** A podman CLI command on the same storage as the service. */
async function podman(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await promisify(execFile)('podman', [...PODMAN_GLOBAL, ...args], {
    env: PODMAN_ENV,
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

async function launch(): Promise<PodmanService> {
  // A service of this process's own, on the shared storage: test files that run at the same time
  // each stop only theirs.
  const socketPath = path.join(STATE, `podman-${process.pid}.sock`);
  await fs.mkdir(STATE, { recursive: true });
  await fs.rm(socketPath, { force: true });
  const logPath = path.join(STATE, `service-${process.pid}.log`);
  const log = openSync(logPath, 'a');
  // --time=0: no idle exit; ended with this process at the latest.
  const child = spawn('podman', [...PODMAN_GLOBAL, 'system', 'service', '--time=0', `unix://${socketPath}`], {
    env: PODMAN_ENV,
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.once('error', () => (exited = true)); // e.g. no podman binary: reported with the log below

  const deadline = Date.now() + SERVICE_START_MS;
  while (!(await answers(socketPath))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      const tail = (await fs.readFile(logPath, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
      const why = exited ? 'exited' : `did not answer within ${SERVICE_START_MS / 1000} s`;
      throw new Error(`podman system service on ${socketPath} ${why}:\n${tail}`);
    }
    await delay(100);
  }
  return {
    socketPath,
    async stop() {
      process.off('exit', killOnExit);
      if (exited) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exit, new Promise<void>((resolve) => (timer = setTimeout(resolve, 10_000)))]);
      clearTimeout(timer);
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/** The socket answers the Docker API's ping. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

async function buildImages(): Promise<typeof TEST_IMAGES> {
  await fs.mkdir(STATE, { recursive: true });
  for (const variant of VARIANTS) {
    const inputs = await inputsHash(variant.version, variant.initDir);
    const current = await podman(['image', 'inspect', '--format', `{{index .Labels "${INPUTS_LABEL}"}}`, variant.tag]).catch(() => '');
    if (current.trim() === inputs) continue;
    const tar = path.join(STATE, `rootfs-${variant.version}-${process.pid}.tar`);
    try {
      await promisify(execFile)('sh', [path.join(IMAGES_DIR, 'build-rootfs.sh'), variant.version, variant.initDir, tar], {
        timeout: BUILD_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      });
      // The official image's configuration, minus what the tests do not use.
      await podman(
        [
          'import',
          '--change', 'ENTRYPOINT ["docker-entrypoint.sh"]',
          '--change', 'CMD ["postgres"]',
          '--change', `ENV PATH=/usr/lib/postgresql/${variant.version}/bin:/usr/local/bin:/usr/bin:/bin`,
          '--change', 'ENV PGDATA=/var/lib/postgresql/data',
          '--change', 'STOPSIGNAL SIGINT',
          '--change', `LABEL ${INPUTS_LABEL}=${inputs}`,
          tar,
          variant.tag,
        ],
        BUILD_TIMEOUT_MS,
      );
    } finally {
      await fs.rm(tar, { force: true });
    }
  }
  return TEST_IMAGES;
}

/**
 * `base` with one more init script in /docker-entrypoint-initdb.d (e.g. one that fails), built
 * once per content by copying the file into a created, never started, container and committing it.
 */
export async function withInitScript(base: string, file: string, sql: string): Promise<string> {
  const tag = `${base}-init-${createHash('sha256').update(base).update(file).update(sql).digest('hex').slice(0, 12)}`;
  if (await podman(['image', 'exists', tag]).then(() => true, () => false)) return tag;
  const dir = await fs.mkdtemp(path.join(STATE, 'init-script-'));
  const container = `init-script-${process.pid}`;
  try {
    await fs.writeFile(path.join(dir, file), sql, { mode: 0o644 });
    await podman(['create', '--name', container, base]);
    await podman(['cp', path.join(dir, file), `${container}:/docker-entrypoint-initdb.d/${file}`]);
    await podman(['commit', '--quiet', container, tag]);
  } finally {
    await podman(['rm', '--force', container]).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
  }
  return tag;
}

async function inputsHash(version: string, initDir: string): Promise<string> {
  const hash = createHash('sha256').update(version);
  const sql = (await fs.readdir(initDir).catch(() => [] as string[])).filter((f) => f.endsWith('.sql')).sort();
  const files = [
    path.join(IMAGES_DIR, 'build-rootfs.sh'),
    path.join(IMAGES_DIR, 'docker-entrypoint.sh'),
    ...sql.map((f) => path.join(initDir, f)),
  ];
  for (const file of files) hash.update(path.basename(file)).update('\0').update(await fs.readFile(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
