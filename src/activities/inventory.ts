// Inventory of a database: the guide's figures, every table's rows and checksum, and the archive
// versions it already carries.
import { availableParallelism } from 'node:os';
import type { ServerRole } from '../config/layout.js';
import { withClient } from '../postgres/client.js';
import { completeGuide as complete, listTables, readTables, setStableText, takePartialInventory, type Inventory, type PartialInventory, type TableReadings, type Verification } from '../postgres/inventory.js';
import { writesReachOtherTables } from '../postgres/untouched.js';
import { appliedVersions } from '../plan/probes.js';
import { ARCHIVE_UPDATE_CHAIN } from '../plan/versions.js';
import type pg from 'pg';
import type { ActivityDeps, Env, Progress, RunContext } from './context.js';
import { ensureServer, envFor, fatal, withProgress } from './context.js';

/** The database runs on this node: its scans may use its cores (a few, not all of a big host's). */
const SCAN_WORKERS = Math.min(4, availableParallelism());

export interface InventoryResult<I = Inventory> {
  inventory: I;
  appliedVersions: string[];
}

/**
 * One scanning session on the role's server, watched (its statement is what moves during a
 * table's scan) and ended on the server when the attempt is cancelled or stalls.
 */
async function scanning<T>(
  deps: ActivityDeps,
  ctx: RunContext,
  role: ServerRole,
  step: 'inventory' | 'verifyUntouched',
  fn: (client: pg.Client, progress: Progress, env: Env) => Promise<T>,
): Promise<T> {
  const env = await envFor(deps, ctx);
  const endpoint = await ensureServer(env, role);
  const appName = `kaapana-migrate-${step}-${role}`;
  return withProgress({ step, unit: 'rows', detail: `${role} database` }, (progress) =>
    withClient(endpoint, env.credentials, (client) => fn(client, progress, env), { appName, signal: progress.signal }),
  { endpoint, credentials: env.credentials, appName });
}

/**
 * The role's inventory, but for the rows of the tables `leave` (verifyUntouched reads those beside
 * the updates); none left when a write could reach a table it does not name
 * (writesReachOtherTables), and then `kept` says why.
 */
export function createInspect(deps: ActivityDeps) {
  return async function inspect(ctx: RunContext, role: ServerRole, opts: { rowLevel?: Verification; leave?: string[] } = {}): Promise<InventoryResult<PartialInventory> & { kept?: string }> {
    const { inventory, applied, kept } = await scanning(deps, ctx, role, 'inventory', async (client, progress, env) => {
      const applied = await appliedVersions(async (sql) => Boolean((await client.query<{ applied: boolean }>(sql)).rows[0]?.applied));
      const kept = opts.leave?.length ? await writesReachOtherTables(client) : null;
      const inventory = await takePartialInventory(client, {
        level: env.config.verification,
        ...(opts.rowLevel ? { rowLevel: opts.rowLevel } : {}),
        parallelWorkers: SCAN_WORKERS,
        onTable: (table, done, total) => progress.update({ detail: `${role}: ${table}`, done, total, unit: 'rows' }),
      }, kept ? [] : (opts.leave ?? []));
      return { inventory, applied, kept };
    });
    const chainPrefix = ARCHIVE_UPDATE_CHAIN.slice(0, applied.length);
    if (applied.some((v, i) => v !== chainPrefix[i])) {
      throw fatal('UnexpectedSchema', `the ${role} database carries archive updates ${applied.join(', ')}, which is not a prefix of ${ARCHIVE_UPDATE_CHAIN.join(', ')}: its schema is not one the updates can start from`);
    }
    return { inventory, appliedVersions: applied, ...(kept ? { kept } : {}) };
  };
}

export function createInventoryActivities(deps: ActivityDeps) {
  const inspect = createInspect(deps);
  return {
    /** `rowLevel`: whole rows read at another level than the configured verification (see verifyUpdated). */
    async inventory(ctx: RunContext, role: ServerRole, rowLevel?: Verification): Promise<InventoryResult> {
      const { inventory, appliedVersions } = await inspect(ctx, role, rowLevel ? { rowLevel } : {});
      const { left: _none, ...whole } = inventory;
      return { inventory: { ...whole, guide: complete(whole.guide) }, appliedVersions };
    },
  };
}

/** Rows of `tables` (those of them that exist), compared with the inventory by verifyUntouched. */
export async function readUntouched(deps: ActivityDeps, ctx: RunContext, role: ServerRole, tables: string[]): Promise<TableReadings> {
  return scanning(deps, ctx, role, 'verifyUntouched', async (client, progress, env) => {
    await setStableText(client, SCAN_WORKERS);
    const present = new Set(await listTables(client));
    const level = env.config.verification;
    return readTables(client, tables.filter((t) => present.has(t)), { rows: level, columns: level }, (table, done, total) =>
      progress.update({ detail: `${role}: ${table}`, done, total, unit: 'rows' }),
    );
  });
}
