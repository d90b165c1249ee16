// Role and database settings (pg_db_role_setting) as the statements that set them again on
// another server: a plain pg_dump carries none of them.
import type { RoleSetting } from './inventory.js';
import pg from 'pg';

/**
 * Settings whose stored value is a list of quoted names (GUC_LIST_QUOTE; the list pg_dump keeps
 * in variable_is_guc_list_quote): set again as one literal, the whole list would become one name.
 */
const LIST_OF_NAMES = new Set(['local_preload_libraries', 'search_path', 'session_preload_libraries', 'shared_preload_libraries', 'temp_tablespaces', 'unix_socket_directories']);

/**
 * The elements of a stored list value such as `"$user", public` (as PostgreSQL's SplitGUCList
 * reads it: double-quoted elements with "" for a quote, others up to a comma or blank);
 * undefined when it is not such a list.
 */
export function splitNameList(value: string): string[] | undefined {
  const items: string[] = [];
  let i = 0;
  const blank = () => {
    while (i < value.length && /\s/.test(value[i]!)) i += 1;
  };
  blank();
  if (i === value.length) return items;
  for (;;) {
    let item = '';
    if (value[i] === '"') {
      for (i += 1; ; i += 1) {
        if (i >= value.length) return undefined;
        if (value[i] === '"') {
          if (value[i + 1] !== '"') break;
          i += 1;
        }
        item += value[i];
      }
      i += 1;
    } else {
      const start = i;
      while (i < value.length && value[i] !== ',' && !/\s/.test(value[i]!)) i += 1;
      if (i === start) return undefined;
      item = value.slice(start, i);
    }
    items.push(item);
    blank();
    if (i === value.length) return items;
    if (value[i] !== ',') return undefined;
    i += 1;
    blank();
  }
}

function valueSql(s: RoleSetting): string {
  const items = LIST_OF_NAMES.has(s.name.toLowerCase()) ? splitNameList(s.value) : undefined;
  return items && items.length > 0 ? items.map(pg.escapeLiteral).join(', ') : pg.escapeLiteral(s.value);
}

/** The ALTER … SET statement that makes the setting in `database`; running it twice changes nothing. */
export function settingStatement(s: RoleSetting, database: string): string {
  const target =
    s.role === null
      ? s.inDatabase
        ? `DATABASE ${pg.escapeIdentifier(database)}`
        : 'ROLE ALL'
      : `ROLE ${pg.escapeIdentifier(s.role)}${s.inDatabase ? ` IN DATABASE ${pg.escapeIdentifier(database)}` : ''}`;
  return `ALTER ${target} SET ${s.name.split('.').map(pg.escapeIdentifier).join('.')} = ${valueSql(s)};`;
}
