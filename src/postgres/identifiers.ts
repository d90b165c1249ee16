// The words of SQL text that name things: what ties an update script to the tables, columns and
// indexes it touches.

/** The text without its comments (what the server executes). */
export function codeOf(sql: string): string {
  return sql.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ');
}

/** Identifiers (keywords included) outside comments and string literals, lower case, sorted. */
export function identifiers(sql: string): string[] {
  const code = codeOf(sql).replace(/'(?:[^']|'')*'/g, ' ');
  const words = [...code.matchAll(/"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_$]*)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!).toLowerCase());
  return [...new Set(words)].sort();
}
