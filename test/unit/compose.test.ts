// The site's Temporal service (docker-compose.temporal.yml) and how worker and CLI find a server.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import YAML from 'yaml';
import { SEARCH_ATTRIBUTES, SA_NODE, WORKFLOW_TYPE, taskQueueFor } from '../../src/shared.js';
import { connectClient, describeTemporalTarget, resolveTemporalTarget } from '../../src/temporal/connection.js';
import { connectWorker } from '../../src/worker.js';
import { startDevServer, type DevServer } from '../support/temporal-server.js';

const COMPOSE_FILE = new URL('../../docker-compose.temporal.yml', import.meta.url);

interface Service {
  image?: string;
  environment?: Record<string, string> | string[];
  ports?: (string | { host_ip?: string; published?: string | number })[];
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  healthcheck?: { test?: string | string[]; disable?: boolean };
  depends_on?: Record<string, { condition?: string }>;
  configs?: { source: string; target: string }[];
  entrypoint?: string | string[];
  command?: string | string[];
}

interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  configs?: Record<string, { content?: string }>;
}

const compose = YAML.parse(readFileSync(COMPOSE_FILE, 'utf8')) as ComposeFile;
const services = Object.entries(compose.services);

function serviceByImage(repository: string): [string, Service] {
  const found = services.find(([, s]) => s.image?.split(':')[0] === repository);
  assert.ok(found, `a service runs ${repository}`);
  return found;
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

/** What Compose makes of a value with no variables set: defaults applied, `$$` unescaped. */
function withDefaults(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}/g, (whole, name?: string, op?: string, arg?: string) => {
    if (whole === '$$') return '$';
    if (op === '-') return arg ?? '';
    throw new Error(`\${${name}} has no default`);
  });
}

/** A value Compose refuses to start without: `${VAR:?message}`. Returns VAR. */
function requiredVariable(value: string): string | undefined {
  return /^\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]+\}$/.exec(value)?.[1];
}

function commandText(service: Service): string {
  return [service.entrypoint, service.command].flat().filter((part) => part !== undefined).join(' ');
}

const [serverName, server] = serviceByImage('temporalio/server');
const [databaseName, database] = serviceByImage('postgres');
const [, ui] = serviceByImage('temporalio/ui');
const adminTools = services.filter(([, s]) => s.image?.split(':')[0] === 'temporalio/admin-tools');

