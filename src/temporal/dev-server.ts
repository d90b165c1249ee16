// A Temporal dev server (`temporal server start-dev` of the Temporal CLI) on loopback: for tests,
// killed when the test is done, and for the demo, left running after the demo exits.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { freePort } from '../free-ports.js';
import { temporalBinary } from './cli-binary.js';

export interface DevServerOptions {
  /** Frontend port on 127.0.0.1. Absent: any free port. */
  port?: number;
  /** SQLite file: workflows survive restart(). Absent: state lives in memory only. */
  dbFile?: string;
  /** Serve the Web UI on this port (0: any free port). Absent: headless. */
  uiPort?: number;
  /** Registered as Keyword search attributes in the default namespace. */
  searchAttributes?: string[];
  /** Let the server outlive this process, writing its output to this file. */
  detachedLogFile?: string;
}

export interface DevServer {
  /** host:port of the frontend gRPC service. */
  address: string;
  /** 0 when headless. */
  uiPort: number;
  /** Process id of the server, e.g. to tell a person how to stop a detached one. */
  pid(): number | undefined;
  stop(): Promise<void>;
  /** Stop, then start again on the same ports and database file. */
  restart(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const binary = temporalBinary();
  const port = opts.port ?? (await freePort());
  const headless = opts.uiPort === undefined;
  const uiPort = headless ? 0 : opts.uiPort || (await freePort());
  const address = `127.0.0.1:${port}`;
  const searchAttributes = opts.searchAttributes ?? [];

  const argv = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port)];
  argv.push(...(headless ? ['--headless'] : ['--ui-port', String(uiPort)]));
  if (opts.dbFile) argv.push('--db-filename', opts.dbFile);
  for (const name of searchAttributes) argv.push('--search-attribute', `${name}=Keyword`);

  let running: Launched | undefined = await launch(binary, argv, address, searchAttributes, opts.detachedLogFile);
  const stop = async (): Promise<void> => {
    const stopping = running;
    running = undefined;
    await stopping?.stop();
  };
  return {
    address,
    uiPort,
    pid: () => running?.pid,
    stop,
    async restart() {
      await stop();
      running = await launch(binary, argv, address, searchAttributes, opts.detachedLogFile);
    },
  };
}

interface Launched {
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Start the process and wait until it serves. */
async function launch(binary: string, argv: string[], address: string, searchAttributes: string[], logFile?: string): Promise<Launched> {
  let output = '';
  let child;
  if (logFile) {
    // Its own process group and no pipes to us: the server keeps running when we exit.
    const fd = openSync(logFile, 'a');
    child = spawn(binary, argv, { stdio: ['ignore', fd, fd], detached: true });
    closeSync(fd);
    child.unref();
  } else {
    child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const isGone = (): boolean => child.exitCode !== null || child.signalCode !== null;

  // A test run that crashes or is interrupted must not leave servers behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  if (!logFile) process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit);
    if (child.pid === undefined || isGone()) return;
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(force);
  };

  try {
    await waitUntilServing(address, searchAttributes, () => {
      if (spawnError) return `cannot run ${binary}: ${spawnError.message}`;
      if (isGone()) return `exited with ${child.exitCode ?? child.signalCode}`;
      return undefined;
    });
  } catch (err) {
    await stop();
    if (logFile) output = readFileSync(logFile, 'utf8').slice(-8000);
    throw new Error(`temporal ${argv.join(' ')}: ${(err as Error).message}\n--- server output ---\n${output}`);
  }
  return { pid: child.pid, stop };
}

/**
 * One look at `address`: the default namespace is described and the search attributes exist.
 * Throws what is missing.
 */
async function checkServing(address: string, searchAttributes: string[], timeoutMs: number): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
  try {
    await connection.withDeadline(Date.now() + timeoutMs, async () => {
      await connection.workflowService.describeNamespace({ namespace: 'default' });
      if (searchAttributes.length === 0) return;
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      const missing = searchAttributes.filter((name) => !(customAttributes && name in customAttributes));
      if (missing.length > 0) throw new Error(`search attributes not registered yet: ${missing.join(', ')}`);
    });
  } finally {
    await connection.close();
  }
}

/** Whether a Temporal server answers at `address` (its default namespace exists). */
export async function isServing(address: string): Promise<boolean> {
  return checkServing(address, [], 1000).then(
    () => true,
    () => false,
  );
}

/** Registers those of `names` the default namespace lacks, as Keyword, and waits until they are visible. */
export async function ensureSearchAttributes(address: string, names: string[]): Promise<void> {
  const connection = await Connection.connect({ address, connectTimeout: 2000 });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    const missing = names.filter((name) => !(customAttributes && name in customAttributes));
    if (missing.length === 0) return;
    const KEYWORD = 2; // temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    await connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes: Object.fromEntries(missing.map((n) => [n, KEYWORD])) });
  } finally {
    await connection.close();
  }
  await waitUntilServing(address, names, () => undefined);
}

async function waitUntilServing(address: string, searchAttributes: string[], failure: () => string | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    const reason = failure();
    if (reason) throw new Error(reason);
    try {
      await checkServing(address, searchAttributes, 2000);
      return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`not serving after ${READY_TIMEOUT_MS / 1000} s (${lastError})`);
}

