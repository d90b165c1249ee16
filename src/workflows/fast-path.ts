// The fast path: no 9.6 working copy. One dump streams into the backup file and into PostgreSQL 15
// under bulk-load settings at once; the updates run there; durability comes back before the check.
import type { DumpResult } from '../postgres/transfer.js';
import { mib } from '../format.js';
import { run } from './activities.js';
import { describe, failureType } from './failures.js';
import { applyUpdates, discardOnRollback, reached, type Migrated, type Migration } from './migration.js';
import { assertUpdated } from './updated-check.js';

/** A machine that keeps crashing during the load is not one to migrate on: roll back after this many. */
const MAX_LOADS = 3;

export async function fastPath(m: Migration): Promise<Migrated> {
  m.rec.skip('dumpOriginal', 'fast mode: the dump streams into restoreNew');
  discardOnRollback(m, 'new');
  let backup: DumpResult | undefined;
  for (let load = 1; ; load += 1) {
    try {
      return await loadAndUpdate(m, backup, (dump) => (backup = dump));
    } catch (err) {
      // Without fsync a machine crash leaves the new directory untrustworthy: load it again (from
      // the backup once that is complete) instead of rolling the migration back.
      if (failureType(err) !== 'BulkLoadLost' || load === MAX_LOADS) throw err;
      m.rec.report.reloads = [...(m.rec.report.reloads ?? []), describe(err)];
      m.rec.report.scripts = [];
      m.rec.report.versions.applied = [];
    }
  }
}

async function loadAndUpdate(m: Migration, backup: DumpResult | undefined, keep: (dump: DumpResult) => void): Promise<Migrated> {
  const { rec, ctx, before, plan } = m;
  const { control, transfer } = m.acts;
  await rec.step('startNew', `PostgreSQL 15 on ${plan.layout.new}, bulk-load settings`, () => run(control.prepareBulkLoad, 'start PostgreSQL 15 for a bulk load', ctx), () => 'fsync off until the load is done');
  if (!backup) {
    const dumped = await rec.step('restoreNew', 'dump to the backup and into PostgreSQL 15 in one pass; every table compared', async () => {
      const dump = await run(transfer.streamOriginalToNew, 'dump and restore in one pass', ctx, before.inventory.tableBytes);
      await run(transfer.verify, 'verify the load against the inventory', ctx, 'new', before, before.appliedVersions);
      return dump;
    }, (d) => `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…; all tables equal`);
    rec.report.dumps.push({ name: 'original', ...dumped });
    keep(dumped);
    await rec.step('stopOriginal', 'stop the original server', () => run(control.stopServer, 'stop the original server', ctx, 'original'));
    for (const name of ['startWork', 'restoreWork', 'verifyWork'] as const) rec.skip(name, 'fast mode: no intermediate 9.6 copy');
  } else {
    const dump = backup;
    await rec.step('restoreNew', 'load again from the backup dump; every table compared', async () => {
      const restored = await run(transfer.restore, 'restore the backup into PostgreSQL 15', ctx, 'new', dump);
      await run(transfer.verify, 'verify the load against the inventory', ctx, 'new', before, before.appliedVersions);
      return restored;
    }, (r) => `${mib(r.bytes)} from ${dump.file}; all tables equal`);
  }
  await applyUpdates(m, 'new');
  if (!rec.report.steps.some((s) => s.step === 'dumpUpdated')) {
    rec.skip('dumpUpdated', 'fast mode: the original dump is the backup');
    rec.skip('stopWork', 'fast mode: no intermediate 9.6 copy');
  }
  return rec.step('verifyNew', 'durable again; every table and the guide figures against the inventory', async () => {
    await run(transfer.restoreDurability, 'make the new server durable', ctx);
    const result = await run(transfer.inventory, 'inventory of the new database', ctx, 'new');
    assertUpdated('new', before, result, m.targetVersions);
    return result;
  }, () => `all tables equal; archive ${reached(m)}`);
}
