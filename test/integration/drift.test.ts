// Schema drift on real servers: the demo database migrated 5.26 → 5.32 against the fresh schema the
// new image's init scripts make on a scratch server. Only expected differences; an extra DROP
// COLUMN or ALTER COLUMN TYPE on the migrated database fails the step; the scratch server and
// directory are gone afterwards, whatever happened, and a killed attempt's leftover is replaced.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { ensureServer, envFor, type RunContext } from '../../src/activities/context.js';
import { createActivities } from '../../src/activities/index.js';
import { realDeps } from '../../src/deps.js';
import type { DemoNode } from '../../src/demo/node.js';
import { createLogger } from '../../src/log.js';
import { withClient } from '../../src/postgres/client.js';
import type { DriftReport } from '../../src/verification/drift.js';
import { asActivity, runFastSequence } from '../support/fast-sequence.js';
import { demoNode } from '../support/harness.js';

const deps = realDeps(createLogger('drift-test', 'warn'));
const a = createActivities(deps);

let node: DemoNode;
let ctx: RunContext;
before(async () => {
  node = await demoNode('drift');
  ctx = { config: node.config, runTag: 'drift' };
  // The demo's original restored into PostgreSQL 15 and brought to 5.32 by the demo's update scripts.
  await runFastSequence(deps, ctx, 'direct');
});
after(async () => {
  if (!node) return;
  const env = await envFor(deps, ctx);
  for (const role of ['original', 'new', 'scratch'] as const) await env.runtime.stop(env.layout.serverName[role]);
  await fs.rm(node.dir, { recursive: true, force: true });
});

/** The scratch server and directory are gone; the migrated one is still there and running. */
async function assertScratchGone(c: RunContext): Promise<void> {
  const env = await envFor(deps, c);
  await assert.rejects(fs.access(env.layout.scratch), `${env.layout.scratch} is removed`);
  assert.equal(await env.runtime.state(env.layout.serverName.scratch), 'absent');
  assert.equal(await env.runtime.state(env.layout.serverName.new), 'running', 'the migrated server is left as it was');
  await fs.access(path.join(env.layout.new, 'PG_VERSION'));
  await fs.access(path.join(env.layout.original, 'PG_VERSION'));
}

const migratedSql = async (sql: string) => {
  const env = await envFor(deps, ctx);
  await withClient(await ensureServer(env, 'new'), env.credentials, (c) => c.query(sql));
};

test('the migrated demo drifts from a fresh new-init schema only as expected, and a killed attempt leaves nothing behind', async () => {
  const env = await envFor(deps, ctx);
  // What a worker killed during the step leaves: the scratch server running (the local runtime's
  // servers outlive the worker), here with a table gone, which a reused scratch would report.
  const leftover = await ensureServer(env, 'scratch');
  await withClient(leftover, env.credentials, (c) => c.query('DROP TABLE uidmap CASCADE'));
  // And the report file it was writing (durably, under a partial name).
  await fs.mkdir(env.layout.runDir, { recursive: true });
  await fs.writeFile(`${env.layout.drift}.partial-4242-1700000000000`, '{"differences":');

  const report = await asActivity(() => a.schemaDrift(ctx));
  assert.deepEqual(report.differences.filter((d) => d.class === 'unexpected'), []);
  assert.equal(report.unexpected, 0);
  const byRule = Object.fromEntries(
    [...new Set(report.differences.map((d) => d.rule))].map((rule) => [rule, report.differences.filter((d) => d.rule === rule).length]),
  );
  // The miniature models every difference the real chain leaves (the 0.3.0 image's column aside).
  assert.deepEqual(Object.keys(byRule).sort(), ['enum-range-check', 'enum-smallint', 'generated-names', 'one-to-one-unique', 'timestamp-precision', 'unreferenced-patient-id']);
  assert.equal(byRule['enum-smallint'], byRule['enum-range-check'], 'one range check per enum column');
  assert.ok(report.differences.some((d) => d.object === 'column' && d.table === 'patient_id' && d.name === 'patient_fk' && d.change === 'nullability' && d.rule === 'unreferenced-patient-id'));
  assert.ok(report.differences.some((d) => d.object === 'index' && d.table === 'series' && d.change === 'only in fresh' && d.fresh === 'unique btree (metadata_fk), unique constraint'));
  assert.ok(report.differences.some((d) => d.object === 'foreign key' && d.change === 'name' && d.migrated === 'fk_hba9466n4re9re8id3c8abmnv' && d.fresh === 'fkih8d22x50j7orytfmigrnssea'));

  assert.equal(report.file, env.layout.drift);
  const written = JSON.parse(await fs.readFile(report.file, 'utf8')) as DriftReport & { rules: { id: string; why: string }[] };
  assert.deepEqual({ ...written, rules: undefined }, { ...report, rules: undefined });
  assert.ok(written.rules.some((r) => r.id === 'unreferenced-patient-id' && r.why.length > 0));
  assert.equal((await fs.stat(report.file)).mode & 0o777, 0o600);
  assert.deepEqual((await fs.readdir(env.layout.runDir)).filter((f) => f.startsWith(path.basename(env.layout.drift))), [path.basename(env.layout.drift)], 'no partial report is left');
  await assertScratchGone(ctx);
});

