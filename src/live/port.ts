// The live database, reached while the PACS keeps using it: only read, through its own running
// server. Adapters: a server the worker reaches directly (endpoint.ts), or the postgres-dcm4che pod
// of a Kubernetes node (pod.ts).
import type { Writable } from 'node:stream';
import type { ExecResult } from '../runtime/port.js';

export interface LiveDatabase {
  /** How it is reached, for messages and the report. */
  readonly where: string;
  /** Runs `pg_dump` or `psql` (argv[0]) against the database, connection options added; stdout to `io.stdout`. */
  exec(argv: string[], io: { stdout?: Writable; signal?: AbortSignal; appName: string }): Promise<ExecResult>;
}

/** The tools a rehearsal runs on the live database: both only read. */
export const LIVE_TOOLS: ReadonlySet<string> = new Set(['pg_dump', 'psql']);

export function mustBeLiveTool(argv: string[]): string {
  const tool = argv[0];
  if (!tool || !LIVE_TOOLS.has(tool)) throw new Error(`not a tool for the live database: ${tool ?? '(none)'}`);
  return tool;
}
