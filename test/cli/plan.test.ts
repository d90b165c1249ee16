// `kaapana-migrate plan`: the plan of a good configuration, and clear refusals that change nothing.
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { checkRehearsalInput } from '../../src/config/input.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { NEW_POSTGRES_BIN_DIR, oldPostgresBinDir } from '../../src/demo/binaries.js';
import { DEMO_SCRIPTS_DIR } from '../../src/demo/node.js';
import { directoryBytes } from '../../src/files.js';
import { duration, mib } from '../../src/format.js';
import { benchmarkFigures, estimateMs, variantOf } from '../../src/plan/downtime.js';
import { sha256File } from '../../src/plan/scripts.js';
import { ARCHIVE_UPDATE_CHAIN } from '../../src/plan/versions.js';
import { demoNode, tempDir, treeSnapshot } from '../support/harness.js';
import { cli } from './run.js';

let dir: string;
let oldBinDir: string;
before(async () => {
  dir = await tempDir('plan');
  oldBinDir = await oldPostgresBinDir();
  // A node as plan sees it: a live 9.6 directory and room for the rest.
  await fs.mkdir(path.join(dir, 'fast', 'postgres-dcm4che'), { recursive: true });
  await fs.writeFile(path.join(dir, 'fast', 'postgres-dcm4che', 'PG_VERSION'), '9.6\n');
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function configFor(overrides: Partial<ConfigInput> & Record<string, unknown> = {}): ConfigInput {
  return {
    node: 'plan-node',
    paths: { dataDir: path.join(dir, 'fast', 'postgres-dcm4che'), fastDataDir: path.join(dir, 'fast'), backupDir: path.join(dir, 'backup'), scriptsDir: DEMO_SCRIPTS_DIR },
    database: { password: { env: 'PACS_PASSWORD' } },
    runtime: { kind: 'local', old: { binDir: oldBinDir }, new: { binDir: NEW_POSTGRES_BIN_DIR }, clientBinDir: NEW_POSTGRES_BIN_DIR, stateDir: path.join(dir, 'state') },
    ...overrides,
  } as ConfigInput;
}

async function writeConfig(name: string, config: unknown): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, YAML.stringify(config));
  return file;
}

/** Every path below `dir`: plan must leave all of it as it was. */
const snapshot = () => treeSnapshot(dir);

test('plan prints the update scripts in order with their sha256 and exits 0', async () => {
  const file = await writeConfig('good.yaml', configFor());
  const before = await snapshot();
  const { code, stdout, stderr } = await cli(['plan', '--config', file]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /Plan for node plan-node \(nothing has been changed\)/);
  assert.match(stdout, /live database\s+\S+postgres-dcm4che \(PostgreSQL 9\.6 cluster\)/);
  assert.match(stdout, /new PostgreSQL 15\s+\S+postgres-dcm4che-new \(absent, as it must be\)/);
  const listed = [...stdout.matchAll(/^\s+(\d+)\. (\S+)\s+[\d.]+ KiB\s+sha256 ([0-9a-f]{64})\s+(\S+)$/gm)];
  assert.deepEqual(listed.map((m) => m[2]), [...ARCHIVE_UPDATE_CHAIN]);
  assert.deepEqual(listed.map((m) => Number(m[1])), [1, 2, 3, 4, 5, 6, 7]);
  for (const m of listed) {
    assert.equal(path.basename(m[4]!), `update-${m[2]}-psql.sql`);
    assert.equal(m[3], await sha256File(m[4]!), `sha256 of ${m[4]}`);
  }
  assert.match(stdout, /^Disk space \(database size with the configured margin\)$/m);
  assert.match(stdout, /the database password is taken from the environment variable PACS_PASSWORD, which is not set for this process: the worker must have it/);
  assert.match(stdout, /Every preflight check passed\. Next: npm run cli -- start --config \S+good\.yaml/);
  assert.deepEqual(await snapshot(), before, 'plan changed nothing');
});

test('plan runs the workflow\'s preflight: a live directory that already holds PostgreSQL 15 is refused', async () => {
  const migrated = path.join(dir, 'migrated', 'postgres-dcm4che');
  await fs.mkdir(migrated, { recursive: true });
  await fs.writeFile(path.join(migrated, 'PG_VERSION'), '15\n');
  const file = await writeConfig('migrated.yaml', configFor({ paths: { ...configFor().paths, dataDir: migrated, fastDataDir: path.dirname(migrated) } }));
  const before = await snapshot();
  const { code, stdout, stderr } = await cli(['plan', '--config', file]);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /^error: preflight refuses this node: \S+migrated\/postgres-dcm4che already holds a PostgreSQL 15 cluster: it looks migrated already/);
  assert.match(stderr, /data: nothing was changed/);
  assert.match(stderr, /next: remove the cause, then run npm run cli -- plan --config \S+migrated\.yaml again; start refuses the same way until then/);
  assert.deepEqual(await snapshot(), before);
});

