// How the workflow tells failures apart: an activity's or our own (the migration fails and rolls
// back) from a bug in workflow code (the workflow task fails, so that a fixed worker carries on).
import * as wf from '@temporalio/workflow';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import type { StepName } from '../shared.js';

/** A step that failed, with what it failed on. */
export class StepFailed extends Error {
  constructor(
    readonly step: StepName,
    readonly cause: unknown,
  ) {
    super(`step ${step} failed: ${rootMessage(cause)}`);
    this.name = 'StepFailed';
  }
}

/**
 * An activity that failed after its retries, a failure the workflow raised on purpose (a
 * verification mismatch, an approval timeout) or a cancellation: the migration must react. Anything
 * else (a TypeError, a broken invariant) is a bug that no rollback should answer.
 */
export function isMigrationFailure(err: unknown): boolean {
  const cause = err instanceof StepFailed ? err.cause : err;
  return cause instanceof ActivityFailure || cause instanceof ApplicationFailure || wf.isCancellation(cause);
}

/** The error as it was thrown inside a step: what the workflow task fails with when it is a bug. */
export function unwrapped(err: unknown): unknown {
  return err instanceof StepFailed ? err.cause : err;
}

/** The activity's own message: activity failures wrap it, and it may wrap a lower-level cause. */
export function rootMessage(err: unknown): string {
  let e = err as { name?: string; message?: string; cause?: unknown } | undefined;
  while (e && e.name !== 'ApplicationFailure' && e.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return e?.message ?? String(err);
}

export function describe(err: unknown): string {
  return err instanceof StepFailed ? err.message : rootMessage(err);
}

/** The ApplicationFailure behind a failed step or activity: the activity's own, or the workflow's. */
function applicationFailure(err: unknown): ApplicationFailure | undefined {
  let e = unwrapped(err) as { cause?: unknown } | undefined;
  while (e && !(e instanceof ApplicationFailure) && e.cause) e = e.cause as typeof e;
  return e instanceof ApplicationFailure ? e : undefined;
}

export const failureType = (err: unknown): string | undefined => applicationFailure(err)?.type ?? undefined;

/** The first detail the failure carries (e.g. the drift report of a failed schemaDrift). */
export const failureDetails = <T>(err: unknown): T | undefined => applicationFailure(err)?.details?.[0] as T | undefined;
