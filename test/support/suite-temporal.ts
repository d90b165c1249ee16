// `node --import tsx test/support/suite-temporal.ts <command> [args…]`: one Temporal dev server for
// a whole test run. Each file then registers a namespace of its own on it (startTestTemporal)
// instead of starting a server: a dev server's start and its idle work, paid by some thirty files
// at once on a 2-core machine, cost minutes of the suite. The server is stopped when the command
// ends, whatever its outcome; the command's exit status is this process's.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { startDevServer } from '../../src/temporal/dev-server.js';
import { SUITE_TEMPORAL_ENV } from './temporal-server.js';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  process.stderr.write('usage: suite-temporal.ts <command> [args…]\n');
  process.exit(2);
}

const server = await startDevServer();
let status = 1;
try {
  const child = spawn(command, args, { stdio: 'inherit', env: { ...process.env, [SUITE_TEMPORAL_ENV]: server.address } });
  // An interrupted run stops its files first, then the server they use.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  status = code ?? (signal ? 128 : 1);
} finally {
  await server.stop();
}
process.exit(status);
