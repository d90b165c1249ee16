// Failures roll back, in both modes: the original directory is in place, its database identical to
// the inventory, and nothing of the run is left behind but the migrated directory, kept aside.
import assert from 'node:assert/strict';
import { runTagFor, type StepName } from '../../src/shared.js';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { layoutFor } from '../../src/config/layout.js';
import { DEMO_SCRIPTS_DIR, type DemoNode } from '../../src/demo/node.js';
import { runtimeFor } from '../../src/deps.js';
import { exists } from '../../src/files.js';
import type { MigrationReport } from '../../src/report/types.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { MODES, type Mode } from '../support/fake-saga.js';
import { demoNode, fingerprint, recordHistory, startHarness, startMigration, tempDir, waitForPhase, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

/**
 * Nothing of the run is left: no working directory, no server process on any of its directories.
 * Guide mode fails before startNew: there is no migrated directory, so none is kept aside either;
 * fast mode has created it (prepareBulkLoad) and keeps it aside, at PostgreSQL 15.
 */
async function assertNothingLeft(node: DemoNode, runTag: string, mode: Mode): Promise<void> {
  const layout = layoutFor(node.config, runTag);
  assert.ok(!(await exists(layout.work)), `${layout.work} removed`);
  assert.ok(!(await exists(layout.new)), `${layout.new} ${mode === 'fast' ? 'moved aside' : 'never created'}`);
  if (mode === 'fast') assert.equal((await fs.readFile(path.join(layout.failed, 'PG_VERSION'), 'utf8')).trim(), '15', `${layout.failed} kept`);
  else assert.ok(!(await exists(layout.failed)), `${layout.failed} never created`);
  assert.ok(!(await exists(layout.retired)), `${layout.retired} never created`);
  const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
  for (const dir of [layout.original, layout.work, layout.new]) {
    assert.ok(!ps.split('\n').some((line) => line.includes(`-D ${dir} `)), `no server on ${dir}`);
  }
}

async function failedRun(h: Harness, node: DemoNode, deps?: Parameters<typeof withWorker>[3]) {
  const handle = await startMigration(h, node);
  const error = await withWorker(h, node.config.node, () => handle.result().then(() => assert.fail('the run should fail'), (e: unknown) => e), deps);
  assert.ok(error instanceof WorkflowFailedError);
  const runTag = runTagFor((await handle.describe()).runId);
  const report = JSON.parse(await fs.readFile(layoutFor(node.config, runTag).report.json, 'utf8')) as MigrationReport;
  return { error, report, handle };
}

const inMode = (mode: Mode) => (raw: ConfigInput): ConfigInput => ({ ...raw, mode });

for (const mode of MODES) {
  test(`${mode} mode: a failing update script (5.30) rolls back; the original is identical to the inventory`, async () => {
    const scripts = await tempDir('broken-scripts');
    for (const f of await fs.readdir(DEMO_SCRIPTS_DIR)) await fs.copyFile(path.join(DEMO_SCRIPTS_DIR, f), path.join(scripts, f));
    // Valid SQL first, then an error: the whole script must be rolled back, not half applied.
    await fs.appendFile(path.join(scripts, 'update-5.30-psql.sql'), '\nALTER TABLE mwl_item ADD COLUMN no_such_type no_such_type;\n');
    const node = await demoNode(`bad-script-${mode}`, { scriptsDir: scripts, overrides: inMode(mode) });
    const before = await fingerprint(node, node.config.paths.dataDir, 'old');

    const { error, report, handle } = await failedRun(h, node);
    // The replay test's fixture is a guide-mode run.
    if (mode === 'guide') await recordHistory(h, handle, 'script-failure-rolled-back');
    assert.match(error.cause?.message ?? '', /step applyUpdates failed: update-5\.30-psql\.sql failed .*no_such_type/);
    assert.match(error.cause?.message ?? '', /rolled back/);
    assert.equal(report.outcome, 'rolled-back');
    assert.deepEqual(report.versions.applied, ['5.27', '5.28', '5.29']);
    assert.deepEqual(report.rollback?.notUndone, []);

    await assertNothingLeft(node, report.runTag, mode);
    const after = await fingerprint(node, node.config.paths.dataDir, 'old');
    assert.deepEqual(after, before);
  });
}

/**
 * Where each mode restores the original's dump (the session the lossy runtime picks) and the step
 * that verifies the rows of `location`: no update script names it, so verifyUntouched, beside the updates.
 */
const LOSSY: Record<Mode, { session: string; verifiedBy: StepName }> = {
  guide: { session: 'kaapana-migrate-restore-work', verifiedBy: 'verifyUntouched' },
  fast: { session: 'kaapana-migrate-stream-restore', verifiedBy: 'verifyUntouched' },
};

for (const [mode, { session, verifiedBy }] of Object.entries(LOSSY) as [Mode, (typeof LOSSY)[Mode]][]) {
  test(`${mode} mode: a restore that loses rows fails ${verifiedBy} and rolls back`, async () => {
    const node = await demoNode(`lossy-restore-${mode}`, { overrides: inMode(mode) });
    const before = await fingerprint(node, node.config.paths.dataDir, 'old');
    // A runtime whose restore input silently loses one row of the location table's COPY data
    // (nothing references location, so only the verification can notice).
    const lossy: Parameters<typeof withWorker>[3] = {
      runtimeFor: (config, credentials) => {
        const real = runtimeFor(config, credentials);
        return {
          ...real,
          exec: (name, argv, io = {}) => (io.stdin && io.appName === session ? real.exec(name, argv, { ...io, stdin: io.stdin.pipe(dropOneLocationRow()) }) : real.exec(name, argv, io)),
        };
      },
    };
    const { error, report } = await failedRun(h, node, lossy);
    assert.match(error.cause?.message ?? '', new RegExp(`step ${verifiedBy} failed: .*table location has 499 rows, expected 500`));
    assert.equal(report.outcome, 'rolled-back');
    await assertNothingLeft(node, report.runTag, mode);
    assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), before);
  });
}

