// Children of the benchmark: TypeScript entry points run by node under tsx, and the peak resident
// set (VmHWM) of a child, so the figure is the worker's, not the benchmark's.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Peak resident set of a running process so far, in bytes (Linux). */
export function peakRssOf(pid: number): number {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
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
