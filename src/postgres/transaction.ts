// Feeding SQL to psql as one transaction whose COMMIT travels at the very end of the stream.
// psql's own --single-transaction sends COMMIT when its input ends, so input cut short by a
// dying worker would be committed half-applied; here a short input ends the session without
// COMMIT, and the server rolls everything back.
import { Readable } from 'node:stream';

/**
 * `beforeCommit` runs once all input has passed and may throw (e.g. a checksum mismatch): the
 * stream then fails before COMMIT and nothing is applied. `epilogue` follows the input, before COMMIT.
 */
export function inOneTransaction(source: Readable, opts: { prologue?: string[]; beforeCommit?: () => void; epilogue?: string[] } = {}): Readable {
  async function* framed() {
    yield Buffer.from(['BEGIN;', ...(opts.prologue ?? []), ''].join('\n'));
    for await (const chunk of source) yield chunk as Buffer;
    opts.beforeCommit?.();
    yield Buffer.from(['', ...(opts.epilogue ?? []), 'COMMIT;', ''].join('\n'));
  }
  return Readable.from(framed(), { objectMode: false });
}

/** psql reading SQL from stdin, stopping at the first error (exit status 3). */
export const PSQL_FROM_STDIN = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'];
