// The attempts journal: the worker's interceptor records every attempt's start and end in the run's
// directory, and the report lists every attempt that failed, was cancelled or was lost (its worker
// died: a start without an end), with the worker process that ran it.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Context, type Info } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { pino } from 'pino';
import { createReportActivities } from '../../src/activities/report.js';
import { stepOf } from '../../src/activities/steps.js';
import { appendToJournal, type Attempt } from '../../src/attempt-journal.js';
import { layoutFor } from '../../src/config/layout.js';
import { parseConfig } from '../../src/config/load.js';
import { realDeps } from '../../src/deps.js';
import type { MigrationReport } from '../../src/report/types.js';
import { renderMarkdown } from '../../src/report/render.js';
import { activityLogging } from '../../src/worker-logging.js';

const RUN = 'run-under-test';
const IDENTITY = 'unit-worker@test';

async function setup(opts: { backupDir?: (dir: string) => string } = {}) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-attempts-'));
  const backupDir = opts.backupDir?.(dir) ?? path.join(dir, 'backup');
  await fs.mkdir(path.join(dir, 'backup'));
  const config = parseConfig({
    node: 'attempts',
    paths: { dataDir: path.join(dir, 'postgres-dcm4che'), fastDataDir: dir, backupDir, scriptsDir: dir },
    database: { password: { env: 'UNUSED_PASSWORD' } },
    runtime: { kind: 'local', old: { binDir: '/usr/bin' }, new: { binDir: '/usr/bin' }, clientBinDir: '/usr/bin', stateDir: path.join(dir, 'state') },
  });
  const ctx = { config, runTag: 'test' };
  const warnings: string[] = [];
  const log = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) warnings.push((JSON.parse(line) as { msg: string }).msg);
        done();
      },
    }),
  );
  const interceptor = activityLogging(log, 'attempts', IDENTITY);
  /** One attempt of an activity, run by the worker's interceptor; its failure is returned, not thrown. */
  // Any activity function, with the arguments the workflow would pass it.
  const attempt = (info: Partial<Info>, fn: (...args: any[]) => Promise<unknown>, ...args: unknown[]) => {
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'wf', runId: RUN }, ...info }, { interceptors: [interceptor], logger: new DefaultLogger('ERROR') });
    return { env, done: env.run(fn, ...args).catch((err: unknown) => err) };
  };
  return { dir, ctx, layout: layoutFor(config, ctx.runTag), log, warnings, attempt };
}

