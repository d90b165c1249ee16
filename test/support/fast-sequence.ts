// The fast path's activities in the order the workflow runs them, each inside a mock activity
// context: shared by the fast-path test and the benchmark (which runs it in a child process).
import { MockActivityEnvironment } from '@temporalio/testing';
import type { ActivityDeps, RunContext } from '../../src/activities/context.js';
import { createActivities } from '../../src/activities/index.js';
import type { ScriptResult } from '../../src/activities/updates.js';

/** direct: (i) only, the dump file restored into 15; stream: (i)+(ii); bulk: (i)+(ii)+(iii). */
export type Variant = 'direct' | 'stream' | 'bulk';

export interface Phase {
  name: string;
  ms: number;
}

/** Runs `fn` as an activity would run (Context.current() works inside). */
export async function asActivity<T>(fn: () => Promise<T>): Promise<T> {
  return (await new MockActivityEnvironment({ heartbeatTimeoutMs: 30_000 }).run(fn)) as T;
}

export async function runFastSequence(deps: ActivityDeps, ctx: RunContext, variant: Variant): Promise<{ phases: Phase[]; dumpBytes: number; scripts: ScriptResult[] }> {
  const a = createActivities(deps);
  const phases: Phase[] = [];
  async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    const result = await asActivity(fn);
    phases.push({ name, ms: Date.now() - started });
    return result;
  }

  const plan = await timed('preflight', () => a.preflight(ctx));
  await timed('startOriginal', () => a.startServer(ctx, 'original'));
  const before = await timed('inventory', () => a.inventory(ctx, 'original'));
  let dumpBytes: number;
  if (variant === 'direct') {
    const dump = await timed('dumpOriginal', () => a.dump(ctx, 'original', 'original', before.inventory.databaseBytes));
    dumpBytes = dump.bytes;
    await timed('stopOriginal', () => a.stopServer(ctx, 'original'));
    await timed('startNew', () => a.startServer(ctx, 'new'));
    await timed('restoreNew', () => a.restore(ctx, 'new', dump));
  } else {
    if (variant === 'bulk') await timed('prepareBulkLoad', () => a.prepareBulkLoad(ctx));
    else await timed('startNew', () => a.startServer(ctx, 'new'));
    const dump = await timed('streamOriginalToNew', () => a.streamOriginalToNew(ctx, before.inventory.databaseBytes));
    dumpBytes = dump.bytes;
    await timed('stopOriginal', () => a.stopServer(ctx, 'original'));
  }
  await timed('verifyLoad', () => a.verify(ctx, 'new', before, before.appliedVersions));
  const pending = plan.scripts.filter((s) => !before.appliedVersions.includes(s.version));
  const scripts: ScriptResult[] = [];
  for (const script of pending) scripts.push(await timed(`update-${script.version}`, () => a.applyUpdate(ctx, 'new', script)));
  if (variant === 'bulk') await timed('restoreDurability', () => a.restoreDurability(ctx));
  const after = await timed('inventoryNew', () => a.inventory(ctx, 'new'));
  // The updates never touch these identifiers (the workflow's guideUnchanged check).
  for (const key of ['seriesIuids', 'sopIuids', 'storagePaths'] as const) {
    const b = before.inventory.guide[key];
    const n = after.inventory.guide[key];
    if (b.count !== n.count || b.checksum !== n.checksum) throw new Error(`${key} changed during the updates`);
  }
  const missing = [...before.appliedVersions, ...pending.map((s) => s.version)].filter((v) => !after.appliedVersions.includes(v));
  if (missing.length > 0) throw new Error(`versions not applied: ${missing.join(', ')}`);
  await timed('stopNew', () => a.stopServer(ctx, 'new'));
  return { phases, dumpBytes, scripts };
}
