// `rehearse`: the migration's database part on a snapshot of the live database, while the PACS
// keeps running; its report predicts the downtime and lists what a real run would hit.
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import type { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { rehearsalInput } from '../config/input.js';
import { ConfigError, loadNodeFile } from '../config/load.js';
import { rehearsalProblems, type RehearsalOptions } from '../config/rehearsal.js';
import type { MigrationConfig } from '../config/schema.js';
import { REHEARSAL_WORKFLOW_TYPE, SA_NODE, SA_PHASE, rehearsalIdFor, taskQueueFor } from '../shared.js';
import type { rehearseDcm4che } from '../workflows/rehearse-dcm4che.js';
import { CliError, NOTHING_CHANGED, cli, refuseWhileOtherRuns, targetOf, warnWithoutPoller, withTemporal } from './common.js';
import { finishWatch, watchMigration } from './watch.js';

export function registerRehearse(program: Command): void {
  program
    .command('rehearse')
    .description("rehearse the node's migration on a snapshot of its live database while the PACS keeps running; predicts the downtime")
    .requiredOption('--config <file>', "the node's configuration (YAML), with its rehearsal: section")
    .option('--watch', 'follow the rehearsal until it ends')
    .option('--write-input <file>', 'only write the workflow input as JSON (for `temporal workflow start --input-file`), start nothing')
    .action(async (opts: { config: string; watch?: boolean; writeInput?: string }, command: Command) => {
      const { config, rehearsal } = await readNodeFile(opts.config);
      if (opts.writeInput) {
        await writeFile(opts.writeInput, `${JSON.stringify(rehearsalInput(config, rehearsal), null, 2)}\n`, { mode: 0o600 });
        process.stdout.write(`Workflow input written to ${opts.writeInput}; start it as ${REHEARSAL_WORKFLOW_TYPE} with the id ${rehearsalIdFor(config.node)} on the task queue ${taskQueueFor(config.node)}.\n`);
        return;
      }
      await withTemporal(targetOf(command), async (client) => {
        await refuseWhileOtherRuns(client, config.node, 'rehearsal');
        await warnWithoutPoller(client, taskQueueFor(config.node), `the rehearsal starts once kaapana-migrate-worker runs on ${config.node} (systemctl start kaapana-migrate-worker)`);
        const handle = await startRehearsal(client, config, rehearsal);
        process.stdout.write(
          `Started the rehearsal of ${config.node}: workflow ${handle.workflowId}, run ${handle.firstExecutionRunId}. The live database is only read.\n` +
            (opts.watch ? '' : `Follow it with ${cli(`watch --rehearsal --node ${config.node}`)}; stop it with ${cli(`abort --rehearsal --node ${config.node}`)}.\n`),
        );
        if (opts.watch) finishWatch(await watchMigration(client, config.node, { kind: 'rehearsal' }));
      });
    });
}

async function readNodeFile(file: string): Promise<{ config: MigrationConfig; rehearsal: RehearsalOptions }> {
  const fix = `correct ${file}, then check it with ${cli(`plan --config ${file}`)}`;
  try {
    const read = await loadNodeFile(file);
    const problems = rehearsalProblems(read.config, read.rehearsal);
    if (problems.length > 0) throw new CliError(`${file} cannot be rehearsed: ${problems.join('; ')}`, NOTHING_CHANGED, fix);
    return read;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, NOTHING_CHANGED, fix);
    throw err;
  }
}

export async function startRehearsal(client: Client, config: MigrationConfig, rehearsal: RehearsalOptions): Promise<WorkflowHandleWithFirstExecutionRunId<typeof rehearseDcm4che>> {
  const node = config.node;
  try {
    return await client.workflow.start<typeof rehearseDcm4che>(REHEARSAL_WORKFLOW_TYPE, {
      workflowId: rehearsalIdFor(node),
      taskQueue: taskQueueFor(node),
      args: [rehearsalInput(config, rehearsal)],
      typedSearchAttributes: [
        { key: SA_NODE, value: node },
        { key: SA_PHASE, value: 'queued' },
      ],
      staticSummary: `${node}: rehearsal of the dcm4chee database migration (${rehearsal.modes.join(' and ')} mode) on a snapshot; the PACS keeps running`,
      staticDetails: [
        `**Node** ${node}, started by ${os.userInfo().username}@${os.hostname()}`,
        '',
        `- the live database is read once, through its running server, at nice ${rehearsal.nice} / io ${rehearsal.io}${rehearsal.maxDumpMiBps ? `, at most ${rehearsal.maxDumpMiBps} MiB/s` : ''}`,
        `- scratch copies in \`${rehearsal.scratchDir ?? config.paths.fastDataDir}\`, removed at the end`,
        `- report in \`${config.paths.backupDir}\``,
        '',
        `Follow: \`kaapana-migrate watch --rehearsal --node ${node}\` · stop: \`kaapana-migrate abort --rehearsal --node ${node}\``,
      ].join('\n'),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(`a rehearsal of node ${node} is already running (workflow ${rehearsalIdFor(node)})`, `${NOTHING_CHANGED} by this start`, `follow it with ${cli(`watch --rehearsal --node ${node}`)}, or stop it with ${cli(`abort --rehearsal --node ${node}`)}`);
    }
    throw err;
  }
}
