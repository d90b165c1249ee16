// The guide's path: dump, a 9.6 working copy, the updates there, a second dump into PostgreSQL 15.
import { duration, mib } from '../format.js';
import type { DumpResult, Loaded } from '../postgres/transfer.js';
import { run } from './activities.js';
import { finalCheck } from './schema-drift.js';
import { legacyDumpUpdated } from './legacy-steps.js';
import { applyUpdatesAndVerify, discardOnRollback, reached, recordDatabase, rewrittenBy, skipAll, verifyLoaded, type Migrated, type Migration } from './migration.js';
import { together } from './together.js';

/** Step dumpOriginal; `expectedBytes` 0 when the inventory that gives it runs beside it. */
export function dumpOriginal(m: Pick<Migration, 'rec' | 'ctx' | 'acts' | 'plan'>, expectedBytes: number): Promise<DumpResult & { ms: number }> {
  return m.rec.step('dumpOriginal', `plain SQL to ${m.plan.layout.dumps.original}`, () => run(m.acts.transfer.dump, 'dump the original', m.ctx, 'original', 'original', expectedBytes), (d) =>
    `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…`,
  );
}

/** `dumped`: the original's dump when it was taken beside the inventory. */
export async function guidePath(m: Migration, dumped?: DumpResult & { ms: number }): Promise<Migrated> {
  const { rec, ctx, before, plan } = m;
  const { control, transfer } = m.acts;
  const dumpedOriginal = dumped ?? (await dumpOriginal(m, before.inventory.tableBytes));
  rec.report.dumps.push({ name: 'original', ...dumpedOriginal });
  await rec.step('stopOriginal', 'stop the original server', () => run(control.stopServer, 'stop the original server', ctx, 'original'));

  // Restores recorded before the room existed gave none (roomGiven absent).
  const { roomGiven } = await startAndRestore(m, 'work', dumpedOriginal, rewrittenBy(m.pending));
  const left = await verifyLoaded(m, 'verifyWork', 'work', 'verify the working copy');
  skipAll(m, ['prepareBulkLoad', 'streamOriginalToNew', 'verifyLoad'], 'guide mode: the 9.6 working copy instead');
  await applyUpdatesAndVerify(m, 'work', left);
  rec.skip('restoreDurability', 'guide mode: no bulk load');

  const verifyUpdated = () =>
    rec.step('verifyUpdated', 'every original table and the guide figures after the updates', () => run(transfer.verifyUpdated, 'verify the updated database', ctx, 'work', before, m.targetVersions), () =>
      `all rows kept; archive ${reached(m)}`,
    );
  const dumpUpdated = (tableBytes: number) =>
    rec.step('dumpUpdated', `plain SQL to ${plan.layout.dumps.updated}`, () => run(transfer.dump, 'dump the updated database', ctx, 'work', 'updated', tableBytes, roomGiven ?? []), (d) =>
      `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…`,
    );
  let inventory: Migrated;
  let dump: DumpResult & { ms: number };
  // The dump of a copy that fails its check is discarded with it.
  if (m.overlapped) [inventory, dump] = await together(verifyUpdated, () => dumpUpdated(before.inventory.tableBytes));
  else if (m.oneActivityPerStep) {
    inventory = await verifyUpdated();
    dump = await dumpUpdated(inventory.inventory.tableBytes);
  } else ({ inventory, dump } = await legacyDumpUpdated(m));
  rec.report.dumps.push({ name: 'updated', ...dump });
  await rec.step('stopWork', 'stop the 9.6 working server', () => run(control.stopServer, 'stop the working server', ctx, 'work'));

  await startAndRestore(m, 'new', dump);
  const verifyNew = () =>
    rec.step('verifyNew', 'every table against the updated database', () => run(transfer.verify, 'verify the new database', ctx, 'new', inventory, m.targetVersions), () =>
      `all tables equal; archive ${reached(m)}`,
    );
  return finalCheck(m, verifyNew);
}

/**
 * Steps startWork and restoreWork, or startNew and restoreNew: a server of this run, the dump
 * restored into it, the tables `rewritten` by the updates to come with room on their pages.
 */
async function startAndRestore(m: Migration, role: 'work' | 'new', dump: DumpResult, rewritten: string[] = []): Promise<Loaded> {
  const { rec, ctx } = m;
  const [start, restore, server] = role === 'work' ? (['startWork', 'restoreWork', 'the 9.6 working copy'] as const) : (['startNew', 'restoreNew', 'PostgreSQL 15'] as const);
  discardOnRollback(m, role);
  await rec.step(start, `${role === 'work' ? 'PostgreSQL 9.6' : 'PostgreSQL 15'} on ${m.plan.layout.dataDirOf[role]}`, () => run(m.acts.control.startServer, `start ${server}`, ctx, role));
  return rec.step(restore, 'into an empty pacsdb, replica role, one transaction', async () => {
    const restored = await run(m.acts.transfer.restore, `restore into ${server}`, ctx, role, dump, rewritten);
    recordDatabase(m, role, restored.created, restored.roomGiven);
    return restored;
  }, (r) => `${mib(r.bytes)} in ${duration(r.ms)}`);
}
