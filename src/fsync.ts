// Durability on disk: a file's data, or a directory's entries (after a rename), flushed.
import { promises as fs } from 'node:fs';

export async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
