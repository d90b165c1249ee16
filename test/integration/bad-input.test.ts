// Bad input fails before anything changes, with a message that says what to do.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import type { MigrationConfig } from '../../src/config/schema.js';
import { DEMO_SCRIPTS_DIR, type DemoNode } from '../../src/demo/node.js';
import { exists } from '../../src/files.js';
import { demoNode, fingerprint, startHarness, startMigration, tempDir, withWorker, type Harness } from '../support/harness.js';

let h: Harness;
let node: DemoNode;
let original: Awaited<ReturnType<typeof fingerprint>>;
before(async () => {
  h = await startHarness();
  node = await demoNode('bad-input', { instances: 200 });
  original = await fingerprint(node, node.config.paths.dataDir, 'old');
});
after(async () => {
  await h?.close();
});

/** Runs the migration with a changed configuration; returns the failure message. */
async function failsWith(change: (c: MigrationConfig) => MigrationConfig): Promise<string> {
  const config = change(structuredClone(node.config));
  const handle = await startMigration(h, { ...node, config });
  const error = await withWorker(h, config.node, () => handle.result().then(() => assert.fail('must fail'), (e: unknown) => e));
  assert.ok(error instanceof WorkflowFailedError);
  const message = error.cause?.message ?? '';
  assert.match(message, /step (preflight|startOriginal) failed/, message);
  // Nothing changed: no directory of the run exists, the original is as it was.
  for (const suffix of ['-new', '-old']) assert.ok(!(await exists(`${node.config.paths.dataDir}${suffix}`)));
  assert.ok(!(await exists(`${node.config.paths.dataDir}9.6`)));
  assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), original);
  return message;
}

const withPaths = (c: MigrationConfig, paths: Partial<MigrationConfig['paths']>) => ({ ...c, paths: { ...c.paths, ...paths } });

async function scriptsWithout(version: string): Promise<string> {
  const dir = await tempDir('scripts');
  for (const f of await fs.readdir(DEMO_SCRIPTS_DIR)) if (f !== `update-${version}-psql.sql`) await fs.copyFile(path.join(DEMO_SCRIPTS_DIR, f), path.join(dir, f));
  return dir;
}

test('missing data directory', async () => {
  assert.match(await failsWith((c) => withPaths(c, { dataDir: '/nonexistent/postgres-dcm4che' })), /does not exist: set paths\.dataDir/);
});

test('a directory that is not a PostgreSQL cluster', async () => {
  const empty = await tempDir('not-a-cluster');
  assert.match(await failsWith((c) => withPaths(c, { dataDir: empty })), /holds no PostgreSQL cluster/);
});

test('wrong password', async () => {
  const wrong = path.join(await tempDir('pw'), 'pw');
  await fs.writeFile(wrong, 'not-the-password', { mode: 0o600 });
  assert.match(await failsWith((c) => ({ ...c, database: { ...c.database, password: { file: wrong } } })), /rejected user pacs: check database\.user and the password/);
});

test('password variable not set', async () => {
  assert.match(await failsWith((c) => ({ ...c, database: { ...c.database, password: { env: 'KM_TEST_UNSET_PASSWORD' } } })), /environment variable KM_TEST_UNSET_PASSWORD, which is not set/);
});

test('database not found', async () => {
  assert.match(await failsWith((c) => ({ ...c, database: { ...c.database, name: 'nosuchdb' } })), /has no database nosuchdb/);
});

test('a server already running on the data directory', async () => {
  const r = node.config.runtime;
  if (r.kind !== 'local') throw new Error('local runtime expected');
  // A server not started by the migration, as the still-running deployment would be.
  const socketDir = await tempDir('sock');
  await fs.chmod(socketDir, 0o777);
  const argv = ['runuser', '-u', 'postgres', '--', path.join(r.old.binDir, 'postgres'), '-D', node.config.paths.dataDir, '-k', socketDir, '-c', 'listen_addresses='];
  const server = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  try {
    const pid = path.join(node.config.paths.dataDir, 'postmaster.pid');
    for (let i = 0; i < 100 && !(await exists(pid)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(await exists(pid), 'the foreign server runs');
    const handle = await startMigration(h, node);
    const error = await withWorker(h, node.config.node, () => handle.result().then(() => assert.fail('must fail'), (e: unknown) => e));
    assert.match((error as WorkflowFailedError).cause?.message ?? '', /step preflight failed: a PostgreSQL server is running on .*scale the dcm4chee and postgres-dcm4che deployments to 0/);
  } finally {
    // runuser does not pass signals on: stop the postmaster itself (fast shutdown).
    const pid = Number((await fs.readFile(path.join(node.config.paths.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    process.kill(pid, 'SIGINT');
    await new Promise((r) => server.once('exit', r));
  }
  assert.deepEqual(await fingerprint(node, node.config.paths.dataDir, 'old'), original);
});

test('missing update script', async () => {
  const dir = await scriptsWithout('5.32');
  assert.match(await failsWith((c) => withPaths(c, { scriptsDir: dir })), /update scripts missing .*update-5\.32-psql\.sql/);
});

test('gap in the versions', async () => {
  const dir = await scriptsWithout('5.29');
  assert.match(await failsWith((c) => withPaths(c, { scriptsDir: dir })), /update-5\.29-psql\.sql — applying 5\.27…5\.32 without them would leave a gap/);
});

test('unexpected files in the script directory', async () => {
  const dir = await scriptsWithout('none');
  await fs.writeFile(path.join(dir, 'notes.txt'), 'x');
  assert.match(await failsWith((c) => withPaths(c, { scriptsDir: dir })), /not dcm4chee-arc-light SQL scripts: notes\.txt/);
});

for (const suffix of ['-new', '-old']) {
  test(`target directory ${suffix} already exists`, async () => {
    const dir = `${node.config.paths.dataDir}${suffix}`;
    await fs.mkdir(dir);
    try {
      const config = structuredClone(node.config);
      const handle = await startMigration(h, { ...node, config });
      const error = await withWorker(h, config.node, () => handle.result().then(() => assert.fail('must fail'), (e: unknown) => e));
      assert.match((error as WorkflowFailedError).cause?.message ?? '', new RegExp(`${dir} \\(.*\\) already exists: it may be left from an earlier attempt`));
      assert.deepEqual(await fs.readdir(dir), [], 'the existing directory is left alone');
    } finally {
      await fs.rmdir(dir);
    }
  });
}

test('too little free space, with the margin shown', async () => {
  assert.match(await failsWith((c) => ({ ...c, diskMargin: 1e9 })), /too little free space on .*MiB free, .*MiB needed for .*database size with the configured margin/);
});

test('a second migration of the same node while one runs', async () => {
  const first = await startMigration(h, node);
  try {
    await assert.rejects(startMigration(h, node), WorkflowExecutionAlreadyStartedError);
  } finally {
    await first.terminate('test over');
  }
});
