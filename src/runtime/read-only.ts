// How a runtime runs the original (the live directory): its sessions only read, and the server
// itself writes as little as it can, since nothing it could write is needed.

/**
 * Server settings (`-c name=value` pairs) for a server on a directory that must stay as it is:
 * read-only sessions; no autovacuum, and none forced by the freeze ages either (up to their
 * maximum, which only a database close to wraparound reaches); no table statistics collected; and
 * on 9.6 the statistics collector's temporary files outside the data directory (`statsDir`; 15
 * keeps statistics in shared memory). What such a server still writes: hint bits on pages it reads,
 * postmaster.pid and postmaster.opts, the shutdown checkpoint, and the statistics files in pg_stat
 * at shutdown.
 */
export function readOnlySettings(pgVersion: string, statsDir: string): Record<string, string> {
  return {
    default_transaction_read_only: 'on',
    autovacuum: 'off',
    autovacuum_freeze_max_age: '2000000000',
    autovacuum_multixact_freeze_max_age: '2000000000',
    track_counts: 'off',
    ...(Number.parseFloat(pgVersion) < 15 ? { stats_temp_directory: statsDir } : {}),
  };
}

/** `-c name=value` arguments of the postgres command. */
export function settingArgs(settings: Record<string, string>): string[] {
  return Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
}
