// Children of the benchmark: TypeScript entry points run by node under tsx, each reporting its own
// peak resident set (VmHWM) so the figure is the worker's, not the benchmark's.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Peak resident set of this process so far, in bytes (Linux). */
export function peakRss(): number {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return kb ? Number(kb[1]) * 1024 : Number.NaN;
}

export interface Child {
  process: ChildProcess;
  /** Resolves with the next stdout line (bounded by the child's lifetime). */
  nextLine(): Promise<string>;
  exited: Promise<number>;
}

export function startChild(entry: string, args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 128)));
  return {
    process: child,
    async nextLine() {
      const next = await lines.next();
      if (next.done) throw new Error(`${entry} ended without output (exit ${await exited})`);
      return next.value as string;
    },
    exited,
  };
}
