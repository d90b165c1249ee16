// Histories of finished runs, replayed against the current workflow code: a change that would
// break an open migration (without a patch) fails here.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { cachedWorkflowBundle } from '../support/bundle-cache.js';

const DIR = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
let bundle: WorkflowBundleWithSourceMap;
let files: string[];

before(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  bundle = await cachedWorkflowBundle();
  files = (await fs.readdir(DIR)).filter((f) => f.endsWith('.json')).sort();
});

test('there are recorded histories to replay', () => {
  assert.ok(files.length >= 4, `recorded histories: ${files.join(', ')} (npm run record-histories)`);
});

test('every recorded history replays on the current workflow code', async () => {
  for (const file of files) {
    const history = JSON.parse(await fs.readFile(path.join(DIR, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, path.basename(file, '.json'));
  }
});
