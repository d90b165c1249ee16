// Demo nodes for the benchmark: each size is seeded once into a template (reproducibly, by
// createDemoNode) and every measured run gets its own copy, since a completed migration moves the
// original directory aside.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createDemoNode, DEMO_PASSWORD_FILE, type DemoNode } from '../src/demo/node.js';
import { run } from '../src/demo/binaries.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from '../test/support/pg-binaries.js';

export const SEED = 1;

export interface BenchNode extends DemoNode {
  dir: string;
}

async function node(dir: string, instances: number, name: string): Promise<BenchNode> {
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  await fs.chmod(dir, 0o711);
  const created = await createDemoNode({ dir, node: name, instances, seed: SEED, oldBinDir: await oldPostgresBinDir(), newBinDir: NEW_POSTGRES_BIN_DIR });
  return { ...created, dir };
}

/** The seeded template of one size under `root` (seeding only when it is not there yet). */
export function templateNode(root: string, instances: number): Promise<BenchNode> {
  return node(path.join(root, `template-${instances}`), instances, `tpl${instances}`);
}

/** A fresh copy of the template's live directory under `root/<label>`, for one measured run. */
export async function copyNode(root: string, template: BenchNode, label: string, instances: number): Promise<BenchNode> {
  const dir = path.join(root, label);
  await fs.rm(dir, { recursive: true, force: true });
  const dataDir = path.join(dir, path.relative(template.dir, template.config.paths.dataDir));
  await fs.mkdir(path.dirname(dataDir), { recursive: true, mode: 0o711 });
  // cp -a keeps the server user's ownership and the 0700 mode PostgreSQL insists on.
  await run(['cp', '-a', '--', template.config.paths.dataDir, dataDir]);
  await fs.copyFile(path.join(template.dir, DEMO_PASSWORD_FILE), path.join(dir, DEMO_PASSWORD_FILE));
  return node(dir, instances, label);
}
