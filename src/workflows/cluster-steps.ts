// After the swap, on a Kubernetes node: Kaapana 0.3.x deployed, the LDAP updates, the pods restarted.
// A failure here waits for the operator rather than rolling back alone.
import * as wf from '@temporalio/workflow';
import type { StepName } from '../shared.js';
import { run } from './activities.js';
import type { Gate } from './gate.js';
import type { Migration } from './migration.js';
import { describe, isMigrationFailure } from './failures.js';

export async function clusterSteps(m: Migration, gate: Gate): Promise<void> {
  const { rec, ctx } = m;
  const { cluster, undo } = m.acts;

  /** The step, retried for as long as the operator answers `retry`. */
  async function resolvable<T>(name: StepName, detail: string, fn: () => Promise<T>, summarise?: (r: T) => string): Promise<T> {
    for (;;) {
      try {
        return await rec.step(name, detail, fn, summarise);
      } catch (err) {
        // A cancellation is the operator's answer already; a bug is nobody's to resolve.
        if (!isMigrationFailure(err) || wf.isCancellation(err)) throw err;
        rec.progress.failure = `${name}: ${describe(err)}`;
        if ((await gate.awaitResolution()) === 'rollback') throw err;
      }
    }
  }

  // Registered before the redeploy starts: whatever it reached (0.2.x undeployed, 0.3.x half
  // deployed or never Ready), undoing takes 0.3.x down, so that no database server runs on the
  // live directory while the swap is undone.
  m.saga.onRollback('take the 0.3.x platform down', () => run(undo.undeployTarget, 'undeploy the 0.3.x platform', ctx));
  await resolvable('redeploy', 'Kaapana 0.3.x: undeploy 0.2.x, deploy 0.3.x, wait for the platform', () => run(cluster.redeploy, 'redeploy Kaapana 0.3.x', ctx), (r) => r);
  const ldap = await resolvable('ldapUpdate', 'list the data updates the ldap pod ships', () => run(cluster.ldapPlan, 'list the LDAP update commands', ctx), (p) => `${p.commands.length} commands`);
  rec.report.ldapNeverApplied = ldap.neverApplied;
  for (const command of ldap.commands) {
    const line = command.argv.join(' ');
    const result = await resolvable('ldapUpdate', line, () => run(cluster.ldapCommand, line, ctx, command.argv), (r) => `${line}: exit ${r.exitCode}${r.alreadyApplied ? ' (already applied)' : ''}`);
    rec.report.ldap.push({ argv: result.argv, exitCode: result.exitCode, alreadyApplied: result.alreadyApplied, ms: result.ms, stdout: result.stdout, stderr: result.stderr });
  }
  await resolvable('restartPods', 'delete dcm4chee and ldap pods, wait for Ready', () => run(cluster.restartPods, 'restart dcm4chee and ldap', ctx));
}
