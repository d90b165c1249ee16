// The binaries the demo fetches for itself, fetched for the tests by `npm run test:setup`.
import { oldPostgresBinDir } from '../../src/demo/binaries.js';
import { ensureTemporalCli } from '../../src/temporal/cli-binary.js';

const say = (line: string) => process.stdout.write(`test:setup: ${line}\n`);
say(`Temporal CLI: ${await ensureTemporalCli(say)}`);
say(`PostgreSQL 9.6 server binaries: ${await oldPostgresBinDir(say)}`);
