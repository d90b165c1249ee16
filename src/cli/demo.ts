// `demo`: the whole migration on this machine: a Temporal dev server, a seeded demo node, the
// worker in this process, and the same start and watch code as on a real node.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { duration } from '../format.js';
import { createLogger } from '../log.js';
import { SEARCH_ATTRIBUTES, approveSwapUpdate, workflowIdFor, type Phase } from '../shared.js';
import { DEFAULT_ADDRESS, DEFAULT_NAMESPACE, type TemporalTarget } from '../temporal/connection.js';
import { ensureTemporalCli } from '../temporal/cli-binary.js';
import { ensureSearchAttributes, isServing, startDevServer } from '../temporal/dev-server.js';
import { sendUpdate, withTemporal } from './common.js';
import { startMigration } from './start.js';
import { finishWatch, watchMigration } from './watch.js';

const NODE = 'demo-node';
const UI_PORT = 8233;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('migrate a seeded demo node on this machine, with a local Temporal dev server (127.0.0.1:7233, Web UI :8233) and an in-process worker')
    .option('--instances <n>', 'DICOM instances in the demo database', positiveInteger, 100_000)
    .option('--dir <dir>', 'where the demo keeps its node and the dev server its database', './.state/demo')
    .option('--yes', 'approve the swap automatically')
    .action(async (opts: { instances: number; dir: string; yes?: boolean }) => {
      const dir = path.resolve(opts.dir);
      const say = (line: string) => process.stdout.write(`${line}\n`);
      // Always the local dev server: TEMPORAL_ADDRESS may point at a production service.
      const target: TemporalTarget = { address: DEFAULT_ADDRESS, namespace: DEFAULT_NAMESPACE };
      const serverNote = await ensureDevServer(dir, say);

      await withTemporal(target, async (client) => {
        if (await isOpen(client)) {
          say(`A demo migration is still open: resuming it (the workflow continues where its worker left off).`);
        } else {
          const config = await freshNode(dir, opts.instances, say);
          await startMigration(client, config);
        }
        say('Starting the worker (bundling the workflow code takes a few seconds)…');
        // Loaded here only: the worker and the activities' clients would slow every other command's start.
        const { DefaultLogger, Runtime } = await import('@temporalio/worker');
        Runtime.install({ logger: new DefaultLogger('ERROR') });
        const { connectWorker, createMigrationWorker } = await import('../worker.js');
        const connection = await connectWorker(target);
        try {
          const worker = await createMigrationWorker({ connection, namespace: target.namespace, node: NODE, log: createLogger('demo-worker', 'error') });
          say(`Watching ${workflowIdFor(NODE)} (also in the Web UI: http://127.0.0.1:${UI_PORT}/namespaces/default/workflows/${workflowIdFor(NODE)}).`);
          const onPhase = async (phase: Phase) => {
            if (phase === 'awaiting-approval' && opts.yes) await sendUpdate(client, NODE, approveSwapUpdate, [{ by: 'kaapana-migrate demo --yes', comment: 'approved automatically' }]);
          };
          const outcome = await worker.runUntil(watchMigration(client, NODE, { onPhase }));
          finishWatch(outcome);
          if (outcome.reportPath) say(`\n${await readFile(outcome.reportPath, 'utf8')}`);
        } finally {
          await connection.close();
          say(serverNote);
        }
      });
    });
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number above 0');
  return n;
}

/** Starts a dev server unless one answers; it outlives the demo. Returns what to tell about it. */
async function ensureDevServer(dir: string, say: (line: string) => void): Promise<string> {
  const names = SEARCH_ATTRIBUTES.map((k) => k.name);
  if (await isServing(DEFAULT_ADDRESS)) {
    await ensureSearchAttributes(DEFAULT_ADDRESS, names);
    say(`Using the Temporal server on ${DEFAULT_ADDRESS}.`);
    return `The Temporal server on ${DEFAULT_ADDRESS} was running before the demo and keeps running.`;
  }
  await ensureTemporalCli(say);
  const port = Number(DEFAULT_ADDRESS.split(':')[1]);
  say(`Starting a Temporal dev server on ${DEFAULT_ADDRESS} (database ${path.join(dir, 'temporal.sqlite')})…`);
  // The PostgreSQL server user must pass through it to the node's directories.
  await mkdir(dir, { recursive: true, mode: 0o711 });
  const server = await startDevServer({ port, uiPort: UI_PORT, dbFile: path.join(dir, 'temporal.sqlite'), searchAttributes: names, detachedLogFile: path.join(dir, 'temporal.log') });
  const note = `The Temporal dev server keeps running (Web UI http://127.0.0.1:${UI_PORT}, log ${path.join(dir, 'temporal.log')}); stop it with: kill ${server.pid()}`;
  say(note);
  return note;
}

async function isOpen(client: Client): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(workflowIdFor(NODE)).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** A new node for every run: the last demo left a migrated (PostgreSQL 15) database behind. */
async function freshNode(dir: string, instances: number, say: (line: string) => void) {
  const nodeDir = path.join(dir, 'node');
  // Only ever remove what a demo made (its configuration file marks it).
  if (existsSync(path.join(nodeDir, 'kaapana-migrate.yaml'))) await rm(nodeDir, { recursive: true, force: true });
  // Loaded here only: the demo node's seeding pulls in the PostgreSQL client.
  const [{ newPostgresBinDir, oldPostgresBinDir }, { createDemoNode }] = await Promise.all([import('../demo/binaries.js'), import('../demo/node.js')]);
  const newBinDir = newPostgresBinDir();
  // The old side must be 9.6: preflight rightly refuses an "original" that is already PostgreSQL 15.
  const oldBinDir = await oldPostgresBinDir(say);
  say(`Creating the demo node in ${nodeDir}: a dcm4chee 5.26 database with ${instances} instances…`);
  const started = Date.now();
  const node = await createDemoNode({ dir: nodeDir, node: NODE, instances, oldBinDir, newBinDir });
  say(`Seeded in ${duration(Date.now() - started)}; configuration ${node.configFile}.`);
  return node.config;
}
