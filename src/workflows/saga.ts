// The compensations of the migration: registered before each change they undo, run newest first.
import * as wf from '@temporalio/workflow';
import { describe, isMigrationFailure, unwrapped } from './failures.js';
import type { Gate } from './gate.js';
import type { Recorder } from './recorder.js';

export type Saga = ReturnType<typeof createSaga>;

export function createSaga(rec: Recorder, gate: Gate) {
  const compensations: { what: string; run: () => Promise<string | void> }[] = [];
  return {
    onRollback(what: string, run: () => Promise<string | void>) {
      compensations.push({ what, run });
    },

    /**
     * Undoes everything registered, even when the workflow itself was cancelled. An undo that fails
     * after its retries must not let the rest run as if it had worked: the operator decides (retry
     * it, or leave it undone and go on with the rest).
     */
    async rollback(reason: string): Promise<{ undone: string[]; notUndone: string[] }> {
      const result = { undone: [] as string[], notUndone: [] as string[] };
      rec.report.rollback = { reason, ...result };
      await wf.CancellationScope.nonCancellable(async () => {
        for (const c of compensations.reverse()) {
          for (;;) {
            try {
              result.undone.push((await c.run()) || c.what);
              break;
            } catch (err) {
              if (!isMigrationFailure(err)) throw unwrapped(err);
              rec.progress.failure = `undoing failed: ${c.what}: ${describe(err)}`;
              const decision = await gate.awaitResolution();
              rec.progress.failure = reason;
              rec.setPhase('rolling-back');
              if (decision === 'retry') continue;
              result.notUndone.push(`${c.what}: ${describe(err)}`);
              break;
            }
          }
        }
      });
      return result;
    },
  };
}
