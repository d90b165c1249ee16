// Proof of equivalence: a migrated directory against the guide's, by schema-only dump and by
// every table's row count and content checksum; with its size and which tables were analyzed.
import { Writable } from 'node:stream';
import type { DemoNode } from '../../src/demo/node.js';
import { queryRows, withClient } from '../../src/postgres/client.js';
import { takeInventory, type Inventory } from '../../src/postgres/inventory.js';
import { compareInventories } from '../../src/verification/compare.js';
import { createLocalRuntime } from '../../src/runtime/local.js';
import { ExecFailed } from '../../src/runtime/port.js';

export interface Snapshot {
  schema: string;
  inventory: Inventory;
  /**
   * Tables that ANALYZE (or VACUUM's ANALYZE) ran on other than exactly once: never, or again
   * (autovacuum's own runs do not count: they come whenever they come).
   */
  notAnalyzedOnce: string[];
}

/** Schema and inventory of the PostgreSQL 15 database in `dataDir`, read by a throwaway read-only server. */
export async function snapshot(node: DemoNode, dataDir: string, name: string): Promise<Snapshot> {
  const r = node.config.runtime;
  if (r.kind !== 'local') throw new Error('the benchmark runs on the local runtime');
  const credentials = { name: node.config.database.name, user: node.config.database.user, password: node.password };
  const runtime = createLocalRuntime({ images: { old: r.old, new: r.new }, clientBinDir: r.clientBinDir, stateDir: r.stateDir, serverUser: r.serverUser, credentials });
  const endpoint = await runtime.start({ name, image: 'new', dataDir, readOnly: true, database: credentials }, 60_000);
  try {
    let schema = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        schema += chunk.toString('utf8');
        done();
      },
    });
    const result = await runtime.exec(name, ['pg_dump', '--schema-only', '--no-password'], { stdout: sink });
    if (result.exitCode !== 0) throw new ExecFailed('pg_dump --schema-only', result.exitCode, result.stderr);
    // pg_dump 15.14+ frames its output with a random \restrict key: not part of the schema.
    schema = schema.split('\n').filter((l) => !/^\\(un)?restrict /.test(l)).join('\n');
    return await withClient(endpoint, credentials, async (c) => ({
      schema,
      inventory: await takeInventory(c),
      notAnalyzedOnce: (await queryRows<{ name: string }>(c, `SELECT relname || ' (' || analyze_count || ' times)' AS name FROM pg_stat_user_tables WHERE analyze_count <> 1 ORDER BY 1`)).map((r) => r.name),
    }));
  } finally {
    await runtime.stop(name);
    await runtime.remove(name);
  }
}

/** "equal", or a short account of what differs. */
export function equivalence(expected: Snapshot, actual: Snapshot): string {
  const problems = compareInventories(expected.inventory, actual.inventory);
  if (expected.schema !== actual.schema) {
    const want = new Set(expected.schema.split('\n'));
    const have = new Set(actual.schema.split('\n'));
    const missing = [...want].filter((l) => !have.has(l));
    const extra = [...have].filter((l) => !want.has(l));
    problems.push(`schema differs: ${missing.length} lines missing (${missing.slice(0, 3).join(' / ')}), ${extra.length} extra (${extra.slice(0, 3).join(' / ')})`);
  }
  return problems.length === 0 ? 'equal' : problems.join('; ');
}
