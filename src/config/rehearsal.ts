// The rehearsal's own settings: the `rehearsal:` section of the node's configuration file.
import { z } from 'zod';
import type { MigrationConfig } from './schema.js';

const absolutePath = z
  .string()
  .refine((p) => p.startsWith('/') && !p.split('/').includes('..') && !/[\0\n\r]/.test(p), { message: 'must be an absolute path without ".." or control characters' });

export const rehearsalSchema = z
  .object({
    /**
     * Where the scratch copies go (a directory per rehearsal, removed at its end); default the fast
     * data directory, where the migration's own copies go. Needs about five times the database:
     * the snapshot, a 9.6 copy of it, and one mode's copies and dumps at a time.
     */
    scratchDir: absolutePath.optional(),
    /**
     * The running database server, when the node has no cluster (cluster.kind none): its unix-socket
     * directory or 127.0.0.1, and port. On a Kubernetes node the dump runs in the postgres-dcm4che
     * pod instead.
     */
    live: z
      .object({
        host: z.string().refine((h) => h.startsWith('/') || h === '127.0.0.1' || h === 'localhost' || /^[A-Za-z0-9.-]+$/.test(h), { message: 'a socket directory or a host name' }),
        port: z.number().int().min(1).max(65535).default(5432),
      })
      .strict()
      .optional(),
    /** The modes rehearsed, each on its own copy: the report predicts the downtime of each. */
    modes: z.array(z.enum(['fast', 'guide'])).min(1).default(['fast', 'guide']),
    /** CPU priority (nice) of the dump client and the scratch servers. */
    nice: z.number().int().min(0).max(19).default(10),
    /** I/O priority (ionice class) of the same. */
    io: z.enum(['idle', 'best-effort']).default('best-effort'),
    /** The live server sends the dump no faster than this (MiB/s); absent: as fast as it goes. */
    maxDumpMiBps: z.number().positive().optional(),
  })
  .strict();

export type RehearsalOptions = z.infer<typeof rehearsalSchema>;

/** What keeps this node's rehearsal from starting, before anything is asked of the live database. */
export function rehearsalProblems(config: MigrationConfig, rehearsal: RehearsalOptions): string[] {
  const problems: string[] = [];
  if (config.cluster.kind === 'none') {
    if (!rehearsal.live) problems.push('rehearsal.live: the running database server (host: its socket directory or 127.0.0.1, and port) is needed on a node without a cluster');
    else if (config.runtime.kind !== 'local') problems.push('rehearsal.live: the worker reaches a server directly only with runtime.kind local (its client tools); on a Kaapana node configure the cluster instead');
  } else if (rehearsal.live) {
    problems.push('rehearsal.live: not used on a node with a cluster (the dump runs in the postgres-dcm4che pod): remove it');
  }
  const scratch = rehearsal.scratchDir ?? config.paths.fastDataDir;
  for (const [dir, what] of [
    [config.paths.dataDir, 'the live database directory'],
    [`${config.paths.dataDir}-new`, 'the migration\'s new directory'],
    [`${config.paths.dataDir}-old`, 'where the migration retires the original'],
  ] as const) {
    if (within(scratch, dir)) problems.push(`rehearsal.scratchDir: ${scratch} is inside ${dir} (${what}): choose a directory apart from it`);
  }
  return problems;
}

/** `dir` is `parent` or below it (paths are absolute, without "..", as the schemas demand). */
export function within(dir: string, parent: string): boolean {
  const trimmed = (p: string) => p.replace(/\/+$/, '') || '/';
  const d = trimmed(dir);
  const p = trimmed(parent);
  return d === p || d.startsWith(p === '/' ? '/' : `${p}/`);
}
