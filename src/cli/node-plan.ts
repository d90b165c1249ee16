// One node's plan run by that node's worker (the planNode workflow on its task queue): the checks
// see the node's own directories, disks and cluster, wherever the command runs.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { migrationInput } from '../config/input.js';
import type { MigrationConfig } from '../config/schema.js';
import type { Plan } from '../plan/preflight.js';
import { PLAN_WORKFLOW_TYPE, planIdFor, taskQueueFor } from '../shared.js';
import { workerPolls } from '../temporal/connection.js';
import type { planNode } from '../workflows/plan-node.js';
import { warnWithoutPoller } from './common.js';

/** A plan reads the node's directories and asks its runtime and cluster: minutes at most. */
const PLAN_TIMEOUT = '10 minutes';

/** After the first wait, how often the worker is looked for again while its plan runs. */
const LOOK_AGAIN_MS = 5_000;

export interface NodePlan {
  plan: Plan;
  workflowId: string;
}

/**
 * Starts the node's plan on its queue and waits for its result. While it runs, a queue that no
 * worker polls (none at all once `workerWaitMs` have passed, or its worker gone since) fails the
 * plan, and the plan's workflow is terminated so that nothing is left waiting for a worker that is
 * not there; with a worker the plan takes as long as it needs, within its execution timeout.
 * Fails with why the plan did not pass, in words for the operator.
 */
export async function planOnNode(client: Client, config: MigrationConfig, workerWaitMs: number): Promise<NodePlan> {
  const queue = taskQueueFor(config.node);
  await warnWithoutPoller(client, queue, `the plan of ${config.node} waits up to ${workerWaitMs / 1000} s for one`);
  const workflowId = planIdFor(config.node, randomUUID().slice(0, 8));
  const began = Date.now();
  const handle = await client.workflow.start<typeof planNode>(PLAN_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: queue,
    args: [migrationInput(config)],
    workflowExecutionTimeout: PLAN_TIMEOUT,
    staticSummary: `${config.node}: plan (the migration's preflight checks, read-only)`,
  });
  const outcome = handle.result().then(
    (plan) => ({ plan }),
    (error: unknown) => ({ error }),
  );
  const within = (ms: number) => Promise.race([outcome, sleep(ms, undefined, { ref: false })]);
  for (let done = await within(workerWaitMs); ; done = await within(LOOK_AGAIN_MS)) {
    if (done) {
      if ('plan' in done) return { plan: done.plan, workflowId };
      throw new Error(failureText(done.error, workflowId));
    }
    if (await workerPolls(client, queue)) continue;
    const waited = Math.round((Date.now() - began) / 1000);
    const terminated = await handle.terminate(`no worker polled ${queue}`).then(
      () => true,
      // Ended meanwhile after all: its result stands.
      (err: unknown) => (err instanceof WorkflowNotFoundError ? false : Promise.reject(err)),
    );
    if (terminated) {
      throw new Error(`no worker serves ${queue} (waited ${waited} s; its plan, workflow ${workflowId}, was terminated): start the node's worker (systemctl start kaapana-migrate-worker on ${config.node})`);
    }
  }
}

function failureText(err: unknown, workflowId: string): string {
  const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
  if (cause instanceof ApplicationFailure && cause.type === 'PlanRefused') return `preflight refuses this node: ${cause.message}`;
  if (cause instanceof TimeoutFailure) return `its plan did not end within ${PLAN_TIMEOUT} (workflow ${workflowId}: see its pending activity in the Web UI)`;
  return `its plan failed (workflow ${workflowId}): ${cause?.message ?? (err as Error).message}`;
}
