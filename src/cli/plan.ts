// `plan`: what a migration of this node would do, and the workflow's own preflight checks run
// here, on the node, read-only: what `plan` accepts, `start` does not refuse.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { layoutFor } from '../config/layout.js';
import { ConfigError, resolveSecret } from '../config/load.js';
import type { MigrationConfig } from '../config/schema.js';
import { createLogger } from '../log.js';
import { benchmarkFigures, estimateMs, madeBy, measuredRange, variantOf } from '../plan/downtime.js';
import { preflight, PreflightError, type Plan } from '../plan/preflight.js';
import { PlanError } from '../plan/scripts.js';
import { PLAN_RUN_TAG, taskQueueFor, workflowIdFor } from '../shared.js';
import { migrationInput } from '../config/input.js';
import { CliError, NOTHING_CHANGED, cli, readConfig } from './common.js';
import { duration, kib, mib } from '../format.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('validate the configuration, select the update scripts and print the plan; changes nothing')
    .requiredOption('--config <file>', "the node's configuration (YAML)")
    .option('--write-input <file>', 'also write the workflow input as JSON, for `temporal workflow start --input-file`')
    .action(async (opts: { config: string; writeInput?: string }) => {
      const config = await readConfig(opts.config);
      const { plan, notes } = await checkNode(config, opts.config);
      process.stdout.write(renderPlan(config, opts.config, plan, notes));
      if (opts.writeInput) {
        const input = migrationInput(config);
        await writeFile(opts.writeInput, `${JSON.stringify(input, null, 2)}\n`, { mode: 0o600 });
        process.stdout.write(`\nWorkflow input written to ${opts.writeInput}.\n`);
      }
    });
}

/** The preflight of the workflow, with this process's adapters. */
async function checkNode(config: MigrationConfig, file: string): Promise<{ plan: Plan; notes: string[] }> {
  const notes: string[] = [];
  // The worker reads the password on the node; a shell without it can still check everything else.
  const password = await resolveSecret(config.database.password).catch((err: unknown) => {
    if (!(err instanceof ConfigError)) throw err;
    notes.push(`${err.message}: the worker must have it (see the README, "The worker")`);
    return '';
  });
  // Loaded here only: the adapters' clients would slow every other command's start.
  const { runtimeFor, clusterFor } = await import('../deps.js');
  const log = createLogger('kaapana-migrate-plan', 'warn');
  try {
    const plan = await preflight({
      config,
      layout: layoutFor(config, PLAN_RUN_TAG),
      runtime: runtimeFor(config, { name: config.database.name, user: config.database.user, password }),
      cluster: await clusterFor(config, log),
    });
    return { plan, notes };
  } catch (err) {
    if (err instanceof PlanError) {
      throw new CliError(err.message, NOTHING_CHANGED, `put the vendor's update scripts in place or correct paths.scriptsDir / versions in ${file}, then run ${cli(`plan --config ${file}`)} again`);
    }
    if (err instanceof PreflightError) {
      throw new CliError(`preflight refuses this node: ${err.message}`, NOTHING_CHANGED, `remove the cause, then run ${cli(`plan --config ${file}`)} again; start refuses the same way until then`);
    }
    throw err;
  }
}

function renderPlan(config: MigrationConfig, file: string, plan: Plan, notes: string[]): string {
  const { scripts, layout } = plan;
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
  // Before the notes are listed: without usable figures it adds one.
  const downtime = renderDowntime(config, plan.dataDirBytes, notes);
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
      ['new PostgreSQL 15', `${layout.new} (${absent(layout.new)})`],
      ['original after swap', `${layout.retired} (${absent(layout.retired)})`],
      ['dumps and report', layout.runDir],
    ]),
    '',
    `Update scripts from ${config.paths.scriptsDir}, applied in this order`,
    ...scripts.map((s, i) => `  ${i + 1}. ${s.version.padEnd(7)} ${kib(s.bytes).padStart(10)}  sha256 ${s.sha256}  ${s.file}`),
    '',
    'Disk space (database size with the configured margin)',
    ...plan.space.map((c) => `  ${c.dir}: ${mib(c.freeBytes)} free, ${mib(c.needBytes)} needed for ${c.for.join(' + ')}`),
    ...downtime,
    ...(plan.notes.length + notes.length > 0 ? ['', 'Notes', ...[...plan.notes, ...notes].map((n) => `  - ${n}`)] : []),
    '',
    `Every preflight check passed. Next: ${cli(`start --config ${file}`)}`,
    '',
  ].join('\n');
}

/**
 * The benchmark's figures applied to this node's database directory, every mode and verification
 * side by side so the choice can be made on them; the configured one in brackets. Without usable
 * figures the plan goes on: the estimate informs, it checks nothing.
 */
function renderDowntime(config: MigrationConfig, dataDirBytes: number, notes: string[]): string[] {
  let figures;
  try {
    figures = benchmarkFigures();
  } catch (err) {
    notes.push(`no downtime estimate: ${(err as Error).message}`);
    return [];
  }
  const chosen = variantOf(config.mode, config.verification);
  const figure = (mode: MigrationConfig['mode'], verification: MigrationConfig['verification']) => {
    const variant = variantOf(mode, verification);
    const text = `${duration(estimateMs(figures.variants[variant], dataDirBytes))} (${verification})`;
    return variant === chosen ? `[${text}]` : text;
  };
  const { minBytes, maxBytes } = measuredRange(figures);
  const outside = dataDirBytes < minBytes || dataDirBytes > maxBytes;
  return [
    '',
    `Estimated downtime (from ${madeBy(figures)}) for the database directory of ${mib(dataDirBytes)}`,
    ...(['guide', 'fast'] as const).map((mode) => `  ${mode.padEnd(5)}  ${figure(mode, 'checksums')} / ${figure(mode, 'counts')}`),
    `  [ ]: the configured mode and verification (mode: ${config.mode}, verification: ${config.verification}).`,
    '  An estimate for a machine like the benchmark\'s, on the local runtime: other disks and cores give other times. It leaves out',
    '  the wait for approval and, on a cluster, stopping, redeploying and restarting the applications and the LDAP update.',
    ...(outside ? [`  The benchmark measured directories of ${mib(minBytes)} to ${mib(maxBytes)}: this figure extends its line beyond them.`] : []),
  ];
}
