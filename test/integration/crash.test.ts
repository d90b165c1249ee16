// A worker killed with SIGKILL in the middle of a restore: a new worker finishes the run, with
// every row once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
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

test('SIGKILL of the worker during the restore: a new worker completes the migration', async () => {
  const node = await demoNode('crash', {
    instances: 60_000,
    overrides: (raw) => ({ ...raw, heartbeatTimeoutSeconds: 5 }),
  });
  const original = await fingerprint(node, node.config.paths.dataDir, 'old');
  const handle = await startMigration(h, node);

  const worker = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts', '--node', node.config.node], {
    env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 120_000;
  let killedAt: number | undefined;
  while (Date.now() < deadline) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    // Heartbeat details present: the restore is streaming.
    if (pending.some((a) => a.activityType?.name === 'restore' && a.heartbeatDetails?.payloads?.length)) {
      worker.kill('SIGKILL');
      killedAt = Date.now();
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(killedAt, 'the restore was caught in progress');
  await new Promise((r) => worker.once('exit', r));

  const report = await withWorker(h, node.config.node, async () => {
    await waitForPhase(handle, 'awaiting-approval');
    await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'crash-test' }] });
    return (await handle.result()) as MigrationReport;
  });
  assert.equal(report.outcome, 'completed');
  const layout = layoutFor(node.config, report.runTag);
  const migrated = await fingerprint(node, layout.original, 'new');
  for (const [table, facts] of Object.entries(original.inventory.tables)) {
    assert.equal(migrated.inventory.tables[table]?.count, facts.count, `rows of ${table}`);
  }
  assert.deepEqual(migrated.inventory.guide, original.inventory.guide);
  const history = await handle.fetchHistory();
  const restoreAttempts = history.events?.filter((e) => e.activityTaskStartedEventAttributes && (e.activityTaskStartedEventAttributes.attempt ?? 1) > 1);
  assert.ok((restoreAttempts?.length ?? 0) >= 1, 'the interrupted activity was retried');
});
