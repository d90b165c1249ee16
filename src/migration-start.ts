// How a node's migration is started, the same from `start` and from a fleet's parent workflow:
// its id and task queue, the search attributes it is listable by before its worker's first task,
// and what the Web UI shows of it. No Node.js API here: the fleet workflow imports it.
import type { MigrationConfig } from './config/schema.js';
import { ARCHIVE_UPDATE_CHAIN } from './plan/versions.js';
import { SA_ARCHIVE_VERSION, SA_NODE, SA_PHASE, taskQueueFor, workflowIdFor } from './shared.js';

/** The archive version before the first update of the range: what the node runs until the updates. */
export function versionBefore(from: string): string {
  const i = (ARCHIVE_UPDATE_CHAIN as readonly string[]).indexOf(from);
  return i > 0 ? ARCHIVE_UPDATE_CHAIN[i - 1]! : '5.26';
}

/** `startedBy`: who started it (a user, or the fleet rollout that did). */
export function migrationStartOptions(config: MigrationConfig, startedBy: string) {
  const node = config.node;
  return {
    workflowId: workflowIdFor(node),
    taskQueue: taskQueueFor(node),
    // Listable before the worker's first task; the workflow keeps them current from then on.
    typedSearchAttributes: [
      { key: SA_NODE, value: node },
      { key: SA_PHASE, value: 'queued' },
      { key: SA_ARCHIVE_VERSION, value: versionBefore(config.versions.from) },
    ],
    staticSummary: `${node}: dcm4chee database, archive ${config.versions.from} … ${config.versions.to}, PostgreSQL 9.6 → 15`,
    staticDetails: [
      `**Node** ${node}, started by ${startedBy}`,
      '',
      `- live database: \`${config.paths.dataDir}\` (renamed only after approval)`,
      `- working copies beside it and in \`${config.paths.fastDataDir}\``,
      `- dumps and report: \`${config.paths.backupDir}\``,
      `- update scripts: \`${config.paths.scriptsDir}\``,
      '',
      `Follow: \`kaapana-migrate watch --node ${node}\` · approve the swap: \`kaapana-migrate approve --node ${node}\` · abort (rolls back): \`kaapana-migrate abort --node ${node}\``,
    ].join('\n'),
  };
}
