// The comparisons the verification and the workflow make, and the statements that set role and
// database settings again: pure functions, checked on hand-made inventories.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Inventory, RoleSetting, SequenceFacts } from '../../src/postgres/inventory.js';
import { settingStatement, splitNameList } from '../../src/postgres/settings.js';
import { renderMarkdown } from '../../src/report/render.js';
import type { MigrationReport } from '../../src/report/types.js';
import { compareInventories, compareUpdated, nextValue, type Inspected } from '../../src/verification/compare.js';

const seq = (lastValue: number, maxKey: number | null, serves = ['instance.pk'], isCalled = true): SequenceFacts => ({
  lastValue: String(lastValue),
  isCalled,
  increment: '1',
  serves,
  maxKey: maxKey === null ? null : String(maxKey),
});

const timeout: RoleSetting = { role: 'pacs', inDatabase: false, name: 'statement_timeout', value: '5min' };

function inventory(over: Partial<Inventory> = {}): Inventory {
  const fp = (count: number) => ({ count, checksum: String(count * 7) });
  return {
    serverVersion: '9.6.24',
    databaseBytes: 1,
    tableBytes: 1,
    tables: { instance: fp(500), series: fp(20), location: fp(500) },
    guide: { seriesIuids: fp(20), sopIuids: fp(500), storagePaths: fp(500) },
    database: { encoding: 'UTF8', collate: 'en_US.UTF-8', ctype: 'en_US.UTF-8' },
    sequences: { instance_pk_seq: seq(500, 500), series_pk_seq: seq(20, 20, ['series.pk']) },
    owners: { instance: 'pacs', series: 'pacs', location: 'pacs', instance_pk_seq: 'pacs', series_pk_seq: 'pacs' },
    settings: [timeout],
    ...over,
  };
}

const inspected = (inv: Inventory, appliedVersions: string[] = []): Inspected => ({ inventory: inv, appliedVersions });

test('the next value of a sequence: last_value once called, else last_value itself', () => {
  assert.equal(nextValue(seq(500, null)), 501n);
  assert.equal(nextValue(seq(501, null, [], false)), 501n);
  assert.equal(nextValue({ ...seq(0, null), lastValue: '9007199254740993' }), 9007199254740994n, 'bigint, not a float');
});

test('a copy equal in everything verifies; each difference is named', () => {
  assert.deepEqual(compareInventories(inventory(), inventory()), []);
  const problems = compareInventories(
    inventory(),
    inventory({
      database: { encoding: 'LATIN1', collate: 'C', ctype: 'C' },
      sequences: { instance_pk_seq: seq(10, 500), extra_pk_seq: seq(1, null, []) },
      owners: { instance: 'pacs', series: 'postgres', location: 'pacs', instance_pk_seq: 'pacs' },
      settings: [{ ...timeout, value: '1min' }, { role: null, inDatabase: true, name: 'search_path', value: 'public' }],
    }),
  );
  assert.deepEqual(problems, [
    "the database's encoding is LATIN1, expected UTF8",
    'sequence extra_pk_seq is not expected',
    'sequence instance_pk_seq gives 11 next, expected 501',
    'sequence instance_pk_seq gives 11 next, not beyond the largest key 500 of instance.pk',
    'sequence series_pk_seq is missing',
    'series is owned by postgres, expected pacs',
    'setting differs: ALTER ROLE pacs SET statement_timeout = 1min, expected 5min',
    'setting not expected: ALTER DATABASE SET search_path = public',
  ]);
  // Another locale is not a verification problem: the restore records it (a fallback on musl).
  assert.deepEqual(compareInventories(inventory(), inventory({ database: { encoding: 'UTF8', collate: 'C', ctype: 'C' } })), []);
});

test('a sequence behind its keys fails even when the original had it so, and says so', () => {
  const behind = inventory({ sequences: { instance_pk_seq: seq(100, 500), series_pk_seq: seq(20, 20, ['series.pk']) } });
  assert.deepEqual(compareInventories(behind, behind), ['sequence instance_pk_seq gives 101 next, not beyond the largest key 500 of instance.pk (so it was in the database compared against)']);
});

test('inventories recorded before sequences, owners and settings were read compare as before', () => {
  const old = inventory({ database: undefined, sequences: undefined, owners: undefined, settings: undefined });
  assert.deepEqual(compareInventories(old, inventory({ sequences: { instance_pk_seq: seq(1, 500) } })), []);
  assert.deepEqual(compareUpdated(inspected(old), inspected(inventory({ settings: [] })), []), []);
});