test('every attempt is journalled; the report lists the failed, cancelled and lost ones with the worker process that ran them', async () => {
  const { ctx, layout, log, attempt } = await setup();
  const script = { version: '5.30', file: '/x/update-5.30-psql.sql', sha256: 'ab' };
  const ok = async () => 'done';

  await attempt({ activityType: 'preflight', activityId: '1' }, ok, ctx).done;
  // A worker that was killed inside the dump left only the start of its attempt.
  await appendToJournal(layout.attempts, {
    event: 'start', at: new Date().toISOString(), workflowRunId: RUN, activityId: '6', attempt: 1,
    activityType: 'dump', step: 'dumpOriginal', subject: 'original', worker: { host: 'node-a', pid: 4242, identity: '4242@node-a' },
  }, log);
  await attempt({ activityType: 'dump', activityId: '6', attempt: 2 }, ok, ctx, 'original', 'original', 1).done;
  const failed = await attempt(
    { activityType: 'applyUpdate', activityId: '12', attempt: 1 },
    async () => {
      throw ApplicationFailure.retryable('update-5.30-psql.sql: psql exited with 2: server closed the connection', 'PsqlLost');
    },
    ctx, 'work', script,
  ).done;
  assert.ok(failed instanceof ApplicationFailure, 'the failure reaches Temporal unchanged');
  await attempt({ activityType: 'applyUpdate', activityId: '12', attempt: 2 }, ok, ctx, 'work', script).done;
  const cancelled = attempt({ activityType: 'restore', activityId: '9' }, () => Context.current().cancelled, ctx, 'new');
  cancelled.env.cancel('CANCELLED');
  await cancelled.done;
  // Another run of the workflow (another run id) is not this report's.
  await attempt({ activityType: 'preflight', activityId: '1', workflowExecution: { workflowId: 'wf', runId: 'other-run' } }, ok, ctx).done;
  // A machine crash may tear the last line.
  await fs.appendFile(layout.attempts, '{"event":"start","at":"20');

  const { writeReport } = createReportActivities({ ...realDeps(log) });
  const report = { node: 'attempts', workflowId: 'wf', runId: RUN, runTag: 'test', startedAt: new Date().toISOString(), outcome: 'completed', versions: { from: '5.26', to: '5.32', alreadyPresent: [], applied: [] }, steps: [], dumps: [], scripts: [], ldap: [] } satisfies MigrationReport;
  const written = await attempt({ activityType: 'writeReport', activityId: '40' }, writeReport, ctx, report).done;
  assert.equal(written, layout.report.markdown);

  const json = JSON.parse(await fs.readFile(layout.report.json, 'utf8')) as MigrationReport;
  const seen = json.attempts?.map((a) => ({ step: a.step, activity: `${a.activityType}${a.subject ? ` ${a.subject}` : ''}`, attempt: a.attempt, pid: a.worker.pid, outcome: a.outcome, error: a.error, failureType: a.failureType }));
  const here = process.pid;
  assert.deepEqual(seen, [
    { step: 'preflight', activity: 'preflight', attempt: 1, pid: here, outcome: 'completed', error: undefined, failureType: undefined },
    { step: 'dumpOriginal', activity: 'dump original', attempt: 1, pid: 4242, outcome: 'lost', error: 'the worker process 4242 on node-a ended during it', failureType: undefined },
    { step: 'dumpOriginal', activity: 'dump original', attempt: 2, pid: here, outcome: 'completed', error: undefined, failureType: undefined },
    { step: 'applyUpdates', activity: 'applyUpdate 5.30', attempt: 1, pid: here, outcome: 'failed', error: 'update-5.30-psql.sql: psql exited with 2: server closed the connection', failureType: 'PsqlLost' },
    { step: 'applyUpdates', activity: 'applyUpdate 5.30', attempt: 2, pid: here, outcome: 'completed', error: undefined, failureType: undefined },
    { step: 'restoreNew', activity: 'restore new', attempt: 1, pid: here, outcome: 'cancelled', error: 'CANCELLED', failureType: 'CancelledFailure' },
  ]);
  assert.ok(json.attempts!.every((a) => (a.worker.pid === 4242 ? a.worker.identity === '4242@node-a' : a.worker.identity === IDENTITY && a.worker.host === os.hostname())));

  const md = await fs.readFile(layout.report.markdown, 'utf8');
  const section = md.slice(md.indexOf('## Attempts'));
  assert.match(section, new RegExp(`\\| ${IDENTITY} \\| ${os.hostname()} \\| ${here} \\| 5 \\| 1 \\| 1 \\| 0 \\| preflight, dumpOriginal, applyUpdates, restoreNew \\|`));
  assert.match(section, /\| 4242@node-a \| node-a \| 4242 \| 1 \| 0 \| 0 \| 1 \| dumpOriginal \|/);
  assert.match(section, /\| dumpOriginal \| dump original \| 1 \| 4242@node-a \| [^|]+ \| — \| lost: the worker process 4242 on node-a ended during it \|/);
  assert.match(section, /\| applyUpdates \| applyUpdate 5\.30 \| 1 \| unit-worker@test \| [^|]+ \| [\d.]+ s \| failed \(PsqlLost\): update-5\.30-psql\.sql: psql exited with 2: server closed the connection \|/);
  assert.match(section, /\| restoreNew \| restore new \| 1 \| unit-worker@test \| [^|]+ \| [\d.]+ s \| cancelled: CANCELLED \|/);
  assert.match(section, /- dumpOriginal, dump original: attempt 1 lost on 4242@node-a; attempt 2 completed on unit-worker@test \([\d.]+ s\)/);
  assert.doesNotMatch(section, /preflight, preflight:/, 'an activity that succeeded at once has no line of its own');

  // Owner-only, like the report beside it.
  assert.equal((await fs.stat(layout.runDir)).mode & 0o777, 0o700);
  assert.equal((await fs.stat(layout.attempts)).mode & 0o777, 0o600);
  const journal = await fs.readFile(layout.attempts, 'utf8');
  for (const argument of ['UNUSED_PASSWORD', script.file, layout.original]) assert.ok(!journal.includes(argument), `no argument in the journal: ${argument}`);
});

