// The cluster port: what the migration needs from the Kubernetes side of a Kaapana node.
// Adapters: `none` (demo, or a site that handles the applications by hand) and Kubernetes.
import type { Writable } from 'node:stream';

/** Replica counts before scaling down, as recorded on the deployments themselves. */
export type ReplicaRecord = Record<string, number>;

export interface CommandOutcome {
  argv: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Where a long cluster step is: shown in heartbeats and the Web UI; `stage` survives a retry. */
export interface ClusterProgress {
  /** What is going on or still missing, for people. */
  say(detail: string): void;
  /** Stages finished by earlier attempts of this step (e.g. "deploy" once the script returned). */
  done: ReadonlySet<string>;
  /** Record a finished stage so that a retried step does not repeat it. */
  mark(stage: string): void;
}

/** What the ldap image ships: `update-data` versions and every LDIF file (paths below the data dir). */
export interface LdapData {
  versions: string[];
  files: string[];
}

export interface Cluster {
  readonly kind: 'none' | 'kubernetes';
  /** Reachable, the deployments exist; returns facts for the plan (the database directory behind its volume). */
  preflight(): Promise<{ notes: string[]; databaseHostPath?: string }>;
  /** Mark the 0.2.x deployments, scale dcm4chee, then postgres-dcm4che, to 0 and wait until their pods are gone. */
  stopApplications(progress: ClusterProgress): Promise<ReplicaRecord>;
  /**
   * Undo of stopApplications, whatever happened since: the marked deployments scaled back to their
   * recorded counts, or, when the 0.2.x platform was undeployed, deployed again and Ready.
   */
  restoreApplications(progress: ClusterProgress): Promise<string>;
  /** Export the LDAP tree to a file beside the database dump; returns its path or undefined. */
  backupLdap(targetFile: string): Promise<string | undefined>;
  /** Undeploy 0.2.x, deploy 0.3.x, wait until the platform runs on the database directory. */
  redeploy(progress: ClusterProgress): Promise<string>;
  /** Undo of redeploy, whatever it reached: 0.3.x undeployed, its pods gone. */
  undeployTarget(progress: ClusterProgress): Promise<string>;
  /** Run one command (argv, never a shell string) in the ldap pod, its output proven complete. */
  execLdap(argv: string[]): Promise<CommandOutcome>;
  ldapData(): Promise<LdapData>;
  /**
   * Run a PostgreSQL client tool (argv[0] is `pg_dump` or `psql`, possibly behind `nice -n N`) in the
   * running postgres-dcm4che pod against its database, stdout streamed to `stdout`; proven complete
   * like execLdap's commands. Read-only use only (the rehearsal): every transaction starts read-only.
   * No time bound: aborting `signal` ends it. When it fails, `stdout` is destroyed.
   */
  execDatabase(argv: string[], stdout: Writable, signal?: AbortSignal): Promise<{ exitCode: number; stderr: string }>;
  /** Delete the dcm4chee and ldap pods and wait until their replacements are Ready. */
  restartPods(progress: ClusterProgress): Promise<void>;
}
