// Discovery of the vendor's update scripts and the ordered, gap-free selection to apply.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { codeOf, identifiers } from '../postgres/identifiers.js';
import { ARCHIVE_UPDATE_CHAIN, compareVersions, inRange } from './versions.js';

export interface UpdateScript {
  version: string;
  file: string;
  bytes: number;
  sha256: string;
  /** Tables whose rows the script rewrites (UPDATE … SET), each once: what its run time follows. */
  rewrites: string[];
  /**
   * Every identifier of the script (see identifiers): the indexes a fast load may build after the
   * updates are those it does not name. Absent in plans recorded before: no index waits then.
   */
  mentions?: string[];
}

export class PlanError extends Error {
  override name = 'PlanError';
}

const UPDATE = /^update-(\d+(?:\.\d+)+)-psql\.sql$/;
/** Files that sit beside the updates in the vendor directory and are not updates. */
const NEIGHBOURS = [
  /^update-\d+(?:\.\d+)+-\d+-psql\.sql$/, // split parts of an update (update-5.27-1-psql.sql)
  /^(create|drop)(-[a-z-]+)?-psql\.sql$/,
  /^create-[a-z-]+\.sql$/,
];

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * The update scripts to apply for [from, to], in version order. Refuses a missing version of the
 * known chain, an unknown version inside the range, and files it does not recognise.
 */
export async function selectUpdateScripts(dir: string, from: string, to: string): Promise<UpdateScript[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (err) {
    throw new PlanError(`cannot read the update-script directory ${dir} (${(err as NodeJS.ErrnoException).code}); point paths.scriptsDir at dcm4chee-arc-entity/src/main/resources/sql/psql of dcm4chee-arc-light ${to}`);
  }
  if (compareVersions(from, to) > 0) throw new PlanError(`versions.from ${from} is after versions.to ${to}`);
  const unknown = entries.filter((f) => !UPDATE.test(f) && !NEIGHBOURS.some((re) => re.test(f)));
  if (unknown.length > 0) {
    throw new PlanError(`${dir} holds files that are not dcm4chee-arc-light SQL scripts: ${unknown.join(', ')}; remove them or point paths.scriptsDir at the vendor's sql/psql directory`);
  }
  const found = new Map<string, string>();
  for (const f of entries) {
    const m = UPDATE.exec(f);
    if (m && inRange(m[1]!, from, to)) found.set(m[1]!, f);
  }
  const expected = ARCHIVE_UPDATE_CHAIN.filter((v) => inRange(v, from, to));
  const missing = expected.filter((v) => !found.has(v));
  if (missing.length > 0) {
    throw new PlanError(`update scripts missing in ${dir}: ${missing.map((v) => `update-${v}-psql.sql`).join(', ')} — applying ${from}…${to} without them would leave a gap`);
  }
  const strange = [...found.keys()].filter((v) => !(expected as readonly string[]).includes(v));
  if (strange.length > 0) {
    throw new PlanError(`update scripts for versions outside the known chain ${ARCHIVE_UPDATE_CHAIN.join(', ')}: ${strange.join(', ')}`);
  }
  return Promise.all(
    expected.map(async (version) => {
      const file = path.join(dir, found.get(version)!);
      // Scripts are a few KiB: read once for both the digest and the statements.
      const text = await fs.readFile(file);
      const sql = text.toString('utf8');
      return { version, file, bytes: text.length, sha256: createHash('sha256').update(text).digest('hex'), rewrites: rewrittenTables(sql), mentions: identifiers(sql) };
    }),
  );
}

/** The tables named by `UPDATE <table> SET` statements outside comments, in order of first use. */
export function rewrittenTables(sql: string): string[] {
  const tables = [...codeOf(sql).matchAll(/\bupdate\s+(?:only\s+)?"?([a-z_][a-z0-9_]*)"?\s+(?:as\s+)?(?:[a-z_][a-z0-9_]*\s+)?set\b/gi)].map((m) => m[1]!.toLowerCase());
  return [...new Set(tables)];
}
