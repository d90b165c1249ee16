// Whether a statement on one table can change another's rows: only if not may the tables that no
// update script names be verified while the scripts run (verifyUntouched).
import type pg from 'pg';
import { queryRows } from './client.js';

/**
 * What in the public schema lets a write reach a table it does not name: functions (a script may
 * call one), triggers, rules, views (an update through one writes its base table), inheritance
 * (an update of a parent writes its children), foreign keys with an action (a cascade writes the
 * referencing table). Reads the catalog only; the same query on 9.6 and 15.
 */
const REACHING_WRITES = `
  SELECT
    (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace) AS functions,
    (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal) AS triggers,
    (SELECT count(*) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')) AS rules,
    (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('v', 'm')) AS views,
    (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relnamespace = 'public'::regnamespace) AS inheritance,
    (SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype = 'f' AND (confupdtype NOT IN ('a', 'r') OR confdeltype NOT IN ('a', 'r'))) AS "foreign keys with an action"`;

/** Null when no write can reach a table it does not name; else what can (`2 triggers, 1 view`). */
export async function writesReachOtherTables(client: pg.Client): Promise<string | null> {
  const [row] = await queryRows<Record<string, string>>(client, REACHING_WRITES);
  const found = Object.entries(row!).filter(([, n]) => Number(n) > 0).map(([what, n]) => `${n} ${what}`);
  return found.length > 0 ? found.join(', ') : null;
}
