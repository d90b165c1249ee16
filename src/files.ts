// Small file helpers shared by the runtime and cluster adapters and the activities.
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';

/** Durability on disk: a file's data, or a directory's entries (after a rename), flushed. */
export async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A rename that survives a machine crash: the directory holding the new name is flushed too. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await fs.rename(from, to);
  await fsyncPath(path.dirname(to));
}

const PARTIAL = '.partial-';
/** The partial files this process is writing now, and a counter that keeps their names apart. */
const writing = new Set<string>();
let writes = 0;

/**
 * Writes a state or backup file all or nothing: under a temporary name beside it
 * (`<file>.partial-<pid>-<time>-<n>`, owner-only), fsynced, renamed, its directory fsynced. A crash
 * leaves the previous file or the complete new one, never a torn one under the final name.
 * Partial files of this file left by attempts that were killed before they could remove their
 * own are removed first (an attempt declared dead but still running elsewhere then fails at its
 * fsync, and its result is not used). `fill` writes the temporary file itself (e.g. a stream);
 * it is removed when `fill` fails.
 */
export async function writeFileDurably(file: string, content: string | Buffer): Promise<void>;
export async function writeFileDurably<T>(file: string, fill: (partial: string) => Promise<T>): Promise<T>;
export async function writeFileDurably<T>(target: string, content: string | Buffer | ((partial: string) => Promise<T>)): Promise<T | void> {
  const file = path.resolve(target);
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const stale = `${path.basename(file)}${PARTIAL}`;
  for (const name of await fs.readdir(dir)) {
    // Another write of this file in this process (steps running at once) is alive, not stale.
    if (name.startsWith(stale) && !writing.has(path.join(dir, name))) await fs.rm(path.join(dir, name), { force: true });
  }
  const partial = `${file}${PARTIAL}${process.pid}-${Date.now()}-${(writes += 1)}`;
  writing.add(partial);
  try {
    const result = typeof content === 'function' ? await content(partial) : await fs.writeFile(partial, content, { mode: 0o600, flag: 'wx' });
    await fsyncPath(partial);
    await renameDurably(partial, file);
    return result;
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw err;
  } finally {
    writing.delete(partial);
  }
}

export async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

/** Refuses a program that is missing or not executable, naming it after `what` (a setting, a command line). */
export async function mustExecute(file: string, what: string): Promise<void> {
  try {
    await fs.access(file, constants.X_OK);
  } catch {
    throw new Error(`${what}: ${file} is missing or not executable`);
  }
}

/** A JSON file's content, or undefined when there is no such file. */
export async function readJsonIfPresent<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Sizes every file below dir without opening any of them (read-only: safe on a live database directory). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(p);
    else if (entry.isFile()) total += (await fs.stat(p)).size;
  }
  return total;
}
