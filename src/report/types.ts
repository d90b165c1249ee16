// The migration report: assembled by the workflow, written by an activity, read by people.
import type { Attempt } from '../attempt-journal.js';
import type { Fingerprint } from '../postgres/inventory.js';
import type { StatementTime } from '../postgres/psql-timing.js';
import type { CreatedDatabase, SourceDatabase } from '../postgres/transfer.js';
import type { MigrationConfig } from '../config/schema.js';
import type { Approval, StepName } from '../shared.js';
import type { DriftReport } from '../verification/drift.js';

export interface StepRecord {
  step: StepName;
  detail: string;
  startedAt: string;
  ms: number;
  status: 'ok' | 'skipped' | 'failed';
}

/** The benchmark's estimate for the node against the time the run took, counted alike (report/downtime.ts). */
export interface DowntimeComparison {
  mode: MigrationConfig['mode'];
  verification: MigrationConfig['verification'];
  /** The original database directory, measured as `plan` measures it. */
  dataDirBytes: number;
  estimatedMs: number;
  /** From the start to the end of the run without the steps left out. */
  tookMs: number;
  /** What the steps left out took: the wait for approval and the cluster's steps. */
  leftOutMs: number;
  /** The benchmark run the figures come from. */
  figures: string;
}

/** Which run a report is of, and when it ran (a migration's and a rehearsal's alike). */
export interface RunIdentity {
  node: string;
  workflowId: string;
  runId: string;
  runTag: string;
  startedAt: string;
  endedAt?: string;
}

export interface MigrationReport extends RunIdentity {
  outcome: 'completed' | 'refused' | 'rolled-back' | 'failed';
  versions: { from: string; to: string; alreadyPresent: string[]; applied: string[] };
  steps: StepRecord[];
  tablesBefore?: Record<string, Fingerprint>;
  tablesAfter?: Record<string, Fingerprint>;
  guideBefore?: Record<string, Fingerprint>;
  guideAfter?: Record<string, Fingerprint>;
  /** The migrated schema against a fresh one of the new image: every difference, classified. */
  schemaDrift?: DriftReport;
  /** `source`: the dumped database's encoding, locale and settings (absent in runs recorded before they were read). */
  dumps: { name: string; file: string; bytes: number; sha256: string; ms: number; source?: SourceDatabase }[];
  /** How each restore created its database: the original's encoding and locale, or what it used instead, the settings set again, the tables loaded with room for the updates. */
  databases?: ({ role: 'work' | 'new'; roomGiven?: string[] } & CreatedDatabase)[];
  /**
   * committedBy: the earlier attempt that committed a script its retry found applied. statements:
   * psql's time for each statement (absent in runs recorded before statements were timed).
   */
  scripts: { version: string; sha256: string; ms: number; outcome: string; committedBy?: Attempt; statements?: StatementTime[] }[];
  ldap: { argv: string[]; exitCode: number; alreadyApplied: boolean; ms: number; stdout: string; stderr: string }[];
  /** LDIF files of the ldap image that its update-data never applies (apply by hand where used). */
  ldapNeverApplied?: string[];
  ldapBackup?: string;
  approval?: Approval;
  /** Fast mode: bulk loads redone because the machine restarted during one (the failure that showed it). */
  reloads?: string[];
  rollback?: { reason: string; undone: string[]; notUndone: string[] };
  failure?: string;
  /** Every attempt of every activity of the run, from the attempts journal (added by writeReport). */
  attempts?: Attempt[];
  /** A completed run: the benchmark's estimate for this node against the time taken (added by writeReport). */
  downtime?: DowntimeComparison;
}
