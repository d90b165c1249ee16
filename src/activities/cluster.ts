// The cluster side: stopping the applications, redeploying, the LDAP update, restarting pods, and
// the undo of each.
import path from 'node:path';
import type { CommandOutcome, ReplicaRecord } from '../cluster/port.js';
import { judgeLdapOutcome, ldapCommandPlan, neverAppliedLdifs, type LdapCommand } from '../plan/ldap-commands.js';
import { layoutFor } from '../config/layout.js';
import type { ActivityDeps, RunContext } from './context.js';
import { clusterProgress, withProgress } from './context.js';

export type { LdapCommand } from '../plan/ldap-commands.js';

export interface LdapPlan {
  commands: LdapCommand[];
  /** LDIF files the image ships in the range that its update-data never applies. */
  neverApplied: string[];
}

export interface LdapCommandResult extends CommandOutcome {
  alreadyApplied: boolean;
  ms: number;
}

export function createClusterActivities(deps: ActivityDeps) {
  const cluster = (ctx: RunContext) => deps.clusterFor(ctx.config);
  return {
    async stopApplications(ctx: RunContext): Promise<ReplicaRecord> {
      return (await cluster(ctx)).stopApplications(clusterProgress('stopApplications'));
    },

    async restoreApplications(ctx: RunContext): Promise<string> {
      return (await cluster(ctx)).restoreApplications(clusterProgress('stopApplications'));
    },

    async backupLdap(ctx: RunContext): Promise<string | undefined> {
      const file = path.join(layoutFor(ctx.config, ctx.runTag).runDir, 'ldap-backup.ldif');
      return (await cluster(ctx)).backupLdap(file);
    },

    async redeploy(ctx: RunContext): Promise<string> {
      return (await cluster(ctx)).redeploy(clusterProgress('redeploy'));
    },

    async undeployTarget(ctx: RunContext): Promise<string> {
      return (await cluster(ctx)).undeployTarget(clusterProgress('redeploy'));
    },

    async ldapPlan(ctx: RunContext): Promise<LdapPlan> {
      if (ctx.config.cluster.kind !== 'kubernetes') return { commands: [], neverApplied: [] };
      const { versions, files } = await (await cluster(ctx)).ldapData();
      const to = `${ctx.config.versions.to}.0`;
      return { commands: ldapCommandPlan({ deviceName: ctx.config.cluster.ldapDeviceName, available: versions, to }), neverApplied: neverAppliedLdifs(files, { to }) };
    },

    /** Judged by exit status and stderr: update-data exits 0 even when ldapmodify failed. */
    async ldapCommand(ctx: RunContext, argv: string[]): Promise<LdapCommandResult> {
      const started = Date.now();
      const outcome = await withProgress({ step: 'ldapUpdate', detail: argv.join(' '), unit: 'commands' }, async () => (await cluster(ctx)).execLdap(argv));
      const judged = judgeLdapOutcome(outcome);
      if (!judged.ok) throw new Error(`${argv.join(' ')} failed: ${judged.reason ?? `exit ${outcome.exitCode}`}`);
      return { ...outcome, alreadyApplied: judged.alreadyApplied, ms: Date.now() - started };
    },

    async restartPods(ctx: RunContext): Promise<void> {
      await (await cluster(ctx)).restartPods(clusterProgress('restartPods'));
    },
  };
}
