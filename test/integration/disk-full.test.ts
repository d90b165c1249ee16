// The disk fills up during the dump or the restore (a real tmpfs, filled by another process right
// before the step): a clear error, a rollback, the original untouched.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkerOptions } from '@temporalio/worker';
import { activityKey } from '../support/faults.js';
import { exists } from '../../src/files.js';
import { demoNode, fingerprint, startHarness, startMigration, tempDir, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
const mounts: string[] = [];
before(async () => {
  h = await startHarness();
});
after(async () => {
  for (const m of mounts) execFileSync('umount', [m]);
  await h?.close();
});

/** A 300 MiB tmpfs: room for the preflight's estimate, little beyond it. */
async function smallDisk(name: string): Promise<string> {
  const dir = await tempDir(name);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=300m,mode=0711', 'tmpfs', dir]);
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

for (const [step, key] of [['dumpOriginal', 'dump:original'], ['restoreWork', 'restore:work']] as const) {
  test(`the disk fills during ${step}`, async () => {
    const disk = await smallDisk(`disk-${step}`);
    const node = await demoNode(`disk-${step}`, { dir: disk });
    const original = await fingerprint(node, node.config.paths.dataDir, 'old');
    const handle = await startMigration(h, node);
    const error = await withWorker(h, node.config.node, () => handle.result().then(() => assert.fail('must fail'), (e: unknown) => e), undefined, fillBefore(key, disk));
    assert.ok(error instanceof WorkflowFailedError);
    assert.match(error.cause?.message ?? '', new RegExp(`step ${step} failed: the disk holding .* is full .*free space there.*rolled back`));
    await fs.rm(path.join(disk, 'filler'));
    assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), original);
    assert.ok(!(await exists(`${node.config.paths.dataDir}9.6`)), 'the working copy is gone');
  });
}
