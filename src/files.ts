// Small file helpers shared by the runtime and cluster adapters and the activities.
import { constants, promises as fs } from 'node:fs';

/** Durability on disk: a file's data, or a directory's entries (after a rename), flushed. */
export async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
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
