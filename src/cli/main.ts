// kaapana-migrate: plan, start, follow and steer the dcm4chee database migration of Kaapana nodes.
import { Command } from 'commander';
import { registerAbort } from './abort.js';
import { registerApprove } from './approve.js';
import { formatError } from './common.js';
import { registerDemo } from './demo.js';
import { registerFleet } from './fleet.js';
import { registerPlan } from './plan.js';
import { registerRehearse } from './rehearse.js';
import { registerResolve } from './resolve.js';
import { registerStart } from './start.js';
import { registerStatus } from './status.js';
import { registerWatch } from './watch.js';

const program = new Command('kaapana-migrate')
  .description('Migrate the dcm4chee database of a Kaapana node (0.2.x → 0.3.x) as a Temporal workflow')
  .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, the temporal CLI profile, else 127.0.0.1:7233)')
  .option('--namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, the profile, else default)')
  .showHelpAfterError();
for (const register of [registerPlan, registerRehearse, registerStart, registerStatus, registerWatch, registerApprove, registerResolve, registerAbort, registerFleet, registerDemo]) register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  process.stderr.write(formatError(err));
  process.exitCode = 1;
}
