// Demo nodes for the benchmark: each size is seeded once into a template (reproducibly, by
// createDemoNode) and every measured run gets its own copy, since a completed migration moves the
// original directory aside. The SQL is the miniature's or the vendor's (--vendor).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createDemoNode, DEMO_NEW_INIT_DIR, DEMO_OLD_INIT_DIR, DEMO_SCRIPTS_DIR, type DemoNode } from '../src/demo/node.js';
import type { DemoSql } from '../src/demo/vendor.js';
import { copyLiveDirectory, seedingKey } from '../test/support/node-template.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from '../test/support/pg-binaries.js';

export const SEED = 1;
export const MINIATURE: DemoSql = { oldInitDir: DEMO_OLD_INIT_DIR, newInitDir: DEMO_NEW_INIT_DIR, scriptsDir: DEMO_SCRIPTS_DIR };

async function node(dir: string, instances: number, name: string, sql: DemoSql): Promise<DemoNode> {
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  await fs.chmod(dir, 0o711);
  return createDemoNode({ dir, node: name, instances, seed: SEED, oldBinDir: await oldPostgresBinDir(), newBinDir: NEW_POSTGRES_BIN_DIR, ...sql });
}

/**
 * The seeded template of one size under `root` (seeding only when it is not there yet); its name
 * carries a digest of the seeder and the schema it seeds into, so a changed one is seeded anew.
 */
export async function templateNode(root: string, instances: number, sql: DemoSql): Promise<DemoNode> {
  const key = await seedingKey([String(instances), String(SEED), await oldPostgresBinDir()], sql.oldInitDir);
  return node(path.join(root, `template-${instances}-${key}`), instances, `tpl${instances}`, sql);
}

/** A fresh copy of the template's live directory under `root/<label>`, for one measured run. */
export async function copyNode(root: string, template: DemoNode, label: string, instances: number, sql: DemoSql): Promise<DemoNode> {
  const dir = path.join(root, label);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  await copyLiveDirectory(template, dir);
  return node(dir, instances, label, sql);
}
