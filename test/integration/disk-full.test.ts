// The disk fills up during the dump or the restore, in fast mode during the stream that is both (a
// real tmpfs, filled by another process right before the step): a clear error, a rollback, the
// original untouched, nothing of the run left but the migrated copy once it existed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import { activityKey } from '../support/faults.js';
import type { Mode } from '../support/fake-saga.js';
import { layoutFor, type Layout } from '../../src/config/layout.js';
import { exists } from '../../src/files.js';
import { runTagFor, type StepName } from '../../src/shared.js';
import { demoNode, fingerprint, settledWithin, startHarness, startMigration, tempDir, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
const mounts: string[] = [];
before(async () => {
  h = await startHarness();
});
after(async () => {
  for (const m of mounts) execFileSync('umount', [m]);
  await h?.close();
});

/** A 500 MiB tmpfs: room for the preflight's estimate (guide mode's, with its WAL room, the largest), little beyond it. */
async function smallDisk(name: string): Promise<string> {
  const dir = await tempDir(name);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=500m,mode=0711', 'tmpfs', dir]);
  mounts.push(dir);
  return dir;
}

/** Before the activity `key` runs, a filler file takes all but 64 KiB of the disk. */
function fillBefore(key: string, disk: string): WorkerOptions['interceptors'] {
  return {
    activity: [
      (ctx) => ({
        inbound: {
          async execute(input, next) {
            if (activityKey(ctx.info.activityType, input.args) === key && ctx.info.attempt === 1) {
              const { bavail, bsize } = await fs.statfs(disk);
              execFileSync('fallocate', ['-l', String(bavail * bsize - 64 * 1024), path.join(disk, 'filler')]);
            }
            return next(input);
          },
        },
      }),
    ],
  };
}

/** A run here takes seconds; one still going after this is stuck, and says on what. */
const RUN_BOUND_MS = 180_000;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Where the small disk is (under the whole node, or under its backup directory only) and which
 * directory the error must name. Fast mode's stream creates its database on the node's disk before
 * it writes the backup: a full backup disk alone shows its dumping side.
 */
const FULL_DURING: { mode: Mode; step: StepName; key: string; disk: 'node' | 'backup'; named: (l: Layout) => string }[] = [
  { mode: 'guide', step: 'dumpOriginal', key: 'dump:original', disk: 'node', named: (l) => l.runDir },
  { mode: 'guide', step: 'restoreWork', key: 'restore:work', disk: 'node', named: (l) => l.work },
  { mode: 'fast', step: 'streamOriginalToNew', key: 'streamOriginalToNew', disk: 'backup', named: (l) => l.runDir },
  { mode: 'fast', step: 'streamOriginalToNew', key: 'streamOriginalToNew', disk: 'node', named: (l) => l.new },
];

for (const { mode, step, key, disk: on, named } of FULL_DURING) {
  test(`${mode} mode: the disk ${on === 'node' ? 'holding the node' : 'holding the backups'} fills during ${step}`, async () => {
    const name = `disk-${mode}-${on}-${step}`;
    const disk = await smallDisk(name);
    const node = await demoNode(name, on === 'node' ? { dir: disk, overrides: (raw) => ({ ...raw, mode }) } : { overrides: (raw) => ({ ...raw, mode, paths: { ...raw.paths, backupDir: disk } }) });
    const original = await fingerprint(node, node.config.paths.dataDir, 'old');
    const handle = await startMigration(h, node);
    const { error } = await withWorker(h, node.config.node, () => settledWithin(handle, RUN_BOUND_MS), undefined, fillBefore(key, disk));
    const layout = layoutFor(node.config, runTagFor((await handle.describe()).runId));
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(error.cause?.message ?? '', new RegExp(`step ${step} failed: the disk holding ${escape(named(layout))} is full .*free space there.*rolled back`));
    await fs.rm(path.join(disk, 'filler'));
    assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), original);
    assert.ok(!(await exists(layout.work)), 'the working copy is gone');
    assert.ok(!(await exists(layout.new)), 'the new directory is gone (kept aside once it existed)');
  });
}
