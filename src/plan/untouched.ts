// Which tables the update scripts leave alone, read from their words: those tables' rows stay as
// loaded, so their check may run while the scripts do (verifyUntouched).
import type { UpdateScript } from './scripts.js';

/**
 * Words that let a script write rows of a table it does not name: dynamic SQL, calls, the DDL of
 * triggers, rules and functions, cascades. A script with one of them leaves no table untouched.
 */
const REACHING_WORDS = ['do', 'execute', 'call', 'function', 'procedure', 'trigger', 'rule', 'cascade'];

/**
 * The `tables` none of `scripts` names (identifiers compare in lower case, as the scripts' words
 * are read), sorted. None when a script's words are unknown (plans recorded before they were read)
 * or one of them may reach other tables.
 */
export function untouchedBy(scripts: UpdateScript[], tables: string[]): string[] {
  if (!scripts.every((s) => s.mentions)) return [];
  const named = new Set(scripts.flatMap((s) => s.mentions!));
  if (REACHING_WORDS.some((w) => named.has(w))) return [];
  return tables.filter((t) => !named.has(t.toLowerCase())).sort();
}
