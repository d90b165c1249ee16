// A demo Kaapana node on this machine: a seeded 0.2.x-like dcm4chee database in a live data
// directory, the update scripts, and a configuration that points at both. The schemas and scripts
// are the project's miniature unless the vendor's own are given (src/demo/vendor.ts).
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { ConfigInput } from '../config/schema.js';
import { parseConfig } from '../config/load.js';
import type { MigrationConfig } from '../config/schema.js';
import { createLocalRuntime } from '../runtime/local.js';
import { queryRows, withClient } from '../postgres/client.js';
import { REQUIRED_COLUMNS_SQL, seedStatements, type RequiredColumn } from './seed.js';

const sqlDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'sql');
export const DEMO_SCRIPTS_DIR = path.join(sqlDir, 'psql');
/** The miniature's init scripts: what the 0.2.x (old) and 0.3.x (new) images run on an empty directory. */
export const DEMO_OLD_INIT_DIR = path.join(sqlDir, 'old-init');
export const DEMO_NEW_INIT_DIR = path.join(sqlDir, 'new-init');
export const DEMO_PASSWORD_FILE = 'pacs-password';

export interface DemoNodeOptions {
  dir: string;
  node?: string;
  instances: number;
  seed?: number;
  oldBinDir: string;
  newBinDir: string;
  clientBinDir?: string;
  /** The update scripts (paths.scriptsDir); default the miniature's. */
  scriptsDir?: string;
  /** Init scripts of the old and new server (default the miniature's); the old ones decide what is seeded into. */
  oldInitDir?: string;
  newInitDir?: string;
  /** Extra configuration merged over the demo's (tests use it for bad input). */
  overrides?: (config: ConfigInput) => ConfigInput;
}

export interface DemoNode {
  /** The node's directory (absolute): live data, configuration, password, state. */
  dir: string;
  config: MigrationConfig;
  configFile: string;
  password: string;
}

/** Creates the node (a seeded live database under `dir`) unless it already exists. */
export async function createDemoNode(opts: DemoNodeOptions): Promise<DemoNode> {
  const dir = path.resolve(opts.dir);
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  const passwordFile = path.join(dir, DEMO_PASSWORD_FILE);
  const password = await fs.readFile(passwordFile, 'utf8').catch(async () => {
    const fresh = randomBytes(12).toString('base64url');
    await fs.writeFile(passwordFile, fresh, { mode: 0o600 });
    return fresh;
  });
  const raw: ConfigInput = {
    node: opts.node ?? 'demo-node',
    paths: {
      dataDir: path.join(dir, 'fast', 'postgres-dcm4che'),
      fastDataDir: path.join(dir, 'fast'),
      backupDir: path.join(dir, 'backup'),
      scriptsDir: opts.scriptsDir ?? DEMO_SCRIPTS_DIR,
    },
    database: { name: 'pacsdb', user: 'pacs', password: { file: passwordFile } },
    runtime: {
      kind: 'local',
      old: { binDir: opts.oldBinDir, initScriptsDir: opts.oldInitDir ?? DEMO_OLD_INIT_DIR },
      new: { binDir: opts.newBinDir, initScriptsDir: opts.newInitDir ?? DEMO_NEW_INIT_DIR },
      clientBinDir: opts.clientBinDir ?? opts.newBinDir,
      stateDir: path.join(dir, 'state'),
    },
  };
  const config = parseConfig(opts.overrides ? opts.overrides(raw) : raw, 'demo configuration');
  const configFile = path.join(dir, 'kaapana-migrate.yaml');
  await fs.writeFile(configFile, YAML.stringify(config), { mode: 0o600 });

  await fs.mkdir(config.paths.fastDataDir, { recursive: true, mode: 0o711 });
  const credentials = { name: config.database.name, user: config.database.user, password };
  if (!(await fs.stat(path.join(config.paths.dataDir, 'PG_VERSION')).catch(() => undefined))) {
    if (config.runtime.kind !== 'local') throw new Error('the demo node runs on the local runtime');
    const r = config.runtime;
    const runtime = createLocalRuntime({ images: { old: r.old, new: r.new }, clientBinDir: r.clientBinDir, stateDir: r.stateDir, serverUser: r.serverUser, credentials });
    const name = 'demo-seed';
    const endpoint = await runtime.start({ name, image: 'old', dataDir: config.paths.dataDir, readOnly: false, database: credentials }, 120_000);
    let seeded = false;
    try {
      await withClient(endpoint, credentials, async (client) => {
        const required = await queryRows<RequiredColumn>(client, REQUIRED_COLUMNS_SQL);
        for (const sql of seedStatements({ instances: opts.instances, seed: opts.seed ?? 1, required })) await client.query(sql);
      });
      seeded = true;
    } finally {
      await runtime.stop(name);
      await runtime.remove(name);
      // A half-seeded directory would pass for a seeded one on the next call.
      if (!seeded) await fs.rm(config.paths.dataDir, { recursive: true, force: true });
    }
  }
  return { dir, config, configFile, password };
}
