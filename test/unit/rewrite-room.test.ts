// The room a load gives the tables the updates rewrite: inserted before exactly their COPY, however
// the dump is cut into chunks, and nowhere else (not inside another table's rows).
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import pg from 'pg';
import { roomFor, ROOM_FILLFACTOR, withRoomForRewrites } from '../../src/postgres/rewrite-room.js';

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
  '',
].join('\n');

const room = (table: string) => `ALTER TABLE ONLY public.${pg.escapeIdentifier(table)} SET (fillfactor = ${ROOM_FILLFACTOR});\n`;

async function pass(dump: string, tables: string[], chunk: number) {
  const bytes = Buffer.from(dump);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunk) chunks.push(bytes.subarray(at, at + chunk));
  const r = withRoomForRewrites(tables, []);
  const out = await text(Readable.from(chunks).pipe(r.stream));
  return { out, given: r.given() };
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
