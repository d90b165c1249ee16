// The fleet worker's activities: they only ask Temporal about the nodes' migrations (the parent
// workflow cannot query its children) and write the fleet report. None touches a node.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { layoutFor } from '../config/layout.js';
import type { MigrationConfig } from '../config/schema.js';
import type { MigrationReport } from '../report/types.js';
import { progressQuery, runTagFor, taskQueueFor, type Progress } from '../shared.js';
import { workerPolls } from '../temporal/connection.js';
import { renderFleetReport } from './report.js';
import type { ChildView, FleetReport, NodeCounts, NodeOutcome } from './shared.js';

export interface FleetActivityDeps {
  client: Client;
  /** How often a running migration is looked at (default 2 s). */
  pollMs?: number;
}

export interface FollowRequest {
  workflowId: string;
  runId: string;
  /** The view the parent holds: the activity returns once it differs, or the migration closed. */
  seen: ChildView;
  config: MigrationConfig;
}

export type FollowResult =
  | { closed: false; view: ChildView }
  | { closed: true; outcome: NodeOutcome; endedAt: string; failure?: string; reportPath: string; counts?: NodeCounts };

const QUERY_DEADLINE_MS = 5_000;

export function createFleetActivities(deps: FleetActivityDeps) {
  const { client } = deps;
  const pollMs = deps.pollMs ?? 2_000;

  const workerPresent = (node: string) => workerPolls(client, taskQueueFor(node));

  async function queryProgress(handle: WorkflowHandle): Promise<Progress | undefined> {
    return client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery)).catch(() => undefined);
  }

  async function closedResult(handle: WorkflowHandle, status: string, closeTime: Date | undefined, req: FollowRequest): Promise<FollowResult & { closed: true }> {
    // Every run of the node writes its report where its layout says, on the node (runs of this input version take the id's random end).
    const reportPath = layoutFor(req.config, runTagFor(req.runId)).report.markdown;
    const endedAt = (closeTime ?? new Date()).toISOString();
    if (status === 'COMPLETED') {
      const report = (await handle.result()) as MigrationReport;
      const rows = (t: MigrationReport['tablesBefore']) => Object.values(t ?? {}).reduce((sum, f) => sum + f.count, 0);
      const counts: NodeCounts = { tables: Object.keys(report.tablesBefore ?? {}).length, rowsBefore: rows(report.tablesBefore), rowsAfter: rows(report.tablesAfter), versionsApplied: report.versions.applied };
      return { closed: true, outcome: 'completed', endedAt: report.endedAt ?? endedAt, reportPath, counts };
    }
    if (status === 'FAILED') {
      const cause = await handle.result().then(
        () => undefined,
        (err: unknown) => (err instanceof WorkflowFailedError ? err.cause : undefined),
      );
      const message = cause?.message ?? 'failed';
      const type = cause instanceof ApplicationFailure ? cause.type : undefined;
      const outcome: NodeOutcome = type === 'MigrationRefused' ? 'refused' : type === 'MigrationFailed' && !/rollback incomplete/.test(message) ? 'rolled-back' : 'failed';
      return { closed: true, outcome, endedAt, failure: message, reportPath };
    }
    if (status === 'CANCELLED') {
      // A cancelled migration rolled back; its last phase says whether every undo succeeded.
      const progress = await queryProgress(handle);
      return { closed: true, outcome: progress?.phase === 'failed' ? 'failed' : 'cancelled', endedAt, failure: progress?.failure ?? 'cancelled', reportPath };
    }
    return { closed: true, outcome: 'terminated', endedAt, failure: `${status.toLowerCase()}: no rollback ran`, reportPath };
  }

  return {
    /** Whether a worker polls the node's task queue now. */
    async nodeWorkerPresent(node: string): Promise<boolean> {
      return workerPresent(node);
    },

    /**
     * Follows one node's migration until its coarse view changes from `seen` or it closes.
     * Idempotent: after a worker restart or the parent's continue-as-new it is simply asked again.
     */
    async followNode(req: FollowRequest): Promise<FollowResult> {
      const ctx = Context.current();
      const handle = client.workflow.getHandle(req.workflowId, req.runId);
      let view = req.seen;
      for (;;) {
        const d = await handle.describe();
        if (d.status.name !== 'RUNNING') return closedResult(handle, d.status.name, d.closeTime, req);
        if (!(await workerPresent(req.config.node))) view = 'waiting-for-worker';
        else view = (await queryProgress(handle))?.phase ?? (view === 'waiting-for-worker' ? 'queued' : view);
        if (view !== req.seen) return { closed: false, view };
        ctx.heartbeat(view);
        await ctx.sleep(pollMs);
      }
    },

    /** report.md and report.json in `dir`; returns the Markdown's path. */
    async writeFleetReport(report: FleetReport, dir: string): Promise<string> {
      await fs.mkdir(dir, { recursive: true });
      const markdown = path.join(dir, 'report.md');
      for (const [file, text] of [
        [path.join(dir, 'report.json'), `${JSON.stringify({ ...report, reportPath: markdown }, null, 2)}\n`],
        [markdown, renderFleetReport({ ...report, reportPath: markdown })],
      ] as const) {
        // Written under a temporary name and renamed: a reader never sees half a report.
        await fs.writeFile(`${file}.tmp`, text);
        await fs.rename(`${file}.tmp`, file);
      }
      return markdown;
    },
  };
}

export type FleetActivities = ReturnType<typeof createFleetActivities>;
