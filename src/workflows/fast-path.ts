// The fast path: no 9.6 working copy. One dump streams into the backup file and into PostgreSQL 15
// under bulk-load settings at once; the updates run there; durability comes back before the check.
import type { Timed } from '../postgres/maintenance.js';
import type { DeferIndexes, DeferredIndex } from '../postgres/rewrite-room.js';
import type { InventoryResult } from '../activities/inventory.js';
import type { Left } from '../activities/verify.js';
import type { UpdateScript } from '../plan/scripts.js';
import type { DumpResult, Loaded } from '../postgres/transfer.js';
import { duration, mib } from '../format.js';
import { run } from './activities.js';
import { finalCheck } from './schema-drift.js';
import { describe, failureType } from './failures.js';
import { legacyStreamAndVerify, legacyVerifyNew } from './legacy-steps.js';
import { together } from './together.js';
import { applyUpdatesAndVerify, discardOnRollback, reached, recordDatabase, rewrittenBy, skipAll, verifyLoaded, type DatabasePart, type Migrated, type Migration } from './migration.js';

/** A machine that keeps crashing during the load is not one to migrate on: roll back after this many. */
const MAX_LOADS = 3;

/**
 * Step prepareBulkLoad (its undo, discardOnRollback 'new', registered before it). A migration runs
 * it before the archive stops (bulkLoadReady); runs recorded before, and rehearsals, before each load.
 */
export async function prepareBulkLoad(m: Pick<Migration, 'rec' | 'acts' | 'ctx' | 'plan'>): Promise<void> {
  await m.rec.step('prepareBulkLoad', `PostgreSQL 15 on ${m.plan.layout.new}, bulk-load settings`, () => run(m.acts.control.prepareBulkLoad, 'start PostgreSQL 15 for a bulk load', m.ctx), () => 'fsync off until the load is done');
}

/**
 * Overlapped runs: the original's inventory, still to take beside the first stream (both only read
 * the original, which nothing changes meanwhile), and what makes the migration of it.
 */
export interface BesideInventory {
  inventory: () => Promise<InventoryResult>;
  begin: (before: InventoryResult) => Migration;
}

/** `start`: the migration once the original is inventoried, or the inventory to take beside the load. */
export async function fastPath(d: DatabasePart, start: Migration | BesideInventory): Promise<[Migration, Migrated]> {
  d.rec.skip('dumpOriginal', 'fast mode: the dump streams into the new server (streamOriginalToNew)');
  if (!d.bulkLoadReady) discardOnRollback(d, 'new');
  let m = 'before' in start ? start : undefined;
  let before: InventoryResult | undefined;
  let backup: DumpResult | undefined;
  for (let load = 1; ; load += 1) {
    try {
      // A load again after a machine crash prepares the directory again (prepareBulkLoad removes it).
      if (load > 1 || !d.bulkLoadReady) await prepareBulkLoad(d);
      if (m) return [m, await loadAndUpdate(m, backup, (dump) => (backup = dump))];
      // Which scripts are pending is known only after the inventory: the stream gives room and
      // keeps indexes for every script of the plan (pending ones are among them).
      const beside = start as BesideInventory;
      const [inventoried, streamed] = await together(
        () => beside.inventory().then((b) => (before = b)),
        () => streamOriginalToNew(d, 0, d.plan.scripts),
      );
      m = beside.begin(inventoried);
      return [m, await loadAndUpdate(m, backup, (dump) => (backup = dump), streamed)];
    } catch (err) {
      // An inventory that ended before the load was lost is not taken again.
      if (!m && before) m = (start as BesideInventory).begin(before);
      // Without fsync a machine crash leaves the new directory untrustworthy: load it again (from
      // the backup once that is complete) instead of rolling the migration back.
      if (failureType(err) !== 'BulkLoadLost' || load === MAX_LOADS) throw err;
      d.rec.report.reloads = [...(d.rec.report.reloads ?? []), describe(err)];
      d.rec.report.scripts = [];
      d.rec.report.versions.applied = [];
    }
  }
}

type Streamed = DumpResult & { ms: number } & Loaded;

/** Step streamOriginalToNew, the load prepared for `scripts`; `expectedBytes` 0: read by the step. */
function streamOriginalToNew(m: Pick<Migration, 'rec' | 'acts' | 'ctx'>, expectedBytes: number, scripts: UpdateScript[]): Promise<Streamed> {
  return m.rec.step('streamOriginalToNew', 'dump to the backup and into PostgreSQL 15 in one pass', () => run(m.acts.transfer.streamOriginalToNew, 'dump and restore in one pass', m.ctx, expectedBytes, rewrittenBy(scripts), deferIndexes(scripts)), (d) =>
    `${mib(d.bytes)}, sha256 ${d.sha256.slice(0, 12)}…`,
  );
}

