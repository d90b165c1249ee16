// When a transfer counts as stuck: nothing of it has moved for stallSeconds. Moving is a change
// of its progress figures (bytes, rows, table, phase, stages) or one of its sessions working on
// the server (liveness.ts). A failed sample is not movement: a server that stopped answering stalls.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeSessions, endSessions, isWorking, sampleSessions, type WatchedSessions } from '../postgres/liveness.js';
import type { StepProgress } from '../shared.js';

export class StallClock {
  private movedAt: number;
  private figures?: string;
  private lastProgress = 'no progress reported yet';
  private lastServer?: string;

  constructor(
    readonly stallMs: number,
    now: number,
  ) {
    this.movedAt = now;
  }

  /** A report of the step's progress; only a change of its figures is movement (a total is an estimate). */
  progress(p: StepProgress, now: number): void {
    const figures = JSON.stringify([p.step, p.detail, p.done, p.stages?.length]);
    if (figures === this.figures) return;
    this.figures = figures;
    this.movedAt = now;
    this.lastProgress = describeProgress(p);
  }

  /** A look at the server: `working` when one of the step's sessions was working then. */
  server(working: boolean, seen: string, now: number): void {
    if (working) this.movedAt = now;
    this.lastServer = seen;
  }

  /** Why the step counts as stalled at `now`; undefined while it moves. */
  stalled(now: number): string | undefined {
    const still = now - this.movedAt;
    if (still < this.stallMs) return undefined;
    const server = this.lastServer ? `; on the server: ${this.lastServer}` : '';
    return `nothing moved for ${Math.round(still / 1000)} s (stallSeconds ${this.stallMs / 1000}): last progress ${this.lastProgress}${server}`;
  }
}

function describeProgress(p: StepProgress): string {
  const figures = p.done === undefined ? '' : `, ${p.done}${p.total === undefined ? '' : ` of ${p.total}`}${p.unit ? ` ${p.unit}` : ''}`;
  const stages = p.stages?.length ? `, stages done: ${p.stages.join(', ')}` : '';
  return `${p.step}${p.detail ? ` (${p.detail})` : ''}${figures}${stages}`;
}

/** One run of a transfer: its clock, the sessions it watches, and the means to stop it. */
export class TransferWatch {
  readonly clock: StallClock;
  private readonly sessions: WatchedSessions[] = [];
  private readonly stop = new AbortController();
  private sampling = false;
  /** Aborted when the step stalls: the step's tools end (see ExecIO.signal). */
  readonly signal = this.stop.signal;

  constructor(stallMs: number, now = Date.now()) {
    this.clock = new StallClock(stallMs, now);
  }

  progress(p: StepProgress): void {
    this.clock.progress(p, Date.now());
  }

  watch(sessions: WatchedSessions): void {
    this.sessions.push(sessions);
  }

  /** One look at the watched sessions; skipped while the last is still out (a server that hangs). */
  sample(): void {
    if (this.sampling || this.sessions.length === 0) return;
    this.sampling = true;
    void Promise.all(
      this.sessions.map(async (w) => {
        try {
          const seen = await sampleSessions(w);
          return { working: seen.some(isWorking), seen: describeSessions(w.appName, seen) };
        } catch (err) {
          return { working: false, seen: `sampling ${w.appName} failed (${(err as Error).message})` };
        }
      }),
    ).then((looks) => {
      this.clock.server(looks.some((l) => l.working), looks.map((l) => l.seen).join('; '), Date.now());
      this.sampling = false;
    });
  }

  /** Ends the stuck work: the step's tools on our side, its sessions on the server. */
  async stopWork(reason: string): Promise<void> {
    this.stop.abort(new Error(reason));
    // One request may not be the end of it (its connection failed under load, or the tool had
    // just opened another session): end them until none is left, for a while.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const left = await Promise.all(this.sessions.map((w) => endSessions(w).then(() => sampleSessions(w)).then((seen) => seen.length, () => 1)));
      if (left.every((n) => n === 0) || Date.now() > deadline) return;
      await sleep(500);
    }
  }
}
