// A Kaapana node in memory: every activity of the migration, with the names and signatures of the
// real ones (`Activities`), acting on a small model of the node (directories, servers, archive
// versions, applications, LDAP, redeploys) and recording every call in order. Faults are set per
// call key (the `activityKey` scheme of faults.ts). Nothing real runs: the workflow's decisions
// are tested against it in test/workflow/.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Activities as AllActivities, RehearsalActivities, RunContext } from '../../src/activities/index.js';

/** The migration's activities, which the fake node models (the rehearsal's own need a live server). */
type Activities = Omit<AllActivities, keyof RehearsalActivities | 'writeRehearsalReport'>;
import type { InventoryResult } from '../../src/activities/inventory.js';
import type { Left } from '../../src/activities/verify.js';
import type { LdapCommandResult, LdapPlan } from '../../src/activities/cluster.js';
import type { ScriptResult } from '../../src/activities/updates.js';
import type { ReplicaRecord } from '../../src/cluster/port.js';
import { layoutFor, type Layout, type ServerRole } from '../../src/config/layout.js';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput, MigrationConfig } from '../../src/config/schema.js';
import { ldapCommandPlan } from '../../src/plan/ldap-commands.js';
import type { Plan } from '../../src/plan/preflight.js';
import type { UpdateScript } from '../../src/plan/scripts.js';
import { ARCHIVE_UPDATE_CHAIN, inRange } from '../../src/plan/versions.js';
import type { Fingerprint, Inventory } from '../../src/postgres/inventory.js';
import type { CreatedDatabase, DumpResult, Loaded } from '../../src/postgres/transfer.js';
import { compareInventories, compareTables, compareUpdated } from '../../src/verification/compare.js';
import type { DriftReport } from '../../src/verification/drift.js';
import type { MigrationReport } from '../../src/report/types.js';
import { activityKey } from './faults.js';

// ---------------------------------------------------------------------------------------------
// Configurations

export interface FakeConfigOptions {
  cluster?: boolean;
  mode?: 'guide' | 'fast';
  /** Merged over the generated raw configuration before parsing. */
  overrides?: Partial<ConfigInput>;
}

/** Dummy absolute paths: nothing real runs, the model only compares them. */
export function rawFakeConfig(node: string, opts: FakeConfigOptions = {}): ConfigInput {
  const root = `/fake/${node}`;
  return {
    node,
    paths: { dataDir: `${root}/slow/postgres-dcm4che`, fastDataDir: `${root}/fast`, backupDir: `${root}/backup`, scriptsDir: '/fake/dcm4chee-arc/sql/psql' },
    database: { password: { env: 'FAKE_PACS_PASSWORD' } },
    runtime: { kind: 'local', old: { binDir: '/fake/pg-9.6/bin' }, new: { binDir: '/fake/pg-15/bin' }, clientBinDir: '/fake/pg-15/bin', stateDir: `${root}/state` },
    cluster: opts.cluster
      ? { kind: 'kubernetes', kubeconfig: '/fake/kubeconfig', redeploy: { user: 'kaapana', currentScript: '/fake/kaapana-0.2/deploy_platform.sh', targetScript: '/fake/kaapana-0.3/deploy_platform.sh' } }
      : { kind: 'none' },
    mode: opts.mode ?? 'guide',
    // One attempt: a fault fails its step at once (the retry policy's first interval is 2 s).
    activityAttempts: 1,
    outageMinutes: 0,
    heartbeatTimeoutSeconds: 3,
    ...opts.overrides,
  };
}

export function fakeConfig(node: string, opts: FakeConfigOptions = {}): MigrationConfig {
  return parseConfig(rawFakeConfig(node, opts), `fake configuration of ${node}`);
}

// ---------------------------------------------------------------------------------------------
// Faults

export interface FailOptions {
  /** Fail only this many calls of the key (default: every call). */
  times?: number;
  /** Fail after the call's effect (as if the worker lost the answer). */
  afterEffect?: boolean;
  /** Fail half-way: after the first part of the effect (stopApplications: dcm4chee stopped; redeploy: 0.2.x undeployed; swap/unswap: first rename). */
  halfway?: boolean;
  message?: string;
}

export type Fault =
  /** ApplicationFailure.nonRetryable with `type` (one of the workflow's FATAL types, or InjectedFault). */
  | ({ kind: 'permanent'; type: string } & FailOptions)
  /** ApplicationFailure.retryable `times` times, then the call succeeds. */
  | ({ kind: 'transient'; type: string; times: number } & FailOptions)
  /** Hangs, heartbeating, until cancelled (then lingers `lingerMs`, as a real step cleaning up would) or released. */
  | { kind: 'hang'; lingerMs?: number }
  /** Returns `value` without the effect: an answer the workflow code does not expect (to reach its bugs). */
  | { kind: 'answer'; value: unknown };

