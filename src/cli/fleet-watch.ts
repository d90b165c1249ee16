// `fleet watch`: the rollout's state from the parent's query, and for each running node the step
// and progress from its own migration's `progress` query (the parent cannot query its children;
// the CLI can). One line per node; on a terminal redrawn in place, otherwise printed on change.
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import { nodeStanding } from '../fleet/report.js';
import { fleetIdFor, fleetStateQuery, type FleetNode, type FleetReport, type FleetState } from '../fleet/shared.js';
import { progressQuery, type Progress } from '../shared.js';
import type { migrateFleet } from '../workflows/migrate-fleet.js';
import { CliError, NOTHING_CHANGED, cli } from './common.js';
import { amountOf } from './watch.js';

const QUERY_DEADLINE_MS = 3_000;

/** One line per node: name, canary mark, where it stands, and a running node's step and progress. */
export function fleetLines(state: FleetState, progress: Map<string, Progress>): string[] {
  const width = Math.max(...state.nodes.map((n) => n.node.length));
  const head = `fleet: ${state.phase}${state.paused ? ' (paused)' : ''}${state.reason ? `: ${state.reason}` : ''}`;
  return [
    head,
    ...state.nodes.map((n) => {
      const p = progress.get(n.node);
      const step = p?.current ? ` ${p.current.step}${amountOf(p.current) ? ` ${amountOf(p.current)}` : ''}` : '';
      return `  ${n.node.padEnd(width)} ${n.canary ? 'canary ' : '       '}${nodeStanding(n)}${n.status === 'running' ? step : ''}${n.failure ? `: ${n.failure}` : ''}`;
    }),
  ];
}

async function childProgress(client: Client, n: FleetNode): Promise<[string, Progress] | undefined> {
  if (n.status !== 'running' || !n.runId) return undefined;
  const handle = client.workflow.getHandle(n.workflowId, n.runId);
  const p = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(progressQuery)).catch(() => undefined);
  return p ? [n.node, p] : undefined;
}

/** The rollout's description; says so clearly when there is none. */
export function describeFleet(handle: WorkflowHandle, name: string): Promise<WorkflowExecutionDescription> {
  return handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) throw new CliError(`there is no rollout of fleet ${name} (workflow ${fleetIdFor(name)})`, NOTHING_CHANGED, `start one with ${cli('fleet start --fleet <file>')}`);
    throw err;
  });
}

export async function watchFleet(client: Client, name: string, out: NodeJS.WriteStream = process.stdout, everyMs = 1_000): Promise<FleetReport> {
  const handle = client.workflow.getHandle<typeof migrateFleet>(fleetIdFor(name));
  let drawn: string[] = [];
  let last: FleetState | undefined;
  for (;;) {
    const d = await describeFleet(handle, name);
    const state = await client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(fleetStateQuery)).catch(() => undefined);
    last = state ?? last;
    if (last) {
      const progress = new Map((await Promise.all(last.nodes.map((n) => childProgress(client, n)))).filter((e) => e !== undefined));
      const lines = [...fleetLines(last, progress), ...(state ? [] : ['  ! no fleet worker answers: is the fleet worker running?'])];
      if (lines.join('\n') !== drawn.join('\n')) {
        // On a terminal the block is drawn again in place; elsewhere each change is printed.
        if (out.isTTY && drawn.length > 0) out.write(`\x1b[${drawn.length}A\x1b[J`);
        out.write(`${lines.join('\n')}\n`);
        drawn = lines;
      }
    }
    if (d.status.name !== 'RUNNING') break;
    await sleep(everyMs);
  }
  const report = await handle.result().catch((err: unknown) => {
    throw new CliError(`the rollout of fleet ${name} did not end with a report: ${(err as Error).message}`, 'each node migration ended on its own: see its report, or kaapana-migrate status', `check ${cli('status')}`);
  });
  out.write(`${report.reportPath ? `Fleet report: ${report.reportPath}\n` : ''}`);
  if (report.outcome !== 'completed') {
    const untouched = report.nodes.filter((n) => n.outcome === 'not-started').map((n) => n.node);
    throw new CliError(
      `the rollout of fleet ${name} ${report.outcome}: ${report.reason ?? 'no reason given'}`,
      `${report.nodes.filter((n) => n.outcome === 'completed').length} node(s) migrated; ${untouched.length > 0 ? `not started, untouched: ${untouched.join(', ')}` : 'every node was started'}; each other node's own report says what it left`,
      `read the fleet report${report.reportPath ? ` (${report.reportPath})` : ''}, fix the cause, then plan and start the rest again`,
    );
  }
  const failed = report.nodes.filter((n) => n.outcome !== 'completed');
  out.write(`✔ The rollout of fleet ${name} completed: ${report.nodes.length - failed.length} of ${report.nodes.length} nodes migrated${failed.length ? ` (within the failure budget: ${failed.map((n) => `${n.node} ${n.outcome}`).join(', ')})` : ''}.\n`);
  return report;
}
