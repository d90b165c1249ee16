// The workflow's input and what it shows: an invalid input fails at once without a call; a
// hand-written one must hold every setting (no defaults are filled in); the progress query and the search attributes
// (KaapanaNode, MigrationPhase, ArchiveVersion) follow the run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { layoutFor } from '../../src/config/layout.js';
import { INPUT_SCHEMA_VERSION, migrationInput } from '../../src/config/input.js';
import { approveSwapUpdate, SA_ARCHIVE_VERSION, SA_NODE, SA_PHASE, STEPS, runTagFor } from '../../src/shared.js';
import { fakeConfig, hang, permanent } from '../support/fake-node.js';
import { assertMigrated } from '../support/fake-saga.js';
import { bounded, drive, fakeNode, progress, startFakeEnv, waitForPhase, withFakeRun, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

describe('an invalid workflow input fails at once, changing nothing', () => {
  const v2 = (config: unknown) => ({ schemaVersion: INPUT_SCHEMA_VERSION, config });
  const cases: { name: string; input: (node: string) => unknown; names?: RegExp }[] = [
    { name: 'no input at all', input: () => undefined, names: /schemaVersion: must be 2/ },
    { name: 'an empty object', input: () => ({}), names: /schemaVersion: must be 2/ },
    { name: 'an input without its schema version (as recorded before it had one)', input: (node) => ({ config: fakeConfig(node) }), names: /schemaVersion: must be 2 \(found none\)/ },
    { name: 'a node name with shell syntax', input: (node) => v2({ ...fakeConfig(node), node: 'x; rm -rf /' }), names: /config\.node: / },
    { name: 'an unknown mode', input: (node) => v2({ ...fakeConfig(node), mode: 'turbo' }), names: /config\.mode: / },
    { name: 'a relative data directory', input: (node) => v2({ ...fakeConfig(node), paths: { ...fakeConfig(node).paths, dataDir: 'postgres-dcm4che' } }), names: /config\.paths\.dataDir: must be an absolute path/ },
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

test('an input that leaves defaults out (hand-written for the temporal CLI) is refused, naming each missing field', async () => {
  const fake = fakeNode('input-raw');
  const { mode: _mode, activityAttempts: _attempts, approval: _approval, ...partial } = fake.config;
  const { error } = await withFakeRun(env, fake, (run) => run.outcome(), { input: { schemaVersion: INPUT_SCHEMA_VERSION, config: { ...partial, database: { password: fake.config.database.password } } } });
  const cause = error?.cause;
  assert.ok(cause instanceof ApplicationFailure && cause.type === 'InvalidInput', String(cause));
  for (const missing of ['config.mode', 'config.activityAttempts', 'config.approval', 'config.database.name', 'config.database.user']) {
    assert.match(cause.message, new RegExp(`${missing.replaceAll('.', '\\.')}: missing`), `${missing} named`);
  }
  assert.match(cause.message, /kaapana-migrate plan --write-input FILE/);
  assert.deepEqual(fake.keys(), [], 'no activity ran');
});

test('the complete input that plan --write-input writes runs unchanged', async () => {
  const fake = fakeNode('input-complete');
  const input = JSON.parse(JSON.stringify(migrationInput(fake.config)));
  const { report, error } = await withFakeRun(env, fake, (run) => drive(run), { input });
  assert.equal(error, undefined, error?.cause?.message);
  assert.equal(report?.outcome, 'completed');
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

/** Steps that run at once (workflows/together.ts) end in either order: put back in the order of STEPS. */
function inStepOrder(steps: string[]): string[] {
  const out = [...steps];
  const rank = (s: string) => (STEPS as readonly string[]).indexOf(s);
  const together = [['inventory', 'dumpOriginal'], ['verifyUpdated', 'dumpUpdated'], ['verifyNew', 'schemaDrift']];
  for (let i = 0; i + 1 < out.length; i++) {
    const pair = [out[i]!, out[i + 1]!];
    if (rank(pair[0]) > rank(pair[1]) && together.some(([a, b]) => pair.includes(a!) && pair.includes(b!))) [out[i], out[i + 1]] = [pair[1], pair[0]];
  }
  return out;
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
      inStepOrder(p.completed.map((c) => c.step)),
      ['preflight', 'freshSchema', 'stopApplications', 'backupLdap', 'startOriginal', 'inventory', 'dumpOriginal', 'stopOriginal', 'startWork'],
    );
    assert.match(p.completed[2]!.detail, /^skipped: no cluster configured/);
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
    assert.equal(report!.runTag, runTagFor(runId));
    assert.deepEqual(inStepOrder(p.completed.map((c) => c.step)), [...STEPS]);
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
