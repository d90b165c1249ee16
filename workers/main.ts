// The worker on a Kaapana node: `kaapana-migrate-worker --node <name>` (or KAAPANA_NODE).
import { createLogger } from '../src/log.js';
import { createMigrationWorker, installRuntimeLogging, serveWorker } from '../src/worker.js';

const log = createLogger('kaapana-migrate-worker');
const nodeArg = process.argv.indexOf('--node');
const node = nodeArg >= 0 ? process.argv[nodeArg + 1] : process.env.KAAPANA_NODE;
if (!node) {
  log.error('name the node this worker serves: --node <name> or KAAPANA_NODE');
  process.exit(2);
}
installRuntimeLogging(log);
await serveWorker(log, 'worker', { node }, (connection, namespace) => createMigrationWorker({ connection, namespace, node, log }));