test("a copy an earlier run's rollback kept does not stop a later run; that run's rollback keeps its own beside it", async () => {
  const node = await demoNode('kept-copies');
  const before = await fingerprint(node, node.config.paths.dataDir, 'old');
  const earlier = `${node.config.paths.dataDir}-failed-earlier1`;
  await fs.mkdir(earlier);
  await fs.writeFile(path.join(earlier, 'PG_VERSION'), '15\n');
  const handle = await startMigration(h, node);
  const error = await withWorker(h, node.config.node, async () => {
    // Cancelled at the gate: the migrated directory is complete and verified, not swapped.
    await waitForPhase(handle, 'awaiting-approval');
    await handle.cancel();
    return handle.result().then(() => assert.fail('the run should fail'), (e: unknown) => e);
  });
  assert.ok(error instanceof WorkflowFailedError);
  const runTag = runTagFor((await handle.describe()).runId);
  const layout = layoutFor(node.config, runTag);
  const report = JSON.parse(await fs.readFile(layout.report.json, 'utf8')) as MigrationReport;
  assert.equal(report.outcome, 'rolled-back');
  assert.ok(report.rollback?.undone.includes(`stopped the new server and moved ${layout.new} to ${layout.failed} (kept for diagnosis; remove it when no longer needed)`), JSON.stringify(report.rollback));
  assert.deepEqual(await fs.readdir(earlier), ['PG_VERSION'], 'the earlier copy is left alone');
  const kept = await fingerprint(node, layout.failed, 'new');
  // The kept copy is the migrated database: at 5.32, with every row of the original.
  assert.equal(kept.applied.at(-1), '5.32');
  for (const [table, facts] of Object.entries(before.inventory.tables)) assert.equal(kept.inventory.tables[table]?.count, facts.count, table);
  assert.ok(!(await exists(layout.new)) && !(await exists(layout.work)));
  assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), before);
});

/** Drops the first data line after `COPY public.location`. */
function dropOneLocationRow(): Transform {
  let pending = '';
  let inLocation = false;
  let dropped = false;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const lines = (pending + chunk.toString('utf8')).split('\n');
      pending = lines.pop()!;
      const kept = lines.filter((line) => {
        if (line.startsWith('COPY public.location ')) inLocation = true;
        else if (inLocation && !dropped && line !== '\\.') {
          dropped = true;
          return false;
        }
        return true;
      });
      done(null, kept.map((l) => `${l}\n`).join(''));
    },
    flush(done) {
      done(null, pending);
    },
  });
}
