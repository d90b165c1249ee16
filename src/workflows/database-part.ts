// The database part of a migration, from startOriginal to stopNew: the original read, migrated
// into a verified, stopped PostgreSQL 15 directory beside it. A migration goes on to the swap; a
// rehearsal runs this part alone, on scratch copies.
import * as wf from '@temporalio/workflow';
import { SA_ARCHIVE_VERSION } from '../shared.js';
import { run } from './activities.js';
import { fastPath } from './fast-path.js';
import { dumpOriginal, guidePath } from './guide-path.js';
import type { DatabasePart, Migrated, Migration } from './migration.js';
import { schemaDrift } from './schema-drift.js';
import { together } from './together.js';

export async function migrateDatabase(d: DatabasePart): Promise<Migration> {
  const { ctx, config, rec, acts, saga, plan, oneActivityPerStep, overlapped, bulkLoadReady } = d;
  const { report } = rec;
  saga.onRollback('stop the original server', () =>
    // Patched: runs recorded before this change only stopped it, leaving its container behind.
    wf.patched('rollback-removes-original-container')
      ? run(acts.undo.discardServer, 'stop and remove the original server', ctx, 'original')
      : run(acts.undo.stopServer, 'stop the original server', ctx, 'original').then(() => 'stopped the original server'),
  );
  await rec.step('startOriginal', `PostgreSQL 9.6 on ${plan.layout.original}, read-only sessions`, () => run(acts.control.startServer, 'start the original (read-only)', ctx, 'original'));
  const inventory = () =>
    rec.step('inventory', `tables, row counts${config.verification === 'checksums' ? ', checksums' : ''}, applied versions`, () => run(acts.transfer.inventory, 'inventory of the original', ctx, 'original'), (r) =>
      `${Object.keys(r.inventory.tables).length} tables, ${r.inventory.guide.sopIuids.count} instances, ${r.inventory.guide.seriesIuids.count} series; at ${r.appliedVersions.at(-1) ?? '5.26'}`,
    );
  const begin = (before: Migration['before']): Migration => {
    report.tablesBefore = before.inventory.tables;
    report.guideBefore = before.inventory.guide;
    report.versions.alreadyPresent = before.appliedVersions;
    wf.upsertSearchAttributes([{ key: SA_ARCHIVE_VERSION, value: before.appliedVersions.at(-1) ?? '5.26' }]);
    const pending = plan.scripts.filter((s) => !before.appliedVersions.includes(s.version));
    return { ctx, config, rec, acts, saga, plan, before, pending, targetVersions: [...before.appliedVersions, ...pending.map((s) => s.version)], oneActivityPerStep, overlapped, bulkLoadReady };
  };
  let migration: Migration;
  let after: Migrated;
  if (config.mode === 'fast') {
    // Fast mode streams the original while it is inventoried: both only read it. Patched: runs
    // recorded before took the inventory first.
    const beside = overlapped && wf.patched('inventory-beside-stream');
    [migration, after] = await fastPath(d, beside ? { inventory, begin } : begin(await inventory()));
  } else {
    // Guide mode dumps the original while it is inventoried.
    const [before, dumped] = overlapped ? await together(inventory, () => dumpOriginal({ rec, ctx, acts, plan }, 0)) : [await inventory(), undefined];
    migration = begin(before);
    after = await guidePath(migration, dumped);
  }
  report.tablesAfter = after.inventory.tables;
  report.guideAfter = after.inventory.guide;
  // Overlapped runs took it beside the last check (finalCheck). Patched: runs recorded before
  // the drift report went from verifyNew to stopNew.
  if (!overlapped && wf.patched('schema-drift')) report.schemaDrift = await schemaDrift(migration);
  await rec.step('stopNew', 'stop the new server', () => run(acts.control.stopServer, 'stop the new server', ctx, 'new'));
  return migration;
}
