// How the deployment starts the workers, read from the systemd units, so that the benchmark measures
// the worker exactly as a node runs it and the container image and the fleet worker's unit can be
// checked against the node's unit.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DEPLOY = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy');

/** Each worker's unit and the script it must run. */
export const UNITS = {
  node: { file: path.join(DEPLOY, 'kaapana-migrate-worker.service'), script: 'dist/workers/main.js' },
  fleet: { file: path.join(DEPLOY, 'kaapana-migrate-fleet-worker.service'), script: 'dist/workers/fleet.js' },
} as const;

export type UnitName = keyof typeof UNITS;

export const unitText = (name: UnitName): string => readFileSync(UNITS[name].file, 'utf8');

/** The values of every `key=` line of the unit, in order (an empty assignment gives ''). */
export function unitValues(unit: string, key: string): string[] {
  return [...unit.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
}

export interface WorkerCommand {
  /** Options for node before the script. */
  nodeOptions: string[];
  /** The unit's Environment= assignments (EnvironmentFile= holds the site's own settings). */
  env: Record<string, string>;
}

export function deployedWorkerCommand(unit = unitText('node'), script: string = UNITS.node.script): WorkerCommand {
  const exec = unitValues(unit, 'ExecStart')[0]?.split(/\s+/);
  if (!exec || !exec[0]?.endsWith('/node')) throw new Error('ExecStart does not run node');
  const at = exec.findIndex((a) => a.endsWith(`/${script}`));
  if (at < 0) throw new Error(`ExecStart does not run ${script}`);
  const env = Object.fromEntries([...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()]));
  return { nodeOptions: exec.slice(1, at), env };
}
