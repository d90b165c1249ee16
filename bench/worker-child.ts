// The migration worker in its own process for the benchmark. Prints "ready" once polling; on
// SIGTERM shuts down and prints its peak RSS as one JSON line.
// usage: worker-child.ts TEMPORAL_ADDRESS NODE BUNDLE_FILE
import { readFileSync } from 'node:fs';
import { DefaultLogger, NativeConnection, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createLogger } from '../src/log.js';
import { createMigrationWorker } from '../src/worker.js';
import { peakRss } from './proc.js';

const [address, node, bundleFile] = process.argv.slice(2) as [string, string, string];
Runtime.install({ logger: new DefaultLogger('WARN') });
const connection = await NativeConnection.connect({ address });
// The bundle is built once by the benchmark: webpack's memory is not the worker's.
const worker = await createMigrationWorker({ connection, namespace: 'default', node, log: createLogger('bench-worker', 'warn'), workflowBundle: JSON.parse(readFileSync(bundleFile, 'utf8')) as WorkflowBundleWithSourceMap });
process.once('SIGTERM', () => worker.shutdown());
const running = worker.run();
process.stdout.write('ready\n');
await running;
await connection.close();
process.stdout.write(`${JSON.stringify({ peakRss: peakRss() })}\n`);