export const permanent = (type = 'InjectedFault', opts: FailOptions = {}): Fault => ({ kind: 'permanent', type, ...opts });
export const transient = (times: number, type = 'InjectedTransient', opts: Omit<FailOptions, 'times'> = {}): Fault => ({ kind: 'transient', type, ...opts, times });
export const hang = (lingerMs = 0): Fault => ({ kind: 'hang', lingerMs });
export const answer = (value: unknown): Fault => ({ kind: 'answer', value });

/**
 * The key of a call: faults.ts's `activityKey` (e.g. `startServer:original`, `applyUpdate:5.30`,
 * `redeploy:forward`), but `unswap` without its random tag.
 */
export function callKey(name: string, args: unknown[]): string {
  return name === 'unswap' ? 'unswap' : activityKey(name, args);
}

// ---------------------------------------------------------------------------------------------
// The model

export interface DirContent {
  /** Which cluster it is: 'original' (the live 0.2.x data), or the role that created it. */
  label: string;
  pg: '9.6' | '15';
  /** Archive versions the schema carries. */
  versions: string[];
  /** Whether it holds the PACS data (restored or original) or only what initdb created. */
  data: boolean;
  /** Tables loaded with room for the updates and not reset since: none may be left when it is dumped or handed over. */
  room?: string[];
}

export interface ClusterModel {
  /** Which platform is deployed: 'none' between an undeploy and a deploy. */
  release: '0.2' | '0.3' | 'none';
  replicas: ReplicaRecord;
  /** The replica counts recorded on the 0.2.x deployments by stopApplications (what restoreApplications reads). */
  marks?: ReplicaRecord;
  ldapBackup?: string;
  /** argv of every LDAP command run in the ldap pod, joined by spaces. */
  ldapRan: string[];
  /** Platform changes in order: 'undeploy 0.2', 'deploy 0.3', 'undeploy 0.3', 'deploy 0.2'. */
  deploys: string[];
  podRestarts: number;
}

export interface NodeModel {
  layout: Layout;
  /** Existing directories by path. A rename moves the same object. */
  dirs: Map<string, DirContent>;
  /** Running servers of this migration: role → the directory they run on. */
  servers: Map<ServerRole, string>;
  /** Dump files: what they hold. */
  dumps: Map<string, { versions: string[]; data: boolean }>;
  bulkLoad: boolean;
  /** The fresh schema's files freshSchema wrote, by path (what schemaDrift compares with). */
  freshSchemas: Set<string>;
  cluster?: ClusterModel;
  reports: MigrationReport[];
}

export interface CallRecord {
  /** Order of the event (start and end share one counter). */
  seq: number;
  name: string;
  key: string;
  attempt: number;
  /** Arguments after the run context. */
  args: unknown[];
  result?: 'ok' | 'failed' | 'cancelled';
  endSeq?: number;
  /** Date.now() at the start and the end. */
  startedAt: number;
  endedAt?: number;
}

export const APPLICATIONS: ReplicaRecord = { dcm4chee: 1, 'postgres-dcm4che': 1 };
/** LDIF files the fake ldap image ships that its update-data never applies (copied into the report). */
export const LDAP_NEVER_APPLIED = ['5.29.2/update-dev-5.29.2.ldif'];
/**
 * The data updates the fake ldap image ships: fewer than the real image (every command is a round
 * trip), but one the guide's list skips (5.31.2) and the target.
 */
export const LDAP_DATA_VERSIONS = ['5.31.2', '5.32.0'];
const TABLES: Record<string, Fingerprint> = {
  patient: { count: 40, checksum: '1111' },
  study: { count: 60, checksum: '2222' },
  series: { count: 120, checksum: '3333' },
  instance: { count: 2000, checksum: '4444' },
  location: { count: 2000, checksum: '5555' },
};
/** The fake dumps carry no source facts: a restore creates its database with the server's defaults. */
/**
 * Calls the workflow schedules at once (steps that read the same database, workflows/together.ts),
 * first as it schedules them: the worker may start either first.
 */
export const SCHEDULED_TOGETHER: Record<'guide' | 'fast', readonly (readonly [string, string])[]> = {
  guide: [
    ['inventory:original', 'dump:original'],
    ['applyUpdate:5.27', 'verifyUntouched:work'],
    ['verifyUpdated:work', 'dump:work'],
    ['verify:new', 'schemaDrift'],
  ],
  fast: [
    ['inventory:original', 'streamOriginalToNew'],
    ['applyUpdate:5.27', 'verifyUntouched:new'],
    ['verifyUpdated:new', 'schemaDrift'],
  ],
};

/** Call keys with each pair of SCHEDULED_TOGETHER that started the other way round put in scheduling order. */
function inSchedulingOrder(keys: string[]): string[] {
  const out = [...keys];
  for (let i = 0; i + 1 < out.length; i++) {
    if ([...SCHEDULED_TOGETHER.guide, ...SCHEDULED_TOGETHER.fast].some(([a, b]) => out[i] === b && out[i + 1] === a)) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
  }
  return out;
}

