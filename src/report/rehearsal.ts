// The rehearsal's report: what the real migration would take and hit, from a run on a snapshot.
import type { Attempt } from '../attempt-journal.js';
import { cell, duration, mib } from '../format.js';
import { renderAttempts } from './attempts.js';
import type { MigrationReport, RunIdentity, StepRecord } from './types.js';

export type RehearsedMode = 'fast' | 'guide';

/** What a real run would hit: every one of them, with the mode whose run showed it. */
export interface Problem {
  kind: 'script' | 'lost-rows' | 'disk-space' | 'schema-drift' | 'verification' | 'step';
  mode?: RehearsedMode;
  message: string;
}

export interface RehearsedRun {
  mode: RehearsedMode;
  outcome: 'completed' | 'failed';
  steps: StepRecord[];
  scripts: MigrationReport['scripts'];
  /** The run's wall time, from its preflight to its stopNew. */
  measuredMs: number;
  /** The real migration's predicted downtime in this mode (without the approval and the cluster's steps). */
  predictedMs?: number;
  schemaDrift?: { expected: number; unexpected: number };
  failure?: string;
}

export interface RehearsalReport extends RunIdentity {
  /** passed: every mode completed without a problem; problems: it ran, and found some; failed: it could not run (or was cancelled). */
  outcome: 'passed' | 'problems' | 'failed' | 'cancelled';
  live?: {
    where: string;
    /** pg_database_size when the rehearsal began. */
    bytes: number;
    snapshot?: { at: string; ms: number; bytes: number; sha256: string; instances?: number };
    /** The live database when the rehearsal ended. */
    now?: { at: string; bytes: number; instances: number };
  };
  /** The rehearsal's own steps (the snapshot, the scratch copy, the cleanup). */
  steps: StepRecord[];
  runs: RehearsedRun[];
  problems: Problem[];
  failure?: string;
  /** Every attempt of every activity, the mode runs' too (added by writeRehearsalReport). */
  attempts?: Attempt[];
}

const PROBLEM_TITLES: Record<Problem['kind'], string> = {
  script: 'update script failed',
  'lost-rows': 'rows lost by a restore',
  'disk-space': 'disk space',
  'schema-drift': 'schema drift',
  verification: 'verification failed',
  step: 'step failed',
};

export function renderRehearsal(r: RehearsalReport): string {
  const out = [`# Rehearsal of the migration of ${r.node}`, '', `- Outcome: **${r.outcome}**`, `- Workflow ${r.workflowId}, run ${r.runId}`, `- ${r.startedAt} … ${r.endedAt ?? 'not ended'}`];
  if (r.failure) out.push(`- Failure: ${r.failure}`);
  out.push('', '## Predicted downtime of the real migration', '');
  const predicted = r.runs.filter((run) => run.predictedMs !== undefined);
  if (predicted.length === 0) out.push('No mode completed: no prediction.');
  else {
    out.push('| mode | predicted downtime | rehearsed in |', '|---|---:|---:|');
    for (const run of predicted) out.push(`| ${run.mode} | ${duration(run.predictedMs!)} | ${duration(run.measuredMs)} |`);
    out.push('', 'From this rehearsal\'s own times on a copy of the live database, grown by its growth since the snapshot; without the wait for approval and, on a cluster, the scaling, redeploy, LDAP update and pod restarts (not rehearsed).');
  }
  out.push('', '## Problems a real run would hit', '');
  if (r.problems.length === 0) out.push('None found.');
  else for (const p of r.problems) out.push(`- **${PROBLEM_TITLES[p.kind]}**${p.mode ? ` (${p.mode} mode)` : ''}: ${p.message}`);
  if (r.live) {
    const { live } = r;
    out.push('', '## The live database', '', `- Reached through ${live.where}; ${mib(live.bytes)} when the rehearsal began`);
    if (live.snapshot) out.push(`- Snapshot at ${live.snapshot.at}: held open ${duration(live.snapshot.ms)} (the load on the live server), ${mib(live.snapshot.bytes)} of SQL${live.snapshot.instances !== undefined ? `, ${live.snapshot.instances} instances` : ''}, sha256 ${live.snapshot.sha256.slice(0, 12)}…`);
    if (live.now) {
      const hours = (Date.parse(live.now.at) - Date.parse(live.snapshot?.at ?? r.startedAt)) / 3_600_000;
      const grew = live.now.bytes - live.bytes;
      out.push(`- At the end (${live.now.at}): ${mib(live.now.bytes)}, ${live.now.instances} instances; grew ${mib(grew)}${live.snapshot?.instances !== undefined ? ` and ${live.now.instances - live.snapshot.instances} instances` : ''} since the snapshot${hours > 0 ? ` (${mib(grew / hours)} an hour)` : ''}`);
    }
  }
  out.push('', '## Steps', '', '| run | step | status | took | detail |', '|---|---|---|---:|---|');
  for (const s of r.steps) out.push(`| rehearsal | ${s.step} | ${s.status} | ${duration(s.ms)} | ${cell(s.detail)} |`);
  for (const run of r.runs) for (const s of run.steps) out.push(`| ${run.mode} | ${s.step} | ${s.status} | ${duration(s.ms)} | ${cell(s.detail)} |`);
  if (r.attempts) out.push('', ...renderAttempts(r.attempts));
  return `${out.join('\n')}\n`;
}
