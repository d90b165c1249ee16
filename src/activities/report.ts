// Writing the report (owner-only: it names paths and hosts of a hospital system).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { attemptKeyOf, attemptsOf, readJournal, type Attempt } from '../attempt-journal.js';
import { layoutFor, type Layout } from '../config/layout.js';
import { renderMarkdown } from '../report/render.js';
import type { MigrationReport } from '../report/types.js';
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
  return {
    async writeReport(ctx: RunContext, report: MigrationReport): Promise<string> {
      const layout = layoutFor(ctx.config, ctx.runTag);
      const files = layout.report;
      const full: MigrationReport = { ...report, attempts: await attempts(layout, report.runId) };
      await fs.mkdir(path.dirname(files.json), { recursive: true, mode: 0o700 });
      await fs.writeFile(files.json, JSON.stringify(full, null, 2), { mode: 0o600 });
      await fs.writeFile(files.markdown, renderMarkdown(full), { mode: 0o600 });
      return files.markdown;
    },
  };
}
