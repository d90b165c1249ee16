// The demo's dcm4chee miniature against real servers (PostgreSQL 15 and 9.6.24): the 5.26 schema
// loads, the seed is reproducible, the probes follow every update, updates cannot be re-applied
// unnoticed, and restoring into the pre-created 5.32 schema loses data the way the notes describe.
// The seed also fills a schema with more NOT NULL columns than the miniature (as the vendor's has).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { REQUIRED_COLUMNS_SQL, seedStatements, type RequiredColumn } from '../../src/demo/seed.js';
import { appliedVersions, VERSION_PROBES } from '../../src/plan/probes.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir, startTestCluster, type TestCluster } from '../support/pg-binaries.js';

const SQL_DIR = fileURLToPath(new URL('../../src/demo/sql/', import.meta.url));
const OLD_INIT = path.join(SQL_DIR, 'old-init', '10_create-psql.sql');
const NEW_INIT = path.join(SQL_DIR, 'new-init', '10_create-psql.sql');
const updateFile = (version: string): string => path.join(SQL_DIR, 'psql', `update-${version}-psql.sql`);
const DECOYS = ['create-psql.sql', 'drop-psql.sql', 'create-fk-index.sql', 'update-5.27-1-psql.sql'];
// The client of both servers: psql 15 talks to 9.6 as well.
const PSQL = path.join(NEW_POSTGRES_BIN_DIR, 'psql');
const PG_DUMP = path.join(NEW_POSTGRES_BIN_DIR, 'pg_dump');

const VERSIONS = VERSION_PROBES.map((p) => p.version);
const INSTANCES = 2000;
const SEED = 42;
const OLD_TABLES = ['code', 'dicomattrs', 'hl7psu_task', 'instance', 'location', 'metadata', 'mpps', 'mwl_item', 'patient', 'patient_id', 'person_name', 'series', 'study', 'task', 'uidmap'];
const NEW_TABLES = [...OLD_TABLES, 'instance_req', 'key_value2'].sort();

interface Outcome {
  code: number | null;
  stderr: string;
}

async function exec(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr };
}

const psqlArgs = (c: TestCluster, db: string, user = c.user): string[] =>
  [PSQL, '-X', '-q', '-h', c.socketDir, '-p', String(c.port), '-U', user, '-d', db];

/** The way the runner applies a vendor script: one transaction, stop at the first error. */
const applyScript = (c: TestCluster, db: string, file: string, user?: string): Promise<Outcome> =>
  exec([...psqlArgs(c, db, user), '--single-transaction', '-v', 'ON_ERROR_STOP=1', '-f', file]);

async function connect(c: TestCluster, database: string, user = c.user): Promise<pg.Client> {
  const client = new pg.Client({ host: c.socketDir, port: c.port, user, database });
  await client.connect();
  return client;
}

/** A new database holding the 5.26 miniature, created and seeded by `user` (default: the superuser). */
async function seededDatabase(c: TestCluster, admin: pg.Client, name: string, seed: number, user = c.user): Promise<pg.Client> {
  await admin.query(`create database ${name} owner ${user}`);
  const init = await applyScript(c, name, OLD_INIT, user);
  assert.equal(init.code, 0, init.stderr);
  const client = await connect(c, name, user);
  for (const sql of seedStatements({ instances: INSTANCES, seed })) await client.query(sql);
  // The seed may switch foreign-key triggers off for itself; it must switch them on again.
  assert.equal((await client.query(`select current_setting('session_replication_role') as v`)).rows[0].v, 'origin');
  return client;
}

function probeWith(client: pg.Client): Promise<string[]> {
  return appliedVersions(async (sql) => {
    const res = await client.query(sql);
    assert.equal(res.rows.length, 1, sql);
    assert.deepEqual(res.fields.map((f) => f.name), ['applied']);
    const applied: unknown = res.rows[0].applied;
    assert.equal(typeof applied, 'boolean');
    return applied as boolean;
  });
}

async function tables(client: pg.Client): Promise<string[]> {
  const res = await client.query(`select tablename from pg_tables where schemaname = current_schema() order by tablename`);
  return res.rows.map((r: { tablename: string }) => r.tablename);
}

/** Row count and md5 of all rows (in key order) per table. */
async function tableDigests(client: pg.Client): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const table of await tables(client)) {
    const res = await client.query(`select count(*) || ':' || coalesce(md5(string_agg(t::text, E'\\n' order by t.pk)), '') as d from ${table} t`);
    digests[table] = res.rows[0].d;
  }
  return digests;
}

