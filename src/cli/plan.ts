// `plan`: what a migration of this node would do, read from the configuration and the disk only.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { layoutFor } from '../config/layout.js';
import type { MigrationConfig } from '../config/schema.js';
import { PlanError, selectUpdateScripts, type UpdateScript } from '../plan/scripts.js';
import { taskQueueFor, workflowIdFor } from '../shared.js';
import type { MigrationInput } from '../workflows/migrate-dcm4che.js';
import { CliError, NOTHING_CHANGED, cli, readConfig } from './common.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('validate the configuration, select the update scripts and print the plan; changes nothing')
    .requiredOption('--config <file>', "the node's configuration (YAML)")
    .option('--write-input <file>', 'also write the workflow input as JSON, for `temporal workflow start --input-file`')
    .action(async (opts: { config: string; writeInput?: string }) => {
      const config = await readConfig(opts.config);
      const scripts = await planScripts(config, opts.config);
      process.stdout.write(renderPlan(config, opts.config, scripts));
      if (opts.writeInput) {
        const input: MigrationInput = { config };
        await writeFile(opts.writeInput, `${JSON.stringify(input, null, 2)}\n`, { mode: 0o600 });
        process.stdout.write(`\nWorkflow input written to ${opts.writeInput}.\n`);
      }
    });
}

async function planScripts(config: MigrationConfig, file: string): Promise<UpdateScript[]> {
  try {
    return await selectUpdateScripts(config.paths.scriptsDir, config.versions.from, config.versions.to);
  } catch (err) {
    if (err instanceof PlanError) {
      throw new CliError(err.message, NOTHING_CHANGED, `put the vendor's update scripts in place or correct paths.scriptsDir / versions in ${file}, then run ${cli(`plan --config ${file}`)} again`);
    }
    throw err;
  }
}

function renderPlan(config: MigrationConfig, file: string, scripts: UpdateScript[]): string {
  // The run directory is named after the run, which only exists once the migration starts.
  const layout = layoutFor(config, '<run>');
  const pgVersion = (dir: string) => {
    try {
      return `PostgreSQL ${readFileSync(`${dir}/PG_VERSION`, 'utf8').trim()} cluster`;
    } catch {
      return existsSync(dir) ? 'exists, no PostgreSQL cluster' : 'missing';
    }
  };
  const absent = (dir: string) => (existsSync(dir) ? 'ALREADY EXISTS: preflight will refuse' : 'absent, as it must be');
  const runtime = config.runtime.kind === 'local' ? `local binaries: 9.6 ${config.runtime.old.binDir}, 15 ${config.runtime.new.binDir}` : `docker: ${config.runtime.old.image} → ${config.runtime.new.image}`;
  const rows = (pairs: [string, string][]) => {
    const width = Math.max(...pairs.map(([k]) => k.length));
    return pairs.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
  };
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  return [
    `Plan for node ${config.node} (nothing has been changed)`,
    rows([
      ['configuration', file],
      ['archive', `${config.versions.from} … ${config.versions.to}, ${scripts.length} update scripts`],
      ['runtime', runtime],
      ['cluster', config.cluster.kind === 'kubernetes' ? `kubernetes, namespace ${config.cluster.namespace}` : 'none: stop and restart dcm4chee yourself'],
      ['workflow', `id ${workflowIdFor(config.node)}, task queue ${taskQueueFor(config.node)}`],
      ['approval', config.approval.timeoutMinutes ? `rolls back unless approved within ${config.approval.timeoutMinutes} min` : 'waits until approved or aborted'],
    ]),
    '',
    'Directories',
    rows([
      ['live database', `${layout.original} (${pgVersion(layout.original)})`],
      ['9.6 working copy', `${layout.work} (${absent(layout.work)})`],
      ['new PostgreSQL 15', `${layout.next} (${absent(layout.next)})`],
      ['original after swap', `${layout.old} (${absent(layout.old)})`],
      ['dumps and report', layout.runDir],
    ]),
    '',
    `Update scripts from ${config.paths.scriptsDir}, applied in this order`,
    ...scripts.map((s, i) => `  ${i + 1}. ${s.version.padEnd(7)} ${kib(s.bytes).padStart(10)}  sha256 ${s.sha256}  ${s.file}`),
    '',
    `Next: ${cli(`start --config ${file}`)}`,
    '',
  ].join('\n');
}
