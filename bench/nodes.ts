// Demo nodes for the benchmark: each size is seeded once into a template (reproducibly, by
// createDemoNode) and every measured run gets its own copy, since a completed migration moves the
// original directory aside.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { createDemoNode, type DemoNode } from '../src/demo/node.js';
import { copyLiveDirectory } from '../test/support/node-template.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from '../test/support/pg-binaries.js';

export const SEED = 1;

async function node(dir: string, instances: number, name: string): Promise<DemoNode> {
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  await fs.chmod(dir, 0o711);
  return createDemoNode({ dir, node: name, instances, seed: SEED, oldBinDir: await oldPostgresBinDir(), newBinDir: NEW_POSTGRES_BIN_DIR });
}

/** The seeded template of one size under `root` (seeding only when it is not there yet). */
export function templateNode(root: string, instances: number): Promise<DemoNode> {
  return node(path.join(root, `template-${instances}`), instances, `tpl${instances}`);
}

/** A fresh copy of the template's live directory under `root/<label>`, for one measured run. */
export async function copyNode(root: string, template: DemoNode, label: string, instances: number): Promise<DemoNode> {
  const dir = path.join(root, label);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  await copyLiveDirectory(template, dir);
  return node(dir, instances, label);
}
