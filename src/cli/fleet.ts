// `fleet`: roll the migration out over many nodes from one Temporal service. `plan` runs every
// node's plan on that node's worker and writes the rollout's input, `start` starts the parent
// workflow (migrateFleet) on the fleet worker's queue, `watch` follows it node by node, `approve`
// lets it go on after the canaries, `pause`, `resume` and `abort` steer it.
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import YAML from 'yaml';
import { z } from 'zod';
import type { MigrationConfig } from '../config/schema.js';
import { fleetInput, fleetInputProblems, fleetNameSchema, fleetProblems, fleetSettingsSchema } from '../fleet/input.js';
import {
  FLEET_TASK_QUEUE,
  FLEET_WORKFLOW_TYPE,
  abortFleetUpdate,
  approveFleetUpdate,
  fleetIdFor,
  pauseFleetUpdate,
  resumeFleetUpdate,
  type ActorRequest,
  type FleetInput,
  type FleetSettings,
} from '../fleet/shared.js';
import { mib } from '../format.js';
import type { migrateFleet } from '../workflows/migrate-fleet.js';
import { CliError, NOTHING_CHANGED, cli, executeUpdateTold, readConfig, targetOf, warnWithoutPoller, withTemporal } from './common.js';
import { describeFleet, watchFleet } from './fleet-watch.js';
import { planOnNode } from './node-plan.js';

const DEFAULT_NAME = 'fleet';

/** The file an operator writes: node configuration paths (relative to it) and the rollout's settings. */
const nodesFileSchema = fleetSettingsSchema
  .extend({
    name: fleetNameSchema.default(DEFAULT_NAME),
    nodes: z.array(z.string().min(1)).min(1),
    /** The first N nodes, or the nodes named. */
    canaries: z.union([z.number().int().min(0), z.array(z.string())]).default(0),
  })
  .strict();

const parseName = (value: string): string => {
  if (!fleetNameSchema.safeParse(value).success) throw new InvalidArgumentError(`"${value}" is not a fleet name`);
  return value;
};
const parseSeconds = (value: string): number => {
  const seconds = Number(value);
  if (!(seconds > 0)) throw new InvalidArgumentError(`"${value}" is not a number of seconds`);
  return seconds;
};
const me = () => `${os.userInfo().username}@${os.hostname()}`;

