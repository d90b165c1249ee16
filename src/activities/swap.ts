// The directory swap and its undoing. Every intermediate state is recognisable from which
// directories exist and which PostgreSQL version each holds, so an interrupted swap (or undo)
// is finished by simply running it again.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Layout } from '../config/layout.js';
import { exists, renameDurably } from '../files.js';
import type { ActivityDeps, RunContext } from './context.js';
import { envFor, fatal } from './context.js';

type SwapState = 'before' | 'half' | 'done' | 'unknown';

async function pgVersion(dir: string): Promise<string | undefined> {
  return fs.readFile(path.join(dir, 'PG_VERSION'), 'utf8').then((t) => t.trim(), () => undefined);
}

async function stateOf(layout: Layout): Promise<{ state: SwapState; seen: string }> {
  const [live, next, old] = await Promise.all([pgVersion(layout.original), pgVersion(layout.new), pgVersion(layout.retired)]);
  const seen = `live=${live ?? 'absent'}, -new=${next ?? 'absent'}, -old=${old ?? 'absent'}`;
  const isOld = (v?: string) => v !== undefined && Number.parseFloat(v) < 15;
  const isNew = (v?: string) => v !== undefined && Number.parseFloat(v) >= 15;
  if (isOld(live) && isNew(next) && !old) return { state: 'before', seen };
  if (!live && isNew(next) && isOld(old)) return { state: 'half', seen };
  if (isNew(live) && !next && isOld(old)) return { state: 'done', seen };
  return { state: 'unknown', seen };
}

export function createSwapActivities(deps: ActivityDeps) {
  return {
    async swap(ctx: RunContext): Promise<string> {
      const { layout, runtime } = await envFor(deps, ctx);
      for (const dir of [layout.original, layout.new]) {
        if (await runtime.dataDirInUse(dir)) throw fatal('DataDirInUse', `a PostgreSQL server is running on ${dir}; the swap needs every server stopped`);
      }
      const { state, seen } = await stateOf(layout);
      switch (state) {
        case 'before':
          await renameDurably(layout.original, layout.retired);
          await renameDurably(layout.new, layout.original);
          return `moved ${layout.original} to ${layout.retired} and ${layout.new} to ${layout.original}`;
        case 'half':
          await renameDurably(layout.new, layout.original);
          return `finished an interrupted swap: ${layout.new} to ${layout.original}`;
        case 'done':
          return 'already swapped';
        default:
          throw fatal('SwapStateUnknown', `cannot tell the swap's state (${seen}); nothing was changed`);
      }
    },

    /**
     * Puts the original back; the migrated directory is kept aside as `layout.failed` for
     * diagnosis, never deleted: under the run's tag, like the copy discardServer keeps before the swap.
     * `_failedTag` (a random tag the workflow drew) is no longer used; the workflow still passes it
     * so that the histories of runs recorded before replay the same.
     */
    async unswap(ctx: RunContext, _failedTag: string): Promise<string> {
      const { layout, runtime } = await envFor(deps, ctx);
      const { state, seen } = await stateOf(layout);
      const aside = layout.failed;
      if (await runtime.dataDirInUse(layout.original)) throw new Error(`a PostgreSQL server is running on ${layout.original}; stop it before rolling back`);
      switch (state) {
        case 'before':
          return 'not swapped: nothing to undo';
        case 'half':
          await renameDurably(layout.retired, layout.original);
          return `moved ${layout.retired} back to ${layout.original}; the migrated copy stays at ${layout.new}`;
        case 'done':
          // A rename onto an existing directory would fail anyway; this says which one is in the way.
          if (await exists(aside)) throw new Error(`cannot keep the migrated ${layout.original} as ${aside}: that directory exists already`);
          await renameDurably(layout.original, aside);
          await renameDurably(layout.retired, layout.original);
          return `moved the migrated directory to ${aside} and ${layout.retired} back to ${layout.original}`;
        default: {
          // An undo interrupted between its two renames: the original is still at -old.
          const [live, old] = await Promise.all([pgVersion(layout.original), pgVersion(layout.retired)]);
          if (!live && old && Number.parseFloat(old) < 15) {
            await renameDurably(layout.retired, layout.original);
            return `finished an interrupted undo: ${layout.retired} back to ${layout.original}`;
          }
          throw new Error(`cannot tell the swap's state (${seen}); put the 9.6 directory back at ${layout.original} by hand`);
        }
      }
    },

    /**
     * After the swap the 9.6 working copy has served its purpose, and no container or server
     * record of this run may point at the directories any more.
     */
    async removeWork(ctx: RunContext): Promise<string> {
      const { layout, runtime } = await envFor(deps, ctx);
      for (const name of Object.values(layout.serverName)) {
        await runtime.stop(name);
        await runtime.remove(name);
      }
      await fs.rm(layout.work, { recursive: true, force: true });
      return `removed ${layout.work} and this run's servers`;
    },
  };
}
