// The cluster side: stopping the applications, redeploying, the LDAP update, restarting pods.
import path from 'node:path';
import type { CommandOutcome, ReplicaRecord } from '../cluster/port.js';
import { judgeLdapOutcome, ldapCommandPlan } from '../plan/ldap-commands.js';
import { layoutFor } from '../config/layout.js';
import type { ActivityDeps, RunContext } from './context.js';
import { withProgress } from './context.js';

export interface LdapCommand {
  argv: string[];
  why?: string;
}

export interface LdapCommandResult extends CommandOutcome {
  alreadyApplied: boolean;
  ms: number;
}

export function createClusterActivities(deps: ActivityDeps) {
  const cluster = (ctx: RunContext) => deps.clusterFor(ctx.config);
  return {
    async stopApplications(ctx: RunContext): Promise<ReplicaRecord> {
      return withProgress({ step: 'stopApplications', detail: 'scaling dcm4chee and postgres-dcm4che to 0' }, () => cluster(ctx).stopApplications());
    },

    async restoreApplications(ctx: RunContext, record: ReplicaRecord): Promise<string> {
      await cluster(ctx).restoreApplications(record);
      return `scaled back: ${Object.entries(record).map(([d, n]) => `${d}=${n}`).join(', ') || 'nothing to scale'}`;
    },

    async backupLdap(ctx: RunContext): Promise<string | undefined> {
      const file = path.join(layoutFor(ctx.config, ctx.runTag).runDir, 'ldap-backup.ldif');
      return cluster(ctx).backupLdap(file);
    },

    async redeploy(ctx: RunContext, which: 'forward' | 'rollback'): Promise<void> {
      await withProgress({ step: 'redeploy', detail: which }, () => cluster(ctx).redeploy(which));
    },

    async ldapPlan(ctx: RunContext): Promise<LdapCommand[]> {
      if (ctx.config.cluster.kind !== 'kubernetes') return [];
      const available = await cluster(ctx).ldapDataVersions();
      return ldapCommandPlan({ deviceName: ctx.config.cluster.ldapDeviceName, available, to: `${ctx.config.versions.to}.0` });
    },

    /** Judged by exit status and stderr: update-data exits 0 even when ldapmodify failed. */
    async ldapCommand(ctx: RunContext, argv: string[]): Promise<LdapCommandResult> {
      const started = Date.now();
      const outcome = await withProgress({ step: 'ldapUpdate', detail: argv.join(' '), unit: 'commands' }, () => cluster(ctx).execLdap(argv));
      const judged = judgeLdapOutcome(outcome);
      if (!judged.ok) throw new Error(`${argv.join(' ')} failed: ${judged.reason ?? `exit ${outcome.exitCode}`}`);
      return { ...outcome, alreadyApplied: judged.alreadyApplied, ms: Date.now() - started };
    },

    async restartPods(ctx: RunContext): Promise<void> {
      await withProgress({ step: 'restartPods', detail: 'dcm4chee and ldap' }, () => cluster(ctx).restartPods());
    },
  };
}
