// Starting, stopping and discarding the three servers of a migration.
import { promises as fs } from 'node:fs';
import type { ServerRole } from '../config/layout.js';
import { exists, renameDurably } from '../files.js';
import { withClient } from '../postgres/client.js';
import type { ActivityDeps, RunContext } from './context.js';
import { ensureServer, envFor, fatal } from './context.js';

export function createServerActivities(deps: ActivityDeps) {
  return {
    /** Idempotent: finds its own running server; refuses a directory another server holds. */
    async startServer(ctx: RunContext, role: ServerRole): Promise<void> {
      const env = await envFor(deps, ctx);
      const name = env.layout.serverName[role];
      if ((await env.runtime.state(name)) !== 'running' && (await env.runtime.dataDirInUse(env.layout.dataDirOf[role]))) {
        throw fatal('DataDirInUse', `a PostgreSQL server not started by this migration is running on ${env.layout.dataDirOf[role]}: stop it (scale postgres-dcm4che to 0) and start again`);
      }
      try {
        const endpoint = await ensureServer(env, role);
        await withClient(endpoint, env.credentials, (c) => c.query('SELECT 1'));
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === '28P01' || /password authentication failed|rejected the credentials/.test(e.message)) {
          throw fatal('WrongCredentials', `the ${role} server rejected user ${env.credentials.user}: check database.user and the password in ${describeRef(ctx)}`);
        }
        if (e.code === '3D000' || /database .* does not exist/.test(e.message)) {
          throw fatal('DatabaseNotFound', `the ${role} server has no database ${env.credentials.name}: check database.name (Kaapana uses pacsdb)`);
        }
        throw err;
      }
    },

    async stopServer(ctx: RunContext, role: ServerRole): Promise<void> {
      const env = await envFor(deps, ctx);
      await env.runtime.stop(env.layout.serverName[role]);
    },

    /**
     * Compensation for a server: stop it and forget it. The original is only stopped. The 9.6
     * working copy is deleted (a scratch copy made from the dump); the migrated directory is never
     * deleted: it is moved aside as `layout.failed`, beside the original, for diagnosis.
     */
    async discardServer(ctx: RunContext, role: ServerRole): Promise<string> {
      const env = await envFor(deps, ctx);
      const { layout } = env;
      const name = layout.serverName[role];
      // Everything but the original is thrown away (or kept aside unused): it need not shut down cleanly.
      await env.runtime.stop(name, { discarding: role !== 'original' });
      await env.runtime.remove(name);
      if (role === 'original') return `stopped the original server`;
      if (role === 'new') {
        if (await exists(layout.new)) {
          // A rename onto an existing directory would fail anyway; this says which one is in the way.
          if (await exists(layout.failed)) throw new Error(`cannot keep ${layout.new} as ${layout.failed}: that directory exists already`);
          await renameDurably(layout.new, layout.failed);
          return `stopped the new server and moved ${layout.new} to ${layout.failed} (kept for diagnosis; remove it when no longer needed)`;
        }
        if (await exists(layout.failed)) return `stopped the new server; the migrated directory is already kept at ${layout.failed}`;
        return `stopped the new server; ${layout.new} was never created, nothing to keep`;
      }
      const dir = layout.dataDirOf[role];
      if (dir === layout.original) throw new Error(`refusing to delete ${dir}: it is the live database directory`);
      await fs.rm(dir, { recursive: true, force: true });
      return `stopped the ${role} server and removed ${dir}`;
    },
  };
}

function describeRef(ctx: RunContext): string {
  const ref = ctx.config.database.password;
  return 'env' in ref ? `the environment variable ${ref.env}` : `the file ${ref.file}`;
}
