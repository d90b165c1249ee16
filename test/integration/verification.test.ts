// What the verification sees besides rows and checksums, on real PostgreSQL 9.6 and 15: the
// database's encoding and locale, every sequence against the keys it serves, the owners, and the
// role and database settings a plain dump does not carry (which restores set again).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../src/activities/index.js';
import { ensureServer, envFor, type Env, type RunContext } from '../../src/activities/context.js';
import type { InventoryResult } from '../../src/activities/inventory.js';
import { realDeps } from '../../src/deps.js';
import { createLogger } from '../../src/log.js';
import { withClient } from '../../src/postgres/client.js';
import { recreateDatabase } from '../../src/postgres/create-database.js';
import { dumpAndRestore } from '../../src/postgres/fast.js';
import { dumpToFile, type DumpResult } from '../../src/postgres/transfer.js';
import { PSQL_FROM_STDIN } from '../../src/postgres/transaction.js';
import { nextValue } from '../../src/verification/compare.js';
import type { ServerEndpoint } from '../../src/runtime/port.js';
import type { ServerRole } from '../../src/config/layout.js';
import { demoNode } from '../support/harness.js';
import { asActivity } from '../support/fast-sequence.js';
import type { DemoNode } from '../../src/demo/node.js';

const hashFile = async (file: string) => createHash('sha256').update(await fs.readFile(file)).digest('hex');

const deps = realDeps(createLogger('verification-test', 'warn'));
const a = createActivities(deps);

/** Set on the original as a site might have them; none is in a plain dump. */
const SITE_SETTINGS = [
  `ALTER DATABASE pacsdb SET search_path = public, "$user"`,
  `ALTER DATABASE pacsdb SET kaapana.note = 'it''s migrated'`,
  `ALTER ROLE pacs SET statement_timeout = '5min'`,
  `ALTER ROLE pacs IN DATABASE pacsdb SET work_mem = '8MB'`,
];

let node: DemoNode;
let ctx: RunContext;
let env: Env;
let before_: InventoryResult;
let dump: DumpResult;

/**
 * The demo's original, made LATIN1 with the C locale (the data reloaded into it, one name with
 * umlauts added) and given the site's settings, by a writable server of its own.
 */
