// Writing the report (owner-only: it names paths and hosts of a hospital system).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { layoutFor } from '../config/layout.js';
import { renderMarkdown } from '../report/render.js';
import type { MigrationReport } from '../report/types.js';
import type { ActivityDeps, RunContext } from './context.js';

export function createReportActivities(_deps: ActivityDeps) {
  return {
    async writeReport(ctx: RunContext, report: MigrationReport): Promise<string> {
      const { report: files } = layoutFor(ctx.config, ctx.runTag);
      await fs.mkdir(path.dirname(files.json), { recursive: true, mode: 0o700 });
      await fs.writeFile(files.json, JSON.stringify(report, null, 2), { mode: 0o600 });
      await fs.writeFile(files.markdown, renderMarkdown(report), { mode: 0o600 });
      return files.markdown;
    },
  };
}