async function counts(client: pg.Client): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const table of await tables(client)) {
    result[table] = Number((await client.query(`select count(*) as n from ${table}`)).rows[0].n);
  }
  return result;
}

/** Everything a script could change: columns, constraints, indexes, sequences and data. */
async function fingerprint(client: pg.Client): Promise<string> {
  const one = async (sql: string): Promise<string> => (await client.query(sql)).rows[0].v ?? '';
  const sequences = (await client.query(`select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind = 'S' order by 1`)).rows.map((r: { relname: string }) => r.relname);
  const sequenceStates: string[] = [];
  for (const s of sequences) {
    const r = (await client.query(`select last_value, is_called from ${s}`)).rows[0];
    sequenceStates.push(`${s}=${r.last_value}/${r.is_called}`);
  }
  return JSON.stringify({
    columns: await one(`select string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable, ', '
      order by table_name, column_name) as v from information_schema.columns where table_schema = current_schema()`),
    constraints: await one(`select string_agg(c.conname || ' ' || pg_get_constraintdef(c.oid), ', ' order by c.conname) as v
      from pg_constraint c join pg_namespace n on n.oid = c.connamespace where n.nspname = current_schema()`),
    indexes: await one(`select string_agg(indexdef, ', ' order by indexname) as v from pg_indexes where schemaname = current_schema()`),
    sequences: sequenceStates,
    data: await tableDigests(client),
  });
}

async function columnsOf(client: pg.Client): Promise<Record<string, string[]>> {
  const res = await client.query(`select table_name, column_name from information_schema.columns
    where table_schema = current_schema() order by table_name, column_name`);
  const result: Record<string, string[]> = {};
  for (const r of res.rows as { table_name: string; column_name: string }[]) (result[r.table_name] ??= []).push(r.column_name);
  return result;
}

/** Seeded digests per server, to compare the two servers at the end. */
const seededOn: Record<string, Record<string, string>> = {};

