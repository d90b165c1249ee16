// `approve`: the operator's go for the directory swap, refused by the workflow until verified.
import os from 'node:os';
import type { Command } from 'commander';
import { approveSwapUpdate } from '../shared.js';
import { cli, parseNode, sendUpdate, targetOf, withTemporal } from './common.js';

export function registerApprove(program: Command): void {
  program
    .command('approve')
    .description('approve the swap of the verified new database into place')
    .requiredOption('--node <name>', 'the node', parseNode)
    .option('--by <name>', 'who approves (recorded in the report)', `${os.userInfo().username}@${os.hostname()}`)
    .option('--comment <text>', 'recorded in the report')
    .action(async (opts: { node: string; by: string; comment?: string }, command: Command) => {
      await withTemporal(targetOf(command), async (client) => {
        const approval = await sendUpdate(client, opts.node, approveSwapUpdate, [{ by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}) }]);
        process.stdout.write(`Approved by ${approval.by} at ${approval.at}: the workflow now swaps the directories. Follow it with ${cli(`watch --node ${opts.node}`)}.\n`);
      });
    });
}