describe('docker-compose.temporal.yml', () => {
  it('has the server, its PostgreSQL, the UI and admin-tools jobs', () => {
    assert.equal(serverName, 'temporal');
    assert.equal(databaseName, 'postgresql');
    assert.ok(adminTools.length >= 2, 'a schema job and a registration job');
    const schemaJob = adminTools.find(([, s]) => commandText(s).includes('temporal-sql-tool'));
    assert.ok(schemaJob, 'an admin-tools job sets up the schema');
    assert.equal(server.depends_on?.[schemaJob[0]]?.condition, 'service_completed_successfully');
    assert.equal(schemaJob[1].depends_on?.[databaseName]?.condition, 'service_healthy');
    assert.equal(ui.depends_on?.[serverName]?.condition, 'service_healthy');
  });

  it('pins every image to a version tag', () => {
    for (const [name, service] of services) {
      assert.ok(service.image, `${name} has an image`);
      const [repository, tag, ...rest] = service.image.split(':');
      assert.ok(repository && tag && rest.length === 0, `${name}: ${service.image} names a tag`);
      assert.notEqual(tag, 'latest', `${name} is not on latest`);
      assert.match(tag, /^\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?$/, `${name}: ${tag} is a version, not a variable or a moving name`);
    }
  });

  it('checks the health of the server and the database', () => {
    for (const [name, service] of [
      [serverName, server],
      [databaseName, database],
    ] as const) {
      const test = service.healthcheck?.test;
      assert.ok(Array.isArray(test) && test.length > 1 && test[0] !== 'NONE', `${name} has a health check`);
      assert.notEqual(service.healthcheck?.disable, true);
    }
  });

  it('keeps data in declared named volumes, and uses every one it declares', () => {
    const declared = Object.keys(compose.volumes ?? {});
    const used = new Set<string>();
    for (const [name, service] of services) {
      for (const volume of service.volumes ?? []) {
        const source = typeof volume === 'string' ? volume.split(':')[0] : volume.source;
        assert.ok(source && !/^[./~]/.test(source), `${name}: ${JSON.stringify(volume)} is a named volume, not a host path or anonymous`);
        assert.ok(declared.includes(source), `${name}: volume ${source} is declared`);
        used.add(source);
      }
    }
    assert.deepEqual([...used].sort(), declared.sort());
    const data = (database.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[1] : v.target));
    assert.ok(data.includes('/var/lib/postgresql/data'), 'the database directory is on a named volume');
  });

  it('publishes ports on 127.0.0.1 unless told otherwise, and the database not at all', () => {
    assert.equal(database.ports, undefined);
    let published = 0;
    for (const [name, service] of services) {
      for (const port of service.ports ?? []) {
        published++;
        assert.equal(typeof port, 'string', `${name}: short port syntax`);
        const hostIp = withDefaults(port as string).split(':')[0];
        assert.equal(hostIp, '127.0.0.1', `${name}: ${String(port)}`);
      }
    }
    assert.ok(published >= 2, 'the frontend and the UI are published');
  });

  it('points the server at PostgreSQL with a password that must come from the environment', () => {
    const env = environmentOf(server);
    assert.equal(env.DB, 'postgres12');
    assert.equal(env.POSTGRES_SEEDS, databaseName);
    assert.ok(env.POSTGRES_USER, 'a database user');
    assert.ok(env.POSTGRES_PWD && requiredVariable(env.POSTGRES_PWD), `POSTGRES_PWD is \${VAR:?message}, not ${env.POSTGRES_PWD}`);
    assert.equal(requiredVariable(environmentOf(database).POSTGRES_PASSWORD ?? ''), requiredVariable(env.POSTGRES_PWD));
    const dynamicConfig = server.configs?.find((c) => c.target === env.DYNAMIC_CONFIG_FILE_PATH);
    assert.ok(dynamicConfig && compose.configs?.[dynamicConfig.source]?.content !== undefined, 'the dynamic config file the server needs is provided');
  });

  it('has no literal password anywhere', () => {
    const variables = new Set<string>();
    for (const [name, service] of services) {
      for (const [key, value] of Object.entries(environmentOf(service))) {
        if (!/PASSWORD|PWD|SECRET|API_KEY|TOKEN/i.test(key)) continue;
        const variable = requiredVariable(String(value));
        assert.ok(variable, `${name}: ${key} comes from \${VAR:?message}`);
        variables.add(variable);
      }
    }
    assert.equal(variables.size, 1, 'the database password is one variable everywhere');
  });

  it('points the UI at the server frontend', () => {
    const frontendPort = environmentOf(server).FRONTEND_GRPC_PORT ?? '7233';
    assert.equal(environmentOf(ui).TEMPORAL_ADDRESS, `${serverName}:${frontendPort}`);
  });

  it('registers the search attributes the workflow sets, as Keyword', () => {
    const registration = adminTools.map(([, s]) => commandText(s)).find((text) => text.includes('search-attribute create'));
    assert.ok(registration, 'an admin-tools job runs `temporal operator search-attribute create`');
    assert.match(registration, /temporal operator search-attribute create/);
    assert.deepEqual(
      SEARCH_ATTRIBUTES.map((key) => [key.name, key.type]),
      ['KaapanaNode', 'MigrationPhase', 'ArchiveVersion'].map((name) => [name, 'KEYWORD']),
    );
    for (const { name } of SEARCH_ATTRIBUTES) {
      assert.match(registration, new RegExp(`--name ${name} --type Keyword\\b`), name);
    }
  });
});

