// `abort`: cancel the node's migration; the workflow undoes its steps (its saga) before it ends.
import type { Command } from 'commander';
import { cli, parseNode, runningMigrationOf, targetOf, withTemporal } from './common.js';

export function registerAbort(program: Command): void {
  program
    .command('abort')
    .description("cancel the node's migration; it rolls back and the original stays in place")
    .requiredOption('--node <name>', 'the node', parseNode)
    .action(async (opts: { node: string }, command: Command) => {
      await withTemporal(targetOf(command), async (client) => {
        const handle = await runningMigrationOf(client, opts.node);
        await handle.cancel();
        process.stdout.write(`Abort requested: the workflow undoes its steps and puts the original back. Follow the rollback with ${cli(`watch --node ${opts.node}`)}.\n`);
      });
    });
}
