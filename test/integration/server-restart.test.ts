// The Temporal server (dev server on a SQLite file) restarted in the middle of a run's load (guide
// mode: the restore; fast mode: the stream): the workflow and its worker carry on.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { approveSwapUpdate } from '../../src/shared.js';
import type { MigrationReport } from '../../src/report/types.js';
import { LOAD_ACTIVITY, type Mode } from '../support/fake-saga.js';
import { demoNode, startHarness, startMigration, tempDir, untilPending, waitForPhase, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
before(async () => {
  h = await startHarness({ dbFile: path.join(await tempDir('temporal-db'), 'temporal.db') });
});
after(async () => {
  await h?.close();
});


for (const [mode, load] of Object.entries(LOAD_ACTIVITY) as [Mode, string][]) {
  test(`${mode} mode: a Temporal server restart during ${load} does not disturb the migration`, async () => {
    const node = await demoNode(`server-restart-${mode}`, { instances: 30_000, overrides: (raw) => ({ ...raw, mode }) });
    const handle = await startMigration(h, node);
    const report = await withWorker(h, node.config.node, async () => {
      await untilPending(handle, load, 120_000, 100);
      await h.server.restart();
      await waitForPhase(handle, 'awaiting-approval', 180_000);
      await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'restart-test' }] });
      return (await handle.result()) as MigrationReport;
    });
    assert.equal(report.outcome, 'completed');
    assert.equal(report.tablesAfter?.instance?.count, 30_000);
  });
}
