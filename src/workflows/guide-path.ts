// The guide's path: dump, a 9.6 working copy, the updates there, a second dump into PostgreSQL 15.
import { duration, mib } from '../format.js';
import { run } from './activities.js';
import { applyUpdates, discardOnRollback, reached, type Migrated, type Migration } from './migration.js';
import { assertUpdated } from './updated-check.js';

export async function guidePath(m: Migration): Promise<Migrated> {
  const { rec, ctx, before, plan } = m;
  const { control, transfer } = m.acts;
  const dumpOriginal = await rec.step('dumpOriginal', `plain SQL to ${plan.layout.dumps.original}`, () => run(transfer.dump, 'dump the original', ctx, 'original', 'original', before.inventory.tableBytes), (d) =>
    `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…`,
  );
  rec.report.dumps.push({ name: 'original', ...dumpOriginal });
  await rec.step('stopOriginal', 'stop the original server', () => run(control.stopServer, 'stop the original server', ctx, 'original'));

  discardOnRollback(m, 'work');
  await rec.step('startWork', `PostgreSQL 9.6 on ${plan.layout.work}`, () => run(control.startServer, 'start the 9.6 working server', ctx, 'work'));
  await rec.step('restoreWork', 'into an empty pacsdb, replica role, one transaction', () => run(transfer.restore, 'restore into the 9.6 working copy', ctx, 'work', dumpOriginal), (r) => `${mib(r.bytes)} in ${duration(r.ms)}`);
  await rec.step('verifyWork', 'every table against the inventory', () => run(transfer.verify, 'verify the working copy', ctx, 'work', before, before.appliedVersions), () => 'all tables equal');
  await applyUpdates(m, 'work');

  const updated = await rec.step('dumpUpdated', `plain SQL to ${plan.layout.dumps.updated}`, async () => {
    const inventory = await run(transfer.inventory, 'inventory after the updates', ctx, 'work');
    assertUpdated('updated', before, inventory, m.targetVersions);
    const dump = await run(transfer.dump, 'dump the updated database', ctx, 'work', 'updated', inventory.inventory.tableBytes);
    return { inventory, dump };
  }, (u) => `${mib(u.dump.bytes)}, sha256 ${u.dump.sha256.slice(0, 12)}…`);
  rec.report.dumps.push({ name: 'updated', ...updated.dump });
  await rec.step('stopWork', 'stop the 9.6 working server', () => run(control.stopServer, 'stop the working server', ctx, 'work'));

  discardOnRollback(m, 'new');
  await rec.step('startNew', `PostgreSQL 15 on ${plan.layout.new}`, () => run(control.startServer, 'start the new PostgreSQL 15 server', ctx, 'new'));
  await rec.step('restoreNew', 'into an empty pacsdb, replica role, one transaction', () => run(transfer.restore, 'restore into PostgreSQL 15', ctx, 'new', updated.dump), (r) => `${mib(r.bytes)} in ${duration(r.ms)}`);
  return rec.step('verifyNew', 'every table against the updated database', () => run(transfer.verify, 'verify the new database', ctx, 'new', updated.inventory, m.targetVersions), () =>
    `all tables equal; archive ${reached(m)}`,
  );
}
