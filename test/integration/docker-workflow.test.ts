// The whole database migration through the Docker adapter: the real dockerode client against
// podman's Docker API, dcm4che-postgres-like 9.6 and 15 images that create the schema on first
// start, as the Kaapana images do.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { layoutFor } from '../../src/config/layout.js';
import { parseConfig } from '../../src/config/load.js';
import { DEMO_SCRIPTS_DIR } from '../../src/demo/node.js';
import { seedStatements } from '../../src/demo/seed.js';
import { withClient } from '../../src/postgres/client.js';
import { takeInventory } from '../../src/postgres/inventory.js';
import type { MigrationReport } from '../../src/report/types.js';
import { createDockerRuntime } from '../../src/runtime/docker.js';
import { approveSwapUpdate } from '../../src/shared.js';
import { startHarness, startMigration, tempDir, waitForPhase, withWorker, type Harness } from '../support/harness.js';
import { ensureTestImages, startPodman, type PodmanService } from '../support/podman.js';

let h: Harness;
let engine: PodmanService;
let images: { old: string; new: string };
before(async () => {
  // Each is kept as soon as it runs, so that `after` stops it even when another one failed.
  const started = await Promise.allSettled([startHarness().then((v) => (h = v)), startPodman().then((v) => (engine = v)), ensureTestImages().then((v) => (images = v))]);
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});
after(async () => {
  await h?.close();
  await engine?.stop();
});

test('migrates through Docker containers of the 9.6 and 15 images', { timeout: 400_000 }, async () => {
  const dir = await tempDir('docker-wf');
  const passwordFile = path.join(dir, 'pw');
  const password = 'docker-demo-pw';
  await fs.writeFile(passwordFile, password, { mode: 0o600 });
  const config = parseConfig({
    node: 'docker-wf',
    paths: { dataDir: path.join(dir, 'fast', 'postgres-dcm4che'), fastDataDir: path.join(dir, 'fast'), backupDir: path.join(dir, 'backup'), scriptsDir: DEMO_SCRIPTS_DIR },
    database: { password: { file: passwordFile } },
    runtime: { kind: 'docker', host: `unix://${engine.socketPath}`, old: { image: images.old }, new: { image: images.new }, stateDir: path.join(dir, 'state') },
  });
  const credentials = { name: 'pacsdb', user: 'pacs', password };
  const runtime = createDockerRuntime({ host: `unix://${engine.socketPath}`, stateDir: config.runtime.stateDir, images, migrationId: 'seed' });

  // The live 0.2.x database, created by the old image itself and filled with a synthetic PACS.
  const live = { name: 'live', image: 'old' as const, dataDir: config.paths.dataDir, readOnly: false, database: credentials };
  const endpoint = await runtime.start(live, 120_000);
  const before = await withClient(endpoint, credentials, async (client) => {
    for (const sql of seedStatements({ instances: 1_000, seed: 7 })) await client.query(sql);
    return takeInventory(client);
  });
  await runtime.stop('live');
  await runtime.remove('live');

  const handle = await startMigration(h, { config });
  const report = await withWorker(h, config.node, async () => {
    await waitForPhase(handle, 'awaiting-approval', 300_000);
    await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'docker-test' }] });
    return (await handle.result()) as MigrationReport;
  });
  assert.equal(report.outcome, 'completed');
  assert.deepEqual(report.versions.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
  // psql in the containers timed every statement: its output read through the engine's stream.
  for (const s of report.scripts) assert.ok(s.statements?.length && s.statements.every((st) => st.ms >= 0), `${s.version}: ${JSON.stringify(s.statements)}`);
  assert.equal(report.scripts.find((s) => s.version === '5.32')?.statements?.filter((st) => st.class === 'alter table … set not null').length, 3);
  const layout = layoutFor(config, report.runTag);
  assert.equal((await fs.readFile(path.join(layout.original, 'PG_VERSION'), 'utf8')).trim(), '15');
  for (const [table, facts] of Object.entries(before.tables)) assert.equal(report.tablesAfter?.[table]?.count, facts.count, table);
  assert.deepEqual(report.guideAfter, before.guide);

  // The migrated directory serves in the new image, as the 0.3.x deployment will run it.
  const after = await runtime.start({ ...live, name: 'migrated', image: 'new', dataDir: layout.original, readOnly: true }, 120_000);
  const migrated = await withClient(after, credentials, (client) => takeInventory(client));
  await runtime.stop('migrated');
  await runtime.remove('migrated');
  assert.deepEqual(migrated.guide, before.guide);
});