const SERVER_DEFAULTS: CreatedDatabase = { used: { encoding: 'UTF8', collate: 'C', ctype: 'C' }, settings: [] };
const GUIDE = { seriesIuids: { count: 120, checksum: 'a1' }, sopIuids: { count: 2000, checksum: 'b2' }, storagePaths: { count: 2000, checksum: 'c3' } };

export interface FakeNodeOptions {
  faults?: Record<string, Fault>;
  /** Archive versions the original already carries (default none: 5.26). */
  alreadyApplied?: string[];
  /**
   * The plan's scripts say which words they name (UpdateScript.mentions): 5.30 `instance`, the
   * others `study` and `series`, so that `patient` and `location` are tables no script names.
   */
  mentions?: boolean;
}

export interface FakeNode {
  config: MigrationConfig;
  activities: Activities;
  model: NodeModel;
  /** The original directory's content as it was at the start (the same object, unless changed). */
  original: DirContent;
  initialOriginal: DirContent;
  calls: CallRecord[];
  /** Keys of the calls, in order. */
  keys(): string[];
  setFault(key: string, fault: Fault): void;
  clearFault(key: string): void;
  /** Ends a hanging call successfully (it then does its work). */
  release(key: string): void;
  /** Resolves when a call with `key` has started (bounded). */
  waitForCall(key: string, timeoutMs?: number): Promise<CallRecord>;
  /** Resolves when a call ends, or after `ms` (the workflow moves on after calls: pollers wait on this). */
  nextCallEnd(ms: number): Promise<void>;
  /** Ends every hang (for cleanup). */
  dispose(): void;
}

