// The workflow's input and what it shows: an invalid input fails at once without a call; a
// hand-written one gets the schema's defaults; the progress query and the search attributes
// (KaapanaNode, MigrationPhase, ArchiveVersion) follow the run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { layoutFor } from '../../src/config/layout.js';
import { parseConfig } from '../../src/config/load.js';
import { approveSwapUpdate, SA_ARCHIVE_VERSION, SA_NODE, SA_PHASE, STEPS } from '../../src/shared.js';
import { createFakeNode, hang, permanent, rawFakeConfig } from '../support/fake-node.js';
import { assertMigrated } from '../support/fake-saga.js';
import { bounded, drive, fakeNode, nodeName, progress, startFakeEnv, waitForPhase, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

describe('an invalid workflow input fails at once, changing nothing', () => {
  const cases: { name: string; input: (node: string) => unknown; names?: RegExp }[] = [
    { name: 'no input at all', input: () => undefined },
    { name: 'an empty object', input: () => ({}) },
    { name: 'a node name with shell syntax', input: (node) => ({ config: { ...rawFakeConfig(node), node: 'x; rm -rf /' } }), names: /node: / },
    { name: 'an unknown mode', input: (node) => ({ config: { ...rawFakeConfig(node), mode: 'turbo' } }), names: /mode: / },
    { name: 'a relative data directory', input: (node) => ({ config: { ...rawFakeConfig(node), paths: { ...rawFakeConfig(node).paths, dataDir: 'postgres-dcm4che' } } }), names: /paths\.dataDir: must be an absolute path/ },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const fake = fakeNode('input-bad');
      const { error } = await withFakeRun(env, fake, (run) => run.outcome(), { input: c.input(fake.config.node) });
      const cause = error?.cause;
      assert.ok(cause instanceof ApplicationFailure);
      assert.equal(cause.type, 'InvalidInput');
      assert.equal(cause.nonRetryable, true);
      assert.match(cause.message, /^the workflow input is not a valid configuration: .*; nothing was changed$/);
      if (c.names) assert.match(cause.message, c.names);
      assert.deepEqual(fake.keys(), [], 'no activity ran');
    });
  }
});

test('a hand-written input (no defaults filled in, as from the temporal CLI) runs with the schema\'s defaults', async () => {
  const node = nodeName('input-raw');
  const { mode: _mode, cluster: _cluster, activityAttempts: _attempts, heartbeatTimeoutSeconds: _heartbeat, ...raw } = rawFakeConfig(node);
  const fake = createFakeNode(parseConfig(raw));
  assert.equal(fake.config.mode, 'guide');
  const { report, error } = await withFakeRun(env, fake, (run) => drive(run), { input: { config: raw } });
  assert.equal(error, undefined, error?.cause?.message);
  assert.equal(report?.outcome, 'completed');
  assert.ok(fake.keys().includes('startServer:work'), 'guide mode, the default');
  assertMigrated(fake);
});

/** The workflow's search attributes as the server holds them, and whether a visibility query finds the run. */
async function searchAttributes(handle: WorkflowHandle) {
  const sa = (await handle.describe()).typedSearchAttributes;
  return { node: sa.get(SA_NODE), phase: sa.get(SA_PHASE), version: sa.get(SA_ARCHIVE_VERSION) };
}

async function listed(query: string, runId: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const found: string[] = [];
    for await (const w of env.client.workflow.list({ query })) found.push(w.runId);
    if (found.includes(runId)) return;
    if (Date.now() > deadline) throw new Error(`${query} did not list ${runId} within 5 s (found ${found.join(', ') || 'nothing'})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the progress query and the search attributes follow the run', async () => {
  const fake = fakeNode('input-progress', { faults: { 'restore:work': hang(), 'applyUpdate:5.30': hang() }, alreadyApplied: ['5.27'] });
  const node = fake.config.node;
  await withFakeRun(env, fake, async (run) => {
    const { runId } = await run.handle.describe();
    await fake.waitForCall('restore:work');
    let p = await progress(run.handle);
    assert.equal(p.phase, 'running');
    assert.equal(p.current?.step, 'restoreWork');
    assert.equal(p.verified, false);
    assert.deepEqual(
      p.completed.map((c) => c.step),
      ['preflight', 'stopApplications', 'backupLdap', 'startOriginal', 'inventory', 'dumpOriginal', 'stopOriginal', 'startWork'],
    );
    assert.match(p.completed[1]!.detail, /^skipped: no cluster configured/);
    assert.deepEqual(await searchAttributes(run.handle), { node, phase: 'restoreWork', version: '5.27' });
    await listed(`KaapanaNode = '${node}' AND MigrationPhase = 'restoreWork' AND ArchiveVersion = '5.27'`, runId);

    fake.release('restore:work');
    await fake.waitForCall('applyUpdate:5.30');
    p = await progress(run.handle);
    assert.equal(p.current?.step, 'applyUpdates');
    assert.equal(p.current?.detail, 'update-5.30-psql.sql');
    assert.equal(p.current?.unit, 'rewrites');
    assert.ok((p.current?.done ?? 0) > 0 && (p.current?.done ?? 0) < (p.current?.total ?? 0));
    assert.deepEqual(await searchAttributes(run.handle), { node, phase: 'applyUpdates', version: '5.29' });

    fake.release('applyUpdate:5.30');
    p = await waitForPhase(run, 'awaiting-approval');
    assert.equal(p.verified, true);
    assert.equal(p.current?.step, 'awaitApproval');
    assert.equal(p.completed.at(-1)?.step, 'stopNew');
    assert.deepEqual(await searchAttributes(run.handle), { node, phase: 'awaiting-approval', version: '5.32' });
    await listed(`KaapanaNode = '${node}' AND MigrationPhase = 'awaiting-approval' AND ArchiveVersion = '5.32'`, runId);

    await run.handle.executeUpdate(approveSwapUpdate, { args: [{ by: 'admin' }] });
    const { report } = await run.outcome();
    p = await progress(run.handle);
    assert.equal(p.phase, 'completed');
    assert.equal(p.current, undefined);
    assert.equal(p.failure, undefined);
    assert.equal(p.reportPath, layoutFor(fake.config, report!.runTag).report.markdown);
    assert.equal(report!.runTag, runId.slice(0, 8));
    assert.deepEqual(p.completed.map((c) => c.step), [...STEPS]);
    assert.deepEqual(await searchAttributes(run.handle), { node, phase: 'completed', version: '5.32' });
    await listed(`KaapanaNode = '${node}' AND MigrationPhase = 'completed'`, runId);
  });
  assertMigrated(fake, { alreadyApplied: ['5.27'] });
});

test('the progress query shows who approved', async () => {
  const fake = fakeNode('input-approval');
  const p = await withFakeRun(env, fake, async (run) => {
    await drive(run);
    return progress(run.handle);
  });
  assert.equal(p.approval?.by, 'fake-test');
});

test('a rolled-back run and a refused run are found by their phase', async () => {
  for (const [fault, phase] of [['inventory:original', 'rolled-back'], ['preflight', 'refused']] as const) {
    const fake = fakeNode(`input-${phase}`, { faults: { [fault]: permanent() } });
    await withFakeRun(env, fake, async (run) => {
      const { runId } = await run.handle.describe();
      await bounded(run.outcome(), 10_000, 'the run');
      assert.equal((await progress(run.handle)).phase, phase);
      assert.equal((await searchAttributes(run.handle)).phase, phase);
      await listed(`KaapanaNode = '${fake.config.node}' AND MigrationPhase = '${phase}'`, runId);
    });
  }
});
