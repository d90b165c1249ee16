// The report's downtime section: what `plan` estimated for this node from the benchmark's figures,
// against what the run took, both counted the way the benchmark counts.
import type { MigrationConfig } from '../config/schema.js';
import { duration, mib } from '../format.js';
import { estimateMs, madeBy, variantOf, type Throughput } from '../plan/downtime.js';
import type { StepName } from '../shared.js';
import type { DowntimeComparison, MigrationReport } from './types.js';

/**
 * The steps a run recorded before the archive stops (stopApplications, run or, without a cluster,
 * skipped): preflight, freshSchema and in fast mode prepareBulkLoad. No part of the downtime, in
 * the benchmark or here; found by their place, since runs recorded before prepared later.
 */
export function beforeTheStop<S extends { step: StepName }>(steps: readonly S[]): S[] {
  const stop = steps.findIndex((s) => s.step === 'stopApplications');
  return stop < 0 ? [] : steps.slice(0, stop);
}

/**
 * Steps the benchmark does not count (the wait for approval) or does not run (it has no cluster):
 * left out of the time taken, with the steps before the stop, so that it compares with the estimate.
 */
const NOT_ESTIMATED: readonly StepName[] = ['awaitApproval', 'stopApplications', 'backupLdap', 'redeploy', 'ldapUpdate', 'restartPods'];

export function compareDowntime(report: Pick<MigrationReport, 'startedAt' | 'endedAt' | 'steps'>, config: Pick<MigrationConfig, 'mode' | 'verification'>, dataDirBytes: number, figures: Throughput): DowntimeComparison {
  if (!report.endedAt) throw new Error('the run has not ended');
  const early = beforeTheStop(report.steps);
  const leftOutMs = report.steps.filter((s) => early.includes(s) || NOT_ESTIMATED.includes(s.step)).reduce((t, s) => t + s.ms, 0);
  return {
    mode: config.mode,
    verification: config.verification,
    dataDirBytes,
    estimatedMs: estimateMs(figures.variants[variantOf(config.mode, config.verification)], dataDirBytes),
    tookMs: Date.parse(report.endedAt) - Date.parse(report.startedAt) - leftOutMs,
    leftOutMs,
    figures: madeBy(figures),
  };
}

export function renderDowntime(d: DowntimeComparison): string[] {
  return [
    '## Downtime',
    '',
    `- Estimated ${duration(d.estimatedMs)}, took ${duration(d.tookMs)} (${(d.tookMs / d.estimatedMs).toFixed(2)}× the estimate): mode ${d.mode}, verification ${d.verification}, a database directory of ${mib(d.dataDirBytes)}`,
    `- Both without the checks before the archive stops, the wait for approval and the cluster's steps (${duration(d.leftOutMs)} here)`,
    `- The estimate is the benchmark's (${d.figures}), on the local runtime; a machine unlike that one gives other times`,
    '',
  ];
}
