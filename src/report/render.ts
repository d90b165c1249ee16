// Markdown rendering of the report.
import type { DatabaseLocale, Fingerprint } from '../postgres/inventory.js';
import { describeSetting } from '../verification/compare.js';
import type { CreatedDatabase } from '../postgres/transfer.js';
import type { MigrationReport } from './types.js';
import { attemptOutcome, renderAttempts } from './attempts.js';
import { renderDowntime } from './downtime.js';
import { renderStatements } from './statements.js';
import { cell, duration as secs, mib } from '../format.js';
import { describeDifference, DRIFT_RULES, type DriftReport } from '../verification/drift.js';

/** An inventory taken at verification 'counts' carries no checksums. */
function compareContent(before: Fingerprint, after: Fingerprint, same: string, differs: string): string {
  if (!before.checksum) return 'not checksummed (verification: counts)';
  // Fast mode reads the updated rows' content nowhere: it was checked at the load (verifyLoad).
  if (!after.checksum) return 'checksummed at the load; rows counted after the updates';
  return before.checksum === after.checksum ? same : differs;
}

/** How a restored database's encoding and locale relate to the original's; a change stands out. */
function creation(db: CreatedDatabase): string {
  const { requested, used, fallback, sorting } = db;
  if (!requested) return "server defaults (the dump did not record the original's)";
  const changed = (['encoding', 'collate', 'ctype'] as const).filter((k) => requested[k] !== used[k]);
  const locale = changed.length === 0 ? 'as the original' : `**CHANGED** from the original's ${changed.map((k) => `${k} ${requested[k]}`).join(', ')}${fallback ? `: ${fallback}` : ''}`;
  return sorting ? `${locale}; **sorts differently**: ${sorting}` : locale;
}

