// What the database must hold after the update scripts, checked in the workflow from two inventories.
import { ApplicationFailure } from '@temporalio/common';
import type { InventoryResult } from '../activities/inventory.js';

/**
 * Every original table keeps its rows, the identifiers the updates never touch keep their
 * fingerprints, and the schema carries every target version.
 */
export function assertUpdated(what: string, before: InventoryResult, after: InventoryResult, targetVersions: string[]): void {
  const problems: string[] = [];
  for (const [table, facts] of Object.entries(before.inventory.tables)) {
    // No update of the chain drops a table or deletes rows of one that exists at 5.26.
    const now = after.inventory.tables[table];
    if (!now) problems.push(`table ${table} is missing`);
    else if (now.count !== facts.count) problems.push(`table ${table} has ${now.count} rows, expected ${facts.count}`);
  }
  for (const key of ['seriesIuids', 'sopIuids', 'storagePaths'] as const) {
    const b = before.inventory.guide[key];
    const a = after.inventory.guide[key];
    if (a.count !== b.count || a.checksum !== b.checksum) problems.push(`${key}: ${a.count} values, expected ${b.count} (checksum ${a.checksum === b.checksum ? 'equal' : 'differs'})`);
  }
  const missing = targetVersions.filter((v) => !after.appliedVersions.includes(v));
  if (missing.length > 0) problems.push(`archive versions not applied: ${missing.join(', ')}`);
  if (problems.length > 0) throw ApplicationFailure.nonRetryable(`the ${what} database does not match: ${problems.join('; ')}`, 'VerificationFailed');
}
