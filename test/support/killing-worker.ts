// A worker process that SIGKILLs itself shortly after the activity named by KM_KILL_AT has
// started (KM_KILL_AFTER_MS later): a crash in the middle of that step, as a power cut would be.
// An activity that ends sooner is killed as it ends, before its result is reported, so the crash
// always lands inside it; KM_KILL_AFTER_MS=done asks for that moment (a committed update script
// whose attempt is lost).
// KM_WORKFLOW_BUNDLE names the test run's cached workflow bundle (no bundling per process).
import { readFileSync } from 'node:fs';
import { NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createLogger } from '../../src/log.js';
import { createMigrationWorker } from '../../src/worker.js';
import { activityKey } from './faults.js';

const [node] = process.argv.slice(2) as [string];
const killAt = process.env.KM_KILL_AT!;
const after = process.env.KM_KILL_AFTER_MS ?? '50';
const bundle = JSON.parse(readFileSync(process.env.KM_WORKFLOW_BUNDLE!, 'utf8')) as WorkflowBundleWithSourceMap;
const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
const worker = await createMigrationWorker({
  connection,
  namespace: 'default',
  node,
  log: createLogger('killing-worker', 'warn'),
  workflowBundle: bundle,
  interceptors: {
    activity: [
      (ctx) => ({
        inbound: {
          async execute(input, next) {
            if (activityKey(ctx.info.activityType, input.args) !== killAt) return next(input);
            const kill = () => process.kill(process.pid, 'SIGKILL');
            if (after !== 'done') setTimeout(kill, Number(after));
            try {
              await next(input);
            } finally {
              kill();
            }
            throw new Error('unreachable: the worker is killed');
          },
        },
      }),
    ],
  },
});
await worker.run();
