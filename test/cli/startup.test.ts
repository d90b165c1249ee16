// What a person meets first at the CLI: commands that load only what they need (not the worker,
// not the adapters' clients), and a Temporal server that is not there reported at once, with the
// address it tried and how to name another.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { BIN, run } from './run.js';

const TRACE = fileURLToPath(new URL('../support/module-trace/register.mjs', import.meta.url));

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

test('status against an unreachable server: the address, that nothing changed, and how to point elsewhere; neither worker nor adapters loaded', async () => {
  const port = await closedPort();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-startup-'));
  const trace = path.join(dir, 'modules.txt');
  try {
    const started = Date.now();
    const { code, stdout, stderr } = await run([process.execPath, '--import', TRACE, BIN, 'status', '--address', `127.0.0.1:${port}`], { env: { KM_MODULE_TRACE: trace }, timeoutMs: 20_000 });
    const ms = Date.now() - started;
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, new RegExp(`^error: cannot connect to Temporal at 127\\.0\\.0\\.1:${port} \\(namespace default, plaintext\\): `));
    assert.match(stderr, /data: nothing was changed by this command; a migration that runs goes on without it/);
    assert.match(stderr, new RegExp(`next: start the Temporal service .*--address/--namespace, TEMPORAL_ADDRESS or a temporal CLI profile \\(now 127\\.0\\.0\\.1:${port}\\)`));
    assert.doesNotMatch(stderr, /not expected here/);
    const loaded = (await fs.readFile(trace, 'utf8')).split('\n');
    for (const heavy of ['/@temporalio/worker/', '/@kubernetes/client-node/', '/dockerode/', '/pg/']) {
      assert.ok(!loaded.some((u) => u.includes(`/node_modules${heavy}`)), `status loads nothing of ${heavy}`);
    }
    process.stdout.write(`# status against a closed port ended after ${ms} ms\n`);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
