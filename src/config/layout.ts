// Where everything of one migration lives, derived from the configuration alone so that the
// workflow, every activity and every retry agree without storing paths in more than one place.
import path from 'node:path';
import type { MigrationConfig } from './schema.js';

export type ServerRole = 'original' | 'work' | 'new' | 'scratch';

export interface Layout {
  /** The live directory; only renamed, and only after approval. */
  original: string;
  /** The 9.6 working copy (the guide's `${FAST_DATA_DIR}/postgres-dcm4che9.6`). */
  work: string;
  /** The migrated PostgreSQL 15 directory, beside the original so the swap is a rename. */
  new: string;
  /** Where the original is retired to at the swap (`-old`), kept until the admin removes it. */
  retired: string;
  /**
   * A fresh schema made by the new image's own first start, compared with the migrated one
   * (schemaDrift); it exists only while freshSchema (or schemaDrift, when that found no facts) runs.
   */
  scratch: string;
  /**
   * Where a rollback of this run keeps the migrated directory for diagnosis, before the swap
   * (discardServer) and after it (unswap); never deleted by the tool. Beside the original, so the
   * move is a rename, and named by the run's tag, so that no later run's copy collides with it.
   */
  failed: string;
  /** Dumps, reports and logs of this run. */
  runDir: string;
  dumps: { original: string; updated: string };
  report: { markdown: string; json: string };
  /** Every difference between the migrated and a fresh schema, classified. */
  drift: string;
  /** The fresh schema's facts, read by freshSchema before the archive stops; schemaDrift compares with them. */
  freshSchema: string;
  /** One JSON line per activity attempt's start and end, appended by the workers (attempt-journal.ts). */
  attempts: string;
  dataDirOf: Record<ServerRole, string>;
  serverName: Record<ServerRole, string>;
}

export function layoutFor(config: MigrationConfig, runTag: string): Layout {
  const original = config.paths.dataDir;
  const migrated = `${original}-new`;
  const work = path.join(config.paths.fastDataDir, `${path.basename(original)}9.6`);
  const scratch = path.join(config.paths.fastDataDir, `${path.basename(original)}-scratch`);
  const runDir = path.join(config.paths.backupDir, `${config.node}-${runTag}`);
  return {
    original,
    work,
    new: migrated,
    retired: `${original}-old`,
    scratch,
    failed: `${original}-failed-${runTag}`,
    runDir,
    dumps: { original: path.join(runDir, 'pacsdb-original.sql'), updated: path.join(runDir, 'pacsdb-updated.sql') },
    report: { markdown: path.join(runDir, 'report.md'), json: path.join(runDir, 'report.json') },
    drift: path.join(runDir, 'schema-drift.json'),
    freshSchema: path.join(runDir, 'fresh-schema.json'),
    attempts: path.join(runDir, 'attempts.jsonl'),
    dataDirOf: { original, work, new: migrated, scratch },
    serverName: {
      original: `kaapana-migrate-${config.node}-original`,
      work: `kaapana-migrate-${config.node}-work`,
      new: `kaapana-migrate-${config.node}-new`,
      scratch: `kaapana-migrate-${config.node}-scratch`,
    },
  };
}
