// The report's attempts section: which worker process ran which step, and every attempt that
// failed, was cancelled or was lost with its worker (first-time successes only in the summary).
import type { Attempt } from '../attempt-journal.js';
import { cell, duration as secs } from '../format.js';

const label = (a: Attempt) => `${a.activityType}${a.subject ? ` ${a.subject}` : ''}`;
const short = (text: string) => (text.length > 300 ? `${text.slice(0, 299)}…` : text);

function groupBy<T>(items: T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return [...groups.values()];
}

/** What happened to an attempt, in a few words: "failed (ScriptFailed): …", "lost: the worker process …". */
export function attemptOutcome(a: Attempt): string {
  if (a.outcome === 'completed') return 'completed';
  const type = a.outcome === 'failed' && a.failureType ? ` (${a.failureType})` : '';
  return short(`${a.outcome}${type}${a.error ? `: ${a.error}` : ''}`);
}

export function renderAttempts(attempts: Attempt[]): string[] {
  const out = ['## Attempts', '', 'Every attempt of every activity as its worker recorded it (`attempts.jsonl` beside this report; report.json lists them all).', ''];
  if (attempts.length === 0) return [...out, 'No attempt was recorded.', ''];

  out.push('| worker | host | pid | attempts | failed | cancelled | lost | steps |', '|---|---|---:|---:|---:|---:|---:|---|');
  for (const list of groupBy(attempts, (a) => `${a.worker.identity}\n${a.worker.host}\n${a.worker.pid}`)) {
    const { identity, host, pid } = list[0]!.worker;
    const count = (o: Attempt['outcome']) => list.filter((a) => a.outcome === o).length;
    const steps = [...new Set(list.map((a) => a.step))].join(', ');
    out.push(`| ${cell(identity)} | ${cell(host)} | ${pid} | ${list.length} | ${count('failed')} | ${count('cancelled')} | ${count('lost')} | ${steps} |`);
  }
  out.push('');

  const bad = attempts.filter((a) => a.outcome !== 'completed');
  if (bad.length === 0) {
    out.push('Every activity succeeded at its first attempt.', '');
    return out;
  }
  out.push('Attempts that did not complete:', '', '| step | activity | attempt | worker | started | took | what happened |', '|---|---|---:|---|---|---:|---|');
  for (const a of bad) {
    out.push(`| ${a.step} | ${cell(label(a))} | ${a.attempt} | ${cell(a.worker.identity)} | ${a.startedAt} | ${a.ms === undefined ? '—' : secs(a.ms)} | ${cell(attemptOutcome(a))} |`);
  }
  const retried = groupBy(attempts, (a) => a.activityId).filter((list) => list.length > 1);
  out.push('');
  if (retried.length > 0) out.push('Activities that took more than one attempt:', '');
  for (const list of retried) {
    const tries = list.map((a) => `attempt ${a.attempt} ${a.outcome} on ${a.worker.identity}${a.ms === undefined ? '' : ` (${secs(a.ms)})`}`);
    out.push(`- ${list[0]!.step}, ${label(list[0]!)}: ${tries.join('; ')}`);
  }
  if (retried.length > 0) out.push('');
  return out;
}
