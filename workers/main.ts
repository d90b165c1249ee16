// The worker on a Kaapana node: `kaapana-migrate-worker --node <name>` (or KAAPANA_NODE).
import { createLogger } from '../src/log.js';
import { describeTemporalTarget, resolveTemporalTarget } from '../src/temporal/connection.js';
import { connectWorker, createMigrationWorker, installRuntimeLogging } from '../src/worker.js';

const log = createLogger('kaapana-migrate-worker');
const nodeArg = process.argv.indexOf('--node');
const node = nodeArg >= 0 ? process.argv[nodeArg + 1] : process.env.KAAPANA_NODE;
if (!node) {
  log.error('name the node this worker serves: --node <name> or KAAPANA_NODE');
  process.exit(2);
}
installRuntimeLogging(log);
try {
  const target = resolveTemporalTarget();
  const connection = await connectWorker(target);
  const worker = await createMigrationWorker({ connection, namespace: target.namespace, node, log });
  log.info({ node, temporal: describeTemporalTarget(target) }, 'worker started');
  // SIGTERM/SIGINT: the SDK stops polling and lets running activities finish within the grace time.
  await worker.run();
  await connection.close();
  log.info('worker stopped');
} catch (err) {
  log.error((err as Error).message);
  process.exitCode = 1;
}
