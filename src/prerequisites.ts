// Programs the demo (and the tests) need from the machine, where the project keeps what it fetches
// itself, and how it runs the tools that fetch and unpack them. A missing one is named together
// with the one command that installs it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class MissingPrerequisite extends Error {
  override name = 'MissingPrerequisite';
  constructor(
    message: string,
    /** The one command that installs it. */
    readonly install: string,
  ) {
    super(message);
  }
}

/**
 * The project's own cache of fetched binaries. As root it is a root-owned system path that the
 * PostgreSQL server user can pass through (a checkout under /root may not be); else the user's cache.
 */
export const CACHE_ROOT = process.getuid?.() === 0 ? '/var/cache/kaapana-migrate' : path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kaapana-migrate');

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first directory on PATH holding an executable `name`. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/** As root, apt-get as it is; else through sudo. */
export function aptInstall(...packages: string[]): string {
  return `${process.getuid?.() === 0 ? '' : 'sudo '}apt-get install -y ${packages.join(' ')}`;
}

/** Runs a program (argv, no shell) and resolves with its stdout; rejects with stderr on failure. */
export async function run(argv: readonly string[], opts: { cwd?: string } = {}): Promise<string> {
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${stderr.trim()}`);
  return stdout;
}
