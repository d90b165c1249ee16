// What one SQL statement of an update script is, in the words a DBA weighs its cost by: a row
// rewrite (update), a full scan under an exclusive lock (set not null), an index build, and so on.

/** In the order the report lists them when their times tie; the costly kinds first. */
export const STATEMENT_CLASSES = [
  'update',
  'insert',
  'delete',
  'alter table … type',
  'alter table … set not null',
  'alter table … add constraint',
  'alter table add/drop column',
  'alter table (other)',
  'create index',
  'create table',
  'drop',
  'other',
] as const;
export type StatementClass = (typeof STATEMENT_CLASSES)[number];

export interface StatementKind {
  /** The statement without comments, whitespace collapsed, cut to about 80 characters. */
  sql: string;
  class: StatementClass;
}

const SUMMARY_CHARS = 80;

export function describeStatement(text: string): StatementKind {
  const { shown, code } = uncomment(text);
  const summary = collapse(shown);
  return { sql: summary.length <= SUMMARY_CHARS ? summary : `${summary.slice(0, SUMMARY_CHARS - 1)}…`, class: classOf(collapse(code).toLowerCase()) };
}

/** First match wins: an ALTER TABLE doing several things is counted as its costliest. */
const RULES: [RegExp, StatementClass][] = [
  [/^update\b/, 'update'],
  [/^insert\b/, 'insert'],
  [/^delete\b/, 'delete'],
  // A type change rewrites the table and its indexes.
  [/^alter table\b.*\balter (column )?\S+ (set data )?type\b/, 'alter table … type'],
  // Scans the whole table under an ACCESS EXCLUSIVE lock.
  [/^alter table\b.*\bset not null\b/, 'alter table … set not null'],
  // A foreign key or check validates every row, a primary key or unique builds an index.
  [/^alter table\b.*\badd (constraint|primary key|unique|foreign key|check|exclude)\b/, 'alter table … add constraint'],
  // The vendor writes `add x int8` and `drop x` without COLUMN; on 9.6 a default rewrites the table.
  [/^alter table\b.*\b(add|drop) (?!constraint\b|not null\b|default\b|identity\b|expression\b)/, 'alter table add/drop column'],
  [/^alter table\b/, 'alter table (other)'],
  [/^create (unique )?index\b/, 'create index'],
  [/^create ((global |local )?(temp|temporary) |unlogged )?table\b/, 'create table'],
  [/^drop\b/, 'drop'],
];

const classOf = (code: string): StatementClass => RULES.find(([re]) => re.test(code))?.[1] ?? 'other';

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();

/**
 * The text without its comments (`shown`), and also without the content of its string literals
 * (`code`), so that neither a comment nor a literal's words decide the class.
 */
function uncomment(text: string): { shown: string; code: string } {
  let shown = '';
  let code = '';
  let i = 0;
  const keep = (from: number, to: number, literal: boolean) => {
    shown += text.slice(from, to);
    code += literal ? "''" : text.slice(from, to);
    i = to;
  };
  while (i < text.length) {
    const rest = text.slice(i, i + 2);
    if (rest === '--') {
      const eol = text.indexOf('\n', i);
      shown += ' ';
      code += ' ';
      i = eol < 0 ? text.length : eol;
    } else if (rest === '/*') {
      // Block comments nest in PostgreSQL.
      let depth = 0;
      do {
        const pair = text.slice(i, i + 2);
        depth += pair === '/*' ? 1 : pair === '*/' ? -1 : 0;
        i += pair === '/*' || pair === '*/' ? 2 : 1;
      } while (depth > 0 && i < text.length);
      shown += ' ';
      code += ' ';
    } else if (text[i] === "'") {
      // E'…' takes backslash escapes; in a standard string '' is a quote.
      const escapes = /(^|[^\w$])[eE]$/.test(code);
      let j = i + 1;
      while (j < text.length && !(text[j] === "'" && text[j + 1] !== "'")) j += (escapes && text[j] === '\\') || text[j] === "'" ? 2 : 1;
      keep(i, Math.min(j + 1, text.length), true);
    } else if (text[i] === '"') {
      const end = text.indexOf('"', i + 1);
      keep(i, end < 0 ? text.length : end + 1, false);
    } else if (text[i] === '$' && !/[\w$]$/.test(code)) {
      const tag = /^\$([A-Za-z_]\w*)?\$/.exec(text.slice(i, i + 64))?.[0];
      const end = tag ? text.indexOf(tag, i + tag.length) : -1;
      if (tag) keep(i, end < 0 ? text.length : end + tag.length, true);
      else keep(i, i + 1, false);
    } else {
      keep(i, i + 1, false);
    }
  }
  return { shown, code };
}
