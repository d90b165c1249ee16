// How hard a rehearsal may work beside the running PACS: the CPU and I/O priority of the tools and
// scratch servers it starts.

export interface Priority {
  /** nice(1) value, 0 (normal) to 19 (yields to everything). */
  nice: number;
  /** ionice(1) class: idle gets the disk only when nobody else wants it; best-effort at its lowest level otherwise. */
  io: 'idle' | 'best-effort';
}

/** The argv prefix that runs a command at `p` (nice and ionice, from coreutils and util-linux). */
export function priorityArgv(p: Priority | undefined): string[] {
  if (!p) return [];
  return ['nice', '-n', String(p.nice), 'ionice', '-c', p.io === 'idle' ? '3' : '2', ...(p.io === 'best-effort' ? ['-n', '7'] : [])];
}

/**
 * A container's CPU weight for `p`: the engine's default 1024 scaled down with the niceness (nice 10
 * → 512, 19 → 54); a container has no niceness of its own.
 */
export function cpuSharesOf(p: Priority): number {
  return Math.max(2, Math.round((1024 * (20 - p.nice)) / 20));
}
