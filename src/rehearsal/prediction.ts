// The real migration's downtime as the rehearsal measured it: the time its run of the database
// steps took on the scratch copies, grown with the live database since the snapshot.
import type { StepRecord } from '../report/types.js';

/** The wall time from the first step's start to the last one's end (steps that ran at once count once). */
export function wallMs(steps: Pick<StepRecord, 'startedAt' | 'ms'>[]): number {
  if (steps.length === 0) return 0;
  const starts = steps.map((s) => Date.parse(s.startedAt));
  const ends = steps.map((s, i) => starts[i]! + s.ms);
  return Math.max(...ends) - Math.min(...starts);
}

/**
 * The measured time scaled by the database's growth since the snapshot (the steps' time follows
 * the database's size; the growth of a few hours is small against it).
 */
export function predictMs(measuredMs: number, bytesAtSnapshot: number, bytesNow: number): number {
  const growth = bytesAtSnapshot > 0 ? Math.max(1, bytesNow / bytesAtSnapshot) : 1;
  return Math.round(measuredMs * growth);
}