describe('resolveTemporalTarget', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'kaapana-migrate-connection-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs fn with exactly these TEMPORAL_* variables; no user config file leaks in. */
  function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
    const saved = { ...process.env };
    for (const name of Object.keys(process.env)) if (name.startsWith('TEMPORAL_')) delete process.env[name];
    Object.assign(process.env, { TEMPORAL_CONFIG_FILE: path.join(dir, 'absent.toml') }, vars);
    try {
      return fn();
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  }

  function writeProfiles(): string {
    const file = path.join(dir, 'temporal.toml');
    writeFileSync(
      file,
      [
        '[profile.default]',
        'address = "temporal.site.example:7233"',
        'namespace = "kaapana"',
        '',
        '[profile.central]',
        'address = "central.example:7233"',
        'namespace = "fleet"',
        'api_key = "central-secret"',
        '',
      ].join('\n'),
    );
    return file;
  }

  it('defaults to the local service, plaintext', () => {
    const target = withEnv({}, () => resolveTemporalTarget());
    assert.deepEqual(target, { address: '127.0.0.1:7233', namespace: 'default' });
  });

  it('takes address, namespace and API key from TEMPORAL_* variables; a key implies TLS', () => {
    const target = withEnv(
      { TEMPORAL_ADDRESS: 'temporal.example:7233', TEMPORAL_NAMESPACE: 'kaapana', TEMPORAL_API_KEY: 'env-secret' },
      () => resolveTemporalTarget(),
    );
    assert.equal(target.address, 'temporal.example:7233');
    assert.equal(target.namespace, 'kaapana');
    assert.equal(target.apiKey, 'env-secret');
    assert.equal(target.tls, true);
    assert.doesNotMatch(describeTemporalTarget(target), /env-secret/);
  });

  it('treats empty variables (as in a systemd EnvironmentFile) as unset', () => {
    const target = withEnv({ TEMPORAL_ADDRESS: '', TEMPORAL_API_KEY: '', TEMPORAL_TLS_CLIENT_CERT_PATH: '', TEMPORAL_PROFILE: '' }, () =>
      resolveTemporalTarget(),
    );
    assert.deepEqual(target, { address: '127.0.0.1:7233', namespace: 'default' });
  });

  it('reads the client certificate and key named by TEMPORAL_TLS_CLIENT_*_PATH', () => {
    const cert = path.join(dir, 'client.pem');
    const key = path.join(dir, 'client.key');
    writeFileSync(cert, 'certificate bytes');
    writeFileSync(key, 'key bytes');
    const target = withEnv({ TEMPORAL_TLS_CLIENT_CERT_PATH: cert, TEMPORAL_TLS_CLIENT_KEY_PATH: key }, () => resolveTemporalTarget());
    assert.ok(target.tls && typeof target.tls === 'object');
    assert.equal(Buffer.from(target.tls.clientCertPair?.crt ?? []).toString(), 'certificate bytes');
    assert.equal(Buffer.from(target.tls.clientCertPair?.key ?? []).toString(), 'key bytes');
  });

  it('honours a TOML profile file, and TEMPORAL_PROFILE picks the profile', () => {
    const file = writeProfiles();
    const fromDefault = withEnv({ TEMPORAL_CONFIG_FILE: file }, () => resolveTemporalTarget());
    assert.deepEqual(fromDefault, { address: 'temporal.site.example:7233', namespace: 'kaapana' });
    const central = withEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'central' }, () => resolveTemporalTarget());
    assert.equal(central.address, 'central.example:7233');
    assert.equal(central.namespace, 'fleet');
    assert.equal(central.apiKey, 'central-secret');
    assert.throws(() => withEnv({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'missing' }, () => resolveTemporalTarget()), /missing/);
  });

  it('lets variables override the file, and explicit overrides win over both', () => {
    const file = writeProfiles();
    const vars = { TEMPORAL_CONFIG_FILE: file, TEMPORAL_NAMESPACE: 'from-env' };
    assert.equal(withEnv(vars, () => resolveTemporalTarget()).namespace, 'from-env');
    const explicit = withEnv(vars, () => resolveTemporalTarget({ address: '10.0.0.5:7233', namespace: 'from-cli' }));
    assert.deepEqual(explicit, { address: '10.0.0.5:7233', namespace: 'from-cli' });
  });
});

describe('connecting to a real Temporal server', { timeout: 180_000 }, () => {
  let dir: string;
  let server: DevServer;
  let client: Client | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'kaapana-migrate-devserver-'));
    server = await startDevServer({ dbFile: path.join(dir, 'temporal.db'), searchAttributes: SEARCH_ATTRIBUTES.map((key) => key.name) });
  });
  after(async () => {
    await client?.connection.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** As the CLI does it: the address from TEMPORAL_ADDRESS. */
  function targetFromEnv() {
    const saved = process.env.TEMPORAL_ADDRESS;
    process.env.TEMPORAL_ADDRESS = server.address;
    try {
      return resolveTemporalTarget();
    } finally {
      if (saved === undefined) delete process.env.TEMPORAL_ADDRESS;
      else process.env.TEMPORAL_ADDRESS = saved;
    }
  }

  async function listByNode(node: string): Promise<string[]> {
    const ids: string[] = [];
    for await (const execution of client!.workflow.list({ query: `KaapanaNode = "${node}"` })) ids.push(execution.workflowId);
    return ids;
  }

  it('connectClient reaches it through TEMPORAL_ADDRESS and lists workflows by search attribute', async () => {
    const target = targetFromEnv();
    assert.equal(target.address, server.address);
    client = await connectClient(target);
    assert.deepEqual(await listByNode('unit-test-node'), []);

    // No worker polls this queue: the execution stays open, which is all listing needs.
    const handle = await client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: taskQueueFor('unit-test-node'),
      workflowId: 'compose-test-listing',
      typedSearchAttributes: [{ key: SA_NODE, value: 'unit-test-node' }],
    });
    let ids: string[] = [];
    for (let attempt = 0; attempt < 40 && ids.length === 0; attempt++) {
      ids = await listByNode('unit-test-node');
      if (ids.length === 0) await sleep(250);
    }
    assert.deepEqual(ids, [handle.workflowId]);
  });

  it('connectWorker opens the native connection a worker uses', async () => {
    const connection = await connectWorker(targetFromEnv());
    await connection.close();
  });

  it('the helper restarts the server on the same address and database file', async () => {
    assert.ok(client, 'the first test connected');
    await server.restart();
    const description = await client.workflow.getHandle('compose-test-listing').describe();
    assert.equal(description.status.name, 'RUNNING');
    await client.workflow.getHandle('compose-test-listing').terminate('test done');
  });

  it('reports an unreachable server with its address', async () => {
    await assert.rejects(
      connectWorker({ address: '127.0.0.1:1', namespace: 'default' }),
      /cannot connect to Temporal at 127\.0\.0\.1:1 \(namespace default, plaintext\)/,
    );
  });
});
