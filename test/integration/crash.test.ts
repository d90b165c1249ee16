// Workers killed with SIGKILL in the middle of each long step in turn, in one migration per mode:
// every next worker finishes what the last one was doing, every row arrives once, no update is
// applied twice, and the report shows each killed attempt as lost, with the worker process that died.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { after, before, test } from 'node:test';
import type { Attempt } from '../../src/attempt-journal.js';
import { approveSwapUpdate } from '../../src/shared.js';
import type { MigrationReport } from '../../src/report/types.js';
import { layoutFor } from '../../src/config/layout.js';
import { cachedWorkflowBundleFile } from '../support/bundle-cache.js';
import type { Mode } from '../support/fake-saga.js';
import { demoNode, fingerprint, startHarness, startMigration, waitForPhase, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

/**
 * Where each worker dies, in the order the migration reaches them, and how long after the step
 * began ('done', or a step that ends sooner: once it has done its work, before its result reaches
 * Temporal). Fast mode's own steps die in its initialisation of the new directory, its stream and
 * its vacuum, its updates (on the new server) once 5.31 is committed; the kills inside a running
 * update and inside the swap would repeat guide mode's (the same activity on the same state), and
 * are left to it to keep the file short.
 */
const KILLS: Record<Mode, [string, number | 'done'][]> = {
  guide: [['dump:original', 100], ['restore:work', 300], ['applyUpdate:5.31', 'done'], ['applyUpdate:5.32', 60], ['swap', 0]],
  fast: [['prepareBulkLoad', 300], ['streamOriginalToNew', 100], ['applyUpdate:5.31', 'done'], ['restoreDurability', 100]],
};

for (const [mode, kills] of Object.entries(KILLS) as [Mode, (typeof KILLS)[Mode]][]) {
  test(`${mode} mode: a worker SIGKILLed inside ${kills.map(([k]) => k).join(', ')} in turn: the next one completes the migration`, async () => {
    const node = await demoNode(`kill-each-${mode}`, { instances: 2_000, overrides: (raw) => ({ ...raw, mode, heartbeatTimeoutSeconds: 4, retryIntervalSeconds: 0.2 }) });
    const original = await fingerprint(node, node.config.paths.dataDir, 'old');
    const bundle = await cachedWorkflowBundleFile();
    const handle = await startMigration(h, node);
    const doomedPids = new Map<string, number>();
    for (const [key, afterMs] of kills) {
      const doomed = spawn(process.execPath, ['--import', 'tsx', 'test/support/killing-worker.ts', node.config.node], {
        env: { ...process.env, TEMPORAL_ADDRESS: h.server.address, KM_KILL_AT: key, KM_KILL_AFTER_MS: String(afterMs), KM_WORKFLOW_BUNDLE: bundle },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      // The swap comes after the gate: it needs the approval while its doomed worker runs.
      const approving = key === 'swap' ? waitForPhase(handle, 'awaiting-approval').then(() => handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'crash-test' }] })) : undefined;
      doomedPids.set(key, doomed.pid!);
      const [code, signal] = (await once(doomed, "exit")) as [number | null, string | null];
      assert.equal(signal, 'SIGKILL', `the worker died inside ${key} (exit ${code})`);
      await approving;
    }
    const report = await withWorker(h, node.config.node, async () => {
      // A run whose last kill came before the gate is approved by this worker.
      if (!kills.some(([key]) => key === 'swap')) {
        await waitForPhase(handle, 'awaiting-approval');
        await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'crash-test' }] });
      }
      return (await handle.result()) as MigrationReport;
    });
    assert.equal(report.outcome, 'completed');
    assert.deepEqual(report.versions.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32'], 'each version applied once');
    const migrated = await fingerprint(node, layoutFor(node.config, report.runTag).original, 'new');
    for (const [table, facts] of Object.entries(original.inventory.tables)) assert.equal(migrated.inventory.tables[table]?.count, facts.count, `rows of ${table}`);
    assert.deepEqual(migrated.inventory.guide, original.inventory.guide);
    assert.deepEqual(migrated.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);

    // The report shows each killed attempt as lost, on its worker, and the attempt that finished it on another.
    const files = layoutFor(node.config, report.runTag).report;
    const written = JSON.parse(await fs.readFile(files.json, 'utf8')) as MigrationReport;
    const md = await fs.readFile(files.markdown, 'utf8');
    const keyOf = (a: Attempt) => `${a.activityType}${a.subject ? `:${a.subject}` : ''}`;
    for (const [key, pid] of doomedPids) {
      const tries = written.attempts?.filter((a) => keyOf(a) === key) ?? [];
      const lost = tries.find((a) => a.outcome === 'lost');
      assert.equal(lost?.worker.pid, pid, `${key}: the attempt of worker ${pid} is lost (${JSON.stringify(tries)})`);
      assert.equal(lost.error, `the worker process ${pid} on ${os.hostname()} ended during it`);
      assert.ok(tries.some((a) => a.outcome === 'completed' && a.attempt > lost.attempt && a.worker.pid !== pid), `${key}: a later attempt on another worker completed it`);
      assert.ok(md.includes(`| ${lost.attempt} | ${pid}@${os.hostname()} | ${lost.startedAt} | — | lost: the worker process ${pid} on ${os.hostname()} ended during it |`), `${key}: the lost attempt in the report`);
    }
    // The killed worker had committed 5.31: its retry found it applied and says who committed it.
    const committed = written.scripts.find((s) => s.version === '5.31');
    assert.equal(committed?.outcome, 'committed by an earlier attempt (lost)');
    assert.equal(committed.committedBy?.worker.pid, doomedPids.get('applyUpdate:5.31'));
    assert.match(md, new RegExp(`\\| 5\\.31 \\| committed by attempt 1 on ${doomedPids.get('applyUpdate:5.31')}@\\S+ — lost: the worker process \\d+ on \\S+ ended during it \\| unknown \\|`));
  });
}
