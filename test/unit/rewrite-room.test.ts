// The room a load gives the tables the updates rewrite: inserted before exactly their COPY, however
// the dump is cut into chunks, and nowhere else (not inside another table's rows); the plain
// indexes of those tables that the scripts do not name held back, and only those.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import pg from 'pg';
import { identifiers } from '../../src/postgres/identifiers.js';
import { roomFor, ROOM_FILLFACTOR, withRoomForRewrites, type DeferIndexes } from '../../src/postgres/rewrite-room.js';

const DUMP = [
  'SET statement_timeout = 0;',
  'CREATE TABLE public.instance (',
  '    pk bigint NOT NULL',
  ');',
  'CREATE TABLE public."Odd ""name""" (pk bigint);',
  '',
  'COPY public.empty (pk) FROM stdin;',
  '\\.',
  '',
  'COPY public.series (pk, series_desc) FROM stdin;',
  '1\tCOPY public.instance (pk) FROM stdin;',
  'CREATE INDEX in_the_rows ON public.instance USING btree (pk);',
  '2\t\\\\.',
  '\\.',
  '',
  'COPY public.instance (pk, sop_iuid) FROM stdin;',
  '1\t1.2.3',
  '2\t\\N',
  '\\.',
  '',
  'COPY public."Odd ""name""" (pk) FROM stdin;',
  '7',
  '\\.',
  '',
  'ALTER TABLE ONLY public.instance ADD CONSTRAINT instance_pkey PRIMARY KEY (pk);',
  'CREATE INDEX fk_series ON public.instance USING btree (series_fk);',
  'CREATE UNIQUE INDEX uk_iuid ON public.instance USING btree (sop_iuid);',
  'CREATE INDEX uk_named ON public.instance USING btree (inst_no);',
  'CREATE INDEX uk_aet ON public.instance USING btree (ext_retrieve_aet);',
  'CREATE INDEX "Upper ""desc""" ON public.series USING btree (upper((series_desc)::text));',
  'CREATE INDEX uk_patient ON public.patient USING btree (pat_name);',
  '',
].join('\n');

const room = (table: string) => `ALTER TABLE ONLY public.${pg.escapeIdentifier(table)} SET (fillfactor = ${ROOM_FILLFACTOR});\n`;

async function pass(dump: string, tables: string[], chunk: number, defer?: DeferIndexes) {
  const bytes = Buffer.from(dump);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunk) chunks.push(bytes.subarray(at, at + chunk));
  const r = withRoomForRewrites(tables, [], defer);
  const out = await text(Readable.from(chunks).pipe(r.stream));
  return { out, given: r.given(), deferred: r.deferred() };
}

test('room goes before the COPY of each table asked for, in every chunking, and the rows pass unchanged', async () => {
  const expected = DUMP.replace('COPY public.instance (pk, sop_iuid)', `${room('instance')}COPY public.instance (pk, sop_iuid)`)
    .replace('COPY public.empty (pk)', `${room('empty')}COPY public.empty (pk)`)
    .replace('COPY public."Odd ""name"""', `${room('Odd "name"')}COPY public."Odd ""name"""`);
  for (const chunk of [1, 2, 3, 4, 5, 7, 64, DUMP.length]) {
    const { out, given } = await pass(DUMP, ['instance', 'empty', 'Odd "name"', 'absent'], chunk);
    assert.equal(out, expected, `chunks of ${chunk} bytes`);
    assert.deepEqual(given, ['empty', 'instance', 'Odd "name"'], `chunks of ${chunk} bytes`);
  }
});

test('a line inside another table\'s rows that looks like a COPY is data, not a COPY', async () => {
  const { out, given } = await pass(DUMP, ['instance'], 3);
  assert.equal(out.split(room('instance')).length, 2, 'one statement, not two');
  assert.ok(out.includes(`${room('instance')}COPY public.instance (pk, sop_iuid)`));
  assert.deepEqual(given, ['instance']);
});

test('nothing asked for: the dump passes byte for byte', async () => {
  const { out, given } = await pass(DUMP, [], 5);
  assert.equal(out, DUMP);
  assert.deepEqual(given, []);
});

test('a table that declares its own fillfactor, or a dump without the facts, gets no room', () => {
  assert.deepEqual(roomFor(['instance', 'series'], ['series']), ['instance']);
  assert.deepEqual(roomFor(['instance'], undefined), []);
});

// What an update script names: the index uk_named, the column ext_retrieve_aet.
const SCRIPT = `-- drop index uk_aet would be a comment
alter table instance alter ext_retrieve_aet set not null;
update instance set ext_retrieve_aet = '*' where ext_retrieve_aet is null;
ALTER INDEX "UK_NAMED" RENAME TO uk_named;`;

test('the plain indexes of the given tables that no script names wait, in every chunking; the rows, unique and named ones stay', async () => {
  const defer = { tables: ['instance', 'series'], mentioned: identifiers(SCRIPT) };
  const waiting = ['CREATE INDEX fk_series ON public.instance USING btree (series_fk);', 'CREATE INDEX "Upper ""desc""" ON public.series USING btree (upper((series_desc)::text));'];
  const expected = DUMP.replace('COPY public.instance (pk, sop_iuid)', `${room('instance')}COPY public.instance (pk, sop_iuid)`).replace(`${waiting[0]}\n`, '').replace(`${waiting[1]}\n`, '');
  for (const chunk of [1, 2, 3, 5, 7, 64, DUMP.length]) {
    const { out, deferred } = await pass(DUMP, ['instance'], chunk, defer);
    assert.deepEqual(deferred, [
      { table: 'instance', name: 'fk_series', statement: waiting[0] },
      { table: 'series', name: 'Upper "desc"', statement: waiting[1] },
    ], `chunks of ${chunk} bytes`);
    assert.equal(out, expected, `chunks of ${chunk} bytes`);
  }
});

test('identifiers: words and quoted names, lower case, none from comments or string literals', () => {
  assert.deepEqual(identifiers(SCRIPT), ['alter', 'ext_retrieve_aet', 'index', 'instance', 'is', 'not', 'null', 'rename', 'set', 'table', 'to', 'uk_named', 'update', 'where']);
});
