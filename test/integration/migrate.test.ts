// The database migration end to end: real Temporal dev server, real PostgreSQL 9.6 and 15.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { approveSwapUpdate, progressQuery, runTagFor } from '../../src/shared.js';
import type { MigrationReport } from '../../src/report/types.js';
import { layoutFor } from '../../src/config/layout.js';
import { directoryBytes, exists } from '../../src/files.js';
import { STATEMENT_CLASSES } from '../../src/postgres/statement-class.js';
import { demoNode, fingerprint, recordHistory, startHarness, startMigration, waitForPhase, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('migrates 5.26 on 9.6 to 5.32 on 15; swaps only after approval', async () => {
  const node = await demoNode('success');
  const original = await fingerprint(node, node.config.paths.dataDir, 'old');
  const handle = await startMigration(h, node);
  const report = await withWorker(h, node.config.node, async () => {
    // Approval before verification is refused by the update's validator.
    await assert.rejects(handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'too-early' }] }), WorkflowUpdateFailedError);
    await waitForPhase(handle, 'awaiting-approval');
    const layout = layoutFor(node.config, runTagFor((await handle.describe()).runId));
    assert.ok(await exists(layout.new), 'the new directory exists before approval');
    assert.ok(!(await exists(layout.retired)), 'no swap before approval');
    const approval = await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin', comment: 'test' }] });
    assert.equal(approval.by, 'admin');
    return (await handle.result()) as MigrationReport;
  });

  assert.equal(report.outcome, 'completed');
  await recordHistory(h, handle, 'completed-local');
  // Before anything starts a server on it again: the size the report measured at -old.
  const originalBytes = await directoryBytes(layoutFor(node.config, report.runTag).retired);
  assert.deepEqual(report.versions.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
  const layout = layoutFor(node.config, report.runTag);
  assert.ok(!(await exists(layout.new)), '-new was moved into place');
  assert.ok(!(await exists(layout.work)), 'the 9.6 working directory is removed');
  assert.equal((await fs.readFile(`${layout.original}/PG_VERSION`, 'utf8')).trim(), '15');
  assert.equal((await fs.readFile(`${layout.retired}/PG_VERSION`, 'utf8')).trim(), '9.6');

  const migrated = await fingerprint(node, layout.original, 'new');
  assert.deepEqual(migrated.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
  for (const [table, facts] of Object.entries(original.inventory.tables)) {
    assert.equal(migrated.inventory.tables[table]?.count, facts.count, `rows of ${table}`);
  }
  assert.deepEqual(migrated.inventory.guide, original.inventory.guide);
  // The original, now at -old, was never written to.
  const kept = await fingerprint(node, layout.retired, 'old');
  assert.deepEqual(kept.inventory.tables, original.inventory.tables);

  // Every statement of every script, as psql timed it on the 9.6 working copy, in the script's order.
  for (const s of report.scripts) {
    assert.ok(s.statements?.length, `statements of ${s.version}`);
    for (const st of s.statements!) assert.ok(st.ms >= 0 && STATEMENT_CLASSES.includes(st.class) && st.sql.length > 0 && st.sql.length <= 80, `${s.version}: ${JSON.stringify(st)}`);
  }
  const notNull = 'alter table … set not null';
  assert.deepEqual(
    report.scripts.find((s) => s.version === '5.32')?.statements?.map((st) => st.class),
    ['update', 'update', 'alter table add/drop column', 'update', 'update', 'update', 'update', notNull, notNull, notNull],
  );

  const markdown = await fs.readFile(layout.report.markdown, 'utf8');
  assert.match(markdown, /Outcome: \*\*completed\*\*/);
  assert.match(markdown, /\| instance \| 500 \| 500 \|/);
  assert.match(markdown, /## Where the scripts' time went\n\n.*\n\n\| class \| statements \| took \| share \|\n\|---\|---:\|---:\|---:\|\n\| [^|]+ \| \d+ \| /);
  for (const v of report.versions.applied) assert.match(markdown, new RegExp(`\\| ${v.replace(/\./g, '\\.')} \\| \`[^\`]+\` \\| [^|]+ \\| \\d`), `slowest statements of ${v}`);
  // The estimate `plan` shows for this node, against the run.
  const written = JSON.parse(await fs.readFile(layout.report.json, 'utf8')) as MigrationReport;
  assert.equal(written.downtime?.dataDirBytes, originalBytes);
  assert.ok(written.downtime.tookMs > 0 && written.downtime.estimatedMs > 0, JSON.stringify(written.downtime));
  assert.match(markdown, /^- Estimated [\d.]+ s, took [\d.]+ s \([\d.]+× the estimate\): mode guide, verification checksums, a database directory of [\d.]+ MiB$/m);
  const mode = (await fs.stat(layout.report.json)).mode & 0o777;
  assert.equal(mode, 0o600);
  for (const dump of report.dumps) assert.equal((await fs.stat(dump.file)).mode & 0o777, 0o600);
  const progress = await handle.query(progressQuery).catch(() => undefined);
  if (progress) assert.equal(progress.phase, 'completed');
});

test('verification: counts migrates with row counts per table and says the content was not checksummed', async () => {
  const demo = await demoNode('counts');
  const node = { ...demo, config: { ...demo.config, verification: 'counts' as const } };
  const handle = await startMigration(h, node);
  const report = await withWorker(h, node.config.node, async () => {
    await waitForPhase(handle, 'awaiting-approval');
    await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
    return (await handle.result()) as MigrationReport;
  });
  assert.equal(report.outcome, 'completed');
  assert.equal(report.tablesBefore?.instance?.count, 500);
  assert.equal(report.tablesAfter?.instance?.count, 500);
  for (const facts of [...Object.values(report.tablesBefore ?? {}), ...Object.values(report.guideAfter ?? {})]) assert.equal(facts.checksum, '');
  assert.equal(report.guideAfter?.sopIuids.count, 500);
  const markdown = await fs.readFile(layoutFor(node.config, report.runTag).report.markdown, 'utf8');
  assert.match(markdown, /\| instance \| 500 \| 500 \| not checksummed \(verification: counts\) \|/);
});
