// The two places where the workflow waits for a person: the approval of the directory swap, and
// the decision after a step or an undo failed for good (retry it, or roll back / leave it).
import * as wf from '@temporalio/workflow';
import { ApplicationFailure } from '@temporalio/common';
import {
  approveSwapSignal,
  approveSwapUpdate,
  progressQuery,
  resolveSignal,
  resolveUpdate,
  type Approval,
  type ApprovalRequest,
  type Resolution,
} from '../shared.js';
import type { Recorder } from './recorder.js';

export type Gate = ReturnType<typeof createGate>;

export function createGate(rec: Recorder) {
  const { progress } = rec;
  let approval: Approval | undefined;
  let resolution: Resolution | undefined;

  wf.setHandler(progressQuery, () => progress);

  /** Why an approval cannot be taken now; undefined while the workflow waits at the gate. */
  const approvalRefused = (): string | undefined => {
    if (approval) return `already approved by ${approval.by} at ${approval.at}`;
    switch (progress.phase) {
      case 'awaiting-approval':
        return undefined;
      case 'rolling-back':
      case 'rolled-back':
      case 'failed':
        return `the migration is ${progress.phase === 'rolling-back' ? 'rolling back' : progress.phase} (${progress.failure ?? 'see the report'}): there is nothing to approve`;
      default:
        return progress.verified
          ? `the migration is ${progress.phase} and no longer waits for approval`
          : 'the new database is not verified yet; approval is possible once the workflow waits at awaitApproval';
    }
  };
  /** The update and the signal approve alike; the query shows the approval at once. */
  const accept = (a?: ApprovalRequest): Approval => {
    approval = { by: a?.by || 'unknown', at: rec.now(), ...(a?.comment ? { comment: a.comment } : {}) };
    progress.approval = approval;
    return approval;
  };
  wf.setHandler(approveSwapUpdate, accept, {
    validator: (_request?: ApprovalRequest) => {
      const why = approvalRefused();
      if (why) throw new Error(why);
    },
  });
  // Signals cannot be refused: one that comes at any other time than the wait is ignored.
  wf.setHandler(approveSwapSignal, (a) => {
    if (!approvalRefused()) accept(a);
  });

  const resolutionRefused = (r: unknown): string | undefined => {
    if (progress.phase !== 'awaiting-resolution') return 'nothing waits for a resolution now';
    if (resolution !== undefined) return `already resolved with "${resolution}"`;
    if (r !== 'retry' && r !== 'rollback') return 'resolve with "retry" or "rollback"';
    return undefined;
  };
  const acceptResolution = (r: Resolution) => (resolution = r);
  wf.setHandler(resolveUpdate, acceptResolution, {
    validator: (r) => {
      const why = resolutionRefused(r);
      if (why) throw new Error(why);
    },
  });
  wf.setHandler(resolveSignal, (r) => {
    if (!resolutionRefused(r)) acceptResolution(r);
  });

  return {
    /** Waits in phase awaiting-approval, as step awaitApproval; a timeout fails that step. */
    async awaitApproval(timeoutMinutes: number | undefined): Promise<Approval> {
      progress.verified = true;
      return rec.step(
        'awaitApproval',
        'waiting for approveSwap',
        async () => {
          const approved = timeoutMinutes ? await wf.condition(() => approval !== undefined, timeoutMinutes * 60_000) : await wf.condition(() => approval !== undefined).then(() => true);
          if (!approved) throw ApplicationFailure.nonRetryable(`no approval within ${timeoutMinutes} minutes`, 'ApprovalTimeout');
          return approval!;
        },
        (a) => `approved by ${a.by}`,
        'awaiting-approval',
      );
    },

    /** Waits in phase awaiting-resolution (progress.failure says what failed) for the operator's decision. */
    async awaitResolution(): Promise<Resolution> {
      resolution = undefined;
      rec.setPhase('awaiting-resolution');
      await wf.condition(() => resolution !== undefined);
      progress.failure = undefined;
      return resolution!;
    },
  };
}
