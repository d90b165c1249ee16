// A plan of one node, run by that node's worker: the migration's own preflight activity, read-only,
// on the node whose directories, disks and cluster the configuration names (`fleet plan` starts it
// for every node of a fleet). It changes nothing on the node.
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { Plan } from '../activities/preflight.js';
import type { RunContext } from '../activities/context.js';
import { checkInput, type MigrationInput } from '../config/input.js';
import { PLAN_RUN_TAG } from '../shared.js';
import { activitiesFor, run } from './activities.js';
import { failureType, rootMessage } from './failures.js';

/**
 * The input is the migration's (the password only by reference). The preflight's refusals are
 * non-retryable (PreflightError, also for the scripts' and the secret's problems): a refusal ends
 * the plan at once, as PlanRefused with the preflight's message; anything else is PlanFailed.
 */
export async function planNode(input: MigrationInput): Promise<Plan> {
  const checked = checkInput(input);
  if (!checked.ok) {
    throw ApplicationFailure.nonRetryable(`the workflow input is not a valid configuration: ${checked.problems.join('; ')}; nothing was checked`, 'InvalidInput');
  }
  const ctx: RunContext = { config: checked.config, runTag: PLAN_RUN_TAG };
  try {
    return await run(activitiesFor(checked.config).control.preflight, 'preflight checks (a plan: nothing changes)', ctx);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    throw ApplicationFailure.nonRetryable(rootMessage(err), failureType(err) === 'PreflightError' ? 'PlanRefused' : 'PlanFailed');
  }
}
