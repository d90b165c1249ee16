// Loaded into every test file's process (package.json: --import): a file that outlives its bound
// is ended, so a hung server or a stuck wait fails that file instead of hanging the whole run.
// The process 'exit' handlers of the test support then stop every server it started.
// KM_TEST_FILE_BOUND_S overrides the bound (seconds). At exit the file says how long it ran, so the
// run's summary (summary-reporter.mjs) can list where the suite's time went.
const DEFAULT_BOUND_S = 900;

// Plain JavaScript: worker threads of the test process inherit this --import before tsx is active.
import { isMainThread } from 'node:worker_threads';

export const FILE_TIME = 'test file ran';

// node --test runs each file in a child with NODE_TEST_CONTEXT set; the runner itself is not bounded.
if (process.env.NODE_TEST_CONTEXT && isMainThread) {
  const seconds = Number(process.env.KM_TEST_FILE_BOUND_S ?? DEFAULT_BOUND_S);
  const file = process.argv.at(-1) ?? 'this test file';
  const started = Date.now();
  // unref: a file that finishes in time is not held open by its own bound.
  setTimeout(() => {
    process.stderr.write(`\n${file} ran longer than its bound of ${seconds} s: ending it (set KM_TEST_FILE_BOUND_S to change the bound)\n`);
    process.exit(124);
  }, seconds * 1000).unref();
  process.once('exit', () => {
    const { user, system } = process.cpuUsage();
    process.stderr.write(`${FILE_TIME} ${((Date.now() - started) / 1000).toFixed(1)} s (its own process ${((user + system) / 1e6).toFixed(1)} CPU-s)\n`);
  });
}
