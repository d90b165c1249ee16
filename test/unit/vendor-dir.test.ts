// The layout of a directory of the vendor's SQL (--vendor of the benchmark): found when complete,
// refused with the expected layout when a part is missing or empty.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { vendorSql } from '../../src/demo/vendor.js';

const root = await mkdtemp(path.join(os.tmpdir(), 'km-vendor-'));
after(() => rm(root, { recursive: true, force: true }));

async function layout(name: string, files: string[]): Promise<string> {
  const dir = path.join(root, name);
  for (const f of files) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), '-- empty\n');
  }
  return dir;
}

test('finds the three directories of a complete vendor directory', async () => {
  const dir = await layout('complete', ['old-init/10_create-psql.sql', 'new-init/10_create-psql.sql', 'psql/update-5.27-psql.sql', 'README.txt']);
  assert.deepEqual(await vendorSql(dir), {
    oldInitDir: path.join(dir, 'old-init'),
    newInitDir: path.join(dir, 'new-init'),
    scriptsDir: path.join(dir, 'psql'),
  });
});

test('refuses a vendor directory with a part missing or without SQL', async () => {
  const missing = await layout('missing', ['old-init/10_create-psql.sql', 'psql/update-5.27-psql.sql']);
  await assert.rejects(vendorSql(missing), new RegExp(`${path.join(missing, 'new-init')} holds no \\.sql files: a vendor directory has old-init/, new-init/, psql/`));
  const empty = await layout('empty', ['old-init/notes.txt', 'new-init/10_create-psql.sql', 'psql/update-5.27-psql.sql']);
  await assert.rejects(vendorSql(empty), /old-init holds no \.sql files/);
});
