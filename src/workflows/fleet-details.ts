// What the Web UI shows of a fleet rollout (the parent's current details): its phase, the nodes
// counted by where they stand, then one line per node. Each node's migration keeps its own
// search attributes and details.
import * as wf from '@temporalio/workflow';
import { nodeStanding } from '../fleet/report.js';
import type { FleetState } from '../fleet/shared.js';

export function showFleet(name: string, state: FleetState): void {
  const tally = new Map<string, number>();
  for (const n of state.nodes) tally.set(nodeStanding(n), (tally.get(nodeStanding(n)) ?? 0) + 1);
  const counts = [...tally].map(([standing, count]) => `${count} ${standing}`).join(' · ');
  const waiting =
    state.phase === 'awaiting-fleet-approval'
      ? `\n\n**The canaries completed. Waiting for the fleet approval:** \`kaapana-migrate fleet approve --name ${name}\`.`
      : '';
  const lines = state.nodes.map((n) => `- ${n.canary ? '🐤 ' : ''}**${n.node}**: ${nodeStanding(n)}${n.failure ? ` — ${n.failure}` : ''}`);
  wf.setCurrentDetails(`**Fleet ${name}**: ${state.phase}${state.paused ? ' (paused)' : ''}${state.reason ? ` — ${state.reason}` : ''}\n\n${counts}${waiting}\n\n${lines.join('\n')}`);
}