async function prepareOriginal(): Promise<void> {
  const prep = { name: 'prep', image: 'old' as const, dataDir: env.layout.original, readOnly: false, database: env.credentials };
  const endpoint = await env.runtime.start(prep, 60_000);
  try {
    const file = path.join(node.dir, 'prep.sql');
    await dumpToFile(env.runtime, { server: 'prep', endpoint, credentials: env.credentials }, file, { onBytes: () => undefined, appName: 'prep' });
    await withClient(endpoint, env.credentials, async (c) => {
      await c.query('DROP DATABASE pacsdb');
      await c.query(`CREATE DATABASE pacsdb ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    }, { database: 'postgres' });
    const loaded = await env.runtime.exec('prep', PSQL_FROM_STDIN, { stdin: createReadStream(file) });
    assert.equal(loaded.exitCode, 0, loaded.stderr);
    await withClient(endpoint, env.credentials, async (c) => {
      await c.query(`UPDATE person_name SET alphabetic_name = 'Müller^Jörg' WHERE pk = (SELECT min(pk) FROM person_name)`);
      for (const sql of SITE_SETTINGS) await c.query(sql);
    });
  } finally {
    await env.runtime.stop('prep');
    await env.runtime.remove('prep');
  }
}

before(async () => {
  node = await demoNode('verify-facts');
  ctx = { config: node.config, runTag: 'facts' };
  env = await envFor(deps, ctx);
  await prepareOriginal();
  before_ = await asActivity(() => a.inventory(ctx, 'original'));
  dump = await asActivity(() => a.dump(ctx, 'original', 'original', 0));
});

after(async () => {
  if (!env) return;
  for (const role of ['original', 'work', 'new'] as const) await env.runtime.stop(env.layout.serverName[role]);
  await fs.rm(node.dir, { recursive: true, force: true });
});

/** The verify activity's complaint, or undefined when it passes. */
async function verification(role: ServerRole): Promise<string | undefined> {
  try {
    await asActivity(() => a.verify(ctx, role, before_, before_.appliedVersions));
    return undefined;
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure && err.type === 'VerificationFailed', String(err));
    return err.message;
  }
}

const session = async <T>(role: ServerRole, fn: (c: import('pg').Client) => Promise<T>): Promise<T> => withClient(await ensureServer(env, role), env.credentials, fn);

/** What a fresh session of the archive's user gets from the role and database settings. */
const effective = (role: ServerRole) =>
  session(role, async (c) => (await c.query(`SELECT current_setting('search_path') AS search_path, current_setting('kaapana.note') AS note, current_setting('statement_timeout') AS timeout, current_setting('work_mem') AS work_mem`)).rows[0]);

test('the original as prepared: LATIN1, C, its settings and sequences in the inventory and the dump', () => {
  assert.deepEqual(before_.inventory.database, { encoding: 'LATIN1', collate: 'C', ctype: 'C' });
  assert.equal(before_.inventory.settings?.length, SITE_SETTINGS.length);
  assert.deepEqual({ encoding: dump.source?.encoding, collate: dump.source?.collate, ctype: dump.source?.ctype }, before_.inventory.database);
  assert.deepEqual(dump.source?.settings, before_.inventory.settings);
  const instance = before_.inventory.sequences?.instance_pk_seq;
  assert.ok(instance, 'instance_pk_seq is in the inventory');
  assert.deepEqual(instance.serves, ['instance.pk'], "dcm4chee's <table>_pk_seq serves <table>.pk");
  assert.equal(instance.maxKey, String(before_.inventory.tables.instance!.count), 'the seed numbers instances from 1');
  assert.ok(nextValue(instance) > BigInt(instance.maxKey!));
  assert.equal(before_.inventory.owners?.patient, 'pacs');
});

for (const role of ['work', 'new'] as const) {
  test(`a restore into ${role === 'work' ? '9.6' : '15'} gets the original's encoding, locale and settings, and verifies`, async () => {
    const restored = await asActivity(() => a.restore(ctx, role, dump));
    assert.deepEqual(restored.created.used, before_.inventory.database);
    assert.deepEqual(restored.created.requested, before_.inventory.database);
    assert.equal(restored.created.fallback, undefined);
    assert.equal(restored.created.sorting, undefined, 'both servers use glibc: text sorts alike');
    assert.deepEqual(await effective(role), { search_path: 'public, "$user"', note: "it's migrated", timeout: '5min', work_mem: '8MB' });
    assert.equal(await verification(role), undefined);
    // Restoring again (a retry) leaves the same database and settings.
    await asActivity(() => a.restore(ctx, role, dump));
    assert.equal(await verification(role), undefined);
  });

  test(`on ${role === 'work' ? '9.6' : '15'}, verification names a sequence behind its keys, a changed owner and a lost setting`, async () => {
    const instance = before_.inventory.sequences!.instance_pk_seq!;
    await session(role, (c) => c.query(`SELECT setval('instance_pk_seq', 10)`));
    const lowered = (await verification(role)) ?? 'passed';
    assert.match(lowered, new RegExp(`sequence instance_pk_seq gives 11 next, expected ${nextValue(instance)}`));
    assert.match(lowered, new RegExp(`sequence instance_pk_seq gives 11 next, not beyond the largest key ${instance.maxKey} of instance\\.pk`));
    await session(role, (c) => c.query(`SELECT setval('instance_pk_seq', $1, $2)`, [instance.lastValue, instance.isCalled]));

    await session(role, async (c) => {
      await c.query(`DO $$ BEGIN CREATE ROLE somebody_else; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
      await c.query('ALTER TABLE study OWNER TO somebody_else');
      await c.query('ALTER SEQUENCE series_pk_seq OWNER TO somebody_else');
    });
    const owners = (await verification(role)) ?? 'passed';
    assert.match(owners, /study is owned by somebody_else, expected pacs/);
    assert.match(owners, /series_pk_seq is owned by somebody_else, expected pacs/);
    await session(role, async (c) => {
      await c.query('ALTER TABLE study OWNER TO pacs');
      await c.query('ALTER SEQUENCE series_pk_seq OWNER TO pacs');
    });

    await session(role, (c) => c.query('ALTER ROLE pacs RESET statement_timeout'));
    assert.match((await verification(role)) ?? 'passed', /setting missing: ALTER ROLE pacs SET statement_timeout = 5min/);
    await session(role, (c) => c.query(`ALTER ROLE pacs SET statement_timeout = '5min'`));
    assert.equal(await verification(role), undefined);
  });

  test(`on ${role === 'work' ? '9.6' : '15'}, the untouched tables are left to verifyUntouched, which sees what verifyLeaving did not; a trigger keeps them all`, async () => {
    const untouched = ['location', 'patient', 'no_such_table'];
    const leaving = () => asActivity(() => a.verifyLeaving(ctx, role, before_, untouched));
    const untouchedCheck = async () => {
      try {
        return await asActivity(() => a.verifyUntouched(ctx, role, before_, ['location', 'patient']));
      } catch (err) {
        assert.ok(err instanceof ApplicationFailure && err.type === 'VerificationFailed', String(err));
        return err.message;
      }
    };
    assert.deepEqual(await leaving(), { left: ['location', 'patient'] }, 'a table the database lacks is not left');
    const rows = before_.inventory.tables.location!.count + before_.inventory.tables.patient!.count;
    assert.deepEqual(await untouchedCheck(), { rows });

    const change = `UPDATE location SET storage_path = storage_path || 'x' WHERE pk = (SELECT min(pk) FROM location)`;
    await session(role, (c) => c.query(change));
    try {
      assert.deepEqual(await leaving(), { left: ['location', 'patient'] }, 'verifyLeaving does not read the rows it leaves');
      const seen = String(await untouchedCheck());
      assert.match(seen, /table location has \d+ rows as expected but different content/);
      assert.match(seen, /storagePaths: /);
      assert.match(String(await verification(role)), /table location has \d+ rows as expected but different content/);
    } finally {
      await session(role, (c) => c.query(`UPDATE location SET storage_path = left(storage_path, -1) WHERE pk = (SELECT min(pk) FROM location)`));
    }
    // A table the scripts name is read by verifyLeaving itself.
    await session(role, (c) => c.query(`UPDATE series SET series_desc = series_desc || 'x' WHERE pk = (SELECT min(pk) FROM series)`));
    try {
      await assert.rejects(leaving(), (err: unknown) => err instanceof ApplicationFailure && err.type === 'VerificationFailed' && /table series has \d+ rows as expected but different content/.test(err.message));
    } finally {
      await session(role, (c) => c.query(`UPDATE series SET series_desc = left(series_desc, -1) WHERE pk = (SELECT min(pk) FROM series)`));
    }

    // A trigger on a table a script names could write a table it does not.
    await session(role, async (c) => {
      await c.query(`CREATE FUNCTION public.touch_location() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`);
      await c.query(`CREATE TRIGGER touch AFTER UPDATE ON instance FOR EACH ROW EXECUTE PROCEDURE public.touch_location()`);
    });
    try {
      assert.deepEqual(await leaving(), { left: [], kept: '1 functions, 1 triggers' });
    } finally {
      await session(role, (c) => c.query('DROP FUNCTION public.touch_location() CASCADE'));
    }
    assert.equal(await verification(role), undefined);
  });
}

test('the fast path stream creates the database like the original and sets its settings', async () => {
  const source = { server: env.layout.serverName.original, endpoint: await ensureServer(env, 'original'), credentials: env.credentials };
  const target = { server: env.layout.serverName.new, endpoint: await ensureServer(env, 'new'), credentials: env.credentials };
  // A database of the server's defaults first, so that only the stream can make it LATIN1.
  await recreateDatabase(target.endpoint, env.credentials);
  const streamed = await dumpAndRestore(env.runtime, source, path.join(node.dir, 'streamed.sql'), target, { onBytes: () => undefined, appName: 'verification-test' });
  assert.deepEqual(streamed.created.used, before_.inventory.database);
  assert.deepEqual(streamed.source?.settings, before_.inventory.settings);
  assert.equal(streamed.sha256, await hashFile(path.join(node.dir, 'streamed.sql')));
  assert.deepEqual(await effective('new'), { search_path: 'public, "$user"', note: "it's migrated", timeout: '5min', work_mem: '8MB' });
  assert.equal(await verification('new'), undefined);
});

test('where the server lacks the original locale, the database is created with its default and says so', async () => {
  const endpoint: ServerEndpoint = await ensureServer(env, 'new');
  const scratch = { ...env.credentials, name: 'scratch' };
  const made = await recreateDatabase(endpoint, scratch, { encoding: 'LATIN1', collate: 'xx_NOWHERE.ISO-8859-1', ctype: 'xx_NOWHERE.ISO-8859-1' });
  assert.deepEqual(made.used, { encoding: 'LATIN1', collate: 'C', ctype: 'C' });
  assert.match(made.fallback ?? '', /xx_NOWHERE\.ISO-8859-1 of the original refused by this server .*; created with C\/C/);
  // An encoding the server cannot give is not replaced: the restore fails instead.
  await assert.rejects(recreateDatabase(endpoint, scratch, { encoding: 'NO_SUCH_ENCODING', collate: 'C', ctype: 'C' }), /not a valid encoding name/);
});

test('a server whose text sorts otherwise than the original is recorded', async () => {
  // As the glibc original's en_US order would read, restored on a server that orders by code point.
  const glibc = { ...dump, source: { ...dump.source!, sortOrder: '_1 < 1 < a < A < a b < ab < b < B' } };
  const restored = await asActivity(() => a.restore(ctx, 'work', glibc));
  assert.match(restored.created.sorting ?? '', /^text sorts otherwise than in the original \(there _1 < 1 < a < A < a b < ab < b < B; here 1 < A < B < _1 < a < a b < ab < b\)/);
});

test("the update scripts run free of the role's statement_timeout that the restore set again", async () => {
  await session('work', (c) => c.query(`ALTER ROLE pacs SET statement_timeout = '100ms'`));
  const file = path.join(node.dir, 'update-5.31.1-psql.sql');
  // Longer than the archive's timeout, as a table rewrite of a real database is.
  await fs.writeFile(file, 'SELECT pg_sleep(0.5);\ncreate index IDXe6odcfrgswxke8wtlj8bdehet on task (exporter_id);\n');
  const script = { version: '5.31.1', file, bytes: (await fs.stat(file)).size, sha256: await hashFile(file), rewrites: [] };
  try {
    const result = await asActivity(() => a.applyUpdate(ctx, 'work', script));
    assert.equal(result.outcome, 'applied');
    // Each statement as psql timed it on the 9.6 server: the sleep takes its half second there.
    assert.deepEqual(
      result.statements?.map((st) => [st.sql, st.class]),
      [
        ['SELECT pg_sleep(0.5);', 'other'],
        ['create index IDXe6odcfrgswxke8wtlj8bdehet on task (exporter_id);', 'create index'],
      ],
    );
    assert.ok(result.statements![0]!.ms >= 500, `pg_sleep(0.5) took ${result.statements![0]!.ms} ms`);
    assert.ok(result.statements![1]!.ms >= 0 && result.statements![1]!.ms < result.ms);
  } finally {
    await session('work', (c) => c.query(`ALTER ROLE pacs SET statement_timeout = '5min'`));
  }
});

test('a dump recorded before the source facts were read restores as before: server defaults, no settings', async () => {
  const { source: _, ...recorded } = dump;
  const restored = await asActivity(() => a.restore(ctx, 'work', recorded));
  assert.equal(restored.created.requested, undefined);
  assert.deepEqual(restored.created.used, { encoding: 'UTF8', collate: 'C', ctype: 'C' }, "the local runtime's initdb defaults");
  assert.deepEqual(restored.created.settings, []);
});

test('a cancelled inventory ends its scan on the server instead of reading on', async () => {
  const endpoint = await ensureServer(env, 'new');
  const scans = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'kaapana-migrate-inventory-new'`;
  const count = async (sql: string) => session('new', async (c) => (await c.query<{ n: number }>(sql)).rows[0]!.n);
  // A session holding a table: the inventory's scan of it waits as a long scan would read.
  let release!: () => void;
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => (locked = resolve));
  const holder = withClient(endpoint, env.credentials, async (c) => {
    await c.query('BEGIN');
    await c.query('LOCK TABLE location IN ACCESS EXCLUSIVE MODE');
    locked();
    await new Promise<void>((resolve) => (release = resolve));
    await c.query('ROLLBACK');
  });
  try {
    await Promise.race([isLocked, holder]);
    const mock = new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 });
    // It ends as cancelled (what the workflow waits for), not as failed with the session it lost.
    const running = mock.run(() => a.inventory(ctx, 'new')).then(() => 'completed', (err: unknown) => (err instanceof CancelledFailure ? 'cancelled' : `failed: ${String(err)}`));
    const deadline = Date.now() + 30_000;
    while ((await count(`${scans} AND wait_event_type = 'Lock'`)) === 0) {
      assert.ok(Date.now() < deadline, 'the inventory never reached the held table');
      await new Promise((r) => setTimeout(r, 100));
    }
    mock.cancel();
    const outcome = await Promise.race([running, new Promise<string>((r) => setTimeout(() => r('still waiting'), 10_000))]);
    assert.equal(outcome, 'cancelled');
    assert.equal(await count(scans), 0, 'no scan of the inventory is left on the server');
  } finally {
    release?.();
    await holder;
  }
});
