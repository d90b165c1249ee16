// Schema drift: the migrated schema against a fresh one that the new image makes itself, on a
// scratch server that exists only while this step runs.
import path from 'node:path';
import { readJsonIfPresent, writeFileDurably } from '../files.js';
import { withClient } from '../postgres/client.js';
import { readSchemaFacts, type SchemaFacts } from '../postgres/schema-facts.js';
import type { ServerRole } from '../config/layout.js';
import { classifyDrift, describeDifference, DRIFT_RULES, type DriftReport } from '../verification/drift.js';
import type { ActivityDeps, Env, RunContext } from './context.js';
import { ensureServer, envFor, fatal } from './context.js';
import { createServerActivities } from './servers.js';

/** Unexpected differences named in the error message; the JSON file has them all. */
const NAMED_IN_MESSAGE = 10;

const within = (dir: string, parent: string) => {
  const rel = path.relative(parent, dir);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** The scratch directory is deleted: it must hold nothing the migration keeps, nor lie in it. */
function assertScratchApart(env: Env): void {
  const { layout } = env;
  for (const kept of [layout.original, layout.work, layout.new, layout.retired, layout.runDir]) {
    if (within(layout.scratch, kept) || within(kept, layout.scratch)) {
      throw fatal('UnsafeLayout', `the scratch directory ${layout.scratch} (paths.fastDataDir) overlaps ${kept}: set paths.fastDataDir to a directory beside the data directory, not inside it`);
    }
  }
}

export function createDriftActivities(deps: ActivityDeps) {
  const { discardServer } = createServerActivities(deps);

  async function factsOf(env: Env, role: ServerRole): Promise<SchemaFacts> {
    return withClient(await ensureServer(env, role), env.credentials, readSchemaFacts);
  }

  /** The first start of an empty directory runs the image's init scripts: a fresh schema. */
  async function freshFacts(ctx: RunContext, env: Env): Promise<SchemaFacts> {
    assertScratchApart(env);
    await discardServer(ctx, 'scratch');
    try {
      return await factsOf(env, 'scratch');
    } finally {
      await discardServer(ctx, 'scratch');
    }
  }

  return {
    /**
     * Reads the schema the new image's first-start scripts create on an empty scratch directory
     * into layout.freshSchema, for schemaDrift to compare with. Runs before the archive stops: the
     * scratch server is the only thing it starts, and the PACS is down for less (and an image
     * that cannot make its schema is found before anything has changed).
     */
    async freshSchema(ctx: RunContext): Promise<{ tables: number; indexes: number; file: string }> {
      const env = await envFor(deps, ctx);
      const facts = await freshFacts(ctx, env);
      await writeFileDurably(env.layout.freshSchema, JSON.stringify(facts));
      return { tables: facts.tables.length, indexes: facts.indexes.length, file: env.layout.freshSchema };
    },

    /**
     * Compares the migrated database (the 'new' server, running after verifyNew) with the fresh
     * schema freshSchema read. Writes every difference, classified, to layout.drift; fails
     * (VerificationFailed) when one is unexpected, with the report as the failure's first detail.
     * The scratch server and directory are removed before (a killed attempt's leftover) and after.
     */
    async schemaDrift(ctx: RunContext): Promise<DriftReport> {
      const env = await envFor(deps, ctx);
      const { layout } = env;
      const migrated = await factsOf(env, 'new');
      // Runs started before freshSchema was a step (and rehearsals) make the fresh schema now.
      const fresh = (await readJsonIfPresent<SchemaFacts>(layout.freshSchema)) ?? (await freshFacts(ctx, env));
      const report: DriftReport = { ...classifyDrift(migrated, fresh), file: layout.drift };
      const rules = DRIFT_RULES.map(({ id, why }) => ({ id, why }));
      await writeFileDurably(layout.drift, JSON.stringify({ ...report, rules }, null, 2));
      if (report.unexpected > 0) {
        const named = report.differences.filter((d) => d.class === 'unexpected').slice(0, NAMED_IN_MESSAGE).map(describeDifference);
        const more = report.unexpected > named.length ? `; and ${report.unexpected - named.length} more` : '';
        throw fatal(
          'VerificationFailed',
          `the migrated schema differs from a fresh ${ctx.config.versions.to} schema of the new image in ${report.unexpected} unexpected way(s): ` +
            `${named.join('; ')}${more}. Every difference, classified: ${layout.drift}`,
          undefined,
          [report],
        );
      }
      return report;
    },
  };
}
