// The dev server and the CLI binary live in src/ (the demo runs them too); tests import them from here,
// and start them through startTestTemporal: a server per test file, with the workflow bundle.
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../../src/shared.js';
import { startDevServer, type DevServer, type DevServerOptions } from '../../src/temporal/dev-server.js';
import { cachedWorkflowBundle } from './bundle-cache.js';

export { startDevServer, type DevServer, type DevServerOptions };
export { temporalBinary } from '../../src/temporal/cli-binary.js';

export interface TestTemporal {
  server: DevServer;
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
  const [started, bundled] = await Promise.allSettled([startServer(serverOpts), cachedWorkflowBundle()]);
  if (started.status === 'rejected' || bundled.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.stop();
    throw started.status === 'rejected' ? started.reason : (bundled as PromiseRejectedResult).reason;
  }
  const server = started.value;
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
    client: new Client({ connection }),
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
async function startServer(opts: DevServerOptions): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServer({ ...opts, searchAttributes: SEARCH_ATTRIBUTES.map((k) => k.name) });
    } catch (err) {
      if (attempt >= 3 || opts.port !== undefined) throw err;
    }
  }
}
