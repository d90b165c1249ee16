// Update-script selection and configuration validation.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/load.js';
import { spaceNeeds } from '../../src/plan/preflight.js';
import { rewrittenTables, selectUpdateScripts } from '../../src/plan/scripts.js';
import { untouchedBy } from '../../src/plan/untouched.js';
import { compareVersions } from '../../src/plan/versions.js';

async function scriptDir(files: string[]): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-plan-'));
  for (const f of files) await fs.writeFile(path.join(dir, f), `-- ${f}\nSELECT 1;\n`);
  return dir;
}

const CHAIN = ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32'];
const updateFile = (v: string) => `update-${v}-psql.sql`;

test('versions sort naturally: 5.31 < 5.31.1 < 5.32, 5.9 < 5.10', () => {
  const shuffled = ['5.32', '5.31.1', '5.10', '5.31', '5.9', '5.27'];
  assert.deepEqual([...shuffled].sort(compareVersions), ['5.9', '5.10', '5.27', '5.31', '5.31.1', '5.32']);
});

test('selects 5.27…5.32 in order, ignores the vendor neighbours and older updates', async () => {
  const dir = await scriptDir([
    ...[...CHAIN].reverse().map(updateFile),
    'update-5.26-psql.sql', 'update-5.25-psql.sql', 'update-5.27-1-psql.sql', 'update-5.32-2-psql.sql',
    'create-psql.sql', 'drop-psql.sql', 'create-fk-index.sql', 'create-case-insensitive-index.sql',
  ]);
  const scripts = await selectUpdateScripts(dir, '5.27', '5.32');
  assert.deepEqual(scripts.map((s) => s.version), CHAIN);
  assert.match(scripts[0]!.sha256, /^[0-9a-f]{64}$/);
  assert.equal(scripts[0]!.file, path.join(dir, 'update-5.27-psql.sql'));
});

test('a narrower range selects only its part', async () => {
  const dir = await scriptDir(CHAIN.map(updateFile));
  assert.deepEqual((await selectUpdateScripts(dir, '5.31', '5.31.1')).map((s) => s.version), ['5.31', '5.31.1']);
});

test('a gap in the chain is refused, naming the missing script', async () => {
  const dir = await scriptDir(CHAIN.filter((v) => v !== '5.29').map(updateFile));
  await assert.rejects(selectUpdateScripts(dir, '5.27', '5.32'), /missing .*update-5\.29-psql\.sql.*gap/);
});

test('a missing last script is refused', async () => {
  const dir = await scriptDir(CHAIN.filter((v) => v !== '5.32').map(updateFile));
  await assert.rejects(selectUpdateScripts(dir, '5.27', '5.32'), /update-5\.32-psql\.sql/);
});

test('unexpected files and unknown versions in range are refused', async () => {
  const strayFile = await scriptDir([...CHAIN.map(updateFile), 'update-5.30-psql.sql.orig']);
  await assert.rejects(selectUpdateScripts(strayFile, '5.27', '5.32'), /not dcm4chee-arc-light SQL scripts: update-5\.30-psql\.sql\.orig/);
  const unknown = await scriptDir([...CHAIN.map(updateFile), 'update-5.29.7-psql.sql']);
  await assert.rejects(selectUpdateScripts(unknown, '5.27', '5.32'), /outside the known chain.*5\.29\.7/);
});

test('a missing directory says where the scripts live', async () => {
  await assert.rejects(selectUpdateScripts('/nonexistent/sql/psql', '5.27', '5.32'), /dcm4chee-arc-entity\/src\/main\/resources\/sql\/psql/);
});

const valid = {
  node: 'kaapana-1',
  paths: { dataDir: '/home/kaapana/postgres-dcm4che', fastDataDir: '/home/kaapana', backupDir: '/backup', scriptsDir: '/opt/sql/psql' },
  database: { password: { env: 'PACS_DB_PASSWORD' } },
  runtime: { kind: 'docker', old: { image: 'dcm4che/postgres-dcm4chee:9.6.24-26' }, new: { image: 'kaapana/dcm4che-postgres:0.3.5' }, stateDir: '/var/lib/kaapana-migrate' },
};

test('a valid configuration gets the guide defaults, and fast mode with full checksums', () => {
  const config = parseConfig(valid);
  assert.equal(config.mode, 'fast');
  assert.equal(config.verification, 'checksums');
  assert.equal(config.database.name, 'pacsdb');
  assert.equal(config.database.user, 'pacs');
  assert.deepEqual(config.versions, { from: '5.27', to: '5.32' });
  assert.equal(config.cluster.kind, 'none');
});

