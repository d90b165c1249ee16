// The migration report: assembled by the workflow, written by an activity, read by people.
import type { Attempt } from '../attempt-journal.js';
import type { Fingerprint } from '../postgres/inventory.js';
import type { CreatedDatabase, SourceDatabase } from '../postgres/transfer.js';
import type { Approval, StepName } from '../shared.js';
import type { DriftReport } from '../verification/drift.js';

export interface StepRecord {
  step: StepName;
  detail: string;
  startedAt: string;
  ms: number;
  status: 'ok' | 'skipped' | 'failed';
}

export interface MigrationReport {
  node: string;
  workflowId: string;
  runId: string;
  runTag: string;
  startedAt: string;
  endedAt?: string;
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
  /** committedBy: the earlier attempt that committed a script its retry found applied. */
  scripts: { version: string; sha256: string; ms: number; outcome: string; committedBy?: Attempt }[];
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
}
