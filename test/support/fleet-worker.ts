// The fleet worker in its own process, as a site runs it: `node --import tsx
// test/support/fleet-worker.ts`, against TEMPORAL_ADDRESS, with the test run's cached workflow
// bundle (KM_WORKFLOW_BUNDLE). SIGTERM stops it; SIGKILL is a crash the rollout must survive.
import { readFileSync } from 'node:fs';
import { NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createFleetWorker } from '../../src/fleet/worker.js';

const bundle = JSON.parse(readFileSync(process.env.KM_WORKFLOW_BUNDLE!, 'utf8')) as WorkflowBundleWithSourceMap;
const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
const worker = await createFleetWorker({ connection, namespace: 'default', workflowBundle: bundle, pollMs: 500 });
await worker.run();
await connection.close();