export function renderMarkdown(r: MigrationReport): string {
  const out: string[] = [];
  out.push(`# kaapana-migrate report: ${r.node}`, '');
  out.push(`- Outcome: **${r.outcome}**`);
  out.push(`- Workflow: ${r.workflowId} (run ${r.runId})`);
  out.push(`- Started: ${r.startedAt}; ended: ${r.endedAt ?? 'not yet'}`);
  out.push(`- Archive versions: ${r.versions.from} → ${r.versions.to}; applied: ${r.versions.applied.join(', ') || 'none'}; already present: ${r.versions.alreadyPresent.join(', ') || 'none'}`);
  if (r.approval) out.push(`- Swap approved by ${r.approval.by} at ${r.approval.at}${r.approval.comment ? ` (${r.approval.comment})` : ''}`);
  if (r.failure) out.push(`- Failure: ${r.failure}`);
  if (r.ldapBackup) out.push(`- LDAP backup: ${r.ldapBackup}`);
  for (const why of r.reloads ?? []) out.push(`- Bulk load redone from the backup dump: ${why}`);
  out.push('');

  out.push('## Steps', '', '| step | status | started | took | detail |', '|---|---|---|---|---|');
  for (const s of r.steps) out.push(`| ${s.step} | ${s.status} | ${s.startedAt} | ${secs(s.ms)} | ${cell(s.detail)} |`);
  out.push('');
  if (r.downtime) out.push(...renderDowntime(r.downtime));

  if (r.tablesBefore) {
    out.push('## Tables', '', '| table | rows before | rows after | content |', '|---|---:|---:|---|');
    const names = [...new Set([...Object.keys(r.tablesBefore), ...Object.keys(r.tablesAfter ?? {})])].sort();
    for (const name of names) {
      const before = r.tablesBefore[name];
      const after = r.tablesAfter?.[name];
      const content = !before || !after ? (before ? 'not in result' : 'added by the updates') : compareContent(before, after, 'identical', 'changed by the updates');
      out.push(`| ${name} | ${before?.count ?? '—'} | ${after?.count ?? '—'} | ${content} |`);
    }
    out.push('');
  }
  if (r.guideBefore) {
    out.push("## The guide's figures", '', '| figure | before | after | checksum equal |', '|---|---:|---:|---|');
    for (const [key, before] of Object.entries(r.guideBefore)) {
      const after = r.guideAfter?.[key];
      out.push(`| ${key} | ${before.count} | ${after?.count ?? '—'} | ${after ? compareContent(before, after, 'yes', 'NO') : '—'} |`);
    }
    out.push('');
  }
  if (r.schemaDrift) out.push(...renderDrift(r.schemaDrift));
  if (r.dumps.length > 0) {
    out.push('## Dumps', '', '| dump | file | size | sha256 | took |', '|---|---|---:|---|---:|');
    for (const d of r.dumps) out.push(`| ${d.name} | ${d.file} | ${mib(d.bytes)} | \`${d.sha256}\` | ${secs(d.ms)} |`);
    out.push('');
  }
  const sources = r.dumps.filter((d) => d.source);
  if (sources.length > 0 || r.databases?.length) {
    out.push('## Database', '', '| database | encoding | LC_COLLATE | LC_CTYPE | created |', '|---|---|---|---|---|');
    const row = (name: string, l: DatabaseLocale, note: string) => out.push(`| ${name} | ${l.encoding} | ${l.collate} | ${l.ctype} | ${cell(note)} |`);
    for (const d of sources) row(`${d.name} (dumped)`, d.source!, '—');
    for (const db of r.databases ?? []) {
      const room = db.roomGiven ? `; loaded with room for the updates' rewrites (a lower fillfactor until they were done, then reset): ${db.roomGiven.join(', ')}` : '';
      row(`${db.role} (restored)`, db.used, creation(db) + room);
    }
    out.push('');
    const original = sources[0]?.source?.settings ?? [];
    if (original.length > 0) {
      out.push('Role and database settings of the original (a plain dump does not carry them; each restore sets them again):', '');
      for (const s of original) out.push(`- \`${describeSetting(s)}\``);
      out.push('');
    }
  }
  if (r.scripts.length > 0) {
    out.push('## Update scripts', '', '| version | outcome | took | sha256 |', '|---|---|---:|---|');
    for (const s of r.scripts) {
      // Found committed by an earlier attempt: its time is known only when that attempt ended.
      const took = s.outcome === 'applied' || (s.committedBy && s.committedBy.outcome !== 'lost') ? secs(s.ms) : 'unknown';
      const outcome = s.committedBy ? `committed by attempt ${s.committedBy.attempt} on ${s.committedBy.worker.identity} — ${attemptOutcome(s.committedBy)}` : s.outcome;
      out.push(`| ${s.version} | ${cell(outcome)} | ${took} | \`${s.sha256}\` |`);
    }
    out.push('', ...renderStatements(r.scripts));
  }
  if (r.ldap.length > 0) {
    out.push('## LDAP commands', '', '| command | exit | already applied | took | stderr |', '|---|---:|---|---:|---|');
    for (const c of r.ldap) out.push(`| \`${c.argv.join(' ')}\` | ${c.exitCode} | ${c.alreadyApplied ? 'yes' : 'no'} | ${secs(c.ms)} | ${cell(c.stderr.trim().slice(0, 200))} |`);
    out.push('');
  }
  if (r.ldapNeverApplied?.length) {
    out.push(
      '## LDAP files the update did not apply',
      '',
      "The ldap image ships these LDIF files, but its `update-data` never applies them (nor does Kaapana's guide). Apply them by hand where the archive's UI configuration is used:",
      '',
      ...r.ldapNeverApplied.map((f) => `- \`/etc/openldap/data/${f}\``),
      '',
    );
  }
  if (r.rollback) {
    out.push('## Rollback', '', `Reason: ${r.rollback.reason}`, '');
    for (const u of r.rollback.undone) out.push(`- undone: ${u}`);
    for (const u of r.rollback.notUndone) out.push(`- NOT undone: ${u}`);
    out.push('');
  }
  if (r.attempts) out.push(...renderAttempts(r.attempts));
  return out.join('\n');
}

/** Counts by class and by rule (with its reason), then every difference in one line, unexpected first. */
function renderDrift(d: DriftReport): string[] {
  const out = ['## Schema drift', '', `Against a fresh schema made by the new image: ${d.unexpected} unexpected, ${d.expected} expected difference(s); all of them in \`${d.file}\`.`, ''];
  const used = DRIFT_RULES.map((rule) => ({ rule, n: d.differences.filter((x) => x.rule === rule.id).length })).filter((u) => u.n > 0);
  if (used.length > 0) {
    out.push('| expected by rule | differences | why |', '|---|---:|---|');
    for (const { rule, n } of used) out.push(`| ${rule.id} | ${n} | ${cell(rule.why)} |`);
    out.push('');
  }
  for (const x of d.differences) out.push(`- ${x.class === 'unexpected' ? '**unexpected**' : `expected (${x.rule})`}: ${describeDifference(x)}`);
  if (d.differences.length > 0) out.push('');
  return out;
}
