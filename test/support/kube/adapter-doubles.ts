// Test doubles around the Kubernetes adapter: a ClusterProgress that records what the adapter said
// and marked (its `done` set is the one `mark` adds to, as clusterProgress() in the activities does),
// and a deploy runner that records each run of a real runner, so that a test can tell which
// deploy_platform.sh stages a call ran and look at the cluster the moment a script returned.
import type { DeployAction, DeployScriptRunner, Release } from '../../../src/cluster/deploy-script.js';
import type { ClusterProgress } from '../../../src/cluster/port.js';

export interface RecordingProgress extends ClusterProgress {
  done: Set<string>;
  said: string[];
  marked: string[];
}

/** A progress whose done set starts with `done`, as a retried attempt's heartbeat details give it. */
export function recordingProgress(done: Iterable<string> = []): RecordingProgress {
  const set = new Set(done);
  const said: string[] = [];
  const marked: string[] = [];
  return {
    done: set,
    said,
    marked,
    say: (detail) => void said.push(detail),
    mark(stage) {
      marked.push(stage);
      set.add(stage);
    },
  };
}

export interface RunnerCall<T> {
  release: Release;
  action: DeployAction;
  /** Set when the script failed. */
  error?: string;
  /** How long the script ran. */
  ms?: number;
  /** What afterRun saw right after the script returned (successful runs only). */
  seen?: T;
}

export type RecordingRunner<T> = DeployScriptRunner & { calls: RunnerCall<T>[]; stages(): string[] };

/** Runs every call through `inner`; afterRun looks at the world the moment a script exited 0. */
export function recordingRunner<T = undefined>(inner: DeployScriptRunner, afterRun?: (release: Release, action: DeployAction) => Promise<T>): RecordingRunner<T> {
  const calls: RunnerCall<T>[] = [];
  return {
    calls,
    stages: () => calls.map((c) => `${c.action}:${c.release}`),
    check: () => inner.check(),
    argvOf: (release, action) => inner.argvOf(release, action),
    async run(release, action) {
      const call: RunnerCall<T> = { release, action };
      calls.push(call);
      const started = Date.now();
      try {
        await inner.run(release, action);
      } catch (err) {
        call.error = (err as Error).message;
        throw err;
      } finally {
        call.ms = Date.now() - started;
      }
      if (afterRun) call.seen = await afterRun(release, action);
    },
  };
}
