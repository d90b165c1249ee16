// The rehearsal while dcm4chee "runs": the live server stays up and a client writes into it the
// whole time. The rehearsal reads it once, runs every mode on scratch copies, predicts the
// downtime, and leaves nothing behind, also when a script fails, the scratch disk is too small or
// it is cancelled. Then the real migration takes the time the rehearsal predicted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { rehearsalInput } from '../../src/config/input.js';
import { layoutFor } from '../../src/config/layout.js';
import { rehearsalSchema, type RehearsalOptions } from '../../src/config/rehearsal.js';
import { DEMO_SCRIPTS_DIR, type DemoNode } from '../../src/demo/node.js';
import { exists } from '../../src/files.js';
import { withClient } from '../../src/postgres/client.js';
import type { RehearsalReport } from '../../src/report/rehearsal.js';
import type { MigrationReport } from '../../src/report/types.js';
import { createLocalRuntime } from '../../src/runtime/local.js';
import type { ServerEndpoint } from '../../src/runtime/port.js';
import { REHEARSAL_WORKFLOW_TYPE, approveSwapUpdate, rehearsalIdFor, rehearsalTagFor, taskQueueFor } from '../../src/shared.js';
import { cli } from '../cli/run.js';
import { demoNode, settledWithin, startHarness, startMigration, tempDir, untilPending, waitForPhase, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
const mounts: string[] = [];
const running: { stop(): Promise<void> }[] = [];
before(async () => {
  h = await startHarness();
});
after(async () => {
  for (const r of running.splice(0)) await r.stop().catch(() => undefined);
  for (const m of mounts) execFileSync('umount', [m]);
  await h?.close();
});

/** The node's postgres-dcm4che as the PACS runs it: writable, on the live directory. */
async function liveServer(node: DemoNode) {
  const r = node.config.runtime;
  if (r.kind !== 'local') throw new Error('the demo node runs on the local runtime');
  const credentials = { name: node.config.database.name, user: node.config.database.user, password: node.password };
  const runtime = createLocalRuntime({ images: { old: r.old, new: r.new }, clientBinDir: r.clientBinDir, stateDir: r.stateDir, serverUser: r.serverUser, credentials });
  const name = 'postgres-dcm4che';
  const server = {
    stop: async () => {
      await runtime.stop(name);
      await runtime.remove(name);
    },
  };
  running.push(server);
  const endpoint = await runtime.start({ name, image: 'old', dataDir: node.config.paths.dataDir, readOnly: false, database: credentials }, 60_000);
  const pid = () => readFileSync(path.join(node.config.paths.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
  return { endpoint, credentials, pid: pid(), currentPid: pid, stop: server.stop };
}

/** dcm4chee at work: a row every 50 ms, until stopped; any failed write fails the test. */
function writer(endpoint: ServerEndpoint, credentials: { name: string; user: string; password: string }) {
  let stopped = false;
  let written = 0;
  const done = withClient(endpoint, credentials, async (c) => {
    while (!stopped) {
      await c.query("INSERT INTO dicomattrs (pk, attrs) VALUES (nextval('dicomattrs_pk_seq'), $1)", [Buffer.from('rehearsal')]);
      written += 1;
      await sleep(50);
    }
  });
  return {
    written: () => written,
    stop: async () => {
      stopped = true;
      await done;
      return written;
    },
  };
}

function options(live: { endpoint: ServerEndpoint }, extra: Partial<RehearsalOptions> = {}): RehearsalOptions {
  return rehearsalSchema.parse({ live: { host: live.endpoint.host, port: live.endpoint.port }, ...extra });
}

function startRehearsal(node: DemoNode, opts: RehearsalOptions): Promise<WorkflowHandle> {
  return h.client.workflow.start(REHEARSAL_WORKFLOW_TYPE, { taskQueue: taskQueueFor(node.config.node), workflowId: rehearsalIdFor(node.config.node), args: [rehearsalInput(node.config, opts)] });
}

/** The postmasters running on the node's rehearsal scratch (their data directories below it). */
function scratchServers(node: DemoNode): string[] {
  const prefix = path.join(node.config.paths.fastDataDir, `${node.config.node}-rehearsal-`);
  return readdirSync('/proc').filter((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return path.basename(argv[0] ?? '') === 'postgres' && argv.some((a) => a.startsWith(prefix));
    } catch {
      return false;
    }
  });
}

/** Nothing of the rehearsal is left but its report directory: no scratch, no runtime state, no process on either. */
async function assertNothingLeft(node: DemoNode, handle: WorkflowHandle, scratchDir?: string): Promise<string> {
  const { runId } = await handle.describe();
  const home = layoutFor(node.config, rehearsalTagFor(runId)).runDir;
  const scratch = path.join(scratchDir ?? node.config.paths.fastDataDir, path.basename(home));
  const state = path.join(node.config.runtime.stateDir, rehearsalTagFor(runId));
  assert.ok(!(await exists(scratch)), `${scratch} removed`);
  assert.ok(!(await exists(state)), `${state} removed`);
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const args = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    assert.ok(!args.includes(scratch) && !args.includes(state), `no process left on the scratch: ${args.replace(/\0/g, ' ')}`);
  }
  // Nothing of a migration beside the live directory either.
  const real = layoutFor(node.config, 'none');
  for (const dir of [real.new, real.retired, real.work]) assert.ok(!(await exists(dir)), `${dir} never created`);
  return home;
}

test('rehearses both modes while the PACS writes; the live server is untouched; then the real migration', async (t) => {
  const node = await demoNode('rehearse');
  const live = await liveServer(node);
  // Both runs start on a settled disk (the real one comes days later, not behind the rehearsal's
  // writes): initdb and every checkpoint wait for what the page cache still holds.
  execFileSync('sync');
  const writes = writer(live.endpoint, live.credentials);
  running.unshift({ stop: () => writes.stop().then(() => undefined) });
  // At the real run's priority: the comparison is of the prediction, not of the machine's load.
  const handle = await startRehearsal(node, options(live, { modes: ['fast', 'guide'], nice: 0 }));
  const report = await withWorker(h, node.config.node, async () => {
    await untilPending(handle, 'snapshotLive', 30_000, 100);
    // A migration of the node refuses to start while its rehearsal runs, saying how to stop it.
    const migration = await startMigration(h, node);
    await assert.rejects(migration.result(), (err: unknown) => err instanceof WorkflowFailedError && /a rehearsal of node rehearse runs .*abort --rehearsal --node rehearse/.test(err.cause?.message ?? ''));
    return (await handle.result()) as RehearsalReport;
  });
  const rows = writes.written();
  assert.ok(rows > 20, `the PACS kept writing during the rehearsal (${rows} rows)`);
  const home = await assertNothingLeft(node, handle);
  const listed = await cli(['status', '--rehearsals', '--node', node.config.node, '--address', h.server.address]);
  assert.match(listed.stdout, /^rehearse\s+completed\s+completed\s/m);

  assert.equal(report.outcome, 'passed', JSON.stringify(report.problems));
  assert.equal(live.currentPid(), live.pid, 'the live server was never restarted');
  assert.ok(report.live?.snapshot && report.live.snapshot.ms > 0 && report.live.snapshot.instances === 500, JSON.stringify(report.live));
  assert.ok(report.live.now && report.live.now.bytes >= report.live.bytes && report.live.now.instances === 500, JSON.stringify(report.live.now));
  assert.deepEqual(report.runs.map((r) => [r.mode, r.outcome]), [['fast', 'completed'], ['guide', 'completed']]);
  for (const run of report.runs) {
    assert.ok(run.predictedMs! >= run.measuredMs && run.measuredMs > 0, `${run.mode}: ${run.predictedMs} from ${run.measuredMs}`);
    assert.deepEqual(run.scripts.map((s) => s.version), ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32']);
    assert.equal(run.schemaDrift?.unexpected, 0);
  }
  const markdown = await fs.readFile(path.join(home, 'report.md'), 'utf8');
  assert.match(markdown, /\| guide \| [\d.]+ s \| [\d.]+ s \|/);
  assert.match(markdown, /held open [\d.]+ s \(the load on the live server\)/);
  // The attempts of the mode runs outlive their copies (the written report adds them).
  const written = JSON.parse(await fs.readFile(path.join(home, 'report.json'), 'utf8')) as RehearsalReport;
  assert.ok(written.attempts?.some((a) => a.step === 'applyUpdates' && a.outcome === 'completed'), 'attempts of the mode runs in the report');

  // The real migration, once dcm4chee and its server are stopped, in the mode the node is configured for.
  assert.ok((await writes.stop()) >= rows);
  await live.stop();
  execFileSync('sync');
  const migration = await startMigration(h, node);
  const migrated = await withWorker(h, node.config.node, async () => {
    await waitForPhase(migration, 'awaiting-approval');
    await migration.executeUpdate(approveSwapUpdate, { args: [{ by: 'test' }] });
    return (await migration.result()) as MigrationReport;
  });
  assert.equal(migrated.outcome, 'completed');
  const took = JSON.parse(await fs.readFile(layoutFor(node.config, migrated.runTag).report.json, 'utf8')).downtime.tookMs as number;
  // How close the prediction comes is the benchmark's to measure (`npm run bench -- --modes
  // rehearsal,…`), on a quiet machine: here other test files share it.
  const predicted = report.runs.find((r) => r.mode === node.config.mode)!.predictedMs!;
  t.diagnostic(`the migration took ${took} ms; the rehearsal predicted ${predicted} ms (${(took / predicted).toFixed(2)}×)`);
  assert.ok(took > 0 && predicted > 0);
});

test('a failing update script is a problem of the real run; the rehearsal still removes everything', async () => {
  const scripts = await tempDir('rehearse-scripts');
  for (const f of await fs.readdir(DEMO_SCRIPTS_DIR)) await fs.copyFile(path.join(DEMO_SCRIPTS_DIR, f), path.join(scripts, f));
  await fs.appendFile(path.join(scripts, 'update-5.30-psql.sql'), '\nALTER TABLE mwl_item ADD COLUMN no_such_type no_such_type;\n');
  const node = await demoNode('rehearse-script', { scriptsDir: scripts });
  const live = await liveServer(node);
  // Paced at 1 MiB/s; the scratch servers at the default priority (nice 10).
  const handle = await startRehearsal(node, options(live, { modes: ['fast'], maxDumpMiBps: 1 }));
  const watching = cli(['watch', '--rehearsal', '--node', node.config.node, '--address', h.server.address], { timeoutMs: 180_000 });
  const report = (await withWorker(h, node.config.node, async () => {
    await untilPending(handle, 'applyUpdate', 60_000, 100);
    const niceness = scratchServers(node).map((pid) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
    assert.ok(niceness.length > 0 && niceness.every((n) => n === 10), `scratch servers at nice 10: ${niceness}`);
    return handle.result();
  })) as RehearsalReport;
  const snapshot = report.live!.snapshot!;
  assert.ok(snapshot.ms >= (snapshot.bytes / 2 ** 20) * 1000 * 0.9, `${snapshot.bytes} bytes took ${snapshot.ms} ms at 1 MiB/s`);
  assert.equal(report.outcome, 'problems');
  const [problem] = report.problems;
  assert.equal(problem?.kind, 'script');
  assert.equal(problem.mode, 'fast');
  assert.match(problem.message, /update-5\.30.*type "no_such_type" does not exist/s);
  assert.equal(report.runs[0]?.outcome, 'failed');
  assert.equal(report.runs[0].predictedMs, undefined, 'no prediction from a run that failed');
  // watch follows it like a migration and fails with what a real run would hit.
  const watched = await watching;
  assert.equal(watched.code, 1, watched.stderr);
  assert.match(watched.stdout, /✔ snapshotLive \([\d.]+ s\): /);
  assert.match(watched.stdout, /✔ verifyLoad \([\d.]+ s\): fast: all equal; the rows of \d+ tables no script names are checked beside the updates/);
  assert.match(watched.stdout, /✔ verifyUntouched \([\d.]+ s\): fast: \d+ tables, \d+ rows equal/);
  assert.match(watched.stdout, /problem \(fast\): .*no_such_type/);
  assert.match(watched.stderr, /error: the rehearsal of rehearse-script found 1 problem\(s\) a real migration would hit\n  data: the live database was only read/);
  await assertNothingLeft(node, handle);
  assert.equal(live.currentPid(), live.pid);
  await live.stop();
});

test('too little scratch space: refused before anything is made, with where and how much', async () => {
  const small = await tempDir('rehearse-small');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0711', 'tmpfs', small]);
  mounts.push(small);
  const node = await demoNode('rehearse-space');
  const live = await liveServer(node);
  const handle = await startRehearsal(node, options(live, { scratchDir: small, modes: ['fast'] }));
  await withWorker(h, node.config.node, () =>
    assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError && /too little free space on .*rehearse-small.*rehearsal\.scratchDir/.test(err.cause?.message ?? '')),
  );
  await assertNothingLeft(node, handle, small);
  assert.deepEqual(await fs.readdir(small), []);
  await live.stop();
});

test('cancelled during a mode run: the scratch copies and servers are removed', async () => {
  const node = await demoNode('rehearse-cancel');
  const live = await liveServer(node);
  const handle = await startRehearsal(node, options(live, { modes: ['guide'] }));
  await withWorker(h, node.config.node, async () => {
    await untilPending(handle, 'applyUpdate', 60_000, 100);
    const aborted = await cli(['abort', '--rehearsal', '--node', node.config.node, '--address', h.server.address]);
    assert.match(aborted.stdout, /the rehearsal stops and removes its scratch copies/);
    // Bounded: a cleanup that never ends fails here, naming the activity it waits on.
    const { error } = await settledWithin(handle, 300_000);
    assert.ok(error instanceof WorkflowFailedError, `cancelled, not ${String(error)}`);
  });
  assert.equal((await handle.describe()).status.name, 'CANCELLED');
  await assertNothingLeft(node, handle);
  assert.equal(live.currentPid(), live.pid);
  await live.stop();
});
