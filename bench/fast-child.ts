// One run of the fast path's building blocks in its own process. Prints one JSON line.
// usage: fast-child.ts CONFIG_FILE RUN_TAG VARIANT   (VARIANT: direct | stream | bulk)
import { loadConfig } from '../src/config/load.js';
import { realDeps } from '../src/deps.js';
import { createLogger } from '../src/log.js';
import { runFastSequence, type Variant } from '../test/support/fast-sequence.js';

const [configFile, runTag, variant] = process.argv.slice(2) as [string, string, Variant];
const out = await runFastSequence(realDeps(createLogger('bench-fast', 'warn')), { config: await loadConfig(configFile), runTag }, variant);
process.stdout.write(`${JSON.stringify(out)}\n`);
