// The fleet report in Markdown: the rollout's outcome, then one row per node with its outcome,
// times, counts and where its own report is (on the node).
import type { FleetNode, FleetReport } from './shared.js';

/** What a node's row says of where it stands. */
export function nodeStanding(n: FleetNode): string {
  if (n.status === 'ended') return n.outcome ?? 'ended';
  if (n.status === 'running') return n.view === 'waiting-for-worker' ? 'running, waiting for its worker' : n.view === 'running' ? 'running' : `running (${n.view ?? 'queued'})`;
  if (n.status === 'waiting-for-worker') return 'waiting for its worker (not started)';
  if (n.status === 'starting') return 'starting';
  return n.outcome ?? 'pending';
}

const cell = (s: string | undefined) => (s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderFleetReport(r: FleetReport): string {
  const s = r.settings;
  const lines = [
    `# Fleet rollout ${r.name}: ${r.outcome}`,
    '',
    ...(r.reason ? [`**${r.reason}** (at ${r.stoppedAt}; no node migration started after it)`, ''] : []),
    `- started ${r.startedAt}, ended ${r.endedAt}; ${r.runs} run(s) of the parent workflow (continue-as-new)`,
    `- canaries: ${s.canaries.join(', ') || 'none'}; concurrency ${s.concurrency}; failure budget ${s.failureBudget}; swap approval: ${s.approval}; worker wait ${s.workerWaitMinutes} min; on halt: ${s.onHalt}`,
    `- fleet approval: ${r.fleetApproval ? `${r.fleetApproval.by} at ${r.fleetApproval.at}${r.fleetApproval.comment ? ` (${r.fleetApproval.comment})` : ''}` : 'none'}`,
    ...r.actions.map((a) => `- ${a.action} by ${a.by} at ${a.at}${a.comment ? ` (${a.comment})` : ''}`),
    '',
    '| node | canary | outcome | started | ended | tables | rows before | rows after | versions applied | swap approved by | report (on the node) | failure |',
    '|---|---|---|---|---|---:|---:|---:|---|---|---|---|',
    ...r.nodes.map((n) =>
      [
        n.node,
        n.canary ? 'yes' : '',
        nodeStanding(n),
        n.startedAt ?? '',
        n.endedAt ?? '',
        n.counts ? String(n.counts.tables) : '',
        n.counts ? String(n.counts.rowsBefore) : '',
        n.counts ? String(n.counts.rowsAfter) : '',
        n.counts?.versionsApplied.join(', ') ?? '',
        n.swapApprovedBy ?? '',
        n.reportPath ? `\`${n.reportPath}\`` : '',
        n.failure ?? '',
      ]
        .map(cell)
        .join(' | ')
        .replace(/^/, '| ')
        .concat(' |'),
    ),
    '',
  ];
  return lines.join('\n');
}
