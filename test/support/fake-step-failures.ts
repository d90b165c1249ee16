// The saga's table: a permanent failure at every step of a mode's flow, each in its own test
// (shared by saga.test.ts and saga-fast.test.ts, one file per mode to keep each file short).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { SA_PHASE } from '../../src/shared.js';
import { permanent } from './fake-node.js';
import { AFTER_SWAP_CLUSTER_STEPS, assertOriginalBack, callsAfter, expectedUndo, flow, stepsOf, type Mode } from './fake-saga.js';
import { drive, fakeNode, lastReport, progress, withFakeRun, type FakeEnv } from './fake-workflow.js';

export const COMBINATIONS = [
  { mode: 'guide', cluster: false },
  { mode: 'guide', cluster: true },
  { mode: 'fast', cluster: false },
  { mode: 'fast', cluster: true },
] as const satisfies readonly { mode: Mode; cluster: boolean }[];

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ROLLED_BACK = 'rolled back: the original database directory is in place and unchanged';
const APPROVAL_TIMEOUT_MINUTES = 0.003;

export function failureOf(error: unknown): ApplicationFailure {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  assert.ok(cause instanceof ApplicationFailure, `the run fails with an ApplicationFailure, not ${String(error)}`);
  return cause;
}

/**
 * One test per step of each combination's flow: the step fails for good (preflight, freshSchema: refused; the
 * gate: its timeout; after the swap: the operator answers rollback); the report step has its own test.
 */
export function stepFailureTests(env: () => FakeEnv, combinations: readonly { mode: Mode; cluster: boolean }[]): void {
  for (const { mode, cluster } of combinations) {
    const items = flow(mode, cluster);
    // Independent runs (a node each): four at a time, the dev server and the worker keep up.
    describe(`${mode} mode, ${cluster ? 'with' : 'without'} a cluster: a step failing for good`, { concurrency: 4 }, () => {
      for (const { step, fault } of stepsOf(items)) {
        // The report failing does not roll back: undo.test.ts.
        if (step === 'report') continue;
        const timeout = step === 'awaitApproval';
        test(`${step} (${timeout ? 'approval timeout' : fault})`, async () => {
          const fake = fakeNode(`saga-${mode}-${cluster ? 'k-' : ''}${step}`, {
            mode,
            cluster,
            mentions: true,
            faults: timeout ? {} : { [fault]: permanent() },
            overrides: timeout ? { approval: { timeoutMinutes: APPROVAL_TIMEOUT_MINUTES } } : {},
          });
          const { error, resolutions, p, phase } = await withFakeRun(env(), fake, async (run) => {
            const out = await drive(run, { approve: !timeout, resolve: 'rollback' });
            return { ...out, p: await progress(run.handle), phase: (await run.handle.describe()).typedSearchAttributes.get(SA_PHASE) };
          });
          const failure = failureOf(error);
          const report = lastReport(fake);
          assert.equal(fake.keys().at(-1), 'writeReport', 'the report is written last');

          // Both end before the archive stops: the migration is refused, nothing to undo.
          if (step === 'preflight' || step === 'freshSchema') {
            const ran = stepsOf(items).slice(0, stepsOf(items).findIndex((i) => i.step === step) + 1).map((i) => i.fault);
            assert.equal(failure.type, 'MigrationRefused');
            assert.equal(failure.message, `step ${step} failed: injected fault at ${fault}; nothing was changed`);
            assert.deepEqual(fake.keys(), [...ran, 'writeReport'], 'nothing but the report after the refusal');
            if (step === 'freshSchema') assert.ok(!fake.model.dirs.has(fake.model.layout.scratch), 'no scratch directory is left');
            assert.equal(report.outcome, 'refused');
            assert.equal(report.rollback, undefined, 'nothing to roll back');
            assert.equal(p.phase, 'refused');
            assert.equal(phase, 'refused');
            assertOriginalBack(fake, { failedCopy: false });
            if (fake.model.cluster) assert.equal(fake.model.cluster.marks, undefined, 'the applications were never touched');
            return;
          }

          const why = timeout ? `no approval within ${APPROVAL_TIMEOUT_MINUTES} minutes` : `injected fault at ${fault}`;
          assert.equal(failure.type, 'MigrationFailed');
          assert.match(failure.message, new RegExp(`^step ${step} failed: ${escape(why)}; ${escape(ROLLED_BACK)}$`));
          assert.equal(resolutions, AFTER_SWAP_CLUSTER_STEPS.has(step) ? 1 : 0, 'after the swap a cluster step waits for the operator; before it the rollback is automatic');

          // The compensations: those registered before the failing step, last first, each once.
          const failed = timeout ? fake.calls.find((c) => c.key === 'stopServer:new')! : fake.calls.find((c) => c.key === fault && c.result === 'failed');
          assert.ok(failed, `${fault} was called and failed`);
          const undo = expectedUndo(items, step);
          // The step running beside it was started with it, not after it (and may be cancelled by it);
          // beside verifyUntouched the update scripts go on until the cancellation reaches them. By
          // activity: no compensation calls one of the steps that run beside another.
          const beside = stepsOf(items).find((i) => i.step === step)?.beside?.split(':')[0];
          const notBeside = (key: string) => key.split(':')[0] !== beside;
          assert.deepEqual(callsAfter(fake, failed).filter(notBeside), undo, 'the compensations, in reverse order of registration');
          assert.ok(fake.calls.filter((c) => c.seq > failed.seq && notBeside(c.key)).every((c) => c.result === 'ok'), 'every compensation worked');

          assert.equal(report.outcome, 'rolled-back');
          assert.deepEqual(report.rollback?.notUndone, []);
          assert.equal(report.rollback?.undone.length, undo.length);
          assert.match(report.rollback?.reason ?? '', new RegExp(`^step ${step} failed: ${escape(why)}`));
          if (!timeout) assert.equal([...report.steps].reverse().find((s) => s.step === step)?.status, 'failed', 'the report marks the step failed');
          assert.equal(p.phase, 'rolled-back');
          assert.match(p.failure ?? '', new RegExp(`^step ${step} failed`));
          assert.equal(phase, 'rolled-back');
          // startNew, in fast mode prepareBulkLoad (their faults fail before any effect), creates the
          // migrated directory; from then on a rollback keeps it.
          const steps = stepsOf(items);
          const created = steps.findIndex((s) => s.step === step) > steps.findIndex((s) => s.step === 'startNew' || s.step === 'prepareBulkLoad');
          assertOriginalBack(fake, { failedCopy: created });
        });
      }
    });
  }
}
