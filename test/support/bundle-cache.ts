// Bundling the workflow code takes seconds of CPU; every test file needs the same bundle. It is
// made once per state of the sources and kept under the system's temp directory.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { bundleWorkflows } from '../../src/worker.js';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every source file the bundle can contain, and the installed SDK version. */
async function sourcesKey(): Promise<string> {
  // The checkout too: the bundle's source map names its files, and stack traces should point into this one.
  const hash = createHash('sha256').update(ROOT);
  const files = (await fs.readdir(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })).filter((f) => f.endsWith('.ts')).sort();
  for (const f of files) hash.update(f).update(await fs.readFile(path.join(ROOT, 'src', f)));
  hash.update(await fs.readFile(path.join(ROOT, 'node_modules', '@temporalio', 'workflow', 'package.json')));
  return hash.digest('hex').slice(0, 16);
}

/** The bundle's file (JSON of code and source map), made when missing. */
export async function cachedWorkflowBundleFile(): Promise<string> {
  await cachedWorkflowBundle();
  return bundleFile();
}

async function bundleFile(): Promise<string> {
  return path.join(os.tmpdir(), `km-workflow-bundle-${await sourcesKey()}.json`);
}

export async function cachedWorkflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  const file = await bundleFile();
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as WorkflowBundleWithSourceMap;
  } catch {
    const bundle = await bundleWorkflows();
    // Written under a temporary name and renamed: a concurrent file never reads half a bundle.
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(bundle));
    await fs.rename(tmp, file);
    return bundle;
  }
}
