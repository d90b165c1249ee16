// The fast path: its result equals the guide path's (schema, every table's rows and checksum), the
// streamed dump+restore commits nothing when either side fails, and a bulk load that lost its
// machine is redone rather than trusted.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkerOptions } from '@temporalio/worker';
import { ensureServer, envFor, type RunContext } from '../../src/activities/context.js';
import { layoutFor } from '../../src/config/layout.js';
import { realDeps } from '../../src/deps.js';
import { createLogger } from '../../src/log.js';
import { withClient } from '../../src/postgres/client.js';
import { listTables } from '../../src/postgres/inventory.js';
import { dumpAndRestore } from '../../src/postgres/fast.js';
import { DUMP_ARGV } from '../../src/postgres/transfer.js';
import type { MigrationReport } from '../../src/report/types.js';
import type { ContainerRuntime, ExecIO } from '../../src/runtime/port.js';
import { approveSwapUpdate } from '../../src/shared.js';
import { equivalence, snapshot } from '../support/equivalence.js';
import { createActivities } from '../../src/activities/index.js';
import { asActivity } from '../support/fast-sequence.js';
import { demoNode, recordHistory, startHarness, startMigration, waitForPhase, withWorker, type Harness } from '../support/harness.js';

const INSTANCES = 10_000;
const deps = realDeps(createLogger('fast-path-test', 'warn'));

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('fast mode ends with the database the guide path makes, no larger, both analyzed once', async (t) => {
  const guideNode = await demoNode('fp-guide', { instances: INSTANCES });
  const handle = await startMigration(h, guideNode);
  const report = await withWorker(h, guideNode.config.node, async () => {
    await waitForPhase(handle, 'awaiting-approval');
    await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'test' }] });
    return (await handle.result()) as MigrationReport;
  });
  const expected = await snapshot(guideNode, layoutFor(guideNode.config, report.runTag).original, 'snap-guide');

  // The workflow in fast mode (stream + bulk load), end to end.
  const fastNode = await demoNode('fp-workflow', { instances: INSTANCES, overrides: (raw) => ({ ...raw, mode: 'fast' }) });
  const fastHandle = await startMigration(h, fastNode);
  const fastReport = await withWorker(h, fastNode.config.node, async () => {
    await waitForPhase(fastHandle, 'awaiting-approval');
    await fastHandle.executeUpdate(approveSwapUpdate, { args: [{ by: 'test' }] });
    return (await fastHandle.result()) as MigrationReport;
  });
  assert.equal(fastReport.outcome, 'completed');
  assert.deepEqual(fastReport.dumps.map((d) => d.name), ['original'], 'one dump');
  assert.ok(['startWork', 'restoreWork', 'verifyWork', 'dumpUpdated', 'restoreNew', 'verifyNew'].every((n) => fastReport.steps.find((st) => st.step === n)?.status === 'skipped'));
  // Where restoreDurability's time went: its four longest parts, each timed, longest first.
  const durability = fastReport.steps.find((st) => st.step === 'restoreDurability')?.detail ?? '';
  const parts = [...(/; longest: (.*)$/.exec(durability)?.[1] ?? '').matchAll(/(?:^|, )(.+?) ([\d.]+) s(?=, |$)/g)].map((m) => ({ what: m[1]!, s: Number(m[2]) }));
  assert.equal(parts.length, 4, durability);
  assert.deepEqual(parts.map((p) => p.s), parts.map((p) => p.s).sort((a, b) => b - a), `longest first: ${durability}`);
  for (const p of parts) assert.match(p.what, /^(VACUUM \(FULL, ANALYZE\) "public"\."\w+"|VACUUM FULL "(pg_catalog|public)"\."\w+"|CREATE INDEX \w+ ON public\.\w+ USING .*;|ANALYZE "public"\."\w+"|stop|fsync|start|CHECKPOINT)$/, durability);
  // The rewritten tables' plain indexes the scripts do not name were built once, after the updates
  // (the schemas' equality below shows that every one of them is there).
  assert.match(durability, /^([1-9]\d*) indexes built after the updates, /, durability);
  await recordHistory(h, fastHandle, 'completed-fast');
  const fast = await snapshot(fastNode, layoutFor(fastNode.config, fastReport.runTag).original, 'snap-workflow-fast');
  assert.equal(equivalence(expected, fast), 'equal', 'workflow fast mode');
  // Both loads gave the tables the updates rewrite room on their pages, and both took it back:
  // the schemas carry no fillfactor (the original's has none).
  for (const [mode, r] of [['guide', report], ['fast', fastReport]] as const) {
    assert.deepEqual(r.databases?.find((d) => d.roomGiven)?.roomGiven?.sort(), ['instance', 'mwl_item', 'patient_id', 'series', 'study'], `room given in ${mode} mode`);
  }
  for (const s of [expected, fast]) assert.doesNotMatch(s.schema, /fillfactor/);
  // Fast mode reads the updated rows' content nowhere after the load's check: it only counts them
  // (guide mode's checksums there are what verifyNew compares the PostgreSQL 15 copy with).
  assert.equal(fastReport.tablesAfter?.instance?.checksum, '');
  assert.notEqual(report.tablesAfter?.instance?.checksum, '');
  // The updates' dead rows are gone: what the updates rewrote was compacted.
  const [guideBytes, fastBytes] = [expected.inventory.databaseBytes, fast.inventory.databaseBytes];
  t.diagnostic(`database size: guide mode ${guideBytes} bytes, fast mode ${fastBytes} bytes`);
  assert.ok(fastBytes <= guideBytes, `fast mode's database (${fastBytes} bytes) is no larger than guide mode's (${guideBytes} bytes)`);
  // Both hand over a database with planner statistics for every table, each analyzed once
  // (restoreNew's ANALYZE; restoreDurability's VACUUM (FULL, ANALYZE) or ANALYZE, never both).
  assert.deepEqual(expected.notAnalyzedOnce, [], 'guide mode analyzed every table once');
  assert.deepEqual(fast.notAnalyzedOnce, [], 'fast mode analyzed every table once');
});

