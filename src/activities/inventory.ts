// Inventory of a database: the guide's figures, every table's rows and checksum, the schema's
// hash and the archive versions it already carries.
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { ServerRole } from '../config/layout.js';
import { withClient } from '../postgres/client.js';
import { takeInventory, type Inventory } from '../postgres/inventory.js';
import { appliedVersions } from '../plan/probes.js';
import { ARCHIVE_UPDATE_CHAIN } from '../plan/versions.js';
import { ExecFailed } from '../runtime/port.js';
import type { ActivityDeps, Env, RunContext } from './context.js';
import { ensureServer, envFor, fatal, withProgress } from './context.js';

export interface InventoryResult {
  inventory: Inventory;
  appliedVersions: string[];
  schemaSha256: string;
}

export function createInventoryActivities(deps: ActivityDeps) {
  return {
    async inventory(ctx: RunContext, role: ServerRole): Promise<InventoryResult> {
      const env = await envFor(deps, ctx);
      const endpoint = await ensureServer(env, role);
      return withProgress({ step: 'inventory', unit: 'rows', detail: `${role} database` }, async (progress) => {
        const { inventory, applied } = await withClient(endpoint, env.credentials, async (client) => {
          const applied = await appliedVersions(async (sql) => Boolean((await client.query<{ applied: boolean }>(sql)).rows[0]?.applied));
          const inventory = await takeInventory(client, (table, done, total) => progress.update({ detail: `${role}: ${table}`, done, total, unit: 'rows' }));
          return { inventory, applied };
        });
        const chainPrefix = ARCHIVE_UPDATE_CHAIN.slice(0, applied.length);
        if (applied.some((v, i) => v !== chainPrefix[i])) {
          throw fatal('UnexpectedSchema', `the ${role} database carries archive updates ${applied.join(', ')}, which is not a prefix of ${ARCHIVE_UPDATE_CHAIN.join(', ')}: its schema is not one the updates can start from`);
        }
        return { inventory, appliedVersions: applied, schemaSha256: await schemaHash(env, role) };
      });
    },
  };
}

/** sha256 of a schema-only dump, streamed. */
async function schemaHash(env: Env, role: ServerRole): Promise<string> {
  const hash = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done();
    },
  });
  const result = await env.runtime.exec(env.layout.serverName[role], ['pg_dump', '--schema-only', '--no-password'], { stdout: sink, appName: 'kaapana-migrate-schema' });
  if (result.exitCode !== 0) throw new ExecFailed('pg_dump --schema-only', result.exitCode, result.stderr);
  return hash.digest('hex');
}
