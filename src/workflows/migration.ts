// What the steps of one migration share once the original is inventoried.
import type { RunContext } from '../activities/context.js';
import type { InventoryResult } from '../activities/inventory.js';
import type { Left } from '../activities/verify.js';
import type { Plan } from '../activities/preflight.js';
import type { ServerRole } from '../config/layout.js';
import type { MigrationConfig } from '../config/schema.js';
import type { UpdateScript } from '../plan/scripts.js';
import type { CreatedDatabase } from '../postgres/transfer.js';
import { SA_ARCHIVE_VERSION, type StepName } from '../shared.js';
import * as wf from '@temporalio/workflow';
import { duration } from '../format.js';
import { run, type Acts } from './activities.js';
import type { Recorder } from './recorder.js';
import type { Saga } from './saga.js';
import { together } from './together.js';
import { untouchedBy } from '../plan/untouched.js';

export interface Migration {
  ctx: RunContext;
  config: MigrationConfig;
  rec: Recorder;
  acts: Acts;
  /** Where the steps register their undo (a rehearsal removes all of its scratch at once instead). */
  saga: Pick<Saga, 'onRollback'>;
  plan: Plan;
  /** The original's inventory: what every later database must hold. */
  before: InventoryResult;
  /** The update scripts the original does not carry yet, in version order. */
  pending: UpdateScript[];
  /** Every archive version the migrated database must carry. */
  targetVersions: string[];
  /** Each step one activity; false only on replay of runs recorded before (see legacy-steps.ts). */
  oneActivityPerStep: boolean;
  /**
   * Steps that read the same unchanging database run at once (together.ts): the original's
   * inventory and dump, the updated copy's check and dump, the last check and schemaDrift. False
   * on replay of runs recorded before.
   */
  overlapped: boolean;
  /**
   * Fast mode: the new server was prepared for the bulk load (and its undo registered) before the
   * archive stopped. False on replay of runs recorded before, and in rehearsals.
   */
  bulkLoadReady?: boolean;
}

/** The database a path hands over: verified, stopped, ready for the swap. */
export type Migrated = InventoryResult;

/** What the database part needs: a migration before its original is inventoried. */
export type DatabasePart = Pick<Migration, 'ctx' | 'config' | 'rec' | 'acts' | 'saga' | 'plan' | 'oneActivityPerStep' | 'overlapped' | 'bulkLoadReady'>;

/** Registers the undo of a server this run creates, before it is created. */
export function discardOnRollback(m: Pick<Migration, 'saga' | 'acts' | 'ctx'>, role: ServerRole): void {
  m.saga.onRollback(`discard the ${role} server`, () => run(m.acts.undo.discardServer, `discard the ${role} server`, m.ctx, role));
}

/** Step applyUpdates: the pending scripts in version order, each in its own transaction. */
export function applyUpdates(m: Migration, role: ServerRole): Promise<void> {
  const { rec, pending, before } = m;
  return rec.step(
    'applyUpdates',
    `${pending.length} scripts on the ${role} server, each in one transaction`,
    async () => {
      // A script's time follows the rows it rewrites, not its place in the list: progress (and
      // the watch's ETA) count those rows. Plans recorded before `rewrites` existed count scripts.
      const weights = pending.map((script) => 1 + (script.rewrites ?? []).reduce((sum, table) => sum + (before.inventory.tables[table]?.count ?? 0), 0));
      const total = weights.reduce((a, b) => a + b, 0);
      let done = 0;
      for (const [i, script] of pending.entries()) {
        rec.progress.current = { step: 'applyUpdates', detail: `update-${script.version}-psql.sql`, done, total, unit: 'rewrites' };
        done += weights[i]!;
        rec.showDetails();
        const result = await run(m.acts.transfer.applyUpdate, `apply update-${script.version}-psql.sql`, m.ctx, role, script);
        rec.report.scripts.push(result);
        rec.report.versions.applied.push(script.version);
        wf.upsertSearchAttributes([{ key: SA_ARCHIVE_VERSION, value: script.version }]);
      }
    },
    () => `${rec.report.scripts.map((s) => `${s.version} ${s.outcome === 'applied' ? duration(s.ms) : s.outcome}`).join(', ') || 'nothing to apply'}`,
  );
}

/**
 * Step verifyLoad or verifyWork: the loaded database against the inventory. Overlapped runs leave
 * the tables no pending script names (untouchedBy) to verifyUntouched, which reads them beside the
 * updates; the activity keeps them when a write could reach them (`kept` says why). Patched: runs
 * recorded before checked every table here.
 */
export async function verifyLoaded(m: Migration, step: 'verifyLoad' | 'verifyWork', role: 'new' | 'work', summary: string): Promise<Left> {
  const { rec, ctx, before } = m;
  const untouched = m.overlapped && wf.patched('verify-untouched-beside-updates') ? untouchedBy(m.pending, Object.keys(before.inventory.tables)) : [];
  if (untouched.length === 0) {
    await rec.step(step, 'every table against the inventory', () => run(m.acts.transfer.verify, summary, ctx, role, before, before.appliedVersions), () => 'all tables equal');
    return { left: [] };
  }
  return rec.step(step, 'every table against the inventory, the rows of those no update script names beside the updates', () => run(m.acts.transfer.verifyLeaving, summary, ctx, role, before, untouched), (r) =>
    r.left.length > 0 ? `all equal; the rows of ${r.left.length} tables no script names are checked beside the updates` : `all tables equal (${r.kept ?? 'every table is named'})`,
  );
}

/**
 * Step applyUpdates, and beside it verifyUntouched of the tables verifyLoaded left: no script
 * touches them. A mismatch cancels the script that runs (its transaction rolls back).
 */
export async function applyUpdatesAndVerify(m: Migration, role: 'new' | 'work', { left, kept }: Left): Promise<void> {
  if (left.length === 0) {
    await applyUpdates(m, role);
    return m.rec.skip('verifyUntouched', `every table was checked before the updates${kept ? `: ${kept}` : ''}`);
  }
  await together(
    () => applyUpdates(m, role),
    () =>
      m.rec.step('verifyUntouched', `the rows of ${left.length} tables no update script names, against the inventory`, () => run(m.acts.transfer.verifyUntouched, 'verify the tables the updates leave alone', m.ctx, role, m.before, left), (r) =>
        `${left.length} tables, ${r.rows} rows equal`,
      ),
  );
}

/** The tables the scripts (the pending ones) rewrite: their load gets room for it (postgres/rewrite-room.ts). */
export const rewrittenBy = (scripts: UpdateScript[]): string[] => [...new Set(scripts.flatMap((s) => s.rewrites ?? []))];

/** How a restore created its database, and which tables it gave room for the updates, for the report. */
export function recordDatabase(m: Migration, role: 'work' | 'new', created: CreatedDatabase, roomGiven: string[] | undefined): void {
  m.rec.report.databases = [...(m.rec.report.databases ?? []), { role, ...created, ...(roomGiven?.length ? { roomGiven } : {}) }];
}

/** Records the steps of the other mode as skipped, so that every run accounts for every step. */
export function skipAll(m: Migration, names: StepName[], why: string): void {
  for (const name of names) m.rec.skip(name, why);
}

/** The archive version the migrated database reaches. */
export const reached = (m: Migration) => m.targetVersions.at(-1) ?? '5.26';
