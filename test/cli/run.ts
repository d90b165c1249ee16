// Running the CLI (and other programs) as a person would, bounded in time, output captured.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/kaapana-migrate.js', import.meta.url));

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Called with all of stdout so far whenever more arrives (to act on what a running program said). */
  onStdout?: (sofar: string) => void;
}

/** Runs argv (no shell); resolves with its exit code and output, rejects when it outlives the timeout. */
export function run(argv: string[], opts: RunOptions = {}): Promise<Ran> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    opts.onStdout?.(stdout);
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} still ran after ${timeoutMs} ms\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `kaapana-migrate …` through bin/ (built or through tsx, as installed). */
export function cli(args: string[], opts: RunOptions = {}): Promise<Ran> {
  return run([process.execPath, BIN, ...args], opts);
}
