// Host processes: checks and the run of one tool, shared by the adapters that start them.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import type { ExecIO, ExecResult } from './port.js';

const STDERR_TAIL = 8192;

/** The process exists (EPERM: it exists but belongs to another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs argv (never a shell) with its streams piped as `io` says; resolves with its exit status. */
export async function runTool(argv: string[], io: ExecIO & { env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  const child = spawn(argv[0]!, argv.slice(1), {
    env: io.env ?? process.env,
    signal: io.signal,
    stdio: [io.stdin ? 'pipe' : 'ignore', io.stdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL);
    io.onStderr?.(chunk);
  });
  const streams: Promise<void>[] = [];
  if (io.stdin) streams.push(pipeline(io.stdin, child.stdin!).catch(ignoreEpipe));
  if (io.stdout) streams.push(pipeline(child.stdout!, io.stdout, { end: false }));
  // Awaited after the exit; handled now so that a stream failing while the tool runs (say a
  // checksum mismatch before COMMIT) is not an unhandled rejection in the meantime.
  const streamsDone = Promise.all(streams);
  streamsDone.catch(() => undefined);
  child.on('error', () => undefined); // an abort surfaces as the exit status below
  const [exitCode] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  await streamsDone;
  return { exitCode: exitCode ?? 128, stderr };
}

function ignoreEpipe(err: NodeJS.ErrnoException): void {
  // The tool may exit before reading all input (e.g. ON_ERROR_STOP); its exit code tells why.
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw err;
}
