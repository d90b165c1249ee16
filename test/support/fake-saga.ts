// What the workflow is expected to do, written down independently of it: the order of steps and
// of compensation registrations per mode, where each step is faulted, and assertions on the
// fake node's final state.
import assert from 'node:assert/strict';
import { ldapCommandPlan } from '../../src/plan/ldap-commands.js';
import { ARCHIVE_UPDATE_CHAIN } from '../../src/plan/versions.js';
import type { StepName } from '../../src/shared.js';
import { APPLICATIONS, LDAP_DATA_VERSIONS, SCHEDULED_TOGETHER, type CallRecord, type FakeNode } from './fake-node.js';

export type Mode = 'guide' | 'fast';

export const MODES = ['guide', 'fast'] as const satisfies readonly Mode[];

/** The activity that loads the original's data on its way to PostgreSQL 15: the long step a fault lands in. */
export const LOAD_ACTIVITY: Record<Mode, string> = { guide: 'restore', fast: 'streamOriginalToNew' };

/** A step of the flow (with the call that faults it), or the registration of a compensation (its call). */
export type FlowItem = { step: StepName; fault: string; beside?: string } | { undo: string };

/**
 * The flow of a migration: steps with the call key a fault goes on, and where each compensation
 * is registered. 'gate': the approval gate, faulted by its timeout. The plan's scripts say what
 * they name (FakeNodeOptions.mentions), so the tables none names are checked beside the updates.
 */
export function flow(mode: Mode, cluster: boolean): FlowItem[] {
  // `beside`: the call of the step that runs at the same time (SCHEDULED_TOGETHER).
  const s = (step: StepName, fault: string): FlowItem => {
    const pair = SCHEDULED_TOGETHER[mode].find((p) => p.includes(fault));
    return { step, fault, ...(pair ? { beside: pair.find((k) => k !== fault)! } : {}) };
  };
  const undo = (key: string): FlowItem => ({ undo: key });
  const items: FlowItem[] = [s('preflight', 'preflight'), s('freshSchema', 'freshSchema')];
  // Fast mode's new server is prepared before the archive stops.
  if (mode === 'fast') items.push(undo('discardServer:new'), s('prepareBulkLoad', 'prepareBulkLoad'));
  if (cluster) items.push(undo('restoreApplications'), s('stopApplications', 'stopApplications'), s('backupLdap', 'backupLdap'));
  items.push(undo('discardServer:original'), s('startOriginal', 'startServer:original'), s('inventory', 'inventory:original'));
  if (mode === 'guide') {
    items.push(
      s('dumpOriginal', 'dump:original'),
      s('stopOriginal', 'stopServer:original'),
      undo('discardServer:work'),
      s('startWork', 'startServer:work'),
      s('restoreWork', 'restore:work'),
      s('verifyWork', 'verifyLeaving:work'),
      s('applyUpdates', 'applyUpdate:5.30'),
      s('verifyUntouched', 'verifyUntouched:work'),
      s('verifyUpdated', 'verifyUpdated:work'),
      s('dumpUpdated', 'dump:work'),
      s('stopWork', 'stopServer:work'),
      undo('discardServer:new'),
      s('startNew', 'startServer:new'),
      s('restoreNew', 'restore:new'),
      s('verifyNew', 'verify:new'),
    );
  } else {
    items.push(
      s('streamOriginalToNew', 'streamOriginalToNew'),
      s('verifyLoad', 'verifyLeaving:new'),
      s('stopOriginal', 'stopServer:original'),
      s('applyUpdates', 'applyUpdate:5.30'),
      s('verifyUntouched', 'verifyUntouched:new'),
      s('restoreDurability', 'restoreDurability'),
      s('verifyUpdated', 'verifyUpdated:new'),
    );
  }
  items.push(s('schemaDrift', 'schemaDrift'), s('stopNew', 'stopServer:new'), s('awaitApproval', 'gate'), undo('unswap'), s('swap', 'swap'), s('removeWork', 'removeWork'));
  if (cluster) items.push(undo('undeployTarget'), s('redeploy', 'redeploy'), s('ldapUpdate', 'ldapCommand'), s('restartPods', 'restartPods'));
  items.push(s('report', 'writeReport'));
  return items;
}

export const stepsOf = (items: FlowItem[]) => items.flatMap((i) => ('step' in i ? [i] : []));

