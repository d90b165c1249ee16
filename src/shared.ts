// Names and message definitions shared by the workflow, the worker and every client.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey } from '@temporalio/common';

export const WORKFLOW_TYPE = 'migrateDcm4che';

/** One task queue per node: only the worker running on that node may touch its directories. */
export function taskQueueFor(node: string): string {
  return `kaapana-migrate-${node}`;
}

/** One workflow id per node: Temporal itself refuses a second open migration of the same node. */
export function workflowIdFor(node: string): string {
  return `kaapana-migrate-${node}`;
}

export const REHEARSAL_WORKFLOW_TYPE = 'rehearseDcm4che';

/** The node's rehearsal: its own id, so that it shows apart from the migration (and one at a time). */
export function rehearsalIdFor(node: string): string {
  return `kaapana-rehearse-${node}`;
}

/**
 * The tag of a run's paths and names (backup directory, kept copy): from the first run, so that a
 * reset keeps them, and from its random end, since run ids begin with the time.
 */
export function runTagFor(firstExecutionRunId: string): string {
  return firstExecutionRunId.replace(/-/g, '').slice(-8);
}

/** A rehearsal's tag: its own directory (report, journal) never meets a migration's. */
export function rehearsalTagFor(firstExecutionRunId: string): string {
  return `rehearsal-${runTagFor(firstExecutionRunId)}`;
}

export const PLAN_WORKFLOW_TYPE = 'planNode';

/**
 * A plan of the node (`fleet plan`): the id's end tells repeated plans apart, and the prefix keeps
 * them apart from the node's migration and rehearsal, which a plan never blocks.
 */
export function planIdFor(node: string, suffix: string): string {
  return `kaapana-plan-${node}-${suffix}`;
}

/** A plan's run tag: the run directory is named after the run, which exists only once a migration starts. */
export const PLAN_RUN_TAG = '<run>';

/** Every step has one name, used in the workflow, activity summaries, progress, report and tests. */
export const STEPS = [
  'preflight',
  'freshSchema',
  'stopApplications',
  'backupLdap',
  'startOriginal',
  'inventory',
  'dumpOriginal',
  'stopOriginal',
  'startWork',
  'restoreWork',
  'verifyWork',
  'prepareBulkLoad',
  'streamOriginalToNew',
  'verifyLoad',
  'applyUpdates',
  'verifyUntouched',
  'restoreDurability',
  'verifyUpdated',
  'dumpUpdated',
  'stopWork',
  'startNew',
  'restoreNew',
  'verifyNew',
  'schemaDrift',
  'stopNew',
  'awaitApproval',
  'swap',
  'removeWork',
  'redeploy',
  'ldapUpdate',
  'restartPods',
  'report',
] as const;
/** The rehearsal's own steps; between them it runs the migration's database steps on scratch copies. */
export const REHEARSAL_STEPS = ['prepareRehearsal', 'snapshotLive', 'restoreSnapshot', 'removeScratch', 'measureGrowth'] as const;
export type StepName = (typeof STEPS)[number] | (typeof REHEARSAL_STEPS)[number];

/** refused: preflight said no, before anything changed; rolled-back: changes were made and undone. */
export type Phase = 'running' | 'awaiting-approval' | 'awaiting-resolution' | 'rolling-back' | 'completed' | 'refused' | 'rolled-back' | 'failed';

export interface StepProgress {
  step: StepName;
  detail?: string;
  done?: number;
  total?: number;
  /** rewrites: rows the update scripts rewrite (a script counts 1 plus the rows of its tables). */
  unit?: 'bytes' | 'rows' | 'rewrites' | 'scripts' | 'commands';
  /** Stages a step has finished, kept in its heartbeats so that a retry does not repeat them. */
  stages?: string[];
}

export interface Progress {
  phase: Phase;
  /** The step running; with steps that read the same database at once, the first of them. */
  current?: StepProgress;
  /** The others running beside `current` (see workflows/together.ts). */
  alongside?: StepProgress[];
  completed: { step: StepName; detail: string; ms: number }[];
  verified: boolean;
  approval?: Approval;
  failure?: string;
  reportPath?: string;
}

export interface Approval {
  by: string;
  at: string;
  comment?: string;
}

/** What an approver sends: `{"by": "admin@hospital"}` from the `temporal` CLI. */
export interface ApprovalRequest {
  by?: string;
  comment?: string;
}

export type Resolution = 'retry' | 'rollback';

/** Typed search attributes: list a fleet's migrations by node, phase and the archive version reached. */
export const SA_NODE = defineSearchAttributeKey('KaapanaNode', 'KEYWORD');
export const SA_PHASE = defineSearchAttributeKey('MigrationPhase', 'KEYWORD');
export const SA_ARCHIVE_VERSION = defineSearchAttributeKey('ArchiveVersion', 'KEYWORD');
export const SEARCH_ATTRIBUTES = [SA_NODE, SA_PHASE, SA_ARCHIVE_VERSION];

export const progressQuery = defineQuery<Progress>('progress');
/** Approval of the directory swap; the validator refuses it until the new database is verified. */
export const approveSwapUpdate = defineUpdate<Approval, [ApprovalRequest]>('approveSwap');
export const approveSwapSignal = defineSignal<[ApprovalRequest]>('approveSwap');
/** After the swap a failing cluster step waits for the operator: retry it, or roll back. */
export const resolveUpdate = defineUpdate<Resolution, [Resolution]>('resolve');
export const resolveSignal = defineSignal<[Resolution]>('resolve');
