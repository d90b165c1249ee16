// Verification: every table's rows and content, the guide's figures, sequences, owners, encoding and
// settings, against what was expected.
import type { ServerRole } from '../config/layout.js';
import type { Inventory, PartialInventory, Verification } from '../postgres/inventory.js';
import { compareInventories, compareTables, compareUpdated } from '../verification/compare.js';
import type { ActivityDeps, RunContext } from './context.js';
import { fatal } from './context.js';
import { createInspect, createInventoryActivities, readUntouched, type InventoryResult } from './inventory.js';

/** What verifyLeaving left to verifyUntouched, or why it left nothing. */
export interface Left {
  left: string[];
  kept?: string;
}

export function createVerifyActivities(deps: ActivityDeps) {
  const { inventory } = createInventoryActivities(deps);
  const inspect = createInspect(deps);
  return {
    /** Takes the role's inventory and fails unless it equals `expected` table by table. */
    async verify(ctx: RunContext, role: ServerRole, expected: InventoryResult, targetVersions: string[]): Promise<InventoryResult> {
      const actual = await inventory(ctx, role);
      failUnlessEqual(expected, actual, targetVersions, role);
      return actual;
    },

    /**
     * As verify, but leaves the rows of the tables `untouched` (no pending script names them) to
     * verifyUntouched, which reads them while the scripts run; it leaves none when a write could
     * reach a table it does not name (writesReachOtherTables).
     */
    async verifyLeaving(ctx: RunContext, role: ServerRole, expected: InventoryResult, untouched: string[]): Promise<Left> {
      const actual = await inspect(ctx, role, { leave: untouched });
      failUnlessEqual(expected, actual, expected.appliedVersions, role);
      return { left: actual.inventory.left, ...(actual.kept ? { kept: actual.kept } : {}) };
    },

    /** The tables verifyLeaving left, against the inventory: their rows, content and guide figures. */
    async verifyUntouched(ctx: RunContext, role: ServerRole, expected: InventoryResult, tables: string[]): Promise<{ rows: number }> {
      const readings = await readUntouched(deps, ctx, role, tables);
      failUnlessNone(compareTables(expected.inventory, readings, tables), `the ${role} database, in the tables no update script names,`);
      return { rows: Object.values(readings.tables).reduce((sum, t) => sum + t.count, 0) };
    },

    /**
     * After the update scripts: takes the role's inventory and fails unless it holds what `before`
     * held (compareUpdated). `rowLevel` 'counts' where no later step compares the updated rows'
     * content (fast mode: nothing is restored from them); compareUpdated itself reads only counts
     * and the guide's figures.
     */
    async verifyUpdated(ctx: RunContext, role: ServerRole, before: InventoryResult, targetVersions: string[], rowLevel?: Verification): Promise<InventoryResult> {
      const actual = await inventory(ctx, role, rowLevel);
      const problems = compareUpdated(before, actual, targetVersions);
      failUnlessNone(problems, `the updated ${role} database`);
      return actual;
    },
  };
}

/** `actual` equal to `expected` (compareInventories) and carrying every target version, or the step fails. */
function failUnlessEqual(expected: InventoryResult, actual: InventoryResult<Inventory | PartialInventory>, targetVersions: string[], role: ServerRole): void {
  const problems = compareInventories(expected.inventory, actual.inventory);
  const missing = targetVersions.filter((v) => !actual.appliedVersions.includes(v));
  if (missing.length > 0) problems.push(`archive versions not applied: ${missing.join(', ')}`);
  failUnlessNone(problems, `the ${role} database`);
}

/** A verification with problems fails the step for good, naming the first ten. */
function failUnlessNone(problems: string[], what: string): void {
  if (problems.length > 0) throw fatal('VerificationFailed', `${what} does not match (${problems.length} problem(s)): ${problems.slice(0, 10).join('; ')}`);
}