function exerciseServer(label: string, binDir: () => Promise<string>, extra?: (ctx: () => Ctx) => void): void {
  describe(label, () => {
    let ctx: Ctx;
    before(async () => {
      const cluster = await startTestCluster({ binDir: await binDir() });
      const admin = await connect(cluster, 'postgres');
      ctx = { cluster, admin, clients: [admin] };
    });
    after(async () => {
      if (!ctx) return;
      for (const client of ctx.clients) await client.end().catch(() => undefined);
      await ctx.cluster.stop();
    });

    it('seeds the 5.26 miniature reproducibly', async () => {
      const a = await seededDatabase(ctx.cluster, ctx.admin, 'seed_a', SEED);
      // A plain user loads with the foreign-key checks on: the same data must pass them.
      await ctx.admin.query('create role seeder login');
      const b = await seededDatabase(ctx.cluster, ctx.admin, 'seed_b', SEED, 'seeder');
      const c = await seededDatabase(ctx.cluster, ctx.admin, 'seed_c', SEED + 1);
      ctx.clients.push(a, b, c);
      ctx.db = a;
      assert.deepEqual(await tables(a), [...OLD_TABLES].sort());
      const digestA = await tableDigests(a);
      assert.deepEqual(await tableDigests(b), digestA, 'same seed, same data');
      assert.notEqual((await tableDigests(c)).instance, digestA.instance, 'another seed, other data');
      seededOn[label] = digestA;

      const n = await counts(a);
      assert.equal(n.instance, INSTANCES);
      assert.equal(n.location, INSTANCES);
      assert.equal(n.series, INSTANCES / 100);
      assert.equal(n.study, Math.ceil(INSTANCES / 300));
      assert.equal(n.patient, Math.ceil(INSTANCES / 600));
      assert.ok(n.mwl_item! > 0 && n.hl7psu_task! > 0 && n.task! > 0);
      const q = async (sql: string): Promise<unknown> => (await a.query(sql)).rows[0].v;
      assert.ok(Number(await q(`select count(*) as v from patient_id where pk not in (select patient_id_fk from patient)`)) >= 2, 'unreferenced patient ids');
      assert.equal(Number(await q(`select count(*) as v from location where storage_path !~ '^\\d{4}/\\d{2}/\\d{2}/[0-9A-F]{8}/[0-9A-F]{8}/[0-9A-F]{8}$'`)), 0);
      assert.equal(await q(`select last_value || '/' || is_called as v from instance_pk_seq`), `${INSTANCES + 1}/false`);
      assert.ok(Number(await q(`select count(*) as v from instance where ext_retrieve_aet is null`)) > 0.9 * INSTANCES, 'most instances have no external AET');
    });

    it('applies every update once, in order, and tells which are applied', async () => {
      const db = ctx.db!;
      assert.deepEqual(await probeWith(db), []);
      const initial = await counts(db);
      for (const [i, version] of VERSIONS.entries()) {
        const applied = await applyScript(ctx.cluster, 'seed_a', updateFile(version));
        assert.equal(applied.code, 0, `update-${version}: ${applied.stderr}`);
        assert.deepEqual(await probeWith(db), VERSIONS.slice(0, i + 1), `after ${version}`);
        const now = await counts(db);
        assert.equal(now.instance, initial.instance);
        assert.equal(now.series, initial.series);

        for (const again of VERSIONS.slice(0, i + 1)) {
          const state = await fingerprint(db);
          const rerun = await applyScript(ctx.cluster, 'seed_a', updateFile(again));
          if (again === '5.28' && VERSIONS.indexOf(version) >= VERSIONS.indexOf('5.29')) {
            // Like the vendor's: once 5.29 has dropped key_value, 5.28 runs again without error.
            assert.equal(rerun.code, 0, rerun.stderr);
            await db.query('drop table key_value; drop sequence key_value_pk_seq');
          } else {
            assert.notEqual(rerun.code, 0, `re-running update-${again} after ${version} must fail`);
          }
          assert.equal(await fingerprint(db), state, `re-running update-${again} after ${version} changed the database`);
        }
      }
      const q = async (sql: string): Promise<number> => Number((await db.query(sql)).rows[0].v);
      assert.ok((await q(`select count(*) as v from patient_id where patient_fk is null`)) >= 2, '5.31 leaves unreferenced ids without patient');
      assert.equal(await q(`select count(*) as v from instance where ext_retrieve_aet = '*'`), await q(`select count(*) as v from instance where ext_retrieve_aet <> 'EXT_PACS'`));
      assert.deepEqual(await tables(db), NEW_TABLES);
    });

    it('keeps the decoys beside the updates harmless', async () => {
      const entries = await readdir(path.join(SQL_DIR, 'psql'));
      assert.deepEqual(entries.filter((f) => !VERSIONS.some((v) => f === `update-${v}-psql.sql`)).sort(), [...DECOYS].sort());
      const state = await fingerprint(ctx.db!);
      for (const decoy of DECOYS) {
        const run = await applyScript(ctx.cluster, 'seed_a', path.join(SQL_DIR, 'psql', decoy));
        assert.equal(run.code, 0, run.stderr);
      }
      assert.equal(await fingerprint(ctx.db!), state);
    });

    extra?.(() => ctx);
  });
}

interface Ctx {
  cluster: TestCluster;
  admin: pg.Client;
  clients: pg.Client[];
  /** seed_a: seeded, then carried through the updates. */
  db?: pg.Client;
}

