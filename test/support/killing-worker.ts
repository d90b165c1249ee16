// A worker process that SIGKILLs itself shortly after the activity named by KM_KILL_AT has
// started (KM_KILL_AFTER_MS later): a crash in the middle of that step, as a power cut would be.
import { NativeConnection } from '@temporalio/worker';
import { createLogger } from '../../src/log.js';
import { createMigrationWorker } from '../../src/worker.js';
import { activityKey } from './faults.js';

const [node] = process.argv.slice(2) as [string];
const killAt = process.env.KM_KILL_AT!;
const afterMs = Number(process.env.KM_KILL_AFTER_MS ?? '50');
const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
const worker = await createMigrationWorker({
  connection,
  namespace: 'default',
  node,
  log: createLogger('killing-worker', 'warn'),
  interceptors: {
    activity: [
      (ctx) => ({
        inbound: {
          execute(input, next) {
            if (activityKey(ctx.info.activityType, input.args) === killAt) setTimeout(() => process.kill(process.pid, 'SIGKILL'), afterMs);
            return next(input);
          },
        },
      }),
    ],
  },
});
await worker.run();
