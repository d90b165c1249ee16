// Inventory of a database: the guide's figures, every table's rows and checksum, and the archive
// versions it already carries.
import { availableParallelism } from 'node:os';
import type { ServerRole } from '../config/layout.js';
import { withClient } from '../postgres/client.js';
import { takeInventory, type Inventory, type Verification } from '../postgres/inventory.js';
import { appliedVersions } from '../plan/probes.js';
import { ARCHIVE_UPDATE_CHAIN } from '../plan/versions.js';
import type { ActivityDeps, RunContext } from './context.js';
import { ensureServer, envFor, fatal, withProgress } from './context.js';

/** The database runs on this node: its scans may use its cores (a few, not all of a big host's). */
const SCAN_WORKERS = Math.min(4, availableParallelism());

export interface InventoryResult {
  inventory: Inventory;
  appliedVersions: string[];
}

export function createInventoryActivities(deps: ActivityDeps) {
  return {
    /** `rowLevel`: whole rows read at another level than the configured verification (see verifyUpdated). */
    async inventory(ctx: RunContext, role: ServerRole, rowLevel?: Verification): Promise<InventoryResult> {
      const env = await envFor(deps, ctx);
      const endpoint = await ensureServer(env, role);
      // One table's scan is one statement: its session's work is what moves meanwhile.
      const sessions = { endpoint, credentials: env.credentials, appName: `kaapana-migrate-inventory-${role}` };
      return withProgress({ step: 'inventory', unit: 'rows', detail: `${role} database` }, async (progress) => {
        const { inventory, applied } = await withClient(endpoint, env.credentials, async (client) => {
          const applied = await appliedVersions(async (sql) => Boolean((await client.query<{ applied: boolean }>(sql)).rows[0]?.applied));
          const inventory = await takeInventory(client, {
            level: env.config.verification,
            ...(rowLevel ? { rowLevel } : {}),
            parallelWorkers: SCAN_WORKERS,
            onTable: (table, done, total) => progress.update({ detail: `${role}: ${table}`, done, total, unit: 'rows' }),
          });
          return { inventory, applied };
        }, env.credentials.name, sessions.appName);
        const chainPrefix = ARCHIVE_UPDATE_CHAIN.slice(0, applied.length);
        if (applied.some((v, i) => v !== chainPrefix[i])) {
          throw fatal('UnexpectedSchema', `the ${role} database carries archive updates ${applied.join(', ')}, which is not a prefix of ${ARCHIVE_UPDATE_CHAIN.join(', ')}: its schema is not one the updates can start from`);
        }
        return { inventory, appliedVersions: applied };
      }, sessions);
    },
  };
}
