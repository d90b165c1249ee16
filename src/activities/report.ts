// Writing the report (owner-only: it names paths and hosts of a hospital system).
import { Context } from '@temporalio/activity';
import { attemptKeyOf, attemptsOf, readJournal, type Attempt } from '../attempt-journal.js';
import { layoutFor, type Layout } from '../config/layout.js';
import { directoryBytes, writeFileDurably } from '../files.js';
import { benchmarkFigures } from '../plan/downtime.js';
import { compareDowntime } from '../report/downtime.js';
import { renderMarkdown } from '../report/render.js';
import { renderRehearsal, type RehearsalReport } from '../report/rehearsal.js';
import type { DowntimeComparison, MigrationReport } from '../report/types.js';
import type { ActivityDeps, RunContext } from './context.js';

export function createReportActivities(deps: ActivityDeps) {
  /** Every attempt of the run but this one; none when the journal cannot be read (the report is written all the same). */
  async function attempts(layout: Layout, runId: string): Promise<Attempt[] | undefined> {
    try {
      return attemptsOf(await readJournal(layout.attempts), { workflowRunId: runId, reader: attemptKeyOf(Context.current().info) });
    } catch (err) {
      deps.log.warn({ journal: layout.attempts, error: (err as Error).message }, 'attempts journal not read');
      return undefined;
    }
  }
  /**
   * A completed run against the estimate `plan` showed: the original directory is measured where
   * the swap moved it (unchanged since), so no figure has to travel through the workflow. Left out
   * when it cannot be made (the report is written all the same).
   */
  async function downtime(ctx: RunContext, layout: Layout, report: MigrationReport): Promise<DowntimeComparison | undefined> {
    if (report.outcome !== 'completed') return undefined;
    try {
      return compareDowntime(report, ctx.config, await directoryBytes(layout.retired), benchmarkFigures());
    } catch (err) {
      deps.log.warn({ dir: layout.retired, error: (err as Error).message }, 'downtime estimate left out of the report');
      return undefined;
    }
  }
  return {
    async writeReport(ctx: RunContext, report: MigrationReport): Promise<string> {
      const layout = layoutFor(ctx.config, ctx.runTag);
      const files = layout.report;
      const full: MigrationReport = { ...report, attempts: await attempts(layout, report.runId), downtime: await downtime(ctx, layout, report) };
      await writeFileDurably(files.json, JSON.stringify(full, null, 2));
      await writeFileDurably(files.markdown, renderMarkdown(full));
      return files.markdown;
    },

    /** Beside the rehearsal's attempts journal, in its own directory (the scratch is gone by now). */
    async writeRehearsalReport(ctx: RunContext, report: RehearsalReport): Promise<string> {
      const layout = layoutFor(ctx.config, ctx.runTag);
      const full: RehearsalReport = { ...report, attempts: await attempts(layout, report.runId) };
      await writeFileDurably(layout.report.json, JSON.stringify(full, null, 2));
      await writeFileDurably(layout.report.markdown, renderRehearsal(full));
      return layout.report.markdown;
    },
  };
}
