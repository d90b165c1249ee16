// A directory of the vendor's own SQL, assembled by the user from the public repositories (see
// BENCHMARKS.md), for a demo node that has what a real node has instead of the miniature:
//   old-init/  the 5.26 schema the 0.2.x image creates (dcm4che-dockerfiles/postgres-dcm4chee,
//              branch 9.6, docker-entrypoint-initdb.d/*.sql)
//   new-init/  the 5.32 schema the 0.3.x image creates (dcm4chee-arc-light 5.32.0 create-*.sql)
//   psql/      the update scripts (dcm4chee-arc-light 5.32.0 dcm4chee-arc-entity/src/main/resources/sql/psql)
// Init scripts run in file-name order, as the images run docker-entrypoint-initdb.d.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DemoNodeOptions } from './node.js';

export type DemoSql = Required<Pick<DemoNodeOptions, 'oldInitDir' | 'newInitDir' | 'scriptsDir'>>;

const LAYOUT: Record<keyof DemoSql, string> = { oldInitDir: 'old-init', newInitDir: 'new-init', scriptsDir: 'psql' };

/** The three directories under `dir`; refuses one that is missing or holds no .sql file. */
export async function vendorSql(dir: string): Promise<DemoSql> {
  const root = path.resolve(dir);
  const entries = await Promise.all(
    Object.entries(LAYOUT).map(async ([key, name]) => {
      const sub = path.join(root, name);
      const files = await fs.readdir(sub).catch(() => [] as string[]);
      if (!files.some((f) => f.endsWith('.sql'))) {
        throw new Error(`${sub} holds no .sql files: a vendor directory has ${Object.values(LAYOUT).join('/, ')}/ (the 5.26 init scripts, the 5.32 init scripts, the update scripts)`);
      }
      return [key, sub] as const;
    }),
  );
  return Object.fromEntries(entries) as DemoSql;
}
