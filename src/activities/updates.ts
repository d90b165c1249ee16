// One vendor update script, applied atomically: all of it or none, never twice.
import { createReadStream } from 'node:fs';
import { Context } from '@temporalio/activity';
import type { Logger } from 'pino';
import { appendToJournal, attemptKeyOf, attemptsOf, readJournal, type Attempt, type AttemptKey } from '../attempt-journal.js';
import { withClient, endStraySessions } from '../postgres/client.js';
import { VERSION_PROBES } from '../plan/probes.js';
import { inOneTransaction, PSQL_FROM_STDIN } from '../postgres/transaction.js';
import { meter } from '../postgres/meter.js';
import { statementTimes, TIMING_OFF, TIMING_ON, type StatementTime } from '../postgres/psql-timing.js';
import type { UpdateScript } from '../plan/scripts.js';
import type { ActivityDeps, RunContext } from './context.js';
import { ensureServer, envFor, fatal, withProgress } from './context.js';
import type { ServerRole } from '../config/layout.js';
import { assertLoadIntact } from './fast.js';

export interface ScriptResult {
  version: string;
  sha256: string;
  /** 0 when an earlier attempt committed it and its time is unknown (that attempt was lost). */
  ms: number;
  /**
   * committed by an earlier attempt: a retry found the script applied (the workflow asks only for
   * pending versions); the attempt that ran it failed after the commit, or was lost (its worker died).
   */
  outcome: 'applied' | 'committed by an earlier attempt' | 'committed by an earlier attempt (lost)';
  /** That attempt, as the attempts journal tells it (absent when the journal does not). */
  committedBy?: Attempt;
  /**
   * Each statement of the script with psql's time for it, in order, when this attempt applied it
   * (absent in results recorded before statements were timed, and when found committed).
   */
  statements?: StatementTime[];
}

/** psql's exit status when a statement failed under ON_ERROR_STOP (2 is a lost connection). */
const PSQL_SCRIPT_ERROR = 3;

export function createUpdateActivities(deps: ActivityDeps) {
  return {
    async applyUpdate(ctx: RunContext, role: ServerRole, script: UpdateScript): Promise<ScriptResult> {
      const env = await envFor(deps, ctx);
      // Under the fast path's bulk-load settings a machine crash makes the new directory void.
      if (role === 'new') await assertLoadIntact(env);
      const endpoint = await ensureServer(env, role);
      const probe = VERSION_PROBES.find((p) => p.version === script.version);
      if (!probe) throw fatal('UnknownVersion', `no schema probe for archive version ${script.version}`);
      const isApplied = () =>
        withClient(endpoint, env.credentials, async (client) => {
          // A killed worker's psql may still run; end it so its transaction commits or rolls back now.
          await endStraySessions(client, env.credentials.name, 'kaapana-migrate-update');
          return Boolean((await client.query<{ applied: boolean }>(probe.sql)).rows[0]?.applied);
        });
      const attempt = attemptKeyOf(Context.current().info);
      const file = `update-${script.version}-psql.sql`;
      if (await isApplied()) return committedEarlier(script, file, await scriptAttempt(env.layout.attempts, attempt, file, deps.log));

      // Tells a retry that finds the script committed which attempt ran it.
      if (attempt) await appendToJournal(env.layout.attempts, { ...attempt, event: 'note', at: new Date().toISOString(), note: runsScript(file) }, deps.log);
      const started = Date.now();
      const m = meter();
      const appName = `kaapana-migrate-update-${script.version}`;
      const timings = statementTimes();
      // The script's bytes are all sent at once: its session's work is what moves.
      const result = await withProgress({ step: 'applyUpdates', detail: file }, (progress) =>
        env.runtime.exec(env.layout.serverName[role], PSQL_FROM_STDIN, {
          stdin: inOneTransaction(createReadStream(script.file).pipe(m.stream), {
            // The restore set the original's role and database settings again: a statement_timeout
            // meant for the archive must not cut a script's long table rewrite short.
            prologue: ['SET LOCAL statement_timeout = 0;', 'SET LOCAL lock_timeout = 0;', 'SET LOCAL idle_in_transaction_session_timeout = 0;', ...TIMING_ON],
            epilogue: TIMING_OFF,
            // The bytes applied are the bytes planned, or nothing is committed.
            beforeCommit: () => {
              const { sha256 } = m.digest();
              if (sha256 !== script.sha256) throw fatal('ScriptChanged', `${script.file} changed since the plan was made (sha256 ${sha256}, planned ${script.sha256}); nothing of it was applied; start again to re-plan`);
            },
          }),
          stdout: timings.stream,
          appName,
          signal: progress.signal,
        }),
        { endpoint, credentials: env.credentials, appName },
      );
      if (result.exitCode === PSQL_SCRIPT_ERROR) {
        throw fatal('ScriptFailed', `${file} failed and was rolled back (nothing of it applied): ${lastLines(result.stderr)}`);
      }
      if (result.exitCode !== 0) throw new Error(`${file}: psql exited with ${result.exitCode}: ${lastLines(result.stderr)}`);
      if (!(await isApplied())) throw fatal('ProbeMismatch', `${file} ran without error but the schema does not show version ${script.version}: is it the vendor's script?`);
      return { version: script.version, sha256: script.sha256, ms: Date.now() - started, outcome: 'applied', statements: timings.statements() };
    },
  };
}

const runsScript = (file: string) => `running ${file}`;

/**
 * The last earlier attempt of this call that ran the script: the one that committed it, since every
 * attempt probes first and an attempt after the commit finds it applied without running it.
 */
async function scriptAttempt(journal: string, self: AttemptKey | undefined, file: string, log: Logger): Promise<Attempt | undefined> {
  if (!self) return undefined;
  try {
    const attempts = attemptsOf(await readJournal(journal), { workflowRunId: self.workflowRunId, reader: self });
    return attempts
      .filter((a) => a.activityId === self.activityId && a.attempt < self.attempt && a.notes?.some((n) => n.note === runsScript(file)))
      .sort((a, b) => a.attempt - b.attempt)
      .at(-1);
  } catch (err) {
    log.warn({ journal, error: (err as Error).message }, 'attempts journal not read');
    return undefined;
  }
}

/** Found committed: the time is the committing attempt's, from running the script to its end, when it ended. */
function committedEarlier(script: UpdateScript, file: string, by: Attempt | undefined): ScriptResult {
  const ran = by?.notes?.find((n) => n.note === runsScript(file));
  const ms = by?.ms !== undefined && ran ? Math.max(0, Date.parse(by.startedAt) + by.ms - Date.parse(ran.at)) : 0;
  return {
    version: script.version,
    sha256: script.sha256,
    ms,
    outcome: by?.outcome === 'lost' ? 'committed by an earlier attempt (lost)' : 'committed by an earlier attempt',
    ...(by ? { committedBy: by } : {}),
  };
}

const lastLines = (text: string) => text.trim().split('\n').slice(-4).join(' | ');
