// `resolve`: after the swap a failed cluster step waits for the operator's decision.
import { Argument, type Command } from 'commander';
import { resolveUpdate, type Resolution } from '../shared.js';
import { cli, parseNode, sendUpdate, targetOf, withTemporal } from './common.js';

export function registerResolve(program: Command): void {
  program
    .command('resolve')
    .description('answer a failed step after the swap: retry it, or roll the whole migration back')
    .requiredOption('--node <name>', 'the node', parseNode)
    .addArgument(new Argument('<decision>', 'what to do').choices(['retry', 'rollback']))
    .action(async (decision: Resolution, opts: { node: string }, command: Command) => {
      await withTemporal(targetOf(command), async (client) => {
        await sendUpdate(client, opts.node, resolveUpdate, [decision]);
        const what = decision === 'retry' ? 'retries the failed step' : 'rolls back: the original directory goes back into place';
        process.stdout.write(`Accepted: the workflow ${what}. Follow it with ${cli(`watch --node ${opts.node}`)}.\n`);
      });
    });
}
