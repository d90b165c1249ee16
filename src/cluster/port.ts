// The cluster port: what the migration needs from the Kubernetes side of a Kaapana node.
// Adapters: `none` (demo, or a site that handles the applications by hand) and Kubernetes.

/** Replica counts before scaling down, so the compensation can restore them exactly. */
export type ReplicaRecord = Record<string, number>;

export interface CommandOutcome {
  argv: string[];
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface Cluster {
  readonly kind: 'none' | 'kubernetes';
  /** Reachable, the deployments exist; returns facts for the plan (e.g. the database hostPath). */
  preflight(): Promise<{ notes: string[]; databaseHostPath?: string }>;
  /** Scale dcm4chee, then postgres-dcm4che, to 0 and wait until their pods are gone. */
  stopApplications(): Promise<ReplicaRecord>;
  /** Scale back (reverse order) to the recorded counts. */
  restoreApplications(record: ReplicaRecord): Promise<void>;
  /** Export the LDAP tree to a file beside the database dump; returns its path or undefined. */
  backupLdap(targetFile: string): Promise<string | undefined>;
  /** Run the site's redeploy commands and wait until the pods are Ready. */
  redeploy(which: 'forward' | 'rollback'): Promise<void>;
  /** Run one command in the ldap pod, without a shell. */
  execLdap(argv: string[]): Promise<CommandOutcome>;
  /** The data update versions the ldap pod ships (`update-data` arguments). */
  ldapDataVersions(): Promise<string[]>;
  /** Delete the dcm4chee and ldap pods and wait until their replacements are Ready. */
  restartPods(): Promise<void>;
}