test('the space asked for follows the mode: fast mode makes no working copy and one dump; guide mode adds WAL room to each restore', () => {
  const paths = { ...parseConfig(valid).paths, backupDir: '/backup' };
  const layout = { work: '/fast/postgres-dcm4che9.6', new: '/data/postgres-dcm4che-new' };
  const needs = (mode: 'fast' | 'guide', bytes: number) => spaceNeeds({ diskMargin: 1.5, paths, mode }, layout, bytes).map((n) => [n.dir, n.bytes, n.for]);
  assert.deepEqual(needs('fast', 1000), [
    ['/data', 1500, 'the new PostgreSQL 15 directory'],
    ['/backup', 1500, 'the plain-SQL dump'],
  ]);
  // The WAL room: as much as the data, up to max_wal_size.
  assert.deepEqual(needs('guide', 1000), [
    ['/fast', 2500, 'the 9.6 working copy and its WAL'],
    ['/data', 2500, 'the new PostgreSQL 15 directory and its WAL'],
    ['/backup', 3000, 'two plain-SQL dumps'],
  ]);
  const gib = 1024 ** 3;
  assert.deepEqual(needs('guide', 4 * gib).map(([, bytes]) => bytes), [7 * gib, 7 * gib, 12 * gib]);
});

test('configuration errors name the key and the problem', () => {
  assert.throws(() => parseConfig({ ...valid, paths: { ...valid.paths, dataDri: '/x' } }), /paths: unknown key\(s\) "dataDri" \(a typo\?\)/);
  assert.throws(() => parseConfig({ ...valid, paths: { ...valid.paths, backupDir: 'backup' } }), /paths\.backupDir: must be an absolute path/);
  assert.throws(() => parseConfig({ ...valid, paths: { ...valid.paths, backupDir: '/home/../etc' } }), /paths\.backupDir: must not contain "\.\."/);
  assert.throws(() => parseConfig({ ...valid, diskMargin: 'lots' }), /diskMargin/);
  assert.throws(() => parseConfig({ ...valid, node: 'a;rm -rf /' }), /node: only letters/);
  assert.throws(() => parseConfig({ ...valid, database: { password: 'secret' } }), /database\.password/);
});

test('the password is never part of the configuration, only a reference', () => {
  assert.throws(() => parseConfig({ ...valid, database: { password: { env: 'X', value: 'secret' } } }), /database\.password/);
});

test('the tables a script rewrites: UPDATE … SET outside comments, each once, in order', async () => {
  const sql = [
    '-- update patient set x = 1;  (a comment)',
    '/* update mwl_item set y = 2; */',
    "UPDATE instance SET ext_retrieve_aet = '*' WHERE ext_retrieve_aet IS NULL;",
    'update series set ext_retrieve_aet = 1;',
    'update instance set ext_retrieve_aet = 2;',
    'update only "study" s set study_deleting = false;',
    'alter table instance alter ext_retrieve_aet set not null;',
    'create index on task(update_time);',
  ].join('\n');
  assert.deepEqual(rewrittenTables(sql), ['instance', 'series', 'study']);
  const dir = await scriptDir(CHAIN.map(updateFile));
  await fs.writeFile(path.join(dir, updateFile('5.32')), sql);
  const scripts = await selectUpdateScripts(dir, '5.27', '5.32');
  assert.deepEqual(scripts.at(-1)!.rewrites, ['instance', 'series', 'study']);
  assert.deepEqual(scripts[0]!.rewrites, []);
});

test('the tables no script names: by the words outside comments and literals; none when a script may write elsewhere', async () => {
  const dir = await scriptDir(CHAIN.map(updateFile));
  const write = (version: string, sql: string) => fs.writeFile(path.join(dir, updateFile(version)), sql);
  await write('5.31', "-- update patient set x = 1;\nupdate instance set ext_retrieve_aet = 'location';\nalter table \"Series\" add column x int;\n");
  await write('5.32', 'create index idx on study (study_iuid);\n');
  const tables = ['patient', 'instance', 'Series', 'series', 'study', 'location', 'mwl_item'];
  const scripts = await selectUpdateScripts(dir, '5.27', '5.32');
  assert.deepEqual(untouchedBy(scripts, tables), ['location', 'mwl_item', 'patient'], 'a quoted name counts in lower case, as the words do');
  assert.deepEqual(untouchedBy(scripts.map(({ mentions: _, ...s }) => s), tables), [], 'a plan recorded before the words were read');
  for (const sql of ['do $$ begin perform 1; end $$;', "execute 'update mwl_item set x = 1';", 'truncate study cascade;', 'create trigger t after update on study execute procedure f();']) {
    await write('5.32', sql);
    assert.deepEqual(untouchedBy(await selectUpdateScripts(dir, '5.27', '5.32'), tables), [], sql);
  }
});
