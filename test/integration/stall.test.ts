// Transfers that stop moving fail with Stalled, on real PostgreSQL 9.6 (the working copy) and 15
// (the new server): an update blocked by another session's lock fails, its statement ended on
// the server and nothing of it applied, and the retry applies it; a long single statement that
// works (a scan, then an UPDATE) outlasts the same stall time.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { ensureServer, envFor, type RunContext } from '../../src/activities/context.js';
import { createActivities } from '../../src/activities/index.js';
import type { ServerRole } from '../../src/config/layout.js';
import { DEMO_SCRIPTS_DIR, type DemoNode } from '../../src/demo/node.js';
import { realDeps } from '../../src/deps.js';
import { createLogger } from '../../src/log.js';
import { VERSION_PROBES } from '../../src/plan/probes.js';
import { sha256File, type UpdateScript } from '../../src/plan/scripts.js';
import { queryRows, withClient } from '../../src/postgres/client.js';
import { asActivity } from '../support/fast-sequence.js';
import { demoNode } from '../support/harness.js';

const deps = realDeps(createLogger('stall-test', 'warn'));
const a = createActivities(deps);
const STALL_SECONDS = 3;
const ROLES = ['work', 'new'] as const satisfies readonly ServerRole[];

let node: DemoNode;
let ctx: RunContext;
let stallCtx: RunContext;

before(async () => {
  node = await demoNode('stall');
  ctx = { config: node.config, runTag: 'stall' };
  stallCtx = { ...ctx, config: { ...ctx.config, stallSeconds: STALL_SECONDS } };
  // Loaded as the migration loads them, under the default stall time.
  await asActivity(() => a.startServer(ctx, 'original'));
  const dump = await asActivity(() => a.dump(ctx, 'original', 'original', 1));
  for (const role of ROLES) {
    await asActivity(() => a.startServer(ctx, role));
    await asActivity(() => a.restore(ctx, role, dump));
  }
});

after(async () => {
  if (!node) return;
  for (const role of ['original', ...ROLES] as const) await asActivity(() => a.stopServer(ctx, role)).catch(() => undefined);
  await fs.rm(node.dir, { recursive: true, force: true });
});

async function scriptFile(file: string, version: string): Promise<UpdateScript> {
  return { version, file, bytes: (await fs.stat(file)).size, sha256: await sha256File(file), rewrites: [] };
}

async function serverOf(role: ServerRole) {
  const env = await envFor(deps, ctx);
  return { endpoint: await ensureServer(env, role), credentials: env.credentials };
}

async function applied(role: ServerRole, version: string): Promise<boolean> {
  const { endpoint, credentials } = await serverOf(role);
  const sql = VERSION_PROBES.find((p) => p.version === version)!.sql;
  return withClient(endpoint, credentials, async (c) => Boolean((await queryRows<{ applied: boolean }>(c, sql))[0]?.applied));
}

/** Fails the test instead of hanging it when the activity never ends (no stall detection). */
function bounded<T>(work: Promise<T>, what: string): Promise<T> {
  return Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not end within 120 s`)), 120_000).unref())]);
}

for (const role of ROLES) {
  test(`${role}: an update blocked by a lock fails with Stalled, its statement ended on the server, nothing applied; the retry applies it`, async () => {
    const script = await scriptFile(path.join(DEMO_SCRIPTS_DIR, 'update-5.27-psql.sql'), '5.27');
    const { endpoint, credentials } = await serverOf(role);
    const holder = new pg.Client({ host: endpoint.host, port: endpoint.port, user: credentials.user, password: credentials.password, database: credentials.name, application_name: 'stall-test-lock-holder' });
    await holder.connect();
    try {
      // The script's first statement alters hl7psu_task: it waits for this lock for ever.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE hl7psu_task IN ACCESS EXCLUSIVE MODE');
      const err = await bounded(asActivity(() => a.applyUpdate(stallCtx, role, script)), 'the blocked update').then(
        () => assert.fail('the blocked update succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.type, 'Stalled');
      assert.equal(err.nonRetryable, false);
      assert.match(err.message, new RegExp(`^nothing moved for \\d+ s \\(stallSeconds ${STALL_SECONDS}\\): last progress applyUpdates \\(update-5\\.27-psql\\.sql\\); on the server: kaapana-migrate-update-5\\.27 \\(pid \\d+\\) active, waiting on Lock relation$`));

      // While the lock is still held: the waiting statement was ended, not left to run once it gets the lock.
      const left = async () => (await queryRows<{ pid: number }>(holder, `SELECT pid FROM pg_stat_activity WHERE application_name = 'kaapana-migrate-update-5.27'`)).length;
      const deadline = Date.now() + 20_000;
      while ((await left()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await left(), 0, 'the blocked session still exists on the server');
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    assert.equal(await applied(role, '5.27'), false, 'a stalled update applied something');
    const retry = await bounded(asActivity(() => a.applyUpdate(stallCtx, role, script)), 'the retried update');
    assert.equal(retry.outcome, 'applied');
    assert.equal(await applied(role, '5.27'), true);
  });

  test(`${role}: a long scan and a long UPDATE, each one statement, outlast the stall time`, async () => {
    const { endpoint, credentials } = await serverOf(role);
    await withClient(endpoint, credentials, (c) => c.query(`CREATE TABLE stall_work AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g`));
    // Each loop is one statement doing real work (reading, then writing rows and WAL) for twice
    // the stall time, however fast the machine: neither moves a byte or row counter of ours.
    const file = path.join(node.dir, `update-5.28-${role}-psql.sql`);
    await fs.writeFile(
      file,
      [
        `do $$ begin while clock_timestamp() < statement_timestamp() + interval '${2 * STALL_SECONDS} seconds' loop perform count(*) from stall_work where md5(v) like '0%'; end loop; end $$;`,
        `do $$ begin while clock_timestamp() < statement_timestamp() + interval '${2 * STALL_SECONDS} seconds' loop update stall_work set v = md5(v); end loop; end $$;`,
        `create table key_value (pk int8 primary key);`,
        '',
      ].join('\n'),
    );
    const script = await scriptFile(file, '5.28');
    const result = await bounded(asActivity(() => a.applyUpdate(stallCtx, role, script)), 'the long update');
    assert.equal(result.outcome, 'applied');
    assert.equal(await applied(role, '5.28'), true);
  });
}
