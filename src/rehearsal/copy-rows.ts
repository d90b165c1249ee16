// Reads a plain dump as it streams past: the rows of each table's COPY block, and whether pg_dump
// reached its own end ("-- PostgreSQL database dump complete"), which a cut stream never shows.
import { Transform } from 'node:stream';

/** The table's name as pg_dump writes it: quoted parts may hold spaces (and doubled quotes). */
const COPY_START = /^COPY ((?:"(?:[^"]|"")*"|[^ "])+) .*FROM stdin;$/;
const COMPLETE = '-- PostgreSQL database dump complete';

export interface DumpRows {
  /** Rows per table, by its name as the dump writes it (`public.instance`). */
  rows: Record<string, number>;
  complete: boolean;
}

export function countCopyRows(): { stream: Transform; result: () => DumpRows } {
  const rows: Record<string, number> = {};
  let table: string | undefined;
  let complete = false;
  // Only the line being read is held, never more of the dump.
  let partial = '';
  const line = (text: string) => {
    if (table !== undefined) {
      if (text === '\\.') table = undefined;
      else rows[table] = (rows[table] ?? 0) + 1;
      return;
    }
    const start = COPY_START.exec(text);
    if (start) {
      table = start[1]!;
      rows[table] = 0;
    } else if (text === COMPLETE) complete = true;
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      const text = partial + chunk.toString('latin1');
      let from = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', from)) {
        line(text.slice(from, nl));
        from = nl + 1;
      }
      partial = text.slice(from);
      done(null, chunk);
    },
    flush(done) {
      if (partial) line(partial);
      done();
    },
  });
  return { stream, result: () => ({ rows, complete }) };
}