export function registerFleet(program: Command): void {
  const fleet = program.command('fleet').description('roll the migration out over many nodes: canaries first, a concurrency limit, halt on failure');

  fleet
    .command('plan')
    .description("run every node's plan on that node's worker; write the rollout's input only when every node passes")
    .requiredOption('--nodes <file>', 'the fleet file (YAML): nodes (configuration paths), canaries, concurrency, failureBudget, approval, workerWaitMinutes, onHalt, reportDir')
    .requiredOption('--write <file>', 'where to write the rollout input (JSON) for `fleet start`')
    .option('--worker-wait <seconds>', "how long a node's task queue may stay without a worker before its plan fails", parseSeconds, 60)
    .action(async (opts: { nodes: string; write: string; workerWait: number }, command: Command) => {
      const fleetFile = await readFleetFile(opts.nodes);
      const input = await withTemporal(targetOf(command), (client) => planFleet(client, fleetFile, opts.workerWait));
      await writeFile(opts.write, `${JSON.stringify(input, null, 2)}\n`, { mode: 0o600 });
      process.stdout.write(`Fleet ${input.name}: every node's plan passed. Rollout input written to ${opts.write}.\nNext: ${cli(`fleet start --fleet ${opts.write}`)}\n`);
    });

  fleet
    .command('start')
    .description('start the rollout written by `fleet plan`; the fleet worker runs it, each node worker its migration')
    .requiredOption('--fleet <file>', 'the rollout input written by `fleet plan --write`')
    .option('--watch', 'follow the rollout until it ends')
    .action(async (opts: { fleet: string; watch?: boolean }, command: Command) => {
      const input = await readFleetInput(opts.fleet);
      await withTemporal(targetOf(command), async (client) => {
        await startFleet(client, input);
        process.stdout.write(`Started fleet rollout ${input.name} (workflow ${fleetIdFor(input.name)}) over ${input.nodes.length} nodes. Follow it with ${cli(`fleet watch --name ${input.name}`)}.\n`);
        if (opts.watch) await watchFleet(client, input.name);
      });
    });

  fleet
    .command('watch')
    .description('follow the rollout: one line per node with its phase and progress; exits 0 when it completed')
    .option('--name <name>', 'the fleet', parseName, DEFAULT_NAME)
    .action(async (opts: { name: string }, command: Command) => {
      await withTemporal(targetOf(command), (client) => watchFleet(client, opts.name));
    });

  const steer = (name: string, description: string, update: UpdateDefinition<unknown, [ActorRequest]>, done: (fleetName: string) => string) =>
    fleet
      .command(name)
      .description(description)
      .option('--name <name>', 'the fleet', parseName, DEFAULT_NAME)
      .option('--by <name>', 'who (recorded in the fleet report)', me())
      .option('--comment <text>', 'recorded in the fleet report')
      .action(async (opts: { name: string; by: string; comment?: string }, command: Command) => {
        await withTemporal(targetOf(command), async (client) => {
          await sendFleetUpdate(client, opts.name, update, { by: opts.by, ...(opts.comment ? { comment: opts.comment } : {}) });
          process.stdout.write(`${done(opts.name)}\n`);
        });
      });
  steer('approve', 'go on after the canaries completed', approveFleetUpdate, (n) => `Fleet ${n} approved: the other nodes start now. Follow with ${cli(`fleet watch --name ${n}`)}.`);
  steer('pause', 'start no more node migrations (the running ones go on)', pauseFleetUpdate, (n) => `Fleet ${n} paused: no node starts until ${cli(`fleet resume --name ${n}`)}.`);
  steer('resume', 'start node migrations again', resumeFleetUpdate, (n) => `Fleet ${n} resumed.`);
  steer('abort', 'start no more; cancel the running node migrations (they roll back)', abortFleetUpdate, (n) => `Fleet ${n} aborting: the running node migrations roll back. Follow with ${cli(`fleet watch --name ${n}`)}.`);
}

/** The fleet file as read where the command runs: its settings and the node configurations that could be read. */
export interface FleetFile {
  file: string;
  name: string;
  settings: FleetSettings;
  nodes: { file: string; config: MigrationConfig }[];
  /** The node files that could not be read, each with why (told already). */
  failures: string[];
}

/**
 * Reads the fleet file and every node's configuration here (each mistake told at once, per node);
 * a mistake in the fleet's own settings is refused before any node is asked.
 */
