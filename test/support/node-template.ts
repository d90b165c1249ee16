// Seeding a demo database takes seconds (initdb, init scripts, rows); copying a seeded live
// directory takes a fraction of that. Tests and the benchmark seed each size once and copy it.
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/prerequisites.js';
import { createDemoNode, DEMO_OLD_INIT_DIR, DEMO_PASSWORD_FILE, type DemoNode } from '../../src/demo/node.js';

/** Copies the template's live directory (owner and 0700 kept) and its password into `dir`. */
export async function copyLiveDirectory(template: DemoNode, dir: string): Promise<void> {
  const dataDir = path.join(dir, path.relative(template.dir, template.config.paths.dataDir));
  await fs.mkdir(path.dirname(dataDir), { recursive: true, mode: 0o711 });
  await run(['cp', '-a', '--', template.config.paths.dataDir, dataDir]);
  await fs.copyFile(path.join(template.dir, DEMO_PASSWORD_FILE), path.join(dir, DEMO_PASSWORD_FILE));
}

const demoDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'demo');

/** Changes whenever what the seeding produces could change: its code, the old image's init scripts, the binaries. */
export async function seedingKey(parts: string[], initDir = DEMO_OLD_INIT_DIR): Promise<string> {
  const hash = createHash('sha256').update(parts.join('\0'));
  for (const file of [path.join(demoDir, 'seed.ts'), ...(await fs.readdir(initDir)).sort().map((f) => path.join(initDir, f))]) {
    hash.update(await fs.readFile(file));
  }
  return hash.digest('hex').slice(0, 16);
}

type TemplateOptions = { instances: number; seed: number; oldBinDir: string; newBinDir: string };

const templates = new Map<string, Promise<DemoNode>>();

/**
 * The seeded template for these options under the system's temp directory, made once and shared
 * by the test files of a run (and later runs, while the key matches); looked up once per process.
 * Made under a temporary name and renamed, so a half-made template is never used.
 */
export function sharedTemplate(opts: TemplateOptions): Promise<DemoNode> {
  const parts = [String(opts.instances), String(opts.seed), opts.oldBinDir, opts.newBinDir];
  const id = parts.join('\0');
  let template = templates.get(id);
  if (!template) {
    template = seedingKey(parts).then((key) => findOrMake(path.join(os.tmpdir(), `km-template-${opts.instances}-${key}`), opts));
    templates.set(id, template);
    template.catch(() => templates.delete(id));
  }
  return template;
}

async function findOrMake(dir: string, opts: TemplateOptions): Promise<DemoNode> {
  const open = (d: string) => createDemoNode({ ...opts, node: 'template', dir: d });
  if (await fs.stat(path.join(dir, DEMO_PASSWORD_FILE)).catch(() => undefined)) return open(dir);
  const making = await fs.mkdtemp(`${dir}.making-`);
  await fs.chmod(making, 0o711);
  await open(making);
  try {
    await fs.rename(making, dir);
  } catch {
    // Another process made it meanwhile: use theirs.
    await fs.rm(making, { recursive: true, force: true });
  }
  return open(dir);
}
