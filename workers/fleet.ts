// The fleet worker: `node dist/workers/fleet.js` (npm run fleet-worker) anywhere that
// reaches the Temporal service; it runs fleet rollouts, each node's migration stays on its node.
import { createLogger } from '../src/log.js';
import { createFleetWorker } from '../src/fleet/worker.js';
import { installRuntimeLogging, serveWorker } from '../src/worker.js';

const log = createLogger('kaapana-migrate-fleet-worker');
installRuntimeLogging(log);
await serveWorker(log, 'fleet worker', {}, (connection, namespace) => createFleetWorker({ connection, namespace }));
