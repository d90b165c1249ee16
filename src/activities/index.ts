// createActivities(deps): every activity of the migration, built from its dependencies.
import { keepAlive, watchProgress, type ActivityDeps, type RunContext } from './context.js';
import { createClusterActivities } from './cluster.js';
import { createDriftActivities } from './drift.js';
import { createFastActivities } from './fast.js';
import { createInventoryActivities } from './inventory.js';
import { createPreflightActivities } from './preflight.js';
import { createRehearsalActivities } from './rehearsal.js';
import { createReportActivities } from './report.js';
import { createServerActivities } from './servers.js';
import { createSwapActivities } from './swap.js';
import { createTransferActivities } from './transfer.js';
import { createUpdateActivities } from './updates.js';
import { createVerifyActivities } from './verify.js';

/**
 * The activities that move data: they fail once they stop moving (watchProgress), the others
 * heartbeat while they run. The workflow gives them their own options (one list for both).
 */
export const TRANSFERS = ['dump', 'restore', 'applyUpdate', 'inventory', 'verify', 'verifyLeaving', 'verifyUntouched', 'verifyUpdated', 'streamOriginalToNew', 'restoreDurability', 'snapshotLive', 'restoreSnapshot'] as const;
export type TransferActivity = (typeof TRANSFERS)[number];

export function createActivities(deps: ActivityDeps) {
  const activities = {
    ...createPreflightActivities(deps),
    ...createServerActivities(deps),
    ...createInventoryActivities(deps),
    ...createTransferActivities(deps),
    ...createUpdateActivities(deps),
    ...createVerifyActivities(deps),
    ...createDriftActivities(deps),
    ...createSwapActivities(deps),
    ...createClusterActivities(deps),
    ...createReportActivities(deps),
    ...createFastActivities(deps),
    ...createRehearsalActivities(deps),
  };
  const transfers: ReadonlySet<keyof typeof activities> = new Set(TRANSFERS);
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      transfers.has(name as keyof typeof activities) ? watchProgress(fn as (ctx: RunContext, ...a: unknown[]) => Promise<unknown>) : keepAlive(fn as (...a: unknown[]) => Promise<unknown>),
    ]),
  ) as unknown as typeof activities;
}

export type Activities = ReturnType<typeof createActivities>;
/** The rehearsal's own (rehearsal.ts); the rest are the migration's, which the rehearsal runs too. */
export type RehearsalActivities = ReturnType<typeof createRehearsalActivities>;
export type { ActivityDeps, RunContext } from './context.js';