/** The runtime with pg_dump replaced by `fake` (which may still call the real one). */
function withFakeDump(real: ContainerRuntime, fake: (name: string, argv: string[], io: ExecIO) => ReturnType<ContainerRuntime['exec']>): ContainerRuntime {
  return { ...real, exec: (name, argv, io = {}) => (argv[0] === 'pg_dump' ? fake(name, argv, io) : real.exec(name, argv, io)) };
}

test('the streamed dump and restore commits nothing and names no backup when either side fails', async () => {
  const node = await demoNode('fp-fail');
  const ctx: RunContext = { config: node.config, runTag: 'fail' };
  const env = await envFor(deps, ctx);
  const original = await ensureServer(env, 'original');
  const endpoint = await ensureServer(env, 'new');
  const source = { server: env.layout.serverName.original, endpoint: original, credentials: env.credentials };
  const target = { server: env.layout.serverName.new, endpoint, credentials: env.credentials };
  const file = env.layout.dumps.original;
  const tables = (on = endpoint) => withClient(on, env.credentials, async (c) => (await listTables(c)).length);
  const opts = { onBytes: () => undefined, appName: 'fast-path-test' };
  try {
    // pg_dump writes the whole dump, then fails: the restore must not commit what it received.
    const dumpFailsLate = withFakeDump(env.runtime, async (name, argv, io) => {
      await env.runtime.exec(name, argv, io);
      return { exitCode: 1, stderr: 'pg_dump: error: injected failure' };
    });
    await assert.rejects(dumpAndRestore(dumpFailsLate, source, file, target, opts), /injected failure/);
    assert.equal(await tables(), 0, 'nothing committed after a failed dump');

    // The restore fails at its first statement: pg_dump is stopped rather than left blocking. This
    // pg_dump waits for that stop before it starts, as a long one would still be running then (a
    // small dump could otherwise finish first, and a complete backup is kept by design).
    const restoreFailsEarly = withFakeDump(env.runtime, async (name, argv, io) => {
      io.stdout!.write('SELECT 1/0;\n');
      if (!io.signal!.aborted) await once(io.signal!, 'abort');
      return env.runtime.exec(name, argv, io);
    });
    await assert.rejects(dumpAndRestore(restoreFailsEarly, source, file, target, opts), /division by zero/);
    assert.equal(await tables(), 0, 'nothing committed after a failed restore');

    // Cancelled while the restore lags behind the dump (its psql reads nothing until then): the
    // bytes pg_dump wrote into the full pipes drain, so the stream ends instead of waiting for ever.
    const restoreLags = { ...env.runtime, exec: async (name: string, argv: string[], io: ExecIO = {}) => {
      if (argv[0] !== 'psql' || name !== target.server) return env.runtime.exec(name, argv, io);
      if (!io.signal!.aborted) await once(io.signal!, 'abort');
      return { exitCode: 128, stderr: 'psql: killed' };
    } } satisfies ContainerRuntime;
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(new Error('cancelled by the test')), 1_500);
    const bounded = new Promise((_, reject) => setTimeout(() => reject(new Error('the cancelled stream did not end within 30 s')), 30_000).unref());
    await assert.rejects(Promise.race([dumpAndRestore(restoreLags, source, file, target, { ...opts, signal: cancel.signal }), bounded]), /aborted|cancelled by the test|killed/);
    assert.equal(await tables(), 0, 'nothing committed after a cancelled stream');
    // pg_dump may have finished before the cancellation: a complete backup is kept by design.
    assert.deepEqual((await fs.readdir(path.dirname(file))).filter((f) => f !== path.basename(file)), [], 'no partial file is left');
    await fs.rm(file, { force: true });

    assert.deepEqual(await fs.readdir(path.dirname(file)), [], 'neither a backup nor a partial file is left');
    assert.ok(DUMP_ARGV.includes('--format=plain'));

    // Both sides succeed: the data is committed and the backup carries its final name; the
    // partial file a killed attempt left is gone.
    await fs.writeFile(`${file}.partial-4242-1700000000000`, 'left by a killed worker');
    const ok = await dumpAndRestore(env.runtime, source, file, target, opts);
    assert.equal((await fs.stat(file)).size, ok.bytes);
    assert.deepEqual(await fs.readdir(path.dirname(file)), [path.basename(file)]);
    assert.equal(await tables(), await tables(original));
  } finally {
    await env.runtime.stop(env.layout.serverName.original);
    await env.runtime.stop(env.layout.serverName.new);
  }
});