export function createFakeNode(config: MigrationConfig, opts: FakeNodeOptions = {}): FakeNode {
  const layout = layoutFor(config, 'model');
  const initialOriginal: DirContent = { label: 'original', pg: '9.6', versions: [...(opts.alreadyApplied ?? [])], data: true };
  const original: DirContent = structuredClone(initialOriginal);
  const model: NodeModel = {
    layout,
    dirs: new Map([[layout.original, original]]),
    servers: new Map(),
    dumps: new Map(),
    bulkLoad: false,
    freshSchemas: new Set(),
    reports: [],
    ...(config.cluster.kind === 'kubernetes' ? { cluster: { release: '0.2', replicas: { ...APPLICATIONS }, ldapRan: [], deploys: [], podRestarts: 0 } } : {}),
  };
  const faults = new Map(Object.entries(opts.faults ?? {}));
  const fired = new Map<string, number>();
  const hangs = new Map<string, Set<() => void>>();
  const calls: CallRecord[] = [];
  const waiters: { key: string; resolve(c: CallRecord): void }[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  let seq = 0;

  const lay = (ctx: RunContext) => layoutFor(ctx.config, ctx.runTag);
  const dirOf = (ctx: RunContext, role: ServerRole) => lay(ctx).dataDirOf[role];
  const apps = () => model.cluster;
  /** The postgres-dcm4che pod runs on the live directory while it has replicas. */
  const inUse = (dir: string) => {
    const c = apps();
    const pod = c !== undefined && c.release !== 'none' && (c.replicas['postgres-dcm4che'] ?? 0) > 0;
    return [...model.servers.values()].includes(dir) || (dir === layout.original && pod);
  };
  const fatal = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

  /** startServer / ensureServer: start the role's server, or find it running. */
  function ensure(ctx: RunContext, role: ServerRole): void {
    const dir = dirOf(ctx, role);
    if (model.servers.get(role) === dir) return;
    if (inUse(dir)) throw fatal('DataDirInUse', `a PostgreSQL server not started by this migration is running on ${dir}`);
    if (!model.dirs.has(dir)) {
      // initdb of an empty directory; the live one is never created.
      if (role === 'original') throw new Error(`${dir} does not exist`);
      model.dirs.set(dir, { label: role, pg: role === 'new' || role === 'scratch' ? '15' : '9.6', versions: [], data: false });
    }
    model.servers.set(role, dir);
  }
  function stop(role: ServerRole): void {
    model.servers.delete(role);
  }
  function discardScratch(ctx: RunContext): void {
    stop('scratch');
    model.dirs.delete(dirOf(ctx, 'scratch'));
  }
  function inventoryOf(ctx: RunContext, role: ServerRole): InventoryResult {
    ensure(ctx, role);
    const content = model.dirs.get(dirOf(ctx, role))!;
    const counts = ctx.config.verification === 'counts';
    const fp = (f: Fingerprint) => ({ count: f.count, checksum: counts ? '' : f.checksum });
    const none = { count: 0, checksum: counts ? '' : '0' };
    const inventory: Inventory = {
      serverVersion: content.pg,
      databaseBytes: content.data ? 8_000_000 : 100_000,
      tableBytes: content.data ? 5_000_000 : 0,
      tables: content.data ? Object.fromEntries(Object.entries(TABLES).map(([t, f]) => [t, fp(f)])) : {},
      guide: content.data ? { seriesIuids: fp(GUIDE.seriesIuids), sopIuids: fp(GUIDE.sopIuids), storagePaths: fp(GUIDE.storagePaths) } : { seriesIuids: none, sopIuids: none, storagePaths: none },
    };
    const prefix = ARCHIVE_UPDATE_CHAIN.slice(0, content.versions.length);
    if (content.versions.some((v, i) => v !== prefix[i])) throw fatal('UnexpectedSchema', `the ${role} database carries ${content.versions.join(', ')}`);
    return { inventory, appliedVersions: [...content.versions] };
  }
  /** What resetRoom does to the tables named; a name the load did not give room to is a workflow bug. */
  function takeRoomBack(content: DirContent, tables: string[]): void {
    const unknown = tables.filter((t) => !content.room?.includes(t));
    if (unknown.length > 0) throw fatal('ModelViolation', `room taken back on ${unknown.join(', ')}, which ${content.label} was not given`);
    if (content.room) content.room = content.room.filter((t) => !tables.includes(t));
  }
  function dumpOf(file: string, content: DirContent): DumpResult {
    if (content.room?.length) throw fatal('ModelViolation', `${content.label} dumped with room still on ${content.room.join(', ')}`);
    model.dumps.set(file, { versions: [...content.versions], data: content.data });
    return { file, bytes: content.data ? 4_000_000 : 1_000, sha256: createHash('sha256').update(JSON.stringify([file, content.versions, content.data])).digest('hex') };
  }
  /** The swap's state, read from the directories as the real activity reads PG_VERSION. */
  function swapState(l: Layout): 'before' | 'half' | 'done' | 'unknown' {
    const [live, next, old] = [l.original, l.new, l.retired].map((d) => model.dirs.get(d)?.pg);
    if (live === '9.6' && next === '15' && !old) return 'before';
    if (!live && next === '15' && old === '9.6') return 'half';
    if (live === '15' && !next && old === '9.6') return 'done';
    return 'unknown';
  }
  function rename(from: string, to: string): void {
    const content = model.dirs.get(from);
    if (!content) throw new Error(`rename ${from}: no such directory`);
    if (model.dirs.has(to)) throw new Error(`rename to ${to}: exists`);
    model.dirs.delete(from);
    model.dirs.set(to, content);
  }

  async function hangUntilCancelledOrReleased(key: string, lingerMs: number): Promise<'released'> {
    const ctx = Context.current();
    let release!: () => void;
    const released = new Promise<'released'>((resolve) => {
      release = () => resolve('released');
    });
    const set = hangs.get(key) ?? new Set();
    set.add(release);
    hangs.set(key, set);
    const beat = setInterval(() => ctx.heartbeat({ hanging: key }), 50);
    try {
      ctx.heartbeat({ hanging: key });
      const outcome = await Promise.race([released, ctx.cancelled.then(() => 'released' as const, (err: unknown) => err)]);
      if (outcome === 'released') return outcome;
      // Cancelled: a real step takes a moment to stop its child processes.
      if (lingerMs > 0) await new Promise((r) => setTimeout(r, lingerMs));
      throw outcome instanceof Error ? outcome : new CancelledFailure('cancelled');
    } finally {
      clearInterval(beat);
      set.delete(release);
    }
  }

  /** Every activity goes through here: record, apply the fault, do the effect (`halfway`: only its first part). */
  async function run<R>(name: keyof Activities, args: unknown[], effect: (halfway: boolean) => R | Promise<R>): Promise<R> {
    const key = callKey(name, args);
    const record: CallRecord = { seq: ++seq, name, key, attempt: Context.current().info.attempt, args: args.slice(1), startedAt: Date.now() };
    calls.push(record);
    for (const w of waiters.filter((w) => w.key === key)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(record);
    }
    const end = (result: CallRecord['result']) => {
      record.result = result;
      record.endSeq = ++seq;
      record.endedAt = Date.now();
      notify();
    };
    const fault = faults.get(key);
    try {
      if (fault?.kind === 'hang') {
        await hangUntilCancelledOrReleased(key, fault.lingerMs ?? 0);
      } else if (fault?.kind === 'answer') {
        end('ok');
        return fault.value as R;
      } else if (fault) {
        const n = fired.get(key) ?? 0;
        if (n < (fault.times ?? Infinity)) {
          fired.set(key, n + 1);
          if (fault.afterEffect) await effect(false);
          else if (fault.halfway) await effect(true);
          const message = fault.message ?? `injected fault at ${key}`;
          throw fault.kind === 'permanent' ? ApplicationFailure.nonRetryable(message, fault.type) : ApplicationFailure.retryable(message, fault.type);
        }
      }
      const result = await effect(false);
      end('ok');
      return result;
    } catch (err) {
      end(err instanceof CancelledFailure ? 'cancelled' : 'failed');
      throw err;
    }
  }

  const activities: Activities = {
    async preflight(ctx: RunContext): Promise<Plan> {
      return run('preflight', [ctx], () => {
        const l = lay(ctx);
        for (const dir of [l.new, l.retired, l.work]) if (model.dirs.has(dir)) throw fatal('PreflightError', `${dir} already exists`);
        if (model.dirs.get(l.original)?.pg !== '9.6') throw fatal('PreflightError', `${l.original} holds no PostgreSQL 9.6 cluster`);
        if (ctx.config.cluster.kind === 'none' && inUse(l.original)) throw fatal('PreflightError', `a PostgreSQL server is running on ${l.original}`);
        const scripts: UpdateScript[] = ARCHIVE_UPDATE_CHAIN.filter((v) => inRange(v, ctx.config.versions.from, ctx.config.versions.to)).map((version) => ({
          version,
          file: `${ctx.config.paths.scriptsDir}/update-${version}-psql.sql`,
          bytes: 10_000,
          sha256: createHash('sha256').update(version).digest('hex'),
          rewrites: version === '5.30' ? ['instance'] : [],
          ...(opts.mentions ? { mentions: version === '5.30' ? ['instance', 'set', 'update'] : ['alter', 'series', 'study', 'table'] } : {}),
        }));
        return { layout: l, scripts, dataDirBytes: 8_000_000, space: [], notes: [] };
      });
    },

    async startServer(ctx: RunContext, role: ServerRole): Promise<void> {
      return run('startServer', [ctx, role], () => ensure(ctx, role));
    },
    async stopServer(ctx: RunContext, role: ServerRole): Promise<void> {
      return run('stopServer', [ctx, role], () => stop(role));
    },
    async discardServer(ctx: RunContext, role: ServerRole): Promise<string> {
      return run('discardServer', [ctx, role], () => {
        stop(role);
        if (role === 'original') return 'stopped the original server';
        const l = lay(ctx);
        if (role === 'new') {
          // The migrated directory is never deleted: it is kept aside, as after an undone swap.
          if (model.dirs.has(l.new)) {
            rename(l.new, l.failed);
            return `stopped the new server and moved ${l.new} to ${l.failed}`;
          }
          return model.dirs.has(l.failed) ? `the migrated directory is already kept at ${l.failed}` : `${l.new} was never created, nothing to keep`;
        }
        const dir = dirOf(ctx, role);
        if (dir === lay(ctx).original) throw new Error(`refusing to delete ${dir}: it is the live database directory`);
        model.dirs.delete(dir);
        return `stopped the ${role} server and removed ${dir}`;
      });
    },

    async inventory(ctx: RunContext, role: ServerRole): Promise<InventoryResult> {
      return run('inventory', [ctx, role], () => inventoryOf(ctx, role));
    },
    async dump(ctx: RunContext, role: ServerRole, which: 'original' | 'updated', expectedBytes: number, roomGiven: string[] = []): Promise<DumpResult & { ms: number }> {
      return run('dump', [ctx, role, which, expectedBytes, roomGiven], () => {
        ensure(ctx, role);
        takeRoomBack(model.dirs.get(dirOf(ctx, role))!, roomGiven);
        return { ...dumpOf(lay(ctx).dumps[which], model.dirs.get(dirOf(ctx, role))!), ms: 5 };
      });
    },
    async restore(ctx: RunContext, role: ServerRole, dump: DumpResult, rewritten: string[] = []): Promise<{ bytes: number; ms: number } & Loaded> {
      return run('restore', [ctx, role, dump, rewritten], () => {
        ensure(ctx, role);
        const held = model.dumps.get(dump.file);
        if (!held) throw new Error(`ENOENT: ${dump.file}`);
        // Into an empty database: what the server had is dropped first.
        const content = model.dirs.get(dirOf(ctx, role))!;
        content.versions = [...held.versions];
        content.data = held.data;
        content.room = [...rewritten];
        return { bytes: dump.bytes, ms: 5, created: SERVER_DEFAULTS, roomGiven: [...rewritten] };
      });
    },
    async applyUpdate(ctx: RunContext, role: ServerRole, script: UpdateScript): Promise<ScriptResult> {
      return run('applyUpdate', [ctx, role, script], () => {
        if (!ARCHIVE_UPDATE_CHAIN.includes(script.version as (typeof ARCHIVE_UPDATE_CHAIN)[number])) throw fatal('UnknownVersion', `no schema probe for archive version ${script.version}`);
        ensure(ctx, role);
        const content = model.dirs.get(dirOf(ctx, role))!;
        if (content.versions.includes(script.version)) return { version: script.version, sha256: script.sha256, ms: 0, outcome: 'committed by an earlier attempt' as const };
        content.versions.push(script.version);
        return { version: script.version, sha256: script.sha256, ms: 3, outcome: 'applied' as const };
      });
    },
    async verify(ctx: RunContext, role: ServerRole, expected: InventoryResult, targetVersions: string[]): Promise<InventoryResult> {
      return run('verify', [ctx, role, expected, targetVersions], () => {
        const actual = inventoryOf(ctx, role);
        const problems = Object.entries(expected.inventory.tables)
          .filter(([t, f]) => actual.inventory.tables[t]?.count !== f.count || actual.inventory.tables[t]?.checksum !== f.checksum)
          .map(([t]) => `table ${t} differs`);
        const missing = targetVersions.filter((v) => !actual.appliedVersions.includes(v));
        if (missing.length > 0) problems.push(`archive versions not applied: ${missing.join(', ')}`);
        if (problems.length > 0) throw fatal('VerificationFailed', `the ${role} database does not match: ${problems.join('; ')}`);
        return actual;
      });
    },

    /** The real comparison, the untouched tables (those no script names) left. */
    async verifyLeaving(ctx: RunContext, role: ServerRole, expected: InventoryResult, untouched: string[]): Promise<Left> {
      return run('verifyLeaving', [ctx, role, expected, untouched], () => {
        const actual = inventoryOf(ctx, role);
        const left = untouched.filter((t) => t in actual.inventory.tables);
        const partial = { ...actual.inventory, tables: Object.fromEntries(Object.entries(actual.inventory.tables).filter(([t]) => !left.includes(t))), left };
        const problems = compareInventories(expected.inventory, partial);
        if (problems.length > 0) throw fatal('VerificationFailed', `the ${role} database does not match: ${problems.join('; ')}`);
        return { left };
      });
    },
    async verifyUntouched(ctx: RunContext, role: ServerRole, expected: InventoryResult, tables: string[]): Promise<{ rows: number }> {
      return run('verifyUntouched', [ctx, role, expected, tables], () => {
        const actual = inventoryOf(ctx, role).inventory;
        const problems = compareTables(expected.inventory, { tables: Object.fromEntries(tables.flatMap((t) => (actual.tables[t] ? [[t, actual.tables[t]]] : []))), guide: actual.guide }, tables);
        if (problems.length > 0) throw fatal('VerificationFailed', `the untouched tables of the ${role} database do not match: ${problems.join('; ')}`);
        return { rows: tables.reduce((sum, t) => sum + (actual.tables[t]?.count ?? 0), 0) };
      });
    },

    /** After the updates: the real compareUpdated on the model's inventories. */
    async verifyUpdated(ctx: RunContext, role: ServerRole, before: InventoryResult, targetVersions: string[]): Promise<InventoryResult> {
      return run('verifyUpdated', [ctx, role, before, targetVersions], () => {
        const actual = inventoryOf(ctx, role);
        const problems = compareUpdated(before, actual, targetVersions);
        if (problems.length > 0) throw fatal('VerificationFailed', `the updated ${role} database does not match: ${problems.join('; ')}`);
        return actual;
      });
    },

    /** A scratch server up and gone again, its schema's file written. */
    async freshSchema(ctx: RunContext) {
      return run('freshSchema', [ctx], (halfway) => {
        const file = lay(ctx).freshSchema;
        discardScratch(ctx); // a killed attempt's leftover
        ensure(ctx, 'scratch');
        if (halfway) return { tables: 0, indexes: 0, file }; // killed with the scratch server up
        discardScratch(ctx);
        model.freshSchemas.add(file);
        return { tables: 5, indexes: 9, file };
      });
    },

    /** The migrated schema drifts only as expected once every target version is applied. */
    async schemaDrift(ctx: RunContext): Promise<DriftReport> {
      return run('schemaDrift', [ctx], (halfway) => {
        const fresh = model.freshSchemas.has(lay(ctx).freshSchema);
        // Without freshSchema's file (runs from before it, rehearsals) the scratch server runs here.
        if (!fresh) discardScratch(ctx);
        ensure(ctx, 'new');
        if (!fresh) ensure(ctx, 'scratch');
        const file = lay(ctx).drift;
        if (halfway) return { expected: 0, unexpected: 0, differences: [], file }; // killed, the scratch server perhaps up
        discardScratch(ctx);
        const applied = model.dirs.get(dirOf(ctx, 'new'))!.versions;
        const missing = ARCHIVE_UPDATE_CHAIN.filter((v) => inRange(v, ctx.config.versions.from, ctx.config.versions.to) && !applied.includes(v));
        if (missing.length > 0) throw fatal('VerificationFailed', `the migrated schema differs from a fresh one: archive versions ${missing.join(', ')} not applied`);
        return {
          expected: 1,
          unexpected: 0,
          differences: [{ object: 'column', table: 'patient_id', name: 'patient_fk', change: 'nullability', migrated: 'NULL', fresh: 'NOT NULL', class: 'expected', rule: 'unreferenced-patient-id' }],
          file,
        };
      });
    },

    async swap(ctx: RunContext): Promise<string> {
      return run('swap', [ctx], (halfway) => {
        const l = lay(ctx);
        for (const dir of [l.original, l.new]) if (inUse(dir)) throw fatal('DataDirInUse', `a PostgreSQL server is running on ${dir}`);
        switch (swapState(l)) {
          case 'before':
            if (model.dirs.get(l.new)?.room?.length) throw fatal('ModelViolation', `handed over with room still on ${model.dirs.get(l.new)!.room!.join(', ')}`);
            rename(l.original, l.retired);
            if (halfway) return 'half';
            rename(l.new, l.original);
            return `moved ${l.original} to ${l.retired} and ${l.new} to ${l.original}`;
          case 'half':
            rename(l.new, l.original);
            return 'finished an interrupted swap';
          case 'done':
            return 'already swapped';
          default:
            throw fatal('SwapStateUnknown', "cannot tell the swap's state; nothing was changed");
        }
      });
    },
    async unswap(ctx: RunContext, failedTag: string): Promise<string> {
      // Like the real one: the kept copy is named by the run's tag; failedTag is not used.
      return run('unswap', [ctx, failedTag], (halfway) => {
        const l = lay(ctx);
        const state = swapState(l);
        if (inUse(l.original)) throw new Error(`a PostgreSQL server is running on ${l.original}; stop it before rolling back`);
        switch (state) {
          case 'before':
            return 'not swapped: nothing to undo';
          case 'half':
            rename(l.retired, l.original);
            return `moved ${l.retired} back to ${l.original}`;
          case 'done': {
            const aside = l.failed;
            rename(l.original, aside);
            if (halfway) return 'half';
            rename(l.retired, l.original);
            return `moved the migrated directory to ${aside} and ${l.retired} back to ${l.original}`;
          }
          default:
            if (!model.dirs.has(l.original) && model.dirs.get(l.retired)?.pg === '9.6') {
              rename(l.retired, l.original);
              return 'finished an interrupted undo';
            }
            throw new Error("cannot tell the swap's state; put the 9.6 directory back by hand");
        }
      });
    },
    async removeWork(ctx: RunContext): Promise<string> {
      return run('removeWork', [ctx], () => {
        model.servers.clear();
        model.dirs.delete(lay(ctx).work);
        return `removed ${lay(ctx).work} and this run's servers`;
      });
    },

    async stopApplications(ctx: RunContext): Promise<ReplicaRecord> {
      return run('stopApplications', [ctx], (halfway) => {
        const c = needCluster();
        // The counts are recorded on the deployments first: a retry (or the undo) finds them.
        if (c.release === '0.2') c.marks ??= { ...c.replicas };
        c.replicas.dcm4chee = 0;
        if (!halfway) c.replicas['postgres-dcm4che'] = 0;
        return { ...(c.marks ?? {}) };
      });
    },
    async restoreApplications(ctx: RunContext): Promise<string> {
      return run('restoreApplications', [ctx], () => {
        const c = needCluster();
        if (c.release === '0.3') throw new Error('the 0.3.x platform is deployed: it must be taken down before 0.2.x comes back');
        if (c.release === 'none') {
          c.deploys.push('deploy 0.2');
          c.release = '0.2';
          c.replicas = { ...APPLICATIONS };
          c.marks = undefined;
          return 'deployed 0.2.x again';
        }
        if (!c.marks) return 'nothing was scaled down';
        c.replicas = { ...c.marks };
        c.marks = undefined;
        return `scaled back: ${Object.entries(c.replicas).map(([d, n]) => `${d}=${n}`).join(', ')}`;
      });
    },
    async backupLdap(ctx: RunContext): Promise<string | undefined> {
      return run('backupLdap', [ctx], () => {
        needCluster().ldapBackup = `${lay(ctx).runDir}/ldap-backup.ldif`;
        return needCluster().ldapBackup;
      });
    },
    async redeploy(ctx: RunContext): Promise<string> {
      return run('redeploy', [ctx], (halfway) => {
        const c = needCluster();
        if (c.release === '0.2') {
          c.deploys.push('undeploy 0.2');
          c.release = 'none';
          c.replicas = {};
        }
        if (halfway) return 'undeployed 0.2.x';
        if (c.release === 'none') {
          c.deploys.push('deploy 0.3');
          c.release = '0.3';
          c.replicas = { ...APPLICATIONS };
        }
        return 'Kaapana 0.3.x runs';
      });
    },
    async undeployTarget(ctx: RunContext): Promise<string> {
      return run('undeployTarget', [ctx], () => {
        const c = needCluster();
        if (c.release !== '0.3') return 'nothing of 0.3.x was deployed';
        c.deploys.push('undeploy 0.3');
        c.release = 'none';
        c.replicas = {};
        return 'undeployed 0.3.x';
      });
    },
    async ldapPlan(ctx: RunContext): Promise<LdapPlan> {
      return run('ldapPlan', [ctx], () =>
        ctx.config.cluster.kind === 'kubernetes'
          ? { commands: ldapCommandPlan({ deviceName: ctx.config.cluster.ldapDeviceName, available: LDAP_DATA_VERSIONS, to: `${ctx.config.versions.to}.0` }), neverApplied: [...LDAP_NEVER_APPLIED] }
          : { commands: [], neverApplied: [] },
      );
    },
    async ldapCommand(ctx: RunContext, argv: string[]): Promise<LdapCommandResult> {
      return run('ldapCommand', [ctx, argv], () => {
        const c = needCluster();
        if (c.release !== '0.3') throw new Error('no 0.3.x ldap pod runs');
        const line = argv.join(' ');
        const alreadyApplied = c.ldapRan.includes(line);
        c.ldapRan.push(line);
        return { argv, exitCode: 0, stdout: `ran ${line}`, stderr: '', alreadyApplied, ms: 2 };
      });
    },
    async restartPods(ctx: RunContext): Promise<void> {
      return run('restartPods', [ctx], () => {
        if (needCluster().release !== '0.3') throw new Error('no 0.3.x pods to restart');
        needCluster().podRestarts++;
      });
    },

    async writeReport(ctx: RunContext, report: MigrationReport): Promise<string> {
      return run('writeReport', [ctx, report], () => {
        model.reports.push(structuredClone(report));
        return lay(ctx).report.markdown;
      });
    },

    async prepareBulkLoad(ctx: RunContext): Promise<Record<string, string>> {
      return run('prepareBulkLoad', [ctx], () => {
        ensure(ctx, 'new');
        model.bulkLoad = true;
        return { fsync: 'off', full_page_writes: 'off', wal_level: 'minimal' };
      });
    },
    async streamOriginalToNew(ctx: RunContext, expectedBytes: number, rewritten: string[] = []): Promise<DumpResult & { ms: number } & Loaded> {
      return run('streamOriginalToNew', [ctx, expectedBytes, rewritten], () => {
        ensure(ctx, 'original');
        ensure(ctx, 'new');
        const from = model.dirs.get(dirOf(ctx, 'original'))!;
        const to = model.dirs.get(dirOf(ctx, 'new'))!;
        to.versions = [...from.versions];
        to.data = from.data;
        to.room = [...rewritten];
        return { ...dumpOf(lay(ctx).dumps.original, from), ms: 5, created: SERVER_DEFAULTS, roomGiven: [...rewritten] };
      });
    },
    async restoreDurability(ctx: RunContext, roomGiven: string[] = []): ReturnType<Activities['restoreDurability']> {
      return run('restoreDurability', [ctx, roomGiven], () => {
        ensure(ctx, 'new');
        takeRoomBack(model.dirs.get(dirOf(ctx, 'new'))!, roomGiven);
        const [synced, compacted] = model.bulkLoad ? [1234, ['instance', 'series']] : [0, []];
        model.bulkLoad = false;
        return { filesSynced: synced, compacted, ms: 4, parts: compacted.map((t) => ({ what: `VACUUM (FULL, ANALYZE) public.${t}`, ms: 2 })) };
      });
    },
  };

  function needCluster(): ClusterModel {
    if (!model.cluster) throw new Error('this node has no cluster');
    return model.cluster;
  }

  return {
    config,
    activities,
    model,
    original,
    initialOriginal,
    calls,
    keys: () => inSchedulingOrder(calls.map((c) => c.key)),
    setFault: (key, fault) => {
      faults.set(key, fault);
      fired.delete(key);
    },
    clearFault: (key) => {
      faults.delete(key);
    },
    release: (key) => {
      faults.delete(key);
      for (const r of hangs.get(key) ?? []) r();
    },
    waitForCall(key, timeoutMs = 10_000) {
      const seen = calls.find((c) => c.key === key);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`no call ${key} within ${timeoutMs} ms; calls: ${calls.map((c) => c.key).join(', ')}`));
        }, timeoutMs);
        const waiter = {
          key,
          resolve: (c: CallRecord) => {
            clearTimeout(timer);
            resolve(c);
          },
        };
        waiters.push(waiter);
      });
    },
    nextCallEnd(ms) {
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          listeners.delete(done);
          resolve();
        };
        const timer = setTimeout(done, ms);
        listeners.add(done);
      });
    },
    dispose() {
      faults.clear();
      for (const set of hangs.values()) for (const r of set) r();
    },
  };
}
