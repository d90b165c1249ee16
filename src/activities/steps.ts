// Which step of the workflow an activity call belongs to, for the attempts journal and the report.
// The only place that knows it: the activity type alone does not say (startServer is startOriginal,
// startWork or startNew by its role; compensations belong to the rollback). Typed over every
// activity, so a new one must be named here.
import type { AttemptStep } from '../attempt-journal.js';
import type { ServerRole } from '../config/layout.js';
import type { Activities } from './index.js';

type Place = { step: AttemptStep; subject?: string };
type StepOf = { [K in keyof Activities]: (...args: Parameters<Activities[K]>) => Place };

// scratch: the fresh schema's server, started and stopped inside freshSchema (or schemaDrift, in runs without it).
const START: Record<ServerRole, AttemptStep> = { original: 'startOriginal', work: 'startWork', new: 'startNew', scratch: 'schemaDrift' };
const STOP: Record<ServerRole, AttemptStep> = { original: 'stopOriginal', work: 'stopWork', new: 'stopNew', scratch: 'schemaDrift' };
/** The original's inventory is its own step; the others only in runs started before verifyUpdated was a step of its own. */
const INVENTORY: Record<ServerRole, AttemptStep> = { original: 'inventory', work: 'dumpUpdated', new: 'verifyNew', scratch: 'schemaDrift' };

const STEP_OF: StepOf = {
  preflight: () => ({ step: 'preflight' }),
  stopApplications: () => ({ step: 'stopApplications' }),
  restoreApplications: () => ({ step: 'rollback', subject: 'applications' }),
  backupLdap: () => ({ step: 'backupLdap' }),
  startServer: (_ctx, role) => ({ step: START[role], subject: role }),
  stopServer: (_ctx, role) => ({ step: STOP[role], subject: role }),
  discardServer: (_ctx, role) => ({ step: 'rollback', subject: role }),
  inventory: (_ctx, role) => ({ step: INVENTORY[role], subject: role }),
  dump: (_ctx, role, which) => ({ step: which === 'original' ? 'dumpOriginal' : 'dumpUpdated', subject: role }),
  restore: (_ctx, role) => ({ step: role === 'new' ? 'restoreNew' : 'restoreWork', subject: role }),
  // Fast mode verifies the load (there is no working copy); guide mode the working copy and the new server.
  verify: (ctx, role) => ({ step: role === 'work' ? 'verifyWork' : ctx.config.mode === 'fast' ? 'verifyLoad' : 'verifyNew', subject: role }),
  verifyLeaving: (_ctx, role) => ({ step: role === 'work' ? 'verifyWork' : 'verifyLoad', subject: role }),
  verifyUntouched: (_ctx, role) => ({ step: 'verifyUntouched', subject: role }),
  verifyUpdated: (_ctx, role) => ({ step: 'verifyUpdated', subject: role }),
  applyUpdate: (_ctx, _role, script) => ({ step: 'applyUpdates', subject: script.version }),
  prepareBulkLoad: () => ({ step: 'prepareBulkLoad' }),
  streamOriginalToNew: () => ({ step: 'streamOriginalToNew' }),
  restoreDurability: () => ({ step: 'restoreDurability' }),
  freshSchema: () => ({ step: 'freshSchema' }),
  schemaDrift: () => ({ step: 'schemaDrift' }),
  swap: () => ({ step: 'swap' }),
  unswap: () => ({ step: 'rollback', subject: 'swap' }),
  removeWork: () => ({ step: 'removeWork' }),
  redeploy: () => ({ step: 'redeploy' }),
  undeployTarget: () => ({ step: 'rollback', subject: '0.3.x platform' }),
  ldapPlan: () => ({ step: 'ldapUpdate' }),
  ldapCommand: (_ctx, argv) => ({ step: 'ldapUpdate', subject: argv.join(' ') }),
  restartPods: () => ({ step: 'restartPods' }),
  writeReport: () => ({ step: 'report' }),
  prepareRehearsal: () => ({ step: 'prepareRehearsal' }),
  snapshotLive: () => ({ step: 'snapshotLive' }),
  restoreSnapshot: () => ({ step: 'restoreSnapshot' }),
  removeScratch: (_ctx, _prepared, mode) => ({ step: 'removeScratch', ...(mode ? { subject: mode } : {}) }),
  measureGrowth: () => ({ step: 'measureGrowth' }),
  writeRehearsalReport: () => ({ step: 'report' }),
};

/** The step of a call of a known activity of the migration (undefined for any other). */
export function stepOf(activityType: string, args: unknown[]): Place | undefined {
  if (!Object.hasOwn(STEP_OF, activityType)) return undefined;
  return (STEP_OF[activityType as keyof StepOf] as (...a: unknown[]) => Place)(...args);
}
