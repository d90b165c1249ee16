// The CLI against real runs: start (and a refused second start), watch on a pseudo-terminal and
// through a pipe, approve, abort, status.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { layoutFor } from '../../src/config/layout.js';
import { progressQuery, workflowIdFor, type StepName, runTagFor } from '../../src/shared.js';
import { demoNode, startHarness, waitForPhase, withWorker, type Harness } from '../support/harness.js';
import { BIN, cli, run } from './run.js';

let h: Harness;
const dirs: string[] = [];
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
  await Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true })));
});

const WATCH_MS = 150_000;

/** Kept under test-artifacts/ for a person to look at (`cat -v`, or `cat` on a terminal). */
/** Resolves once a running program's stdout matches `pattern` (at most 120 s, then fails the test). */
function saying(pattern: RegExp) {
  let said: () => void = () => undefined;
  const seen = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the watch did not say ${pattern} within 120 s`)), 120_000).unref();
    said = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  // Awaited by the test; a test that failed before must not die of the rejection later.
  seen.catch(() => undefined);
  return { seen, onStdout: (sofar: string) => pattern.test(sofar) && said() };
}

async function saveArtifact(name: string, content: string): Promise<void> {
  const dir = new URL('../../test-artifacts/', import.meta.url);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(new URL(name, dir), content);
}

async function waitForStep(node: string, step: StepName): Promise<void> {
  const handle = h.client.workflow.getHandle(workflowIdFor(node));
  const deadline = Date.now() + 120_000;
  while (!(await handle.query(progressQuery)).completed.some((c) => c.step === step)) {
    if (Date.now() > deadline) throw new Error(`${node} did not finish ${step} in time`);
    await sleep(200);
  }
}

test('watch shows bars on a terminal and lines otherwise; approve, abort and status', async () => {
  const [ok, aborted] = await Promise.all([demoNode('cli-watch', { instances: 20_000 }), demoNode('cli-abort')]);
  dirs.push(ok.dir, aborted.dir);
  const address = ['--address', h.server.address];

  await withWorker(h, ok.config.node, () =>
    withWorker(h, aborted.config.node, async () => {
      for (const node of [ok, aborted]) {
        const started = await cli(['start', '--config', node.configFile, '--yes', ...address]);
        assert.equal(started.code, 0, started.stderr);
        assert.match(started.stdout, new RegExp(`Started the migration of ${node.config.node}: workflow kaapana-migrate-${node.config.node}, run `));
      }
      const again = await cli(['start', '--config', ok.configFile, '--yes', ...address]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^error: a migration of node cli-watch is already running \(workflow kaapana-migrate-cli-watch, phase /);
      assert.match(again.stderr, /data: nothing was changed by this start; the running migration goes on/);
      assert.match(again.stderr, /next: follow it with npm run cli -- watch --node cli-watch, or stop it with npm run cli -- abort --node cli-watch/);

      // `script` gives the watch a pseudo-terminal; the second watch writes into a pipe.
      const watchArgv = [process.execPath, BIN, 'watch', '--node', 'cli-watch', ...address];
      // Both watches poll: the test approves only once each has shown the wait, as a person would.
      const ttyWaits = saying(/Waiting for approval of the directory swap/);
      const pipedWaits = saying(/Waiting for approval of the directory swap/);
      const onTty = run(['script', '-q', '-e', '-c', watchArgv.map((a) => `'${a}'`).join(' '), '/dev/null'], { timeoutMs: WATCH_MS, onStdout: ttyWaits.onStdout });
      const piped = cli(['watch', '--node', 'cli-watch', ...address], { timeoutMs: WATCH_MS, onStdout: pipedWaits.onStdout });
      const abortWatch = cli(['watch', '--node', 'cli-abort', ...address], { timeoutMs: WATCH_MS });

      await waitForStep('cli-abort', 'startWork');
      const abort = await cli(['abort', '--node', 'cli-abort', ...address]);
      assert.equal(abort.code, 0, abort.stderr);

      await waitForPhase(h.client.workflow.getHandle(workflowIdFor('cli-watch')), 'awaiting-approval');
      await Promise.all([ttyWaits.seen, pipedWaits.seen]);
      const approve = await cli(['approve', '--node', 'cli-watch', '--by', 'tester', '--comment', 'from the test', ...address]);
      assert.equal(approve.code, 0, approve.stderr);
      assert.match(approve.stdout, /^Approved by tester at \S+: the workflow now swaps the directories/);

      const tty = await onTty;
      await saveArtifact('watch-tty.txt', tty.stdout);
      assert.equal(tty.code, 0, tty.stdout);
      assert.match(tty.stdout, /\x1b\[/, 'terminal control sequences');
      assert.match(tty.stdout, /migration\s+[█░]{28} \d+\/\d+ steps/, 'the overall bar');
      assert.match(tty.stdout, /(restoreWork|restoreNew|dumpOriginal|dumpUpdated)\s+[█░]{28} [\d.]+ MiB of [\d.]+ MiB|applyUpdates\s+[█░]{28} [\d,]+ of [\d,]+ rows rewritten/, 'a step bar with its amount');
      assert.match(tty.stdout, /✔ verifyNew \([\d.]+ s\): all tables equal; archive 5\.32/);
      assert.match(tty.stdout, /✔ The migration of cli-watch completed\.\r?\nReport: \S+report\.md/);

      const plain = await piped;
      await saveArtifact('watch-plain.txt', plain.stdout);
      assert.equal(plain.code, 0, plain.stderr);
      assert.doesNotMatch(plain.stdout, /\x1b/, 'no control sequences in a pipe');
      const lines = plain.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^(▶|✔) preflight/);
      assert.ok(lines.includes('⏸ The new database is verified. Waiting for approval of the directory swap: npm run cli -- approve --node cli-watch'));
      assert.ok(lines.some((l) => /^✔ awaitApproval \([\d.]+ s\): approved by tester$/.test(l)));
      assert.ok(lines.some((l) => /^✔ swap \([\d.]+ s\): /.test(l)));
      assert.equal(lines.at(-2), '✔ The migration of cli-watch completed.');
      const reportPath = /^Report: (\S+)$/.exec(lines.at(-1)!)?.[1];
      assert.match(await fs.readFile(reportPath!, 'utf8'), /Swap approved by tester at \S+ \(from the test\)/);

      const rolledBack = await abortWatch;
      assert.equal(rolledBack.code, 1);
      assert.match(rolledBack.stdout, /↩ Rolled back\.\nReport: \S+report\.md\n$/);
      assert.match(rolledBack.stderr, /^error: the migration of cli-abort was aborted: /);
      assert.match(rolledBack.stderr, /data: rolled back: the original database directory is in place/);
      const runTag = runTagFor((await h.client.workflow.getHandle(workflowIdFor('cli-abort')).describe()).runId);
      const layout = layoutFor(aborted.config, runTag);
      assert.equal((await fs.readFile(`${layout.original}/PG_VERSION`, 'utf8')).trim(), '9.6');
      await assert.rejects(fs.access(layout.work), 'the working copy is discarded');
    }),
  );

  const status = await cli(['status', ...address]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^NODE\s+STATUS\s+PHASE\s+ARCHIVE\s+STARTED \(UTC\)\s+CLOSED \(UTC\)\s+RUN$/m);
  assert.match(status.stdout, /^cli-watch\s+completed\s+completed\s+5\.32\s/m);
  assert.match(status.stdout, /^cli-abort\s+cancelled\s+rolled-back\s+\S+\s/m);
  const one = await cli(['status', '--node', 'cli-abort', ...address]);
  assert.doesNotMatch(one.stdout, /cli-watch/);
});