test('after the updates: new tables and sequences, higher sequences allowed; lower, missing, behind, re-owned and changed settings not', () => {
  const before = inspected(inventory());
  const grown = inventory({
    tables: { ...inventory().tables, instance_req: { count: 0, checksum: '0' } },
    sequences: { instance_pk_seq: seq(600, 500), series_pk_seq: seq(20, 20, ['series.pk']), instance_req_pk_seq: seq(1, null, ['instance_req.pk'], false) },
    owners: { ...inventory().owners, instance_req: 'postgres', instance_req_pk_seq: 'postgres' },
  });
  assert.deepEqual(compareUpdated(before, inspected(grown, ['5.27']), ['5.27']), []);

  const broken = inventory({
    sequences: { instance_pk_seq: seq(499, 500), new_pk_seq: seq(3, 9, ['new.pk']) },
    owners: { ...inventory().owners, series: 'postgres' },
    settings: [],
  });
  assert.deepEqual(compareUpdated(before, inspected(broken), ['5.27']), [
    'sequence instance_pk_seq gives 500 next, expected at least 501',
    'sequence instance_pk_seq gives 500 next, not beyond the largest key 500 of instance.pk',
    'sequence new_pk_seq gives 4 next, not beyond the largest key 9 of new.pk',
    'sequence series_pk_seq is missing',
    'series is owned by postgres, expected pacs',
    'setting missing: ALTER ROLE pacs SET statement_timeout = 5min',
    'archive versions not applied: 5.27',
  ]);
});

test("after the updates the workflow's earlier checks hold as they were", () => {
  const before = inspected(inventory());
  const after = inventory({
    tables: { instance: { count: 499, checksum: 'x' }, location: inventory().tables.location! },
    guide: { ...inventory().guide, sopIuids: { count: 500, checksum: 'other' } },
  });
  assert.deepEqual(compareUpdated(before, inspected(after), []), [
    'table instance has 499 rows, expected 500',
    'table series is missing',
    'sopIuids: 500 values, expected 500 (checksum differs)',
  ]);
});

test('stored list values split as PostgreSQL reads them; others are not lists', () => {
  assert.deepEqual(splitNameList('"$user", public'), ['$user', 'public']);
  assert.deepEqual(splitNameList(' "a""b" ,c,"d e"'), ['a"b', 'c', 'd e']);
  assert.deepEqual(splitNameList('""'), ['']);
  assert.deepEqual(splitNameList(''), []);
  assert.equal(splitNameList('"open'), undefined);
  assert.equal(splitNameList('a b'), undefined);
  assert.equal(splitNameList('a,'), undefined);
});

test('each kind of setting becomes the statement that makes it again', () => {
  assert.equal(settingStatement({ role: null, inDatabase: true, name: 'search_path', value: 'public, "$user"' }, 'pacsdb'), `ALTER DATABASE "pacsdb" SET "search_path" = 'public', '$user';`);
  assert.equal(settingStatement({ role: 'pacs', inDatabase: true, name: 'work_mem', value: '8MB' }, 'pacsdb'), `ALTER ROLE "pacs" IN DATABASE "pacsdb" SET "work_mem" = '8MB';`);
  assert.equal(settingStatement({ role: 'pacs', inDatabase: false, name: 'DateStyle', value: 'ISO, MDY' }, 'pacsdb'), `ALTER ROLE "pacs" SET "DateStyle" = 'ISO, MDY';`, 'only lists of names are split');
  assert.equal(settingStatement({ role: null, inDatabase: false, name: 'kaapana.note', value: "it's" }, 'pacsdb'), `ALTER ROLE ALL SET "kaapana"."note" = 'it''s';`);
});

test('the report shows how each database was created and states a change of locale', () => {
  const locale = { encoding: 'UTF8', collate: 'en_US.utf8', ctype: 'en_US.utf8' };
  const report: MigrationReport = {
    node: 'n', workflowId: 'w', runId: 'r', runTag: 't', startedAt: 'now', outcome: 'completed',
    versions: { from: '5.26', to: '5.32', alreadyPresent: [], applied: [] },
    steps: [], scripts: [], ldap: [],
    dumps: [{ name: 'original', file: '/b/original.sql', bytes: 1, sha256: 'x', ms: 1, source: { ...locale, settings: [timeout], sortOrder: 'a < A' } }],
    databases: [
      { role: 'work', requested: locale, used: locale, settings: [] },
      { role: 'new', requested: locale, used: { encoding: 'UTF8', collate: 'C', ctype: 'C' }, fallback: 'en_US.utf8 refused', settings: [] },
      { role: 'new', requested: locale, used: locale, sorting: 'A before a', settings: [] },
    ],
  };
  const md = renderMarkdown(report);
  assert.match(md, /\| original \(dumped\) \| UTF8 \| en_US\.utf8 \| en_US\.utf8 \| — \|/);
  assert.match(md, /\| work \(restored\) \| UTF8 \| en_US\.utf8 \| en_US\.utf8 \| as the original \|/);
  assert.match(md, /\| new \(restored\) \| UTF8 \| C \| C \| \*\*CHANGED\*\* from the original's collate en_US\.utf8, ctype en_US\.utf8: en_US\.utf8 refused \|/);
  assert.match(md, /\| new \(restored\) \| UTF8 \| en_US\.utf8 \| en_US\.utf8 \| as the original; \*\*sorts differently\*\*: A before a \|/);
  assert.match(md, /- `ALTER ROLE pacs SET statement_timeout = 5min`/);
});
