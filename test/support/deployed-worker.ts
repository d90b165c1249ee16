// How the deployment starts the worker, read from the systemd unit, so that the benchmark measures
// the worker exactly as a node runs it and the container image can be checked against the unit.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const UNIT_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'kaapana-migrate-worker.service');

export interface WorkerCommand {
  /** Options for node before the script. */
  nodeOptions: string[];
  /** The unit's Environment= assignments (EnvironmentFile= holds the site's own settings). */
  env: Record<string, string>;
}

export function deployedWorkerCommand(unit = readFileSync(UNIT_FILE, 'utf8')): WorkerCommand {
  const exec = /^ExecStart=(.+)$/m.exec(unit)?.[1]?.trim().split(/\s+/);
  if (!exec || !exec[0]?.endsWith('/node')) throw new Error(`${UNIT_FILE}: ExecStart does not run node`);
  const script = exec.findIndex((a) => a.endsWith('/dist/workers/main.js'));
  if (script < 0) throw new Error(`${UNIT_FILE}: ExecStart does not run dist/workers/main.js`);
  const env = Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
  return { nodeOptions: exec.slice(1, script), env };
}
