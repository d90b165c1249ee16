// Histories of finished runs, replayed against the current workflow code: a change that would
// break an open migration (without a patch) fails here.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { checkInput, checkUnversionedInput } from '../../src/config/input.js';
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

test('the input of every recorded history is accepted by the input check of its schema version', async () => {
  for (const file of files) {
    const history = JSON.parse(await fs.readFile(path.join(DIR, file), 'utf8'));
    const started = history.events[0].workflowExecutionStartedEventAttributes;
    const input = JSON.parse(Buffer.from(started.input.payloads[0].data, 'base64').toString('utf8'));
    const checked = input.schemaVersion === undefined ? checkUnversionedInput(input) : checkInput(input);
    assert.ok(checked.ok, `${file}: ${checked.ok ? '' : checked.problems.join('; ')}`);
  }
});

test('every recorded history replays on the current workflow code', async () => {
  for (const file of files) {
    const history = JSON.parse(await fs.readFile(path.join(DIR, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: bundle }, history, path.basename(file, '.json'));
  }
});
