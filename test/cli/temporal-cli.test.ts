// docs/temporal-cli.md: every block marked "tested" runs verbatim (bash) against a dev server
// with the nodes' workers polling.
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { CancelledFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { MigrationReport } from '../../src/report/types.js';
import { progressQuery, workflowIdFor } from '../../src/shared.js';
import { temporalBinary } from '../support/temporal-server.js';
import { demoNode, startHarness, tempDir, waitForPhase, withWorker, type Harness } from '../support/harness.js';
import { BIN, run, type Ran } from './run.js';

const DOC = readFileSync(new URL('../../docs/temporal-cli.md', import.meta.url), 'utf8');
const BLOCKS = new Map([...DOC.matchAll(/<!-- tested: ([\w-]+) -->\n```bash\n([\s\S]*?)\n```/g)].map((m) => [m[1]!, m[2]!]));

let h: Harness;
let binDir: string;
const dirs: string[] = [];
before(async () => {
  h = await startHarness();
  // `kaapana-migrate` and `temporal` on PATH, as on an admin's machine.
  binDir = await tempDir('bin');
  dirs.push(binDir);
  await fs.symlink(BIN, path.join(binDir, 'kaapana-migrate'));
});
after(async () => {
  await h?.close();
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

/** Runs the documented block `name` with the variables the document asks for. */
async function block(name: string, vars: { NODE: string; CONFIG: string; cwd: string }): Promise<Ran> {
  const script = BLOCKS.get(name);
  assert.ok(script, `docs/temporal-cli.md has a tested block "${name}"`);
  const PATH = [binDir, path.dirname(temporalBinary()), path.dirname(process.execPath), process.env.PATH].join(path.delimiter);
  return run(['bash', '-euo', 'pipefail', '-c', script], {
    cwd: vars.cwd,
    env: { PATH, NODE: vars.NODE, CONFIG: vars.CONFIG, TEMPORAL_ADDRESS: h.server.address, TEMPORAL_NAMESPACE: 'default' },
  });
}

/** The run's result, or after 180 s a failure that says where the run stands (phase, pending activities). */
async function resultOf(handle: WorkflowHandle): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      const progress = await handle.query(progressQuery).catch((e: unknown) => `no answer: ${String(e)}`);
      const pending = await handle.describe().then((d) => (d.raw.pendingActivities ?? []).map((a) => `${a.activityType?.name} attempt ${a.attempt}: ${a.lastFailure?.message ?? 'running'}`), (e: unknown) => [String(e)]);
      reject(new Error(`no result within 180 s: progress ${JSON.stringify(progress)}; pending ${pending.join('; ') || 'none'}`));
    }, 180_000);
  });
  try {
    return await Promise.race([handle.result(), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function ok(name: string, vars: Parameters<typeof block>[1]): Promise<string> {
  const r = await block(name, vars);
  assert.equal(r.code, 0, `${name}: ${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

test('the documented temporal CLI commands start, follow, approve (update and signal) and cancel', async () => {
  assert.deepEqual([...BLOCKS.keys()].sort(), ['approve-signal', 'approve-update', 'cancel', 'describe', 'input', 'list', 'query', 'resolve', 'start']);
  const nodes = await Promise.all(['tcli-update', 'tcli-signal', 'tcli-cancel'].map((n) => demoNode(n)));
  dirs.push(...nodes.map((n) => n.dir));
  const [viaUpdate, viaSignal, cancelled] = nodes.map((n) => ({ NODE: n.config.node, CONFIG: n.configFile, cwd: n.dir }));
  const handleOf = (vars: { NODE: string }) => h.client.workflow.getHandle(workflowIdFor(vars.NODE));
  const startDocumented = async (vars: typeof viaUpdate) => {
    assert.match(await ok('input', vars!), /Workflow input written to input\.json/);
    await ok('start', vars!);
  };

  const approvedByUpdate = async () => {
    const vars = viaUpdate!;
    await startDocumented(vars);
    assert.match(await ok('query', vars), /"phase"/);
    await waitForPhase(handleOf(vars), 'awaiting-approval');
    assert.match(await ok('query', vars), /awaiting-approval/);
    assert.match(await ok('describe', vars), /kaapana-migrate-tcli-update/);
    const refused = await block('resolve', vars);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /nothing waits for a resolution now/);
    assert.match(await ok('approve-update', vars), /admin@hospital/);
    const report = (await resultOf(handleOf(vars))) as MigrationReport;
    assert.equal(report.outcome, 'completed');
    assert.deepEqual({ by: report.approval?.by, comment: report.approval?.comment }, { by: 'admin@hospital', comment: 'report checked' });
    const listed = await ok('list', vars);
    assert.match(listed, /Completed\s+kaapana-migrate-tcli-update\s+migrateDcm4che/);
  };

  const approvedBySignal = async () => {
    const vars = viaSignal!;
    await startDocumented(vars);
    await waitForPhase(handleOf(vars), 'awaiting-approval');
    await ok('approve-signal', vars);
    const report = (await resultOf(handleOf(vars))) as MigrationReport;
    assert.equal(report.outcome, 'completed');
    assert.equal(report.approval?.by, 'admin@hospital');
  };

  const cancelledRun = async () => {
    const vars = cancelled!;
    await startDocumented(vars);
    const handle = handleOf(vars);
    const deadline = Date.now() + 120_000;
    while (!(await handle.query(progressQuery)).completed.some((c) => c.step === 'inventory')) {
      assert.ok(Date.now() < deadline, 'the cancelled run reaches the inventory');
      await sleep(200);
    }
    await ok('cancel', vars);
    const err = await resultOf(handle).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure, `cancelled: ${String(err)}`);
    assert.equal((await handle.query(progressQuery)).phase, 'rolled-back');
    assert.equal((await fs.readFile(path.join(nodes[2]!.config.paths.dataDir, 'PG_VERSION'), 'utf8')).trim(), '9.6');
  };

  // All three end (each is bounded) before the workers stop: one failing early must not shut the
  // workers down under the others' running activities.
  const ended = await withWorker(h, viaUpdate!.NODE, () => withWorker(h, viaSignal!.NODE, () => withWorker(h, cancelled!.NODE, () => Promise.allSettled([approvedByUpdate(), approvedBySignal(), cancelledRun()]))));
  const failures = ended.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length > 0) throw failures.length === 1 ? failures[0] : new AggregateError(failures, `${failures.length} of the three runs failed`);
});