exerciseServer('PostgreSQL 15', async () => NEW_POSTGRES_BIN_DIR, (ctx) => {
  it('creates the fresh 5.32 miniature with the tables and columns the update chain ends with', async () => {
    const { cluster, admin, clients } = ctx();
    await admin.query('create database fresh');
    const init = await applyScript(cluster, 'fresh', NEW_INIT);
    assert.equal(init.code, 0, init.stderr);
    const fresh = await connect(cluster, 'fresh');
    clients.push(fresh);
    assert.deepEqual(await probeWith(fresh), VERSIONS);
    assert.deepEqual(await columnsOf(fresh), await columnsOf(ctx().db!));
    const nullable = async (c: pg.Client): Promise<string> =>
      (await c.query(`select is_nullable as v from information_schema.columns where table_name = 'patient_id' and column_name = 'patient_fk'`)).rows[0].v;
    assert.equal(await nullable(ctx().db!), 'YES');
    assert.equal(await nullable(fresh), 'NO');
  });

  it('loses rows when a dump is restored into the pre-created 5.32 schema', async () => {
    const { cluster, admin, clients } = ctx();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kaapana-dump-'));
    try {
      const dump = path.join(dir, 'pacsdb.sql');
      const dumped = await exec([PG_DUMP, '-h', cluster.socketDir, '-p', String(cluster.port), '-U', cluster.user, '-f', dump, 'seed_a']);
      assert.equal(dumped.code, 0, dumped.stderr);
      const source = await counts(ctx().db!);
      /** The guide's restore: plain psql without ON_ERROR_STOP; returns the tables whose rows did not all arrive. */
      const restore = async (db: string, env: NodeJS.ProcessEnv): Promise<{ stderr: string; lost: string[] }> => {
        await admin.query(`create database ${db}`);
        assert.equal((await applyScript(cluster, db, NEW_INIT)).code, 0);
        const restored = await exec([...psqlArgs(cluster, db), '-f', dump], env);
        assert.equal(restored.code, 0, 'psql -f exits 0 despite the errors');
        const target = await connect(cluster, db);
        clients.push(target);
        const landed = await counts(target);
        return { stderr: restored.stderr, lost: Object.keys(source).filter((t) => source[t] !== landed[t]) };
      };
      // With foreign-key triggers off only the NOT NULL patient_fk bites: every patient_id row is lost.
      const replica = await restore('precreated_replica', { PGOPTIONS: '-c session_replication_role=replica' });
      assert.match(replica.stderr, /already exists/);
      assert.match(replica.stderr, /null value in column "patient_fk"/);
      assert.deepEqual(replica.lost, ['patient_id']);
      // With them on, the pre-created foreign keys also reject tables whose COPY comes before their
      // parents' (pg_dump orders data by name, e.g. instance before series).
      const plain = await restore('precreated_plain', {});
      for (const table of ['patient_id', 'patient', 'study', 'series', 'instance', 'location']) assert.ok(plain.lost.includes(table), table);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

exerciseServer('PostgreSQL 9.6.24', oldPostgresBinDir, (ctx) => {
  it('fills the NOT NULL columns of a wider schema and seeds the same data in the others', async () => {
    const { cluster, admin, clients } = ctx();
    // Columns the miniature lacks, like the vendor's pat_custom2 … inst_custom3, one per kind of value.
    const widen = `alter table patient add column pat_custom2 varchar(255) not null, add column pat_flag boolean not null;
      alter table instance add column inst_custom2 varchar(255) not null, add column inst_count int4 not null,
        add column inst_seen timestamp not null, add column inst_blob bytea not null;
      alter table task add column task_note varchar(255) not null default 'given'`;
    const wider = async (name: string): Promise<pg.Client> => {
      await admin.query(`create database ${name}`);
      assert.equal((await applyScript(cluster, name, OLD_INIT)).code, 0);
      const client = await connect(cluster, name);
      clients.push(client);
      await client.query(widen);
      return client;
    };
    const unaware = await wider('wider_unaware');
    await assert.rejects(async () => {
      for (const sql of seedStatements({ instances: INSTANCES, seed: SEED })) await unaware.query(sql);
    }, /null value in column "pat_custom2" violates not-null constraint/);

    const db = await wider('wider');
    const required = (await db.query(REQUIRED_COLUMNS_SQL)).rows as RequiredColumn[];
    assert.ok(!required.some((c) => c.column === 'task_note'), 'a column with a default is not required');
    for (const sql of seedStatements({ instances: INSTANCES, seed: SEED, required })) await db.query(sql);
    const filled = (await db.query(`select count(*) as n, min(inst_custom2) as s, max(inst_count) as i, min(inst_seen)::text as t,
      max(length(inst_blob)) as b from instance`)).rows[0];
    assert.deepEqual({ ...filled, n: Number(filled.n) }, { n: INSTANCES, s: '*', i: 0, t: '2023-01-02 07:00:00', b: 0 });
    assert.deepEqual((await db.query(`select distinct pat_custom2, pat_flag from patient`)).rows, [{ pat_custom2: '*', pat_flag: false }]);
    assert.deepEqual((await db.query(`select distinct task_note from task`)).rows, [{ task_note: 'given' }]);

    await db.query(`alter table patient drop column pat_custom2, drop column pat_flag;
      alter table instance drop column inst_custom2, drop column inst_count, drop column inst_seen, drop column inst_blob;
      alter table task drop column task_note`);
    assert.deepEqual(await tableDigests(db), seededOn['PostgreSQL 9.6.24'], 'the columns both schemas have hold the same data');
  });
});

it('seeds byte-identical data on PostgreSQL 9.6 and 15', () => {
  assert.ok(seededOn['PostgreSQL 15'] && seededOn['PostgreSQL 9.6.24']);
  assert.deepEqual(seededOn['PostgreSQL 9.6.24'], seededOn['PostgreSQL 15']);
});
