// Build step: bundle the workflow code once, so a worker on a node starts without webpack.
import { promises as fs } from 'node:fs';
import { mib } from './format.js';
import { bundleWorkflows, prebuiltBundlePath } from './worker.js';

const { code } = await bundleWorkflows();
await fs.writeFile(prebuiltBundlePath, code);
process.stdout.write(`wrote ${prebuiltBundlePath} (${mib(code.length)})\n`);
