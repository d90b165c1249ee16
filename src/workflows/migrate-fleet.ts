// The fleet rollout: one parent workflow that starts each node's migration (the single-node
// workflow, unchanged) as a child on the node's own task queue, canaries first, then after the
// fleet approval the rest, at most `concurrency` at once, halting past the failure budget.
//
// How it follows its children, and why so: the parent keeps its history bounded by continuing as
// new, and a child's completion is reported only to the run that started it. So children are
// started with ParentClosePolicy.ABANDON and ChildWorkflowCancellationType.ABANDON (they outlive
// any run of the parent, and only the rollout's own abort cancels them, by id and run id through
// getExternalWorkflowHandle), and every run, the first or one after a continue-as-new, follows each
// running child the same way: through the fleet worker's `followNode` activity, which asks Temporal
// for the child's status and `progress` query and returns when its phase changes or it closes. The
// state carried over (each node's status, child run id, phase seen, approval sent) is therefore
// all a new run needs to re-attach. A continue-as-new never happens while a command whose effect
// the state records is in flight (a child's start, a delegated approval, a cancellation).
import * as wf from '@temporalio/workflow';
import { ApplicationFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { FleetActivities } from '../fleet/activities.js';
import { fleetInputProblems } from '../fleet/input.js';
import {
  abortFleetUpdate,
  approveFleetUpdate,
  countsAsFailure,
  fleetStateQuery,
  pauseFleetUpdate,
  resumeFleetUpdate,
  type ActorRequest,
  type FleetAction,
  type FleetInput,
  type FleetNode,
  type FleetReport,
  type FleetState,
  type NodeOutcome,
} from '../fleet/shared.js';
import { migrationInput } from '../config/input.js';
import { migrationStartOptions } from '../migration-start.js';
import { WORKFLOW_TYPE, approveSwapSignal, taskQueueFor, workflowIdFor } from '../shared.js';
import { showFleet } from './fleet-details.js';

export async function migrateFleet(input: FleetInput): Promise<FleetReport> {
  const problems = fleetInputProblems(input);
  if (problems.length > 0) throw ApplicationFailure.nonRetryable(`the fleet input is not valid: ${problems.join('; ')}; nothing was started`, 'InvalidInput');
  const { settings, tuning } = input;
  const now = () => new Date(Date.now()).toISOString();
  const configs = new Map(input.nodes.map((c) => [c.node, c]));
  const state: FleetState = input.carried ?? {
    phase: settings.canaries.length > 0 ? 'canaries' : 'rolling-out',
    paused: false,
    actions: [],
    startedAt: now(),
    runs: 0,
    nodes: input.nodes.map((c) => ({ node: c.node, canary: settings.canaries.includes(c.node), status: 'pending', workflowId: workflowIdFor(c.node) })),
  };
  state.runs += 1;

  // Temporal being away must not fail the rollout: these retry until it answers.
  const retry = { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' };
  const quick = wf.proxyActivities<Pick<FleetActivities, 'nodeWorkerPresent' | 'writeFleetReport'>>({ startToCloseTimeout: '1 minute', retry });
  // A node's migration may wait days for its approval: the heartbeat, not this bound, notices a dead fleet worker.
  const { followNode } = wf.proxyActivities<Pick<FleetActivities, 'followNode'>>({ startToCloseTimeout: '30 days', heartbeatTimeout: `${tuning.followHeartbeatSeconds} seconds`, retry });

  let changes = 0;
  let bug: unknown;
  /**
   * Commands whose effect the state must record before a continue-as-new: a child's start (its
   * run id), a delegated approval, a cancellation. A run that continued as new with one in flight
   * would lose it (the server does not deliver what a closed run initiated) or repeat it.
   */
  let inFlight = 0;
  const recorded = async <T>(command: () => Promise<T>): Promise<T> => {
    inFlight++;
    try {
      return await command();
    } finally {
      inFlight--;
    }
  };
  const changed = () => {
    changes++;
    showFleet(input.name, state);
  };
  const ended = () => ['completed', 'halted', 'aborted'].includes(state.phase);
  const stopping = () => state.phase === 'halting' || state.phase === 'aborting';
  const active = (n: FleetNode) => n.status === 'starting' || n.status === 'waiting-for-worker' || n.status === 'running';
  const stop = (phase: 'halting' | 'aborting', reason: string) => {
    if (ended() || state.phase === 'aborting' || (phase === 'halting' && state.phase === 'halting')) return;
    state.phase = phase;
    state.reason = reason;
    state.stoppedAt = now();
    changed();
  };

  wf.setHandler(fleetStateQuery, () => state);
  const refuse = (why: string | undefined) => {
    if (why) throw new Error(why);
  };
  const endedWhy = () => (ended() ? `the rollout has ended (${state.phase})` : stopping() ? `the rollout is ${state.phase} (${state.reason})` : undefined);
  const actor = (r?: ActorRequest) => ({ by: r?.by || 'unknown', at: now(), ...(r?.comment ? { comment: r.comment } : {}) });
  const told = (action: FleetAction['action'], r?: ActorRequest) => {
    const a = actor(r);
    state.actions.push({ action, ...a });
    return a;
  };
  wf.setHandler(
    approveFleetUpdate,
    (r) => {
      state.fleetApproval = told('approve', r);
      state.phase = 'rolling-out';
      changed();
      return state.fleetApproval;
    },
    {
      validator: (_r: ActorRequest) =>
        refuse(
          endedWhy() ??
            (state.phase === 'awaiting-fleet-approval'
              ? undefined
              : state.fleetApproval
                ? `already approved by ${state.fleetApproval.by} at ${state.fleetApproval.at}`
                : state.phase === 'canaries'
                  ? `the canaries (${settings.canaries.join(', ')}) have not all completed yet`
                  : 'the rollout has no canaries: it needs no fleet approval'),
        ),
    },
  );
  wf.setHandler(
    pauseFleetUpdate,
    (r: ActorRequest) => {
      told('pause', r);
      state.paused = true;
      changed();
      return state;
    },
    { validator: (_r: ActorRequest) => refuse(endedWhy() ?? (state.paused ? 'the rollout is paused already' : undefined)) },
  );
  wf.setHandler(
    resumeFleetUpdate,
    (r: ActorRequest) => {
      told('resume', r);
      state.paused = false;
      changed();
      return state;
    },
    { validator: (_r: ActorRequest) => refuse(endedWhy() ?? (state.paused ? undefined : 'the rollout is not paused')) },
  );
  wf.setHandler(
    abortFleetUpdate,
    (r) => {
      const a = told('abort', r);
      stop('aborting', `aborted by ${a.by}${a.comment ? ` (${a.comment})` : ''}`);
      return state;
    },
    { validator: (_r: ActorRequest) => refuse(ended() ? `the rollout has ended (${state.phase})` : state.phase === 'aborting' ? 'the rollout is aborting already' : undefined) },
  );

  const end = (n: FleetNode, outcome: NodeOutcome, failure?: string, endedAt = now()) => {
    n.status = 'ended';
    n.outcome = outcome;
    n.endedAt = endedAt;
    if (failure) n.failure = failure;
    delete n.waitingSince;
    judge(n);
    changed();
  };
  /** A canary that fails halts the rollout; so does a failure past the budget. */
  const judge = (n: FleetNode) => {
    if (!countsAsFailure(n)) return;
    const failed = state.nodes.filter(countsAsFailure).length;
    if (n.canary) stop('halting', `canary ${n.node} ended ${n.outcome}`);
    else if (failed > settings.failureBudget) stop('halting', `${failed} node(s) failed, over the failure budget of ${settings.failureBudget} (last: ${n.node}, ${n.outcome})`);
  };
  /** A node whose turn came but whose migration never started goes back to untouched. */
  const untouched = (n: FleetNode) => {
    n.status = 'pending';
    delete n.waitingSince;
  };

  /** Waits for the node's worker (bounded by workerWaitMinutes from the first look), then starts its migration. */
  async function start(n: FleetNode): Promise<boolean> {
    const config = configs.get(n.node)!;
    n.waitingSince ??= now();
    for (;;) {
      if (stopping()) return (untouched(n), false);
      if (await quick.nodeWorkerPresent(n.node)) break;
      if (n.status !== 'waiting-for-worker') {
        n.status = 'waiting-for-worker';
        changed();
      }
      const leftMs = settings.workerWaitMinutes * 60_000 - (Date.now() - Date.parse(n.waitingSince));
      if (leftMs <= 0) return (end(n, 'worker-offline', `no worker polled ${taskQueueFor(n.node)} within ${settings.workerWaitMinutes} min; its migration was not started, nothing on it changed`), false);
      await wf.condition(stopping, Math.min(leftMs, tuning.workerPollSeconds * 1000));
    }
    // Paused while the worker was looked for: the start waits for the resume.
    await wf.condition(() => !state.paused || stopping());
    if (stopping()) return (untouched(n), false);
    // When the start was asked for: a halt decided while the server answers came after it.
    const startedAt = now();
    try {
      const child = await recorded(() =>
        wf.startChild(WORKFLOW_TYPE, {
          ...migrationStartOptions(config, `fleet rollout ${input.name} (${input.startedBy})`),
          args: [migrationInput(config)],
          parentClosePolicy: wf.ParentClosePolicy.ABANDON,
          cancellationType: wf.ChildWorkflowCancellationType.ABANDON,
        }),
      );
      Object.assign(n, { runId: child.firstExecutionRunId, status: 'running', view: 'queued', startedAt });
      delete n.waitingSince;
      return true;
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      end(n, 'failed', `a migration of ${n.node} was already running (workflow ${n.workflowId}); the rollout did not start another`);
      return false;
    } finally {
      changed();
    }
  }

  /** Follows the node's migration to its end; sends the delegated approval when it waits at its gate. */
  async function follow(n: FleetNode): Promise<void> {
    for (;;) {
      // Also on re-attaching: the view carried over may be a gate the previous run had not answered yet.
      if (n.view === 'awaiting-approval' && settings.approval === 'fleet' && !n.swapApprovedBy && !n.cancelRequested) {
        const by = `fleet rollout ${input.name}: ${n.canary ? `canary, started by ${input.startedBy}` : `approved by ${state.fleetApproval?.by ?? input.startedBy}`}`;
        // Taken at the gate only, where the child waits now; a repeat is ignored by it.
        await recorded(() => wf.getExternalWorkflowHandle(n.workflowId, n.runId).signal(approveSwapSignal, { by, comment: 'swap approval delegated to the fleet rollout' }));
        n.swapApprovedBy = by;
        changed();
      }
      const r = await followNode({ workflowId: n.workflowId, runId: n.runId!, seen: n.view ?? 'queued', config: configs.get(n.node)! });
      if (r.closed) {
        delete n.view;
        Object.assign(n, { reportPath: r.reportPath, ...(r.counts ? { counts: r.counts } : {}) });
        end(n, r.outcome, r.failure, r.endedAt);
        return;
      }
      n.view = r.view;
      changed();
    }
  }

  function drive(n: FleetNode): void {
    void (async () => {
      if (n.runId || (await start(n))) await follow(n);
    })().catch((err: unknown) => {
      bug ??= err;
      changes++;
    });
  }

  async function cancelRunning(): Promise<void> {
    for (const n of state.nodes.filter((x) => x.status === 'running' && !x.cancelRequested)) {
      // A child that closed meanwhile cannot be cancelled: followNode reports how it ended.
      await recorded(() => wf.getExternalWorkflowHandle(n.workflowId, n.runId).cancel().catch(() => undefined));
      n.cancelRequested = true;
      changed();
    }
  }

  /** The nodes whose turn comes now: canaries first; the rest after the fleet approval. */
  function next(): FleetNode[] {
    const free = settings.concurrency - state.nodes.filter(active).length;
    if (free <= 0 || state.paused || stopping()) return [];
    const canaries = state.nodes.filter((n) => n.canary);
    if (canaries.some((n) => n.status !== 'ended')) return canaries.filter((n) => n.status === 'pending').slice(0, free);
    if (canaries.length > 0 && !state.fleetApproval) {
      if (state.phase === 'canaries') {
        state.phase = 'awaiting-fleet-approval';
        changed();
      }
      return [];
    }
    return state.nodes.filter((n) => !n.canary && n.status === 'pending').slice(0, free);
  }

  async function rollout(): Promise<FleetReport> {
    // After a continue-as-new: re-attach to every node the previous run had in hand.
    for (const n of state.nodes.filter(active)) drive(n);
    changed();
    for (;;) {
      if (bug !== undefined) throw bug;
      if (state.phase === 'aborting' || (state.phase === 'halting' && settings.onHalt === 'rollback')) await cancelRunning();
      for (const n of next()) {
        n.status = 'starting';
        drive(n);
      }
      const busy = state.nodes.some(active);
      if (!busy && (stopping() || state.nodes.every((n) => n.status === 'ended'))) break;
      const info = wf.workflowInfo();
      if ((info.continueAsNewSuggested || info.historyLength >= tuning.historyEvents) && inFlight === 0) {
        await wf.condition(wf.allHandlersFinished);
        return wf.continueAsNew<typeof migrateFleet>({ ...input, carried: state });
      }
      const seen = changes;
      await wf.condition(() => changes !== seen);
    }
    state.phase = state.phase === 'aborting' ? 'aborted' : state.phase === 'halting' ? 'halted' : 'completed';
    for (const n of state.nodes.filter((x) => x.status === 'pending')) n.outcome = 'not-started';
    state.endedAt = now();
    const report: FleetReport = {
      name: input.name,
      outcome: state.phase as FleetReport['outcome'],
      ...(state.reason ? { reason: state.reason } : {}),
      ...(state.stoppedAt ? { stoppedAt: state.stoppedAt } : {}),
      startedAt: state.startedAt,
      endedAt: state.endedAt,
      settings,
      ...(state.fleetApproval ? { fleetApproval: state.fleetApproval } : {}),
      actions: state.actions,
      runs: state.runs,
      nodes: state.nodes,
    };
    if (settings.reportDir) {
      report.reportPath = await quick.writeFleetReport(report, settings.reportDir);
      state.reportPath = report.reportPath;
    }
    changed();
    await wf.condition(wf.allHandlersFinished);
    return report;
  }

  // Cancelling the parent (the Web UI, `temporal workflow cancel`) is an abort: the running
  // migrations are cancelled and roll back, and the parent ends with its report.
  wf.CancellationScope.current().cancelRequested.catch(() => stop('aborting', 'the fleet workflow was cancelled'));
  return wf.CancellationScope.nonCancellable(rollout);
}
