// A worker killed with SIGKILL in the middle of a long step: a new worker finishes the run, with
// every row once and no update applied twice.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { approveSwapUpdate } from '../../src/shared.js';
import type { MigrationReport } from '../../src/report/types.js';
import { layoutFor } from '../../src/config/layout.js';
import { demoNode, fingerprint, startHarness, startMigration, waitForPhase, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

/** Kills the worker inside `key`, then lets a normal worker finish; every row arrives once. */
for (const [key, afterMs] of [['dump:original', 100], ['restore:work', 300], ['applyUpdate:5.29', 30], ['applyUpdate:5.32', 60], ['restore:new', 300], ['swap', 0]] as const) {
  test(`SIGKILL of the worker inside ${key}: a new worker completes the migration`, async () => {
    const node = await demoNode(`kill-${key.replace(/[^a-z0-9]/gi, '-')}`, { overrides: (raw) => ({ ...raw, heartbeatTimeoutSeconds: 4 }) });
    const original = await fingerprint(node, node.config.paths.dataDir, 'old');
    const handle = await startMigration(h, node);
    const doomed = spawn(process.execPath, ['--import', 'tsx', 'test/support/killing-worker.ts', node.config.node], {
      env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, KM_KILL_AT: key, KM_KILL_AFTER_MS: String(afterMs) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const approveOnce = async () => {
      await waitForPhase(handle, 'awaiting-approval', 180_000);
      await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'crash-test' }] });
    };
    // Steps after the gate need the approval while the doomed worker still runs.
    const approving = key === 'swap' ? approveOnce() : Promise.resolve();
    const [code, signal] = (await once(doomed, 'exit')) as [number | null, string | null];
    assert.equal(signal, 'SIGKILL', `the worker died inside ${key} (exit ${code})`);
    const report = await withWorker(h, node.config.node, async () => {
      if (key !== 'swap') await approveOnce();
      await approving;
      return (await handle.result()) as MigrationReport;
    });
    assert.equal(report.outcome, 'completed');
    const migrated = await fingerprint(node, layoutFor(node.config, report.runTag).original, 'new');
    for (const [table, facts] of Object.entries(original.inventory.tables)) assert.equal(migrated.inventory.tables[table]?.count, facts.count, `rows of ${table}`);
    assert.deepEqual(migrated.inventory.guide, original.inventory.guide);
    assert.deepEqual(migrated.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
  });
}