test('a gap in the update scripts: non-zero exit, what is missing, nothing changed', async () => {
  const scripts = path.join(dir, 'scripts-with-gap');
  await fs.cp(DEMO_SCRIPTS_DIR, scripts, { recursive: true });
  await fs.rm(path.join(scripts, 'update-5.29-psql.sql'));
  const file = await writeConfig('gap.yaml', configFor({ paths: { ...configFor().paths, scriptsDir: scripts } }));
  const before = await snapshot();
  const { code, stdout, stderr } = await cli(['plan', '--config', file]);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /^error: update scripts missing in \S+scripts-with-gap: update-5\.29-psql\.sql/);
  assert.match(stderr, /data: nothing was changed/);
  assert.match(stderr, /next: put the vendor's update scripts in place .* then run npm run cli -- plan --config \S+gap\.yaml again/);
  assert.deepEqual(await snapshot(), before);
});

test('a missing scripts directory: non-zero exit and where to point paths.scriptsDir', async () => {
  const file = await writeConfig('no-scripts.yaml', configFor({ paths: { ...configFor().paths, scriptsDir: path.join(dir, 'nowhere') } }));
  const { code, stderr } = await cli(['plan', '--config', file]);
  assert.equal(code, 1);
  assert.match(stderr, /error: cannot read the update-script directory \S+nowhere \(ENOENT\); point paths\.scriptsDir at/);
  assert.match(stderr, /data: nothing was changed/);
});

test('an unknown configuration key: non-zero exit naming the key, nothing changed', async () => {
  const file = await writeConfig('typo.yaml', { ...configFor(), diskMargn: 1.5 });
  const before = await snapshot();
  const { code, stdout, stderr } = await cli(['plan', '--config', file]);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /error: \S+typo\.yaml is not valid:\n\s+- \(top level\): unknown key\(s\) "diskMargn" \(a typo\?\)/);
  assert.match(stderr, /data: nothing was changed/);
  assert.match(stderr, /next: correct \S+typo\.yaml, then check it with npm run cli -- plan --config/);
  assert.deepEqual(await snapshot(), before);
});

test('rehearse: a node without a cluster needs rehearsal.live (nothing started); with it, the complete input is written', async () => {
  const bare = await writeConfig('rehearse-bare.yaml', configFor());
  const before = await snapshot();
  const refused = await cli(['rehearse', '--config', bare, '--write-input', path.join(dir, 'never.json')]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /error: \S+rehearse-bare\.yaml cannot be rehearsed: rehearsal\.live: the running database server .* is needed on a node without a cluster/);
  assert.match(refused.stderr, /data: nothing was changed/);
  assert.deepEqual(await snapshot(), before);

  const file = await writeConfig('rehearse.yaml', { ...configFor(), rehearsal: { live: { host: '/run/postgresql' }, modes: ['guide'] } });
  const input = path.join(dir, 'rehearsal.json');
  const written = await cli(['rehearse', '--config', file, '--write-input', input]);
  assert.equal(written.code, 0, written.stderr);
  assert.match(written.stdout, /start it as rehearseDcm4che with the id kaapana-rehearse-plan-node on the task queue kaapana-migrate-plan-node/);
  const checked = checkRehearsalInput(JSON.parse(await fs.readFile(input, 'utf8')));
  assert.ok(checked.ok, JSON.stringify(checked));
  assert.deepEqual(checked.rehearsal, { live: { host: '/run/postgresql', port: 5432 }, modes: ['guide'], nice: 10, io: 'best-effort' });
  await fs.rm(input);
});

test("plan estimates the downtime of the demo node's database from the benchmark's figures, the configured choice marked", async () => {
  const node = await demoNode('plan-estimate');
  const figures = benchmarkFigures();
  const bytes = await directoryBytes(node.config.paths.dataDir);
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const choice of [{ mode: 'guide', verification: 'checksums' }, { mode: 'fast', verification: 'counts' }] as const) {
    const file = path.join(node.dir, `${choice.mode}-${choice.verification}.yaml`);
    await fs.writeFile(file, YAML.stringify({ ...node.config, ...choice }));
    const { code, stdout, stderr } = await cli(['plan', '--config', file]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, new RegExp(`^Estimated downtime \\(from \`${escape(figures.command)}\`, ${figures.date}, ${escape(figures.machine)}\\) for the database directory of ${escape(mib(bytes))}$`, 'm'));
    assert.match(stdout, /An estimate for a machine like the benchmark's/);
    for (const mode of ['guide', 'fast'] as const) {
      const shown = (verification: 'checksums' | 'counts') => {
        const line = figures.variants[variantOf(mode, verification)];
        const ms = estimateMs(line, bytes);
        // Plausible: more than the fixed part, less than the benchmark's smallest run (the demo is smaller).
        assert.ok(ms >= line.fixedSeconds * 1000 && ms < Math.min(...line.runs.map((r) => r.seconds)) * 1000, `${mode}/${verification}: ${ms} ms`);
        const text = `${duration(ms)} (${verification})`;
        return escape(mode === choice.mode && verification === choice.verification ? `[${text}]` : text);
      };
      assert.match(stdout, new RegExp(`^  ${mode}\\s+${shown('checksums')} / ${shown('counts')}$`, 'm'));
    }
    assert.match(stdout, new RegExp(`\\[ \\]: the configured mode and verification \\(mode: ${choice.mode}, verification: ${choice.verification}\\)`));
    // The demo's directory is smaller than any the benchmark measured.
    assert.match(stdout, /The benchmark measured directories of [\d.]+ MiB to [\d.]+ MiB: this figure extends its line beyond them\./);
  }
});