test('a journal that cannot be written does not fail the activity; a call without a run context is not journalled', async () => {
  // A backup directory that cannot be made: a file is where its parent should be.
  const { dir, ctx, warnings, attempt } = await setup({ backupDir: (d) => path.join(d, 'a-file', 'backup') });
  await fs.writeFile(path.join(dir, 'a-file'), '');
  assert.equal(await attempt({ activityType: 'preflight', activityId: '1' }, async () => 'checked', ctx).done, 'checked');
  assert.deepEqual(warnings, ['attempts journal not written', 'attempts journal not written'], 'start and end');

  const fine = await setup();
  assert.equal(await fine.attempt({ activityType: 'preflight', activityId: '1' }, async () => 'other', { runTag: 'no config' }).done, 'other');
  assert.deepEqual(fine.warnings, []);
  assert.deepEqual(await fs.readdir(path.join(fine.dir, 'backup')), [], 'no journal');
});

test('a script that a lost attempt committed: the report names that attempt and does not invent its time', () => {
  const lost: Attempt = {
    step: 'applyUpdates', activityType: 'applyUpdate', subject: '5.32', activityId: '20', attempt: 1,
    worker: { host: 'node-a', pid: 4242, identity: '4242@node-a' }, startedAt: '2025-01-01T10:00:00.000Z', outcome: 'lost', error: 'the worker process 4242 on node-a ended during it',
  };
  const md = renderMarkdown({
    node: 'n', workflowId: 'wf', runId: RUN, runTag: 't', startedAt: '2025-01-01T09:00:00.000Z', outcome: 'completed',
    versions: { from: '5.26', to: '5.32', alreadyPresent: [], applied: ['5.31', '5.32'] }, steps: [], dumps: [], ldap: [],
    scripts: [
      { version: '5.31', sha256: 'aa', ms: 1500, outcome: 'applied' },
      { version: '5.32', sha256: 'bb', ms: 0, outcome: 'committed by an earlier attempt (lost)', committedBy: lost },
    ],
  });
  assert.match(md, /\| 5\.31 \| applied \| 1\.5 s \| `aa` \|/);
  assert.match(md, /\| 5\.32 \| committed by attempt 1 on 4242@node-a — lost: the worker process 4242 on node-a ended during it \| unknown \| `bb` \|/);
});

test('an activity call is journalled under its step: by its role, and by the mode for the verification of the new server', async () => {
  const { ctx: defaults } = await setup();
  const ctx = { ...defaults, config: { ...defaults.config, mode: 'guide' as const } };
  const fast = { ...ctx, config: { ...ctx.config, mode: 'fast' as const } };
  const script = { version: '5.32', file: '/x', sha256: 'ab' };
  assert.deepEqual(
    [stepOf('startServer', [ctx, 'work']), stepOf('verifyUpdated', [ctx, 'work']), stepOf('dump', [ctx, 'work', 'updated', 1]), stepOf('verify', [ctx, 'new']), stepOf('verify', [fast, 'new']), stepOf('applyUpdate', [ctx, 'new', script]), stepOf('discardServer', [ctx, 'new'])],
    [
      { step: 'startWork', subject: 'work' },
      { step: 'verifyUpdated', subject: 'work' },
      { step: 'dumpUpdated', subject: 'work' },
      { step: 'verifyNew', subject: 'new' },
      { step: 'verifyLoad', subject: 'new' },
      { step: 'applyUpdates', subject: '5.32' },
      { step: 'rollback', subject: 'new' },
    ],
  );
  assert.equal(stepOf('notAnActivity', [ctx]), undefined);
  assert.equal(stepOf('toString', [ctx]), undefined);
});
