// State and backup files are written all or nothing and durably (temporary name, fsync, rename,
// fsync of the directory); a retry removes the partial files a killed attempt left. The attempts
// journal is the one file appended to: each line flushed where it is. Steps running at once may
// write one state file and start one server together.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { appendToJournal, readJournal, type JournalRecord } from '../../src/attempt-journal.js';
import { writeFileDurably } from '../../src/files.js';
import { createLogger } from '../../src/log.js';
import { dumpToFile } from '../../src/postgres/transfer.js';
import { oneAtATime } from '../../src/activities/one-at-a-time.js';
import type { ContainerRuntime } from '../../src/runtime/port.js';
import { startEmptyPacsdb, type TestCluster } from '../support/pg-binaries.js';

const dirs: string[] = [];
const tmp = async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'km-durable-'));
  dirs.push(dir);
  return dir;
};
// The dump reads the source database's encoding and settings first: a real, empty pacsdb serves that.
let server: TestCluster | undefined;
before(async () => {
  server = await startEmptyPacsdb();
});
after(async () => {
  await server?.stop();
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});
const listing = async (dir: string) => (await fs.readdir(dir)).sort();

/** Records every fsync (by path) and rename, in order, while the test runs. */
function durabilityLog(t: TestContext): string[][] {
  const log: string[][] = [];
  const { open, rename } = fs;
  t.mock.method(fs, 'open', async (...args: Parameters<typeof open>) => {
    const handle = await open(...args);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      log.push(['sync', String(args[0])]);
      return sync();
    };
    return handle;
  });
  t.mock.method(fs, 'rename', async (from: string, to: string) => {
    log.push(['rename', from, to]);
    return rename(from, to);
  });
  return log;
}

test('a state file is written under a partial name, fsynced, renamed, then its directory fsynced', async (t) => {
  const dir = await tmp();
  const file = path.join(dir, 'bulk-load-new.json');
  const log = durabilityLog(t);
  await writeFileDurably(file, '{"bootId":"b"}');
  const partial = log[0]?.[1] ?? '';
  assert.match(partial, new RegExp(`^${file.replace(/\./g, '\\.')}\\.partial-${process.pid}-\\d+-\\d+$`));
  assert.deepEqual(log, [['sync', partial], ['rename', partial, file], ['sync', dir]]);
  assert.equal(await fs.readFile(file, 'utf8'), '{"bootId":"b"}');
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await listing(dir), ['bulk-load-new.json']);
});

test('a failing write leaves the earlier file as it was, and no partial file', async () => {
  const dir = await tmp();
  const file = path.join(dir, 'report.json');
  await writeFileDurably(file, 'complete');
  await assert.rejects(
    writeFileDurably(file, async (partial) => {
      await fs.writeFile(partial, 'half');
      throw new Error('disk full');
    }),
    /disk full/,
  );
  assert.equal(await fs.readFile(file, 'utf8'), 'complete');
  assert.deepEqual(await listing(dir), ['report.json']);
});

test('a retried dump removes the partial files killed attempts left of that dump, and only those', async (t) => {
  const dir = await tmp();
  const file = path.join(dir, 'pacsdb-original.sql');
  const left = [`${path.basename(file)}.partial-4242-1700000000000`, `${path.basename(file)}.partial-4243-1700000000001`];
  const others = ['pacsdb-updated.sql.partial-4242-1700000000000', 'ldap-backup.ldif'];
  for (const f of [...left, ...others]) await fs.writeFile(path.join(dir, f), 'left by a killed worker');
  // The runtime's pg_dump: the dump's bytes on stdout, exit status 0.
  const runtime = {
    exec: async (_server: string, _argv: string[], io: { stdout?: NodeJS.WritableStream }) => {
      io.stdout!.write('SELECT 1;\n');
      return { exitCode: 0, stderr: '' };
    },
  } as unknown as ContainerRuntime;
  const log = durabilityLog(t);
  const source = { server: 'original', endpoint: { host: server!.socketDir, port: server!.port }, credentials: { name: 'pacsdb', user: server!.user, password: 'x' } };
  const result = await dumpToFile(runtime, source, file, { onBytes: () => undefined, appName: 'durable-test' });
  assert.equal(result.bytes, 10);
  assert.equal(await fs.readFile(file, 'utf8'), 'SELECT 1;\n');
  assert.deepEqual(await listing(dir), [...others, path.basename(file)].sort());
  const partial = log[0]?.[1] ?? '';
  assert.deepEqual(log, [['sync', partial], ['rename', partial, file], ['sync', dir]], 'written durably');
});

test('the attempts journal is appended to, never rewritten: each line fsynced, the directory too when the line created the file', async (t) => {
  const dir = await tmp();
  const file = path.join(dir, 'run', 'attempts.jsonl');
  const log = durabilityLog(t);
  const line = (attempt: number): JournalRecord => ({ workflowRunId: 'run', activityId: '7', attempt, event: 'note', at: '2026-01-01T00:00:00.000Z', note: `attempt ${attempt}` });
  const quiet = createLogger('durable-test', 'silent');
  await appendToJournal(file, line(1), quiet);
  assert.deepEqual(log.splice(0), [['sync', file], ['sync', path.dirname(file)]], 'the first line: the file and its directory entry');
  await appendToJournal(file, line(2), quiet);
  assert.deepEqual(log, [['sync', file]], 'a later line: the file only, and no rename');
  assert.deepEqual((await readJournal(file)).map((r) => r.attempt), [1, 2]);
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
});

test('two writes of one file at once (steps running together) both succeed; the file holds one of them whole', async () => {
  const dir = await tmp();
  const file = path.join(dir, 'server.json');
  const contents = Array.from({ length: 8 }, (_, i) => JSON.stringify({ write: i, pad: 'x'.repeat(1000) }));
  await Promise.all(contents.map((c) => writeFileDurably(file, c)));
  assert.ok(contents.includes(await fs.readFile(file, 'utf8')));
  assert.deepEqual(await fs.readdir(dir), ['server.json'], 'no partial file left');
});

test('a server is started by one call at a time: calls for one server wait for each other, others do not', async () => {
  const events: string[] = [];
  const slow = (name: string, ms: number) => async () => {
    events.push(`${name} begins`);
    await new Promise((r) => setTimeout(r, ms));
    events.push(`${name} ends`);
    return name;
  };
  const failing = async () => {
    events.push('c begins');
    throw new Error('c failed');
  };
  const results = await Promise.allSettled([oneAtATime('s1', slow('a', 50)), oneAtATime('s1', failing), oneAtATime('s1', slow('d', 1)), oneAtATime('s2', slow('b', 10))]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'], 'a failure reaches its caller only');
  assert.deepEqual(events.filter((e) => !e.startsWith('b')), ['a begins', 'a ends', 'c begins', 'd begins', 'd ends'], 'one server: one after the other');
  assert.ok(events.indexOf('b begins') < events.indexOf('a ends'), 'another server does not wait');
});
