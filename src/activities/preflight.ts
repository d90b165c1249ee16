// The workflow's first step: the read-only checks of plan/preflight.ts on the node itself.
import { ConfigError } from '../config/load.js';
import { preflight, PreflightError, type Plan } from '../plan/preflight.js';
import { PlanError } from '../plan/scripts.js';
import type { ActivityDeps, RunContext } from './context.js';
import { envFor, fatal } from './context.js';

export type { Plan } from '../plan/preflight.js';

export function createPreflightActivities(deps: ActivityDeps) {
  return {
    async preflight(ctx: RunContext): Promise<Plan> {
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