/** The compensations a failure at `step` must run: those registered before it, last first. */
export function expectedUndo(items: FlowItem[], step: StepName): string[] {
  const at = items.findIndex((i) => 'step' in i && i.step === step);
  assert.ok(at >= 0, `${step} is in the flow`);
  return items
    .slice(0, at)
    .flatMap((i) => ('undo' in i ? [i.undo] : []))
    .reverse();
}

/** Steps after the swap whose failure waits for the operator. */
export const AFTER_SWAP_CLUSTER_STEPS: ReadonlySet<StepName> = new Set(['redeploy', 'ldapUpdate', 'restartPods']);

/** Calls after the faulted one, but the report. */
export function callsAfter(fake: FakeNode, failed: CallRecord): string[] {
  return fake.calls.filter((c) => c.seq > failed.seq && c.name !== 'writeReport').map((c) => c.key);
}

/** The LDAP commands the fake ldap image's plan holds, joined as the model records them. */
export function ldapPlanOf(fake: FakeNode): string[] {
  const cluster = fake.config.cluster;
  if (cluster.kind !== 'kubernetes') return [];
  return ldapCommandPlan({ deviceName: cluster.ldapDeviceName, available: LDAP_DATA_VERSIONS, to: `${fake.config.versions.to}.0` }).map((c) => c.argv.join(' '));
}

const describeModel = (fake: FakeNode) =>
  JSON.stringify({ dirs: Object.fromEntries(fake.model.dirs), servers: Object.fromEntries(fake.model.servers), cluster: fake.model.cluster, calls: fake.keys() });

/**
 * The saga's end state: the original in place and untouched, nothing of the run left but the
 * migrated directory, kept aside as a -failed copy whenever the run had created it (before or after the swap).
 */
export function assertOriginalBack(fake: FakeNode, opts: { failedCopy: boolean }): void {
  const { layout, dirs, servers, cluster } = fake.model;
  const state = describeModel(fake);
  assert.equal(dirs.get(layout.original), fake.original, `the original directory is in place: ${state}`);
  assert.deepEqual(fake.original, fake.initialOriginal, 'the original is unchanged');
  for (const dir of [layout.new, layout.retired, layout.work]) assert.ok(!dirs.has(dir), `${dir} is gone: ${state}`);
  const failed = [...dirs.entries()].filter(([d]) => d.startsWith(`${layout.original}-failed-`));
  assert.equal(failed.length, opts.failedCopy ? 1 : 0, `a -failed copy is kept exactly when the migrated directory had been created: ${state}`);
  if (opts.failedCopy) assert.equal(failed[0]![1].pg, '15', 'the kept copy is the migrated directory');
  assert.equal(dirs.size, opts.failedCopy ? 2 : 1, `no other directory: ${state}`);
  assert.equal(servers.size, 0, `no server of the run is left running: ${state}`);
  if (cluster) {
    assert.equal(cluster.release, '0.2', `0.2.x is deployed: ${state}`);
    assert.deepEqual(cluster.replicas, APPLICATIONS, `the applications run as before: ${state}`);
    assert.equal(cluster.marks, undefined, 'no deployment is left marked as stopped by the migration');
  }
}

/** A finished migration: the migrated 15 directory live, the original kept at -old, cluster at 0.3.x. */
export function assertMigrated(fake: FakeNode, opts: { alreadyApplied?: string[] } = {}): void {
  const { layout, dirs, servers, cluster } = fake.model;
  const state = describeModel(fake);
  const live = dirs.get(layout.original);
  assert.equal(live?.pg, '15', `PostgreSQL 15 is live: ${state}`);
  assert.equal(live?.label, 'new');
  assert.ok(live?.data, 'it holds the data');
  assert.deepEqual(live?.versions, [...ARCHIVE_UPDATE_CHAIN], 'every archive version is applied');
  assert.equal(dirs.get(layout.retired), fake.original, 'the original is kept at -old');
  assert.deepEqual(fake.original.versions, opts.alreadyApplied ?? [], 'the original is unchanged');
  for (const dir of [layout.new, layout.work]) assert.ok(!dirs.has(dir), `${dir} is gone: ${state}`);
  assert.equal(dirs.size, 2, `no other directory: ${state}`);
  assert.equal(servers.size, 0, `no server of the run is left running: ${state}`);
  if (cluster) {
    assert.equal(cluster.release, '0.3', `0.3.x is deployed: ${state}`);
    assert.deepEqual(cluster.replicas, APPLICATIONS);
    assert.deepEqual(cluster.ldapRan, ldapPlanOf(fake), 'every LDAP command ran once, in the plan order');
    assert.equal(cluster.podRestarts, 1);
  }
}
