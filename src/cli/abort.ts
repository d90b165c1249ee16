// `abort`: cancel the node's migration (the workflow undoes its steps, its saga, before it ends)
// or its rehearsal (it removes its scratch copies).
import type { Command } from 'commander';
import { cli, parseNode, runningMigrationOf, targetOf, withTemporal } from './common.js';

export function registerAbort(program: Command): void {
  program
    .command('abort')
    .description("cancel the node's migration (it rolls back and the original stays in place), or with --rehearsal its rehearsal")
    .requiredOption('--node <name>', 'the node', parseNode)
    .option('--rehearsal', "cancel the node's rehearsal instead")
    .action(async (opts: { node: string; rehearsal?: boolean }, command: Command) => {
      await withTemporal(targetOf(command), async (client) => {
        const kind = opts.rehearsal ? 'rehearsal' : 'migration';
        const handle = await runningMigrationOf(client, opts.node, kind);
        await handle.cancel();
        process.stdout.write(
          kind === 'migration'
            ? `Abort requested: the workflow undoes its steps and puts the original back. Follow the rollback with ${cli(`watch --node ${opts.node}`)}.\n`
            : `Abort requested: the rehearsal stops and removes its scratch copies. Follow it with ${cli(`watch --rehearsal --node ${opts.node}`)}.\n`,
        );
      });
    });
}
