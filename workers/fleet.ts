// The fleet worker: `node dist/workers/fleet.js` (npm run fleet-worker) anywhere that
// reaches the Temporal service; it runs fleet rollouts, each node's migration stays on its node.
import { createLogger } from '../src/log.js';
import { createFleetWorker } from '../src/fleet/worker.js';
import { describeTemporalTarget, resolveTemporalTarget } from '../src/temporal/connection.js';
import { connectWorker, installRuntimeLogging } from '../src/worker.js';

const log = createLogger('kaapana-migrate-fleet-worker');
installRuntimeLogging(log);
try {
  const target = resolveTemporalTarget();
  const connection = await connectWorker(target);
  const worker = await createFleetWorker({ connection, namespace: target.namespace });
  log.info({ temporal: describeTemporalTarget(target) }, 'fleet worker started');
  await worker.run();
  await connection.close();
  log.info('fleet worker stopped');
} catch (err) {
  log.error((err as Error).message);
  process.exitCode = 1;
}
