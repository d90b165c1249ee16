// The rehearsal's pure parts: reading a dump as it streams, pacing it, the prediction, its settings.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import YAML from 'yaml';
import { createRehearsalActivities } from '../../src/activities/rehearsal.js';
import { realDeps } from '../../src/deps.js';
import { createLogger } from '../../src/log.js';
import { ConfigError, loadConfig, loadNodeFile } from '../../src/config/load.js';
import { rehearsalProblems, rehearsalSchema, within } from '../../src/config/rehearsal.js';
import { countCopyRows } from '../../src/rehearsal/copy-rows.js';
import { predictMs, wallMs } from '../../src/rehearsal/prediction.js';
import { throttle } from '../../src/rehearsal/throttle.js';
import { cpuSharesOf, priorityArgv } from '../../src/runtime/priority.js';
import { fakeConfig, rawFakeConfig } from '../support/fake-node.js';

const sink = () => new Writable({ write: (_c, _e, done) => done() });

const DUMP = [
  '--',
  '-- PostgreSQL database dump',
  'CREATE TABLE public.instance (pk bigint);',
  'COPY public.instance (pk, sop_iuid) FROM stdin;',
  '1\t1.2.3',
  '2\t1.2.4\\nwith an escaped newline',
  '\\.',
  'COPY public."Odd table" (pk) FROM stdin;',
  '\\.',
  'COPY public.series (pk) FROM stdin;',
  '7',
  '\\.',
  '-- PostgreSQL database dump complete',
  '',
].join('\n');

test('counts the rows of every COPY block, in chunks cut anywhere, and sees the dump complete', async () => {
  for (const size of [1, 3, 7, 64, DUMP.length]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < DUMP.length; i += size) chunks.push(Buffer.from(DUMP.slice(i, i + size)));
    const counted = countCopyRows();
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks), counted.stream, new Writable({ write: (c, _e, done) => (out.push(c), done()) }));
    assert.deepEqual(counted.result(), { rows: { 'public.instance': 2, 'public."Odd table"': 0, 'public.series': 1 }, complete: true }, `chunks of ${size}`);
    assert.equal(Buffer.concat(out).toString(), DUMP, 'the bytes pass unchanged');
  }
});

test('a dump cut short is not complete', async () => {
  const counted = countCopyRows();
  await pipeline(Readable.from([Buffer.from(DUMP.slice(0, DUMP.indexOf('7\n') + 2))]), counted.stream, sink());
  assert.equal(counted.result().complete, false);
  assert.equal(counted.result().rows['public.series'], 1);
});

test('the pace: 256 KiB at 1 MiB/s take a quarter of a second', async () => {
  const started = Date.now();
  const chunks = Array.from({ length: 16 }, () => Buffer.alloc(16 * 1024));
  await pipeline(Readable.from(chunks), throttle(2 ** 20), sink());
  const took = Date.now() - started;
  assert.ok(took >= 240, `took ${took} ms`);
});

test('the prediction: wall time of steps that overlap counts once, grown with the database', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const steps = [
    { startedAt: at(0), ms: 1000 },
    { startedAt: at(1), ms: 4000 },
    { startedAt: at(1), ms: 2000 },
    { startedAt: at(5), ms: 500 },
  ];
  assert.equal(wallMs(steps), 5500);
  assert.equal(wallMs([]), 0);
  assert.equal(predictMs(5500, 1000, 1100), 6050);
  assert.equal(predictMs(5500, 1000, 900), 5500, 'a database that shrank is not predicted faster');
});

test('the rehearsal section: defaults, problems named before anything is asked of the live database', () => {
  const defaults = rehearsalSchema.parse({});
  assert.deepEqual(defaults, { modes: ['fast', 'guide'], nice: 10, io: 'best-effort' });
  const local = fakeConfig('r');
  assert.match(rehearsalProblems(local, defaults).join(), /rehearsal\.live: the running database server/);
  assert.deepEqual(rehearsalProblems(local, rehearsalSchema.parse({ live: { host: '/run/postgresql' } })), []);
  const inside = rehearsalSchema.parse({ live: { host: '127.0.0.1' }, scratchDir: `${local.paths.dataDir}/x` });
  assert.match(rehearsalProblems(local, inside).join(), /is inside .* \(the live database directory\)/);
  assert.throws(() => rehearsalSchema.parse({ nice: 20 }));
  assert.throws(() => rehearsalSchema.parse({ scratchDir: 'relative' }));
  assert.ok(within('/a/b', '/a') && within('/a', '/a/') && !within('/ab', '/a') && within('/x', '/'));
});

test('the node file: the migration ignores the rehearsal section, and a bad one is named', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-rehearsal-config-'));
  try {
    const file = path.join(dir, 'node.yaml');
    await fs.writeFile(file, YAML.stringify({ ...rawFakeConfig('r'), rehearsal: { live: { host: '/run/postgresql', port: 5433 }, modes: ['guide'] } }));
    assert.equal((await loadConfig(file)).node, 'r');
    assert.deepEqual((await loadNodeFile(file)).rehearsal, { live: { host: '/run/postgresql', port: 5433 }, modes: ['guide'], nice: 10, io: 'best-effort' });
    await fs.writeFile(file, YAML.stringify({ ...rawFakeConfig('r'), rehearsal: { mode: 'fast' } }));
    await assert.rejects(loadNodeFile(file), (err: unknown) => err instanceof ConfigError && /rehearsal: unknown key\(s\) "mode"/.test(err.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('priority: nice and ionice before the command; a container weighs less the nicer it is', () => {
  assert.deepEqual(priorityArgv(undefined), []);
  assert.deepEqual(priorityArgv({ nice: 10, io: 'best-effort' }), ['nice', '-n', '10', 'ionice', '-c', '2', '-n', '7']);
  assert.deepEqual(priorityArgv({ nice: 19, io: 'idle' }), ['nice', '-n', '19', 'ionice', '-c', '3']);
  assert.equal(cpuSharesOf({ nice: 0, io: 'idle' }), 1024);
  assert.equal(cpuSharesOf({ nice: 10, io: 'idle' }), 512);
});

test('prepareRehearsal refuses while the migration of the node runs, naming it and how to stop it', async () => {
  const deps = realDeps(createLogger('rehearsal-test', 'silent'), async (id) => (id === 'kaapana-migrate-busy' ? 'RUNNING' : undefined));
  const ctx = { config: fakeConfig('busy'), runTag: 'rehearsal-t', rehearsal: rehearsalSchema.parse({ live: { host: '127.0.0.1', port: 1 } }) };
  await assert.rejects(new MockActivityEnvironment().run(createRehearsalActivities(deps).prepareRehearsal, ctx), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure && err.type === 'NodeBusy' && err.nonRetryable);
    assert.match(err.message, /^the migration of node busy runs \(workflow kaapana-migrate-busy\): .*abort --node busy \(it rolls back\)$/);
    return true;
  });
});
