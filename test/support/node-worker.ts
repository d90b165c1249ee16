// A node's worker in its own process, as each Kaapana node runs one: `node --import tsx
// test/support/node-worker.ts <node>`, against TEMPORAL_ADDRESS, with the test run's cached
// workflow bundle (KM_WORKFLOW_BUNDLE: no bundling per process). SIGTERM stops it.
import { readFileSync } from 'node:fs';
import { NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createLogger } from '../../src/log.js';
import { createMigrationWorker } from '../../src/worker.js';

const [node] = process.argv.slice(2) as [string];
const bundle = JSON.parse(readFileSync(process.env.KM_WORKFLOW_BUNDLE!, 'utf8')) as WorkflowBundleWithSourceMap;
const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
const worker = await createMigrationWorker({ connection, namespace: 'default', node, log: createLogger('node-worker', 'warn'), workflowBundle: bundle });
await worker.run();
await connection.close();