/**
 * The rewritten tables' plain indexes that no update script names (rewrite-room.ts) wait until
 * restoreDurability, which compacts those tables and would build them again anyway. None when a
 * recorded plan does not say what its scripts name.
 */
function deferIndexes(scripts: UpdateScript[]): DeferIndexes | undefined {
  if (!scripts.every((s) => s.mentions)) return undefined;
  return { tables: rewrittenBy(scripts), mentioned: [...new Set(scripts.flatMap((s) => s.mentions!))] };
}

const LONGEST_PARTS = 4;

/** The step's longest parts, longest first (results recorded before they were timed have none). */
function longestParts(parts: Timed[] = []): string {
  const longest = [...parts].sort((a, b) => b.ms - a.ms).slice(0, LONGEST_PARTS);
  return longest.length > 0 ? `; longest: ${longest.map((p) => `${p.what} ${duration(p.ms)}`).join(', ')}` : '';
}

/** `streamed`: the first load, when it ran beside the inventory. */
async function loadAndUpdate(m: Migration, backup: DumpResult | undefined, keep: (dump: DumpResult) => void, streamed?: Streamed): Promise<Migrated> {
  const { rec, ctx, before } = m;
  const { control, transfer } = m.acts;
  const verifyLoad = () => verifyLoaded(m, 'verifyLoad', 'new', 'verify the load against the inventory');
  const firstLoad = !backup;
  // Restores recorded before the room existed gave none (roomGiven absent), nor left indexes (deferred).
  let roomGiven: string[] = [];
  let deferred: DeferredIndex[] = [];
  let untouched: Left = { left: [] };

  if (!backup) {
    let loaded: Awaited<ReturnType<typeof legacyStreamAndVerify>>;
    if (m.oneActivityPerStep) {
      loaded = streamed ?? (await streamOriginalToNew(m, before.inventory.tableBytes, m.pending));
      untouched = await verifyLoad();
    } else loaded = await legacyStreamAndVerify(m);
    const { created, roomGiven: given, deferred: left, ...dump } = loaded;
    roomGiven = given ?? [];
    deferred = left ?? [];
    rec.report.dumps.push({ name: 'original', ...dump });
    if (created) recordDatabase(m, 'new', created, given);
    keep(dump);
    await rec.step('stopOriginal', 'stop the original server', () => run(control.stopServer, 'stop the original server', ctx, 'original'));
    skipAll(m, ['startWork', 'restoreWork', 'verifyWork'], 'fast mode: no intermediate 9.6 copy');
  } else {
    const dump = backup;
    const restored = await rec.step('restoreNew', 'load again from the backup dump', () => run(transfer.restore, 'restore the backup into PostgreSQL 15', ctx, 'new', dump, rewrittenBy(m.pending), deferIndexes(m.pending)), (r) => `${mib(r.bytes)} from ${dump.file}`);
    roomGiven = restored.roomGiven ?? [];
    deferred = restored.deferred ?? [];
    recordDatabase(m, 'new', restored.created, roomGiven);
    untouched = await verifyLoad();
  }
  await applyUpdatesAndVerify(m, 'new', untouched);
  if (!m.oneActivityPerStep) return legacyVerifyNew(m);
  await rec.step('restoreDurability', 'bulk-load settings off, every file fsynced, a checkpoint', () => run(transfer.restoreDurability, 'make the new server durable', ctx, roomGiven, deferred), (r) =>
    `${deferred.length} indexes built after the updates, ${r.filesSynced} files synced${longestParts(r.parts)}`,
  );
  const verifyUpdated = () =>
    rec.step('verifyUpdated', 'every original table and the guide figures after the updates', () => run(transfer.verifyUpdated, 'verify the new database', ctx, 'new', before, m.targetVersions, 'counts'), () =>
      `all rows kept; archive ${reached(m)}`,
    );
  const result = await finalCheck(m, verifyUpdated);
  if (firstLoad) skipAll(m, ['dumpUpdated', 'stopWork', 'startNew', 'restoreNew', 'verifyNew'], 'fast mode: verifyUpdated checked the new database; the original dump is the backup');
  return result;
}
