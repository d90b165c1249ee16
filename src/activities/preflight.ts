// The workflow's first step: the read-only checks of plan/preflight.ts on the node itself.
import { ConfigError } from '../config/load.js';
import { preflight, PreflightError, type Plan } from '../plan/preflight.js';
import { PlanError } from '../plan/scripts.js';
import { rehearsalIdFor } from '../shared.js';
import type { ActivityDeps, RunContext } from './context.js';
import { envFor, fatal } from './context.js';

export type { Plan } from '../plan/preflight.js';

export function createPreflightActivities(deps: ActivityDeps) {
  return {
    async preflight(ctx: RunContext): Promise<Plan> {
      // A rehearsal reads the live database through its running server: the migration stops that server.
      const rehearsal = rehearsalIdFor(ctx.config.node);
      if ((await deps.workflowStatus(rehearsal)) === 'RUNNING') {
        throw fatal('PreflightError', `a rehearsal of node ${ctx.config.node} runs (workflow ${rehearsal}): wait until it has ended (kaapana-migrate watch --rehearsal --node ${ctx.config.node}) or stop it with kaapana-migrate abort --rehearsal --node ${ctx.config.node} (it removes its scratch copies)`);
      }
      try {
        const env = await envFor(deps, ctx);
        return await preflight({ ...env, cluster: await deps.clusterFor(ctx.config) });
      } catch (err) {
        if (err instanceof PlanError || err instanceof ConfigError || err instanceof PreflightError) throw fatal('PreflightError', err.message);
        throw err;
      }
    },
  };
}
