// Two steps that do not disturb each other run at once: e.g. the original's inventory and its dump
// (both only read), or the updates and the check of the tables they never touch. When one fails
// the other is cancelled (a reader loses nothing, an update script rolls back), and the failure
// goes up once both have ended, so that a rollback never runs under a running step.
import * as wf from '@temporalio/workflow';

export async function together<A, B>(a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  const scopes = [new wf.CancellationScope(), new wf.CancellationScope()] as const;
  const runs = [scopes[0].run(a), scopes[1].run(b)] as const;
  runs[0].catch(() => scopes[1].cancel());
  runs[1].catch(() => scopes[0].cancel());
  const [ra, rb] = await Promise.allSettled(runs);
  // The cause, not the cancellation it led to; a cancellation of the whole run cancels both.
  const failures = [ra, rb].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  const cause = failures.find((e) => !wf.isCancellation(e)) ?? failures[0];
  if (failures.length > 0) throw cause;
  return [(ra as PromiseFulfilledResult<A>).value, (rb as PromiseFulfilledResult<B>).value];
}