test('a scratch server that cannot start is removed too', async () => {
  const scripts = path.join(node.dir, 'broken-init');
  await fs.mkdir(scripts);
  await fs.writeFile(path.join(scripts, '10_create-psql.sql'), 'create table code (pk bigint primary key);\nthis is not sql;\n');
  const runtime = ctx.config.runtime;
  assert.equal(runtime.kind, 'local');
  if (runtime.kind !== 'local') return;
  // Only the scratch server runs init scripts: the migrated one exists already.
  const broken: RunContext = { ...ctx, config: { ...ctx.config, runtime: { ...runtime, new: { ...runtime.new, initScriptsDir: scripts } } } };
  await assert.rejects(asActivity(() => a.schemaDrift(broken)), /init script 10_create-psql\.sql exited with 3/);
  await assertScratchGone(broken);
});

test('a scratch directory inside a directory the migration keeps is refused before anything is created', async () => {
  const inside: RunContext = { ...ctx, config: { ...ctx.config, paths: { ...ctx.config.paths, fastDataDir: ctx.config.paths.dataDir } } };
  const env = await envFor(deps, inside);
  assert.equal(path.dirname(env.layout.scratch), ctx.config.paths.dataDir);
  const err = await asActivity(() => a.schemaDrift(inside)).catch((e: unknown) => e);
  assert.ok(err instanceof ApplicationFailure && err.type === 'UnsafeLayout' && err.nonRetryable, String(err));
  await assert.rejects(fs.access(env.layout.scratch));
});

test('a dropped column or a changed type on the migrated database is unexpected and fails the step', async () => {
  await migratedSql('ALTER TABLE series DROP COLUMN series_custom1');
  await migratedSql('ALTER TABLE instance ALTER COLUMN sop_cuid TYPE text');
  const err = await asActivity(() => a.schemaDrift(ctx)).catch((e: unknown) => e);
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, 'VerificationFailed');
  assert.equal(err.nonRetryable, true);
  const env = await envFor(deps, ctx);
  assert.match(err.message, /in 2 unexpected way\(s\)/);
  assert.ok(err.message.includes('column instance.sop_cuid: type text in the migrated schema, character varying(255) in the fresh one'), err.message);
  assert.ok(err.message.includes('column series.series_custom1 (character varying(255) NOT NULL) is only in the fresh schema'), err.message);
  assert.ok(err.message.endsWith(`Every difference, classified: ${env.layout.drift}`), err.message);

  const { rules, ...written } = JSON.parse(await fs.readFile(env.layout.drift, 'utf8')) as DriftReport & { rules: unknown[] };
  assert.ok(rules.length > 0);
  assert.deepEqual(err.details, [written], 'the whole report travels with the failure, for the run report');
  assert.equal(written.unexpected, 2);
  assert.deepEqual(written.differences.slice(0, 2).map((d) => `${d.class} ${d.table}.${d.name} ${d.change}`), [
    'unexpected instance.sop_cuid type',
    'unexpected series.series_custom1 only in fresh',
  ]);
  assert.ok(written.expected > 0, 'the expected ones are listed as well');
  await assertScratchGone(ctx);
});
