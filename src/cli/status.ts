// `status`: the migrations of one node or of the whole fleet, open and closed, from visibility.
import type { Command } from 'commander';
import { REHEARSAL_WORKFLOW_TYPE, SA_ARCHIVE_VERSION, SA_NODE, SA_PHASE, WORKFLOW_TYPE } from '../shared.js';
import { parseNode, targetOf, withTemporal } from './common.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list migrations (or rehearsals) with their phase, running and ended, of one node or of all nodes')
    .option('--node <name>', 'only this node', parseNode)
    .option('--rehearsals', 'list the rehearsals instead')
    .action(async (opts: { node?: string; rehearsals?: boolean }, command: Command) => {
      await withTemporal(targetOf(command), async (client) => {
        // parseNode admits no quotes, so the name is safe inside the query.
        const query = `WorkflowType = '${opts.rehearsals ? REHEARSAL_WORKFLOW_TYPE : WORKFLOW_TYPE}'${opts.node ? ` AND ${SA_NODE.name} = '${opts.node}'` : ''}`;
        const rows: string[][] = [];
        for await (const run of client.workflow.list({ query })) {
          const attrs = run.typedSearchAttributes;
          rows.push([
            attrs.get(SA_NODE) ?? '?',
            run.status.name.toLowerCase(),
            attrs.get(SA_PHASE) ?? '?',
            attrs.get(SA_ARCHIVE_VERSION) ?? '?',
            run.startTime.toISOString().slice(0, 19).replace('T', ' '),
            run.closeTime?.toISOString().slice(0, 19).replace('T', ' ') ?? '',
            run.runId,
          ]);
        }
        if (rows.length === 0) {
          process.stdout.write(`No ${opts.rehearsals ? 'rehearsals' : 'migrations'}${opts.node ? ` of node ${opts.node}` : ''} found in namespace ${client.options.namespace}.\n`);
          return;
        }
        process.stdout.write(table(['NODE', 'STATUS', 'PHASE', 'ARCHIVE', 'STARTED (UTC)', 'CLOSED (UTC)', 'RUN'], rows));
      });
    });
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}
