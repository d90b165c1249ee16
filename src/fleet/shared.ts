// The fleet rollout's names, input, state and messages, shared by its parent workflow, the fleet
// worker and the CLI. A node's own migration stays the single-node workflow (src/shared.ts).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { MigrationConfig } from '../config/schema.js';
import type { Phase } from '../shared.js';

export const FLEET_WORKFLOW_TYPE = 'migrateFleet';
/** The parent runs here, served by the fleet worker; every node's migration runs on its node's queue. */
export const FLEET_TASK_QUEUE = 'kaapana-migrate-fleet';

/** One open rollout per fleet name. */
export function fleetIdFor(name: string): string {
  return `kaapana-migrate-fleet-${name}`;
}

export const FLEET_INPUT_VERSION = 1;

export interface FleetSettings {
  /** Migrated first; the rest waits for the fleet approval once every canary completed. */
  canaries: string[];
  /** Node migrations at most at once (a node waiting for its worker holds a place too). */
  concurrency: number;
  /** Failed nodes the rollout tolerates; one more halts it. A canary that fails always halts it. */
  failureBudget: number;
  /** fleet: the rollout approves each node's swap once verified; per-node: the operator approves each. */
  approval: 'fleet' | 'per-node';
  /** How long a node's worker may be offline before the node counts as failed (never started). */
  workerWaitMinutes: number;
  /** On a halt, the node migrations still running finish, or are cancelled (they roll back). */
  onHalt: 'finish' | 'rollback';
  /** Where the fleet worker writes the fleet report (report.md, report.json); none: only the result. */
  reportDir?: string;
}

/** Bounds of the parent's own machinery; the defaults suit any fleet, tests shorten them. */
export interface FleetTuning {
  /** Continue-as-new once the history holds this many events (or the server suggests it). */
  historyEvents: number;
  /** How often a node's worker is looked for while it is offline. */
  workerPollSeconds: number;
  /** Heartbeat timeout of the activity that follows a node's migration. */
  followHeartbeatSeconds: number;
}

export const DEFAULT_TUNING: FleetTuning = { historyEvents: 10_000, workerPollSeconds: 15, followHeartbeatSeconds: 30 };

export interface FleetInput {
  schemaVersion: typeof FLEET_INPUT_VERSION;
  name: string;
  /** In rollout order; each configuration complete, as the single-node workflow takes it. */
  nodes: MigrationConfig[];
  settings: FleetSettings;
  tuning: FleetTuning;
  /** Who started the rollout: recorded as the starter of every node migration and the approver of delegated swaps. */
  startedBy: string;
  /** The state a previous run of this rollout carried over (continue-as-new). */
  carried?: FleetState;
}

/**
 * pending: not started (a halted or aborted rollout leaves it so, untouched); starting: its turn
 * came, its worker is looked for; waiting-for-worker: its task queue has no poller, the migration
 * is not started yet; running: its migration runs (`view` is the child's phase); ended: see `outcome`.
 */
export type NodeStatus = 'pending' | 'starting' | 'waiting-for-worker' | 'running' | 'ended';

/** completed … failed: the child's own outcome; cancelled: by the rollout's abort or halt; worker-offline: never started. */
export type NodeOutcome = 'completed' | 'refused' | 'rolled-back' | 'failed' | 'cancelled' | 'terminated' | 'worker-offline' | 'not-started';

/** What the fleet sees of a running child: its phase, or that no worker serves its queue now. */
export type ChildView = Phase | 'queued' | 'waiting-for-worker';

export interface NodeCounts {
  tables: number;
  rowsBefore: number;
  rowsAfter: number;
  versionsApplied: string[];
}

export interface FleetNode {
  node: string;
  canary: boolean;
  status: NodeStatus;
  workflowId: string;
  /** The child's first run id: the rollout re-attaches to it after a continue-as-new. */
  runId?: string;
  /** While running: the child's phase as last seen. */
  view?: ChildView;
  /** Since when its worker has been looked for (the wait is bounded from here, across continue-as-new). */
  waitingSince?: string;
  /** When the rollout asked for the child's start (before any halt that let it run). */
  startedAt?: string;
  endedAt?: string;
  outcome?: NodeOutcome;
  failure?: string;
  reportPath?: string;
  counts?: NodeCounts;
  /** The delegated approval sent to its gate. */
  swapApprovedBy?: string;
  /** The rollout asked its migration to stop (abort, or a halt with onHalt: rollback). */
  cancelRequested?: boolean;
}

export type FleetPhase = 'canaries' | 'awaiting-fleet-approval' | 'rolling-out' | 'halting' | 'aborting' | 'completed' | 'halted' | 'aborted';

export interface FleetApproval {
  by: string;
  at: string;
  comment?: string;
}

/** What an operator told the rollout, in order (the fleet report lists it). */
export interface FleetAction extends FleetApproval {
  action: 'approve' | 'pause' | 'resume' | 'abort';
}

export interface FleetState {
  phase: FleetPhase;
  paused: boolean;
  actions: FleetAction[];
  startedAt: string;
  nodes: FleetNode[];
  fleetApproval?: FleetApproval;
  /** Why the rollout halts or aborts, and since when: no node migration starts after it. */
  reason?: string;
  stoppedAt?: string;
  /** Runs of the parent so far (1 + its continue-as-new). */
  runs: number;
  endedAt?: string;
  reportPath?: string;
}

/** The parent's result, also written as report.json/report.md by the fleet worker. */
export interface FleetReport {
  name: string;
  outcome: 'completed' | 'halted' | 'aborted';
  reason?: string;
  stoppedAt?: string;
  startedAt: string;
  endedAt: string;
  settings: FleetSettings;
  fleetApproval?: FleetApproval;
  actions: FleetAction[];
  runs: number;
  nodes: FleetNode[];
  reportPath?: string;
}

export interface ActorRequest {
  by?: string;
  comment?: string;
}

export const fleetStateQuery = defineQuery<FleetState>('fleetState');
/** Go on after the canaries: refused until every canary completed. */
export const approveFleetUpdate = defineUpdate<FleetApproval, [ActorRequest]>('approveFleet');
/** Start no more node migrations until resumed; the running ones go on. */
export const pauseFleetUpdate = defineUpdate<FleetState, [ActorRequest]>('pauseFleet');
export const resumeFleetUpdate = defineUpdate<FleetState, [ActorRequest]>('resumeFleet');
/** Start no more, cancel the running node migrations (they roll back), then end. */
export const abortFleetUpdate = defineUpdate<FleetState, [ActorRequest]>('abortFleet');

/** A node that ended without completing and was not stopped by the rollout itself. */
export function countsAsFailure(n: FleetNode): boolean {
  return n.status === 'ended' && n.outcome !== 'completed' && !(n.outcome === 'cancelled' && n.cancelRequested);
}
