// Watching a fleet rollout in tests, with fake nodes or real ones: the parent's state until a
// condition holds, and how many node migrations overlapped.
import type { WorkflowHandle } from '@temporalio/client';
import { fleetStateQuery, type FleetState } from '../../src/fleet/shared.js';

/**
 * Polls the parent's `fleetState` query until `cond` holds; fails after `ms`, or at once when the
 * rollout ended without it, with where every node stood.
 */
export async function untilFleetState(handle: WorkflowHandle, cond: (s: FleetState) => boolean, what: string, ms: number, pollMs: number): Promise<FleetState> {
  const deadline = Date.now() + ms;
  let last: FleetState | undefined;
  while (Date.now() < deadline) {
    last = await handle.query(fleetStateQuery).catch(() => last);
    if (last && cond(last)) return last;
    if (last && ['completed', 'halted', 'aborted'].includes(last.phase)) break;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`${what}: not within ${ms} ms; state ${JSON.stringify(last?.nodes.map((n) => [n.node, n.status, n.view ?? n.outcome]))} phase ${last?.phase}`);
}

/** The most node migrations that overlapped in time. */
export function maxOverlap(spans: [number, number][]): number {
  const events = spans.flatMap(([a, b]) => [[a, 1] as const, [b, -1] as const]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of events) most = Math.max(most, (now += d));
  return most;
}
