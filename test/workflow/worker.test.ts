// The node's worker as deployed (its options, interceptors and heartbeat throttling) with fake
// activities: it logs each activity's start and end (and journals them in the run's directory),
// and progress heartbeats reach the server while a long step runs (the watch's lines and bars
// come from them).
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { Worker } from '@temporalio/worker';
import { pino } from 'pino';
import { readJournal } from '../../src/attempt-journal.js';
import { layoutFor } from '../../src/config/layout.js';
import type { StepProgress } from '../../src/shared.js';
import { taskQueueFor, workflowIdFor, runTagFor } from '../../src/shared.js';
import { migrationInput } from '../../src/config/input.js';
import { migrationWorkerOptions } from '../../src/worker.js';
import { fakeNode, startFakeEnv, type FakeEnv } from '../support/fake-workflow.js';

let env: FakeEnv;
before(async () => {
  env = await startFakeEnv();
});
after(async () => {
  await env?.close();
});

test('logs and journals each activity\'s start and end, with its attempt, the node and the worker; heartbeats arrive while a dump runs', async () => {
  // The attempts journal is real: the run's directory must be too.
  const backupDir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-worker-log-'));
  const fakePaths = { dataDir: '/fake/worker-log/slow/postgres-dcm4che', fastDataDir: '/fake/worker-log/fast', scriptsDir: '/fake/dcm4chee-arc/sql/psql' };
  // The default heartbeat timeout (60 s): the SDK alone would throttle heartbeats to one per 48 s.
  const fake = fakeNode('worker-log', { overrides: { heartbeatTimeoutSeconds: 60, paths: { ...fakePaths, backupDir } } });
  const node = fake.config.node;
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const beats = new Set<number>();
  let dumping = true;
  const activities = {
    ...fake.activities,
    // A dump whose bytes advance every 200 ms for 5 s: each heartbeat carries the new count.
    async dump(...args: Parameters<typeof fake.activities.dump>) {
      if (args[2] === 'original') {
        for (let done = 1; done <= 25; done++) {
          Context.current().heartbeat({ step: 'dumpOriginal', unit: 'bytes', done, total: 25 } satisfies StepProgress);
          await new Promise((r) => setTimeout(r, 200));
        }
        dumping = false;
      }
      return fake.activities.dump(...args);
    },
  };
  const worker = await Worker.create({ ...(await migrationWorkerOptions({ connection: env.native, namespace: 'default', node, log, workflowBundle: env.bundle })), activities });
  const runId = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('migrateDcm4che', { taskQueue: taskQueueFor(node), workflowId: workflowIdFor(node), args: [migrationInput(fake.config)], workflowExecutionTimeout: '2 minutes' });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (dumping || beats.size === 0)) {
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      for (const a of pending) {
        const payload = a.heartbeatDetails?.payloads?.[0];
        if (a.activityType?.name === 'dump' && payload) beats.add(env.client.options.loadedDataConverter.payloadConverter.fromPayload<StepProgress>(payload).done!);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    await handle.terminate('test done');
    return (await handle.describe()).runId;
  });
  fake.dispose();
  // The SDK's default would send one heartbeat, then the next only after 48 s.
  assert.ok(beats.size >= 2, `heartbeat details seen by the server during the dump: ${[...beats].join(', ')}`);
  const started = lines.find((l) => l.msg === 'activity started' && l.activity === 'preflight');
  const ended = lines.find((l) => l.msg === 'activity completed' && l.activity === 'preflight');
  assert.deepEqual({ node: started?.node, attempt: started?.attempt }, { node, attempt: 1 });
  assert.equal(ended?.node, node);
  assert.equal(typeof ended?.ms, 'number');
  assert.ok(lines.some((l) => l.msg === 'activity completed' && l.activity === 'dump'), 'the dump too');
  const journal = await readJournal(layoutFor(fake.config, runTagFor(runId)).attempts);
  await fs.rm(backupDir, { recursive: true });
  const preflight = journal.filter((r) => r.activityId === journal.find((s) => s.event === 'start' && s.activityType === 'preflight')?.activityId);
  assert.deepEqual(preflight.map((r) => [r.event, r.workflowRunId, r.attempt]), [['start', runId, 1], ['end', runId, 1]]);
  assert.deepEqual(preflight[0]!.event === 'start' && { step: preflight[0].step, worker: preflight[0].worker }, { step: 'preflight', worker: { host: os.hostname(), pid: process.pid, identity: `${process.pid}@${os.hostname()}` } });
  assert.ok(preflight[1]!.event === 'end' && preflight[1].outcome === 'completed');
  assert.ok(journal.some((r) => r.event === 'start' && r.activityType === 'dump' && r.step === 'dumpOriginal' && r.subject === 'original'), 'the dump is journalled as dumpOriginal');
});
