// Room on each page for the updates' rewrites. A freshly loaded table has full pages, so an update
// of every row (update-5.32 on `instance`) cannot keep a new row version on its page: each gets an
// entry in every index of the table, most of the script's time. Loaded with free space (a lower
// fillfactor, set between the dump's CREATE TABLE and its COPY), the same update stays on the page
// (a HOT update) and touches no index. The fillfactor is reset before the database is handed on,
// so the schema is the original's; what a table declared itself is left alone.
// The tables given room are compacted after the updates (VACUUM FULL), which builds each of their
// indexes again: the plain ones the scripts do not touch can wait for that (deferred), so each is
// built once instead of twice.
import { Transform, type TransformCallback } from 'node:stream';
import pg from 'pg';
import { identifiers } from './identifiers.js';

/** Half of each page free: room for one new version of every row the load put there. */
export const ROOM_FILLFACTOR = 50;

const NL = 0x0a;
/** The end of a COPY's rows: a line `\.` (a backslash in the data itself is always escaped). */
const END_OF_DATA = Buffer.from('\n\\.\n');
const END_OF_EMPTY = END_OF_DATA.subarray(1);

/** A name as pg_dump prints it: bare when it needs no quotes, else in double quotes. */
const NAME = String.raw`("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)`;
const unquoted = (name: string) => (name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name);
const COPY_LINE = new RegExp(String.raw`^COPY public\.${NAME} \(.*\) FROM stdin;$`);
const CREATE_INDEX_LINE = new RegExp(String.raw`^CREATE INDEX ${NAME} ON public\.${NAME} USING (.*);$`);

/** The table a plain dump's `COPY <schema>.<table> (…) FROM stdin;` line loads, as pg_dump quotes it. */
function copyTarget(line: string): string | undefined {
  const m = COPY_LINE.exec(line);
  return m ? unquoted(m[1]!) : undefined;
}

/** An index built after the updates instead of in the load: its table, name and the dump's statement. */
export interface DeferredIndex {
  table: string;
  name: string;
  statement: string;
}

/**
 * A plain (not unique) index of one of `tables` that neither by its name nor by a column or
 * expression word is `mentioned` by the update scripts: the scripts run the same without it
 * (only a unique index can change what a statement does) and do not touch it.
 */
function deferrable(line: string, tables: ReadonlySet<string>, mentioned: ReadonlySet<string>): DeferredIndex | undefined {
  const m = CREATE_INDEX_LINE.exec(line);
  if (!m) return undefined;
  const [name, table] = [unquoted(m[1]!), unquoted(m[2]!)];
  if (!tables.has(table) || [name.toLowerCase(), ...identifiers(m[3]!)].some((w) => mentioned.has(w))) return undefined;
  return { table, name, statement: line };
}

/** Indexes the load may leave for after the updates: of these tables, not mentioned by the scripts. */
export interface DeferIndexes {
  tables: readonly string[];
  /** Every identifier of the update scripts to run (see identifiers). */
  mentioned: readonly string[];
}

/**
 * A pass-through for a plain dump that puts `ALTER TABLE … SET (fillfactor = 50)` before the COPY
 * of each table of `rewritten` the source does not declare a fillfactor for (`declared`, see
 * roomFor) and, with `defer`, holds back the deferrable indexes' CREATE INDEX lines. Outside COPY
 * data it reads line by line (the schema is small); inside, it only looks for the end-of-data
 * line, so the rows pass at the speed of a buffer search. `given` names the tables it did set, in
 * dump order; `deferred` the indexes it held back.
 */
export function withRoomForRewrites(
  rewritten: readonly string[],
  declared: readonly string[] | undefined,
  defer?: DeferIndexes,
): { stream: Transform; given: () => string[]; deferred: () => DeferredIndex[] } {
  const wanted = new Set(roomFor(rewritten, declared));
  const given: string[] = [];
  const deferTables = new Set(defer?.tables ?? []);
  const mentioned = new Set(defer?.mentioned ?? []);
  const deferred: DeferredIndex[] = [];
  // Bytes of an unfinished line (outside data) or the tail that could start the end marker (inside).
  let carry: Buffer = Buffer.alloc(0);
  let inData: false | 'start' | 'rows' = false;

  function scan(chunk: Buffer, push: (b: Buffer) => void): Buffer {
    let at = 0;
    while (at < chunk.length) {
      if (wanted.size === 0 && deferTables.size === 0) {
        // Nothing left to give room to or to hold back: the rest passes untouched.
        push(chunk.subarray(at));
        return Buffer.alloc(0);
      }
      if (inData === 'start') {
        // An empty table's data is the end marker alone, right after the COPY line.
        if (chunk.length - at < END_OF_EMPTY.length) return chunk.subarray(at);
        if (chunk.subarray(at, at + END_OF_EMPTY.length).equals(END_OF_EMPTY)) {
          push(chunk.subarray(at, at + END_OF_EMPTY.length));
          at += END_OF_EMPTY.length;
          inData = false;
          continue;
        }
        inData = 'rows';
      }
      if (inData === 'rows') {
        const end = chunk.indexOf(END_OF_DATA, at);
        if (end === -1) {
          // A marker not found whole starts in the last bytes: they wait for the next chunk.
          const keep = Math.max(at, chunk.length - (END_OF_DATA.length - 1));
          push(chunk.subarray(at, keep));
          return chunk.subarray(keep);
        }
        const after = end + END_OF_DATA.length;
        push(chunk.subarray(at, after));
        at = after;
        inData = false;
        continue;
      }
      const nl = chunk.indexOf(NL, at);
      if (nl === -1) return chunk.subarray(at);
      const line = chunk.toString('utf8', at, nl);
      const index = line.startsWith('CREATE INDEX ') ? deferrable(line, deferTables, mentioned) : undefined;
      if (index) {
        deferred.push(index);
        at = nl + 1;
        continue;
      }
      const table = line.startsWith('COPY ') ? copyTarget(line) : undefined;
      if (table !== undefined) {
        inData = 'start';
        if (wanted.delete(table)) {
          given.push(table);
          push(Buffer.from(`ALTER TABLE ONLY public.${pg.escapeIdentifier(table)} SET (fillfactor = ${ROOM_FILLFACTOR});\n`));
        }
      }
      push(chunk.subarray(at, nl + 1));
      at = nl + 1;
    }
    return Buffer.alloc(0);
  }

  const stream = new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      const input = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      carry = scan(input, (b) => this.push(b));
      done();
    },
    flush(done: TransformCallback) {
      if (carry.length > 0) this.push(carry);
      done();
    },
  });
  return { stream, given: () => [...given], deferred: () => [...deferred] };
}

/** The tables of the public schema that declare a fillfactor themselves: they are loaded as declared. */
export async function tablesDeclaringFillfactor(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND EXISTS (SELECT 1 FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%')
      ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/** Which of `rewritten` a load may give room to: none without the source's facts (older dumps). */
export function roomFor(rewritten: readonly string[], declared: readonly string[] | undefined): string[] {
  if (!declared) return [];
  return rewritten.filter((t) => !declared.includes(t));
}

/** Back to the table's default fillfactor (the schema as dumped); repeatable. */
export async function resetRoom(client: pg.Client, tables: readonly string[]): Promise<void> {
  for (const table of tables) await client.query(`ALTER TABLE ONLY public.${pg.escapeIdentifier(table)} RESET (fillfactor)`);
}
