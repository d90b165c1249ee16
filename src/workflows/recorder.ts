// What the workflow shows of itself: the progress query, the Web UI's current details, the
// search attributes and the report, all kept by one recorder so that they never disagree.
import * as wf from '@temporalio/workflow';
import type { MigrationConfig } from '../config/schema.js';
import type { MigrationReport } from '../report/types.js';
import { SA_NODE, SA_PHASE, type Phase, type Progress, type StepName } from '../shared.js';
import { StepFailed, describe, isMigrationFailure } from './failures.js';

export type Recorder = ReturnType<typeof createRecorder>;

export function createRecorder(config: MigrationConfig, runTag: string) {
  const info = wf.workflowInfo();
  const now = () => new Date(Date.now()).toISOString();
  const progress: Progress = { phase: 'running', completed: [], verified: false };
  const report: MigrationReport = {
    node: config.node,
    workflowId: info.workflowId,
    runId: info.runId,
    runTag,
    startedAt: now(),
    outcome: 'failed',
    versions: { from: config.versions.from, to: config.versions.to, alreadyPresent: [], applied: [] },
    steps: [],
    dumps: [],
    scripts: [],
    ldap: [],
  };

  const showDetails = () => {
    const done = progress.completed.map((c) => `- ✔ ${c.step}: ${c.detail}`).join('\n');
    const current = progress.current ? `\n- ▶ **${progress.current.step}**${progress.current.detail ? `: ${progress.current.detail}` : ''}` : '';
    const waiting =
      progress.phase === 'awaiting-approval'
        ? `\n\n**Waiting for approval of the directory swap.** Approve with \`kaapana-migrate approve --node ${config.node}\`.`
        : progress.phase === 'awaiting-resolution'
          ? `\n\n**A step failed: ${progress.failure}.** Answer with \`kaapana-migrate resolve --node ${config.node} retry|rollback\`.`
          : '';
    wf.setCurrentDetails(`**${config.node}**: ${progress.phase}\n\n${done}${current}${waiting}`);
  };
  const setPhase = (phase: Phase) => {
    progress.phase = phase;
    wf.upsertSearchAttributes([{ key: SA_PHASE, value: phase === 'running' ? progress.current?.step ?? phase : phase }]);
    showDetails();
  };
  wf.upsertSearchAttributes([{ key: SA_NODE, value: config.node }]);

  return {
    progress,
    report,
    now,
    setPhase,
    showDetails,

    /** Runs one step; records it for the progress query, the Web UI and the report. */
    async step<T>(name: StepName, detail: string, fn: () => Promise<T>, summarise: (r: T) => string = () => detail, phase: Phase = 'running'): Promise<T> {
      progress.current = { step: name, detail };
      setPhase(phase);
      const started = Date.now();
      const startedAt = now();
      try {
        const result = await fn();
        const summary = summarise(result);
        progress.completed.push({ step: name, detail: summary, ms: Date.now() - started });
        report.steps.push({ step: name, detail: summary, startedAt, ms: Date.now() - started, status: 'ok' });
        return result;
      } catch (err) {
        // A bug in workflow code is not the step's failure: it goes up unwrapped and fails the task.
        if (!isMigrationFailure(err)) throw err;
        report.steps.push({ step: name, detail: describe(err), startedAt, ms: Date.now() - started, status: 'failed' });
        if (wf.isCancellation(err)) throw err;
        throw new StepFailed(name, err);
      } finally {
        progress.current = undefined;
      }
    },

    skip(name: StepName, why: string) {
      report.steps.push({ step: name, detail: why, startedAt: now(), ms: 0, status: 'skipped' });
      progress.completed.push({ step: name, detail: `skipped: ${why}`, ms: 0 });
    },
  };
}
