// `start`: one migration per node, started on the node's task queue.
import os from 'node:os';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { migrationInput } from '../config/input.js';
import type { MigrationConfig } from '../config/schema.js';
import { migrationStartOptions } from '../migration-start.js';
import { SA_ARCHIVE_VERSION, SA_NODE, SA_PHASE, WORKFLOW_TYPE, progressQuery, taskQueueFor, workflowIdFor } from '../shared.js';
import type { migrateDcm4che } from '../workflows/migrate-dcm4che.js';
import { CliError, NOTHING_CHANGED, cli, readConfig, refuseWhileOtherRuns, targetOf, warnWithoutPoller, withTemporal } from './common.js';
import { finishWatch, watchMigration } from './watch.js';

export function registerStart(program: Command): void {
  program
    .command('start')
    .description("start the migration of the node in --config; the node's worker carries it out")
    .requiredOption('--config <file>', "the node's configuration (YAML)")
    .option('--watch', 'follow the progress until the migration ends')
    .option('--yes', 'do not ask for confirmation')
    .action(async (opts: { config: string; watch?: boolean; yes?: boolean }, command: Command) => {
      const config = await readConfig(opts.config);
      if (!opts.yes) await confirm(`Start the migration of node ${config.node} (archive ${config.versions.from} … ${config.versions.to}, PostgreSQL 9.6 → 15)?`);
      await withTemporal(targetOf(command), async (client) => {
        await refuseWhileOtherRuns(client, config.node, 'migration');
        await warnWithoutPoller(client, taskQueueFor(config.node), `the migration starts once kaapana-migrate-worker runs on ${config.node} (systemctl start kaapana-migrate-worker)`);
        const handle = await startMigration(client, config);
        process.stdout.write(
          `Started the migration of ${config.node}: workflow ${handle.workflowId}, run ${handle.firstExecutionRunId}.\n` +
            (opts.watch ? '' : `Follow it with ${cli(`watch --node ${config.node}`)}; it waits for ${cli(`approve --node ${config.node}`)} before the swap.\n`),
        );
        if (opts.watch) finishWatch(await watchMigration(client, config.node));
      });
    });
}

export async function startMigration(client: Client, config: MigrationConfig): Promise<WorkflowHandleWithFirstExecutionRunId<typeof migrateDcm4che>> {
  const node = config.node;
  try {
    return await client.workflow.start<typeof migrateDcm4che>(WORKFLOW_TYPE, {
      ...migrationStartOptions(config, `${os.userInfo().username}@${os.hostname()}`),
      args: [migrationInput(config)],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const running = client.workflow.getHandle(workflowIdFor(node));
      const phase = await running.query(progressQuery).then((p) => p.phase, () => 'unknown (no worker answers)');
      throw new CliError(
        `a migration of node ${node} is already running (workflow ${workflowIdFor(node)}, phase ${phase})`,
        `${NOTHING_CHANGED} by this start; the running migration goes on`,
        `follow it with ${cli(`watch --node ${node}`)}, or stop it with ${cli(`abort --node ${node}`)} (it rolls back) before starting again`,
      );
    }
    if (err instanceof Error && /search attribute/i.test(err.message)) {
      throw new CliError(
        `Temporal refused the start: ${err.message}`,
        NOTHING_CHANGED,
        `register the search attributes once: ${[SA_NODE, SA_PHASE, SA_ARCHIVE_VERSION].map((k) => `temporal operator search-attribute create --name ${k.name} --type Keyword`).join('; ')}`,
      );
    }
    throw err;
  }
}

async function confirm(question: string): Promise<void> {
  const refuse = (why: string) => new CliError(why, NOTHING_CHANGED, 'run the command again and answer "yes", or add --yes');
  if (!process.stdin.isTTY) throw refuse('confirmation needed, but the input is not a terminal');
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question} [yes/no] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw refuse('not confirmed');
  } finally {
    rl.close();
  }
}