test('a bulk load from an earlier boot is discarded and loaded again; durability is restored', async () => {
  const node = await demoNode('fp-boot');
  const ctx: RunContext = { config: node.config, runTag: 'boot' };
  const a = createActivities(deps);
  const env = await envFor(deps, ctx);
  const settings = await asActivity(() => a.prepareBulkLoad(ctx));
  assert.equal(settings.fsync, 'off');
  assert.equal(settings.wal_level, 'minimal');
  const marker = path.join(env.layout.runDir, 'bulk-load-new.json');
  try {
    // As if the machine had crashed and rebooted after the settings were switched on.
    await fs.writeFile(marker, JSON.stringify({ bootId: 'an-earlier-boot' }));
    const lost = await asActivity(() => a.streamOriginalToNew(ctx, 0)).catch((err: unknown) => err);
    assert.ok(lost instanceof ApplicationFailure && lost.type === 'BulkLoadLost', String(lost));
    await fs.writeFile(path.join(env.layout.new, 'left-by-the-lost-load'), '');
    // And a marker write the crash interrupted: written durably, under a partial name, which the next write removes.
    await fs.writeFile(`${marker}.partial-4242-1700000000000`, '{"bootId":');
    await asActivity(() => a.prepareBulkLoad(ctx));
    assert.deepEqual((await fs.readdir(env.layout.runDir)).filter((f) => f.startsWith('bulk-load-new.json')), ['bulk-load-new.json']);
    await assert.rejects(fs.access(path.join(env.layout.new, 'left-by-the-lost-load')), 'the lost directory was removed and initialised again');

    await asActivity(() => a.streamOriginalToNew(ctx, 0));
    const durable = await asActivity(() => a.restoreDurability(ctx));
    assert.ok(durable.filesSynced > 100);
    await assert.rejects(fs.access(marker), 'the marker is gone once the directory is durable');
    const endpoint = await ensureServer(env, 'new');
    const now = await withClient(endpoint, env.credentials, async (c) => (await c.query<{ f: string; w: string }>(`SELECT current_setting('fsync') AS f, current_setting('wal_level') AS w`)).rows[0]!);
    assert.deepEqual(now, { f: 'on', w: 'replica' });
  } finally {
    await env.runtime.stop(env.layout.serverName.original);
    await env.runtime.stop(env.layout.serverName.new);
  }
});

test('a machine crash during the updates (another boot id): the workflow loads again from the backup dump and completes', async () => {
  const node = await demoNode('fp-reboot', { instances: 500, overrides: (raw) => ({ ...raw, mode: 'fast' }) });
  let rebooted = false;
  // Before update 5.30 on the new server: as if the machine had restarted since the load began.
  const reboot: WorkerOptions['interceptors'] = {
    activity: [
      (ctx) => ({
        inbound: {
          async execute(input, next) {
            const [run, role, script] = input.args as [RunContext, string, { version?: string }];
            if (!rebooted && ctx.info.activityType === 'applyUpdate' && role === 'new' && script?.version === '5.30') {
              rebooted = true;
              await fs.writeFile(path.join(layoutFor(run.config, run.runTag).runDir, 'bulk-load-new.json'), JSON.stringify({ bootId: 'an-earlier-boot' }));
            }
            return next(input);
          },
        },
      }),
    ],
  };
  const handle = await startMigration(h, node);
  const report = await withWorker(
    h,
    node.config.node,
    async () => {
      await waitForPhase(handle, 'awaiting-approval');
      await handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'test' }] });
      return (await handle.result()) as MigrationReport;
    },
    undefined,
    reboot,
  );
  assert.ok(rebooted, 'the boot id was changed');
  assert.equal(report.outcome, 'completed');
  assert.equal(report.reloads?.length, 1, JSON.stringify(report.reloads));
  assert.match(report.reloads![0]!, /restarted/);
  assert.deepEqual(report.versions.applied, ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
  assert.equal(report.steps.filter((s) => s.step === 'streamOriginalToNew').length, 1, 'the original was read once');
  const reload = report.steps.filter((s) => s.step === 'restoreNew');
  assert.equal(reload.length, 1, 'loaded again once');
  assert.match(reload[0]!.detail, /from .*pacsdb-original\.sql$/, 'from the backup dump');
  assert.deepEqual(report.steps.filter((s) => s.step === 'verifyLoad').map((s) => s.status), ['ok', 'ok'], 'each load verified');
  assert.equal(report.steps.find((s) => s.step === 'verifyUpdated')?.status, 'ok');
});
