// Steps as runs started before `one-activity-per-step` took them: several activities in one step
// (one search-attribute update), the check after the updates in the workflow. Only their replay
// comes here; this file goes once no such run is open.
import { ApplicationFailure } from '@temporalio/common';
import { mib } from '../format.js';
import type { InventoryResult } from '../activities/inventory.js';
import { compareUpdated } from '../verification/compare.js';
import { run } from './activities.js';
import { reached, type Migrated, type Migration } from './migration.js';

function assertUpdated(what: string, m: Migration, after: InventoryResult): void {
  const problems = compareUpdated(m.before, after, m.targetVersions);
  if (problems.length > 0) throw ApplicationFailure.nonRetryable(`the ${what} database does not match: ${problems.join('; ')}`, 'VerificationFailed');
}

/** Guide mode: the inventory after the updates, checked, and the dump, as step dumpUpdated. */
export function legacyDumpUpdated(m: Migration) {
  return m.rec.step('dumpUpdated', `plain SQL to ${m.plan.layout.dumps.updated}`, async () => {
    const inventory = await run(m.acts.transfer.inventory, 'inventory after the updates', m.ctx, 'work');
    assertUpdated('updated', m, inventory);
    const dump = await run(m.acts.transfer.dump, 'dump the updated database', m.ctx, 'work', 'updated', inventory.inventory.tableBytes);
    return { inventory, dump };
  }, (u) => `${mib(u.dump.bytes)}, sha256 ${u.dump.sha256.slice(0, 12)}…`);
}

/** Fast mode: the streamed load and its verification, as step restoreNew. */
export function legacyStreamAndVerify(m: Migration) {
  return m.rec.step('restoreNew', 'dump to the backup and into PostgreSQL 15 in one pass; every table compared', async () => {
    const dump = await run(m.acts.transfer.streamOriginalToNew, 'dump and restore in one pass', m.ctx, m.before.inventory.tableBytes);
    await run(m.acts.transfer.verify, 'verify the load against the inventory', m.ctx, 'new', m.before, m.before.appliedVersions);
    return dump;
  }, (d) => `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…; all tables equal`);
}

/** Fast mode: durability back, the inventory, checked, as step verifyNew. */
export function legacyVerifyNew(m: Migration): Promise<Migrated> {
  return m.rec.step('verifyNew', 'durable again; every table and the guide figures against the inventory', async () => {
    await run(m.acts.transfer.restoreDurability, 'make the new server durable', m.ctx);
    const result = await run(m.acts.transfer.inventory, 'inventory of the new database', m.ctx, 'new');
    assertUpdated('new', m, result);
    return result;
  }, () => `all tables equal; archive ${reached(m)}`);
}
