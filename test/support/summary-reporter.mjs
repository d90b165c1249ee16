// A second test reporter (package.json: npm test): after the run it lists the test files by how long
// each ran, then, at the very end of the output, every failed or cancelled test with its file and
// the first lines of its error, and what test files said about bounds and stuck shutdowns. A long
// run's log is often read from its tail only; there the cause must stand, not just "cancelled 1",
// and there the next cut in the suite's time is chosen.
import { FILE_TIME } from './file-bound.mjs';

const NOTICES = /ran longer than its bound|still shutting down/;
// Its own line, though a chunk of a file's stderr may hold other lines too.
const TIME_LINE = new RegExp(`^${FILE_TIME} ([0-9.]+) s (.*)$`, 'm');

function firstLines(error) {
  const cause = error?.cause ?? error;
  const text = String(cause?.stack ?? cause?.message ?? cause ?? '');
  return text.split('\n').slice(0, 6).map((l) => `      ${l}`).join('\n');
}

export default async function* summaryReporter(source) {
  const failed = [];
  const notices = [];
  const times = [];
  for await (const event of source) {
    if (event.type === 'test:fail') {
      // A suite fails because its tests did: list the tests themselves, and a file's own failure.
      const { name, file, details } = event.data;
      if (details?.type === 'suite') continue;
      failed.push(`  ${details?.error?.failureType === 'cancelledByParent' ? 'cancelled' : 'failed'}: ${name} (${file ?? 'unknown file'})\n${firstLines(details?.error)}`);
    } else if (event.type === 'test:stderr') {
      const message = event.data.message.trim();
      const time = TIME_LINE.exec(message);
      if (time) times.push({ seconds: Number(time[1]), line: `  ${time[1].padStart(6)} s  ${event.data.file ?? ''} ${time[2]}` });
      else if (NOTICES.test(message)) notices.push(`  ${event.data.file ?? ''}: ${message}`);
    }
  }
  if (times.length > 0) yield `\ntest files by time:\n${times.sort((a, b) => b.seconds - a.seconds).map((t) => t.line).join('\n')}\n`;
  if (failed.length === 0 && notices.length === 0) return;
  yield `\n${failed.length} failed or cancelled\n${[...failed, ...notices].join('\n')}\n`;
}
