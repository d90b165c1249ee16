// The dev server and the CLI binary live in src/ (the demo runs them too); tests import them from here,
// and reach them through startTestTemporal, with the workflow bundle: under `npm test` a namespace of
// its own on the suite's one server (test/support/suite-temporal.ts), else a server per test file.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Long from 'long';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../../src/shared.js';
import { ensureSearchAttributes, startDevServer, type DevServer, type DevServerOptions } from '../../src/temporal/dev-server.js';
import { cachedWorkflowBundle } from './bundle-cache.js';

export { startDevServer, type DevServer, type DevServerOptions };
export { temporalBinary } from '../../src/temporal/cli-binary.js';

/** Where `npm test` runs its one dev server (host:port), for every file that needs no server of its own. */
export const SUITE_TEMPORAL_ENV = 'KM_SUITE_TEMPORAL';

export interface TestTemporal {
  server: DevServer;
  /** The file's namespace: its workflows, task queues and search attributes are apart from every other file's. */
  namespace: string;
  client: Client;
  /** A connection for the file's workers. */
  native: NativeConnection;
  bundle: WorkflowBundleWithSourceMap;
  close(): Promise<void>;
}

/**
 * A dev server (our search attributes registered), clients of it and the real workflow bundle.
 * Whatever started is stopped again when a later part fails: a server left running keeps the test
 * process alive. The SDK's log level is set by the first call in the process.
 */
export async function startTestTemporal(opts: Omit<DevServerOptions, 'searchAttributes'> & { logLevel?: LogLevel } = {}): Promise<TestTemporal> {
  const { logLevel = 'WARN', ...serverOpts } = opts;
  try {
    Runtime.install({ logger: new DefaultLogger(logLevel) });
  } catch {
    // installed already in this process
  }
  // A file that restarts its server, keeps its database or serves the Web UI has one of its own.
  const suite = process.env[SUITE_TEMPORAL_ENV];
  const own = !suite || serverOpts.dbFile !== undefined || serverOpts.uiPort !== undefined || serverOpts.port !== undefined;
  const [started, bundled] = await Promise.allSettled([own ? startServer(serverOpts) : suiteNamespace(suite), cachedWorkflowBundle()]);
  if (started.status === 'rejected' || bundled.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.server.stop();
    throw started.status === 'rejected' ? started.reason : (bundled as PromiseRejectedResult).reason;
  }
  const { server, namespace } = started.value;
  let connection: Connection | undefined;
  let native: NativeConnection | undefined;
  try {
    connection = await Connection.connect({ address: server.address });
    native = await NativeConnection.connect({ address: server.address });
  } catch (err) {
    await connection?.close().catch(() => undefined);
    await server.stop();
    throw err;
  }
  return {
    server,
    namespace,
    client: new Client({ connection, namespace }),
    native,
    bundle: bundled.value,
    async close() {
      await native.close().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await server.stop();
    },
  };
}

/**
 * Up to three tries when the port is ours to choose: it was free a moment before the server's
 * bind, and another process on a busy machine may take it first (the server then exits at once).
 */
async function startServer(opts: DevServerOptions): Promise<{ server: DevServer; namespace: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { server: await startDevServer({ ...opts, searchAttributes: SEARCH_ATTRIBUTES.map((k) => k.name) }), namespace: 'default' };
    } catch (err) {
      if (attempt >= 3 || opts.port !== undefined) throw err;
    }
  }
}

/**
 * A fresh namespace on the suite's server, named after the test file, with our search attributes.
 * The server is the suite's to stop: this file's `stop` and `restart` leave it alone.
 */
async function suiteNamespace(address: string): Promise<{ server: DevServer; namespace: string }> {
  const file = path.basename(process.argv[1] ?? 'test', '.test.ts').replace(/[^a-z0-9-]/gi, '-');
  const namespace = `km-${file}-${randomBytes(3).toString('hex')}`;
  const connection = await Connection.connect({ address, connectTimeout: 5000 });
  try {
    await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) } });
  } finally {
    await connection.close();
  }
  await ensureSearchAttributes(address, SEARCH_ATTRIBUTES.map((k) => k.name), namespace);
  const refused = async () => {
    throw new Error('the suite\'s Temporal server is shared: a test that restarts its server starts its own (dbFile)');
  };
  return { server: { address, uiPort: 0, pid: () => undefined, stop: async () => undefined, restart: refused }, namespace };
}