export async function readFleetFile(file: string): Promise<FleetFile> {
  const raw = await readFile(file, 'utf8').catch((err: Error) => {
    throw new CliError(`cannot read ${file}: ${err.message}`, NOTHING_CHANGED, 'name the fleet file with --nodes');
  });
  const parsed = nodesFileSchema.safeParse(YAML.parse(raw));
  if (!parsed.success) {
    throw new CliError(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`, NOTHING_CHANGED, `correct ${file} and run ${cli(`fleet plan --nodes ${file} --write <file>`)} again`);
  }
  const { name, nodes: files, canaries, ...settings } = parsed.data;
  const nodes: FleetFile['nodes'] = [];
  const failures: string[] = [];
  for (const f of files.map((p) => path.resolve(path.dirname(file), p))) {
    try {
      nodes.push({ file: f, config: await readConfig(f) });
    } catch (err) {
      failures.push(failed(f, err));
    }
  }
  const names = nodes.map((n) => n.config.node);
  const fleetSettings = { ...settings, canaries: typeof canaries === 'number' ? names.slice(0, canaries) : canaries };
  // Against the nodes read: with one missing, the fleet is refused for it anyway.
  const problems = failures.length === 0 ? fleetProblems(names, fleetSettings) : [];
  if (problems.length > 0) throw new CliError(`${file}: ${problems.join('; ')}`, NOTHING_CHANGED, `correct ${file}`);
  return { file, name, settings: fleetSettings, nodes, failures };
}

/**
 * Runs every node's plan on that node's worker, all at once, and names every failure; the rollout's
 * input only when every node passed. `workerWaitSeconds`: how long a node's queue may stay without
 * a worker before its plan counts as failed.
 */
export async function planFleet(client: Client, fleet: FleetFile, workerWaitSeconds: number): Promise<FleetInput> {
  const failures = [...fleet.failures];
  await Promise.all(
    fleet.nodes.map(async ({ file: f, config }) => {
      try {
        const { plan, workflowId } = await planOnNode(client, config, workerWaitSeconds * 1000);
        process.stdout.write(
          `✔ ${config.node}: plan passed on its worker, ${plan.scripts.length} update scripts, database directory ${mib(plan.dataDirBytes)} (${f}; workflow ${workflowId})\n` +
            plan.notes.map((n) => `    note: ${n}\n`).join(''),
        );
      } catch (err) {
        failures.push(failed(f, err));
      }
    }),
  );
  const { file } = fleet;
  // Every node the file lists was either read or is among the failures.
  const listed = fleet.nodes.length + fleet.failures.length;
  if (failures.length > 0) {
    throw new CliError(`the fleet is refused: ${failures.length} of ${listed} node plan(s) failed (${failures.join('; ')})`, `${NOTHING_CHANGED}; no rollout input was written`, `fix each node (its own ${cli('plan --config <file>')} on the node says more), then run ${cli(`fleet plan --nodes ${file} --write <file>`)} again`);
  }
  return fleetInput(fleet.name, fleet.nodes.map((n) => n.config), fleet.settings, me());
}

/** A node that failed, told at once and kept for the refusal. */
function failed(file: string, err: unknown): string {
  const message = err instanceof CliError ? err.what : (err as Error).message;
  process.stdout.write(`✖ ${file}: ${message}\n`);
  return `${file}: ${message}`;
}

async function readFleetInput(file: string): Promise<FleetInput> {
  const input = JSON.parse(await readFile(file, 'utf8').catch((err: Error) => {
    throw new CliError(`cannot read ${file}: ${err.message}`, NOTHING_CHANGED, `write it with ${cli('fleet plan --nodes <file> --write <file>')}`);
  })) as FleetInput;
  const problems = fleetInputProblems(input);
  if (problems.length > 0) throw new CliError(`${file} is not a rollout input: ${problems.join('; ')}`, NOTHING_CHANGED, `write it again with ${cli('fleet plan --nodes <file> --write <file>')}`);
  return { ...input, startedBy: me() };
}

export async function startFleet(client: Client, input: FleetInput): Promise<WorkflowHandle<typeof migrateFleet>> {
  await warnWithoutPoller(client, FLEET_TASK_QUEUE, 'the rollout starts once a fleet worker runs (npm run fleet-worker, or node dist/workers/fleet.js)');
  try {
    return await client.workflow.start<typeof migrateFleet>(FLEET_WORKFLOW_TYPE, {
      workflowId: fleetIdFor(input.name),
      taskQueue: FLEET_TASK_QUEUE,
      args: [input],
      staticSummary: `fleet ${input.name}: ${input.nodes.length} nodes, canaries ${input.settings.canaries.join(', ') || 'none'}, concurrency ${input.settings.concurrency}`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new CliError(`a rollout of fleet ${input.name} is already running (workflow ${fleetIdFor(input.name)})`, `${NOTHING_CHANGED} by this start`, `follow it with ${cli(`fleet watch --name ${input.name}`)}, or stop it with ${cli(`fleet abort --name ${input.name}`)}`);
    }
    throw err;
  }
}

async function sendFleetUpdate<Ret>(client: Client, name: string, update: UpdateDefinition<Ret, [ActorRequest]>, request: ActorRequest): Promise<Ret> {
  const handle = client.workflow.getHandle(fleetIdFor(name));
  const status = (await describeFleet(handle, name)).status.name;
  if (status !== 'RUNNING') throw new CliError(`the rollout of fleet ${name} is not running any more (${status.toLowerCase()})`, `${NOTHING_CHANGED} by this command`, `see how it ended with ${cli(`fleet watch --name ${name}`)}`);
  return executeUpdateTold(client, handle, update, [request], {
    refusedBy: 'the rollout',
    goesOn: 'the rollout goes on as before',
    mayStill: 'the rollout may still take it once the fleet worker runs',
    checkWorker: 'check that the fleet worker runs',
    follow: cli(`fleet watch --name ${name}`),
  });
}
