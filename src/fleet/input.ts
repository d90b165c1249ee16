// The fleet's settings (zod) and the check of a whole fleet input: every node's configuration as
// the single-node workflow checks it, names unique, canaries among the nodes. No Node.js API here:
// the parent workflow checks its input with it.
import { z } from 'zod';
import { checkInput, migrationInput } from '../config/input.js';
import { configSchema, type MigrationConfig } from '../config/schema.js';
import { DEFAULT_TUNING, FLEET_INPUT_VERSION, type FleetInput, type FleetSettings, type FleetTuning } from './shared.js';

const nodeName = configSchema.shape.node;

/** The fleet's name ends up in a workflow id, as node names do. */
export const fleetNameSchema = nodeName;

export const fleetSettingsSchema = z
  .object({
    canaries: z.array(nodeName).default([]),
    concurrency: z.number().int().min(1).default(1),
    failureBudget: z.number().int().min(0).default(0),
    approval: z.enum(['fleet', 'per-node']).default('per-node'),
    workerWaitMinutes: z.number().positive().default(60),
    onHalt: z.enum(['finish', 'rollback']).default('finish'),
    reportDir: z.string().startsWith('/', 'must be an absolute path').optional(),
  })
  .strict();

export const fleetTuningSchema = z
  .object({
    historyEvents: z.number().int().min(100).default(DEFAULT_TUNING.historyEvents),
    workerPollSeconds: z.number().positive().default(DEFAULT_TUNING.workerPollSeconds),
    followHeartbeatSeconds: z.number().positive().default(DEFAULT_TUNING.followHeartbeatSeconds),
  })
  .strict();

/** Problems of the settings against the nodes (the schemas check each on its own). */
export function fleetProblems(nodes: string[], settings: FleetSettings): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const n of nodes) {
    if (seen.has(n)) problems.push(`node ${n} is listed twice`);
    seen.add(n);
  }
  for (const c of settings.canaries) if (!seen.has(c)) problems.push(`canary ${c} is not a node of the fleet`);
  if (nodes.length === 0) problems.push('the fleet has no nodes');
  return problems;
}

export function fleetInput(name: string, nodes: MigrationConfig[], settings: FleetSettings, startedBy: string, tuning: FleetTuning = DEFAULT_TUNING): FleetInput {
  return { schemaVersion: FLEET_INPUT_VERSION, name, nodes, settings, tuning, startedBy };
}

/** Why the parent cannot run this input; empty when it can. */
export function fleetInputProblems(input: unknown): string[] {
  const given = input as Partial<FleetInput> | undefined;
  if (given?.schemaVersion !== FLEET_INPUT_VERSION) return [`schemaVersion: must be ${FLEET_INPUT_VERSION}`];
  const problems: string[] = [];
  if (!fleetNameSchema.safeParse(given.name).success) problems.push(`name: "${String(given.name)}" is not a fleet name`);
  if (typeof given.startedBy !== 'string') problems.push('startedBy: missing');
  const settings = fleetSettingsSchema.safeParse(given.settings);
  if (!settings.success) problems.push(...settings.error.issues.map((i) => `settings.${i.path.join('.')}: ${i.message}`));
  const tuning = fleetTuningSchema.safeParse(given.tuning);
  if (!tuning.success) problems.push(...tuning.error.issues.map((i) => `tuning.${i.path.join('.')}: ${i.message}`));
  const nodes = Array.isArray(given.nodes) ? given.nodes : [];
  if (!Array.isArray(given.nodes)) problems.push('nodes: must be a list of node configurations');
  nodes.forEach((config, i) => {
    const checked = checkInput(migrationInput(config));
    if (!checked.ok) problems.push(...checked.problems.map((p) => `nodes[${i}]: ${p}`));
  });
  if (settings.success) problems.push(...fleetProblems(nodes.map((c) => (c as MigrationConfig)?.node), settings.data));
  return problems;
}
