// Verification: every table's rows and content, the guide's figures, sequences, owners, encoding and
// settings, against what was expected.
import type { ServerRole } from '../config/layout.js';
import type { Verification } from '../postgres/inventory.js';
import { compareInventories, compareUpdated } from '../verification/compare.js';
import type { ActivityDeps, RunContext } from './context.js';
import { fatal } from './context.js';
import { createInventoryActivities, type InventoryResult } from './inventory.js';

export function createVerifyActivities(deps: ActivityDeps) {
  const { inventory } = createInventoryActivities(deps);
  return {
    /** Takes the role's inventory and fails unless it equals `expected` table by table. */
    async verify(ctx: RunContext, role: ServerRole, expected: InventoryResult, targetVersions: string[]): Promise<InventoryResult> {
      const actual = await inventory(ctx, role);
      const problems = compareInventories(expected.inventory, actual.inventory);
      const missing = targetVersions.filter((v) => !actual.appliedVersions.includes(v));
      if (missing.length > 0) problems.push(`archive versions not applied: ${missing.join(', ')}`);
      failUnlessNone(problems, `the ${role} database`);
      return actual;
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

/** A verification with problems fails the step for good, naming the first ten. */
function failUnlessNone(problems: string[], what: string): void {
  if (problems.length > 0) throw fatal('VerificationFailed', `${what} does not match (${problems.length} problem(s)): ${problems.slice(0, 10).join('; ')}`);
}
