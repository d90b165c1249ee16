// The configuration of one Kaapana node. It travels in workflow input, so it holds only a
// reference to the database password, never the password itself.
import { z } from 'zod';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const VERSION = /^\d+\.\d+(\.\d+)?$/;

const absolutePath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/'), { message: 'must be an absolute path (starting with /)' })
  .refine((p) => !p.split('/').includes('..'), { message: 'must not contain ".."' })
  .refine((p) => !/[\0\n\r]/.test(p), { message: 'must not contain control characters' });

const safeName = z.string().regex(SAFE_NAME, 'only letters, digits, ".", "_" and "-" (max 63, not starting with a symbol)');

export const secretRef = z.union([
  z.object({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }).strict(),
  z.object({ file: absolutePath }).strict(),
]);
export type SecretRef = z.infer<typeof secretRef>;

const localImage = z
  .object({
    /** Directory with the server binaries (postgres, initdb) standing in for the image. */
    binDir: absolutePath,
    /** SQL files run on first start of an empty data directory, as the Kaapana images do. */
    initScriptsDir: absolutePath.optional(),
  })
  .strict();

const runtime = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('local'),
      old: localImage,
      new: localImage,
      /** psql / pg_dump: the newest client, able to read every server and every dump. */
      clientBinDir: absolutePath,
      /** Where sockets, logs and server records live. */
      stateDir: absolutePath,
      /** Run servers as this OS user when the worker runs as root (PostgreSQL refuses root). */
      serverUser: safeName.default('postgres'),
    })
    .strict(),
  z
    .object({
      kind: z.literal('docker'),
      old: z.object({ image: z.string().min(1) }).strict(),
      new: z.object({ image: z.string().min(1) }).strict(),
      /** Host directory for the servers' unix sockets (bind-mounted at /var/run/postgresql). */
      stateDir: absolutePath,
      /** Docker engine address; the DOCKER_HOST environment variable when absent. */
      host: z.string().optional(),
    })
    .strict(),
]);

/**
 * Kaapana's own deploy_platform.sh, run as the Kaapana admin (it refuses root), with --quiet first.
 * Forward: undeploy with the current (0.2.x) script, deploy with the target (0.3.x) script. Back:
 * undeploy with the target script, deploy with the current one (a deploy over a deployment fails).
 */
const redeploy = z
  .object({
    /** The OS user who installed the platform; its ~/.kube/config is the one the script uses. */
    user: safeName,
    /** deploy_platform.sh of the running 0.2.x platform. */
    currentScript: absolutePath,
    /** deploy_platform.sh of the 0.3.x release. */
    targetScript: absolutePath,
    /** More arguments for a deploy, never secrets: e.g. ["--domain", "pacs.example.org"]. */
    deployArgs: z.array(z.string().min(1).refine((a) => !/^(-p|--password)$/.test(a), { message: 'the registry password goes in redeploy.registry, never in argv' })).default([]),
    /** Answers the script's registry prompts on its stdin (the script asks when it has none baked in). */
    registry: z.object({ username: z.string().min(1), password: secretRef }).strict().optional(),
    /** The platform comes up minutes after the script returns (kube-helm installs it later). */
    platformTimeoutMinutes: z.number().positive().default(30),
  })
  .strict();

const cluster = z.discriminatedUnion('kind', [
  /** No cluster (demo, or a site that stops and restarts the applications itself). */
  z.object({ kind: z.literal('none') }).strict(),
  z
    .object({
      kind: z.literal('kubernetes'),
      /** `services`, or `<INSTANCE_UID>-services` on a node deployed with an INSTANCE_UID. */
      namespace: safeName.default('services'),
      kubeconfig: absolutePath.optional(),
      ldapDeviceName: safeName.default('KAAPANA'),
      redeploy,
    })
    .strict(),
]);

export const configSchema = z
  .object({
    node: safeName,
    paths: z
      .object({
        /** The live database directory (Kaapana mounts it from FAST_DATA_DIR). */
        dataDir: absolutePath,
        fastDataDir: absolutePath,
        backupDir: absolutePath,
        scriptsDir: absolutePath,
      })
      .strict(),
    database: z
      .object({
        name: safeName.default('pacsdb'),
        user: safeName.default('pacs'),
        password: secretRef,
      })
      .strict(),
    versions: z
      .object({
        from: z.string().regex(VERSION).default('5.27'),
        to: z.string().regex(VERSION).default('5.32'),
      })
      .strict()
      .default({ from: '5.27', to: '5.32' }),
    runtime,
    cluster: cluster.default({ kind: 'none' }),
    /**
     * fast (the default since it passes the same fault matrix as guide): one dump streamed
     * straight into PostgreSQL 15 under bulk-load settings, updates there.
     * guide: the guide's path, through a 9.6 working copy (two dumps, two restores).
     */
    mode: z.enum(['guide', 'fast']).default('fast'),
    /**
     * checksums: every table's rows and a content checksum, and the guide's columns checksummed.
     * counts: row counts only (the guide's own check), for sites that accept the lesser proof.
     */
    verification: z.enum(['checksums', 'counts']).default('checksums'),
    approval: z
      .object({
        /** How long the gate waits before rolling back; absent: wait for ever. */
        timeoutMinutes: z.number().positive().optional(),
      })
      .strict()
      .default({}),
    /** Free space demanded beyond the estimate, as a factor of the database size. */
    diskMargin: z.number().min(1).default(1.2),
    readyTimeoutSeconds: z.number().int().positive().default(120),
    /** How soon a dead worker's activity is retried elsewhere; activities heartbeat well within it. */
    heartbeatTimeoutSeconds: z.number().int().min(3).default(60),
    /**
     * A dump, restore, update, inventory or verification fails (and is retried) once nothing has
     * moved for this long: no byte, no row, and no session of the step working on the server.
     * A lock wait or a hung exec is stuck for good; a long single statement is not.
     */
    stallSeconds: z.number().int().positive().default(900),
    /** Attempts of a transfer (dump, restore, update script, inventory, verification): each one starts over. */
    activityAttempts: z.number().int().min(1).max(20).default(5),
    /**
     * How long the short steps (servers, swap, cluster, report) and, three times as long, the undo
     * steps keep retrying a failure that may pass, such as Docker or the API server being away.
     */
    outageMinutes: z.number().min(0).max(24 * 60).default(10),
    /** The wait before an activity's second attempt; it doubles with each further one (at most a minute). */
    retryIntervalSeconds: z.number().min(0.1).max(60).default(2),
  })
  .strict();

export type MigrationConfig = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
