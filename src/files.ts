// Small file helpers shared by the runtime adapters and the activities.
import { promises as fs } from 'node:fs';

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

/** A JSON file's content, or undefined when there is no such file. */
export async function readJsonIfPresent<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
