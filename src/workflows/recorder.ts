// What the workflow shows of itself: the progress query, the Web UI's current details, the
// search attributes and the report, all kept by one recorder so that they never disagree.
import * as wf from '@temporalio/workflow';
import type { MigrationConfig } from '../config/schema.js';
import type { MigrationReport } from '../report/types.js';
import { SA_NODE, SA_PHASE, type Phase, type Progress, type StepName, type StepProgress } from '../shared.js';
import { StepFailed, describe, isMigrationFailure } from './failures.js';

export type Recorder = ReturnType<typeof createRecorder>;

export interface RecorderOptions {
  /** Where the Web UI's current details go (a rehearsal puts its own line before them). */
  show?: (details: string) => void;
  /** The list finished steps go to: a rehearsal's runs share one, in the order the steps ended. */
  completed?: Progress['completed'];
  /** Put before each finished step's detail there (the rehearsed mode). */
  label?: string;
}

export function createRecorder(config: MigrationConfig, runTag: string, opts: RecorderOptions = {}) {
  const info = wf.workflowInfo();
  const now = () => new Date(Date.now()).toISOString();
  const show = opts.show ?? wf.setCurrentDetails;
  const labelled = (detail: string) => (opts.label ? `${opts.label}: ${detail}` : detail);
  const progress: Progress = { phase: 'running', completed: opts.completed ?? [], verified: false };
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

  // Steps that run at once (together.ts) are all shown; `current` is the first of them.
  const running: StepProgress[] = [];
  // The report lists steps in the order they began, also those that ended after a later one.
  const begun: number[] = [];
  let begins = 0;
  const record = (at: number, entry: MigrationReport['steps'][number]) => {
    const i = begun.filter((b) => b < at).length;
    begun.splice(i, 0, at);
    report.steps.splice(i, 0, entry);
  };
  const showDetails = () => {
    const done = progress.completed.map((c) => `- ✔ ${c.step}: ${c.detail}`).join('\n');
    const current = [progress.current, ...(progress.alongside ?? [])].map((c) => (c ? `\n- ▶ **${c.step}**${c.detail ? `: ${c.detail}` : ''}` : '')).join('');
    const waiting =
      progress.phase === 'awaiting-approval'
        ? `\n\n**Waiting for approval of the directory swap.** Approve with \`kaapana-migrate approve --node ${config.node}\`.`
        : progress.phase === 'awaiting-resolution'
          ? `\n\n**A step failed: ${progress.failure}.** Answer with \`kaapana-migrate resolve --node ${config.node} retry|rollback\`.`
          : '';
    show(`**${config.node}**: ${progress.phase}\n\n${done}${current}${waiting}`);
  };
  const setPhase = (phase: Phase) => {
    progress.phase = phase;
    wf.upsertSearchAttributes([{ key: SA_PHASE, value: phase === 'running' ? progress.current?.step ?? phase : phase }]);
    showDetails();
  };
  wf.upsertSearchAttributes([{ key: SA_NODE, value: config.node }]);
  const showRunning = () => {
    progress.current = running[0];
    if (running.length > 1) progress.alongside = running.slice(1);
    else delete progress.alongside;
  };

  return {
    progress,
    report,
    now,
    setPhase,
    showDetails,

    /** Runs one step; records it for the progress query, the Web UI and the report. */
    async step<T>(name: StepName, detail: string, fn: () => Promise<T>, summarise: (r: T) => string = () => detail, phase: Phase = 'running'): Promise<T> {
      const entry: StepProgress = { step: name, detail };
      const at = begins++;
      running.push(entry);
      showRunning();
      setPhase(phase);
      const started = Date.now();
      const startedAt = now();
      try {
        const result = await fn();
        const summary = summarise(result);
        progress.completed.push({ step: name, detail: labelled(summary), ms: Date.now() - started });
        record(at, { step: name, detail: summary, startedAt, ms: Date.now() - started, status: 'ok' });
        return result;
      } catch (err) {
        // A bug in workflow code is not the step's failure: it goes up unwrapped and fails the task.
        if (!isMigrationFailure(err)) throw err;
        record(at, { step: name, detail: describe(err), startedAt, ms: Date.now() - started, status: 'failed' });
        if (wf.isCancellation(err)) throw err;
        throw new StepFailed(name, err);
      } finally {
        const wasShown = running[0] === entry;
        running.splice(running.indexOf(entry), 1);
        showRunning();
        // A step that ran beside it is now the one shown (a step alone changes nothing here).
        if (wasShown && running.length > 0) setPhase(progress.phase);
      }
    },

    skip(name: StepName, why: string) {
      record(begins++, { step: name, detail: why, startedAt: now(), ms: 0, status: 'skipped' });
      progress.completed.push({ step: name, detail: labelled(`skipped: ${why}`), ms: 0 });
    },
  };
}
