// A second test reporter (package.json: npm test): after the run it repeats, at the very end of
// the output, every failed or cancelled test with its file and the first lines of its error, and
// what test files said about bounds and stuck shutdowns. A long run's log is often read from its
// tail only; there the cause must stand, not just "cancelled 1".
const NOTICES = /ran longer than its bound|still shutting down/;

function firstLines(error) {
  const cause = error?.cause ?? error;
  const text = String(cause?.stack ?? cause?.message ?? cause ?? '');
  return text.split('\n').slice(0, 6).map((l) => `      ${l}`).join('\n');
}

export default async function* failuresReporter(source) {
  const failed = [];
  const notices = [];
  for await (const event of source) {
    if (event.type === 'test:fail') {
      // A suite fails because its tests did: list the tests themselves, and a file's own failure.
      const { name, file, details } = event.data;
      if (details?.type === 'suite') continue;
      failed.push(`  ${details?.error?.failureType === 'cancelledByParent' ? 'cancelled' : 'failed'}: ${name} (${file ?? 'unknown file'})\n${firstLines(details?.error)}`);
    } else if (event.type === 'test:stderr' && NOTICES.test(event.data.message)) {
      notices.push(`  ${event.data.file ?? ''}: ${event.data.message.trim()}`);
    }
  }
  if (failed.length === 0 && notices.length === 0) return;
  yield `\nfailures-reporter: ${failed.length} failed or cancelled\n${[...failed, ...notices].join('\n')}\n`;
}
