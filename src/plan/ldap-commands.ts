// The LDAP side of the 0.2.x → 0.3.x migration: which commands of the slapd-dcm4chee image to run in
// the ldap pod, in which order, and how to read their results. Pure functions, no I/O.
import type { CommandOutcome } from '../cluster/port.js';

export interface LdapCommand {
  argv: string[];
  why?: string;
}

export interface LdapJudgement {
  ok: boolean;
  /** The command's effect was (at least partly) present before: a re-run after a retry. */
  alreadyApplied: boolean;
  reason?: string;
}

/** The data updates Kaapana's 0.3 migration guide lists. */
export const GUIDE_DATA_VERSIONS = ['5.28.0', '5.29.0', '5.29.1', '5.29.2', '5.30.0', '5.31.0', '5.31.1', '5.32.0'] as const;

/** Kaapana 0.2.x runs dcm4chee-arc 5.26.0: its LDAP data is at that level. */
const DEFAULT_FROM = '5.26.0';
/** Kaapana 0.3.x runs dcm4chee-arc 5.32.0. */
const DEFAULT_TO = '5.32.0';

const DATA_VERSION = /^\d+(\.\d+)*$/;

/** Natural order; missing parts count as 0 so that "5.32" and "5.32.0" name the same update. */
export function compareDataVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function ldapCommandPlan(opts: { deviceName: string; available: string[]; from?: string; to?: string }): LdapCommand[] {
  const from = opts.from ?? DEFAULT_FROM;
  const to = opts.to ?? DEFAULT_TO;
  for (const v of [from, to]) if (!DATA_VERSION.test(v)) throw new Error(`not a data version: "${v}"`);
  // The image's scripts put the device name into a sed replacement (s%…%…%): these characters would break it.
  if (!opts.deviceName || /[%&\\/\s]/.test(opts.deviceName)) throw new Error(`unusable LDAP device name "${opts.deviceName}"`);

  const shipped = [...new Set(opts.available.filter((v) => DATA_VERSION.test(v)))].sort(compareDataVersions);
  if (!shipped.some((v) => compareDataVersions(v, to) === 0)) {
    throw new Error(`the ldap pod does not ship data update ${to} (it has: ${shipped.join(' ') || 'none'}); is it running the 0.3.x image?`);
  }
  const inRange = shipped.filter((v) => compareDataVersions(v, from) > 0 && compareDataVersions(v, to) <= 0);

  // An `export` in one exec does not reach the next, so every command carries the device name.
  const env = ['env', `ARCHIVE_DEVICE_NAME=${opts.deviceName}`];
  const guide = new Set<string>(GUIDE_DATA_VERSIONS);
  return [
    { argv: ['update-schema'], why: 'load the new schema first: later data updates use attributes it adds (replaces the schema, so re-runnable)' },
    ...inRange.map((v) => ({
      // -c (passed through to ldapmodify): a retry after a partial run must apply the remaining changes
      // instead of stopping at the first change that is already present.
      argv: [...env, 'update-data', v, '-c'],
      why: `${
        guide.has(v)
          ? `data update ${v}, listed by Kaapana's migration guide`
          : `data update ${v}: shipped by the ldap image between ${from} and ${to} but missing from Kaapana's guide; dcm4che's upgrade applies every data version in between`
      } (-c: a re-run after a partial run still applies the rest)`,
    })),
    { argv: [...env, 'init-role', 'auth', 'root'], why: 'create the auth role; its group needs a first member, so root, removed again below' },
    { argv: [...env, 'assign-role-to-user', 'auth', 'user'], why: 'the regular user gets the auth role' },
    { argv: [...env, 'assign-role-to-user', 'auth', 'admin'], why: "as Kaapana's guide: admin is added, then removed again below" },
    { argv: [...env, 'unassign-role-from-user', 'auth', 'root'], why: 'root was only the first member' },
    { argv: [...env, 'unassign-role-from-user', 'auth', 'admin'], why: "as Kaapana's guide: auth ends with the regular user only" },
  ];
}

/**
 * LDAP results that mean "the change is already there", per image command and ldapmodify operation.
 * update-data: 20 value exists and 16 no such value (5.32.0 deletes values) on modify, 68 entry
 * exists on add, and 32 no such object on delete (5.29.0 deletes then re-adds an entry: interrupted
 * between the two, the re-run's delete finds nothing). A 32 on modify means a wrong DN, never that.
 * update-schema replaces the schema: any error is a failure.
 */
const ALREADY_PRESENT: Record<string, Partial<Record<string, ReadonlySet<number>>>> = {
  'update-schema': {},
  'update-data': { ldap_modify: new Set([20, 16]), ldap_add: new Set([68]), ldap_delete: new Set([32]) },
  'init-role': { ldap_add: new Set([68]) },
  'assign-role-to-user': { ldap_modify: new Set([20]) },
  'unassign-role-from-user': { ldap_modify: new Set([16]) },
};

/** e.g. "ldap_modify: Type or value exists (20)", "ldap_sasl_bind(SIMPLE): Can't contact LDAP server (-1)" */
const LDAP_ERROR = /^(ldap_[a-z_]+)(?:\([^)]*\))?: (.*) \((-?\d+)\)$/;

/** The image command an argv runs, past an `env NAME=value …` prefix. */
function commandName(argv: string[]): string {
  let i = 0;
  if (argv[0]?.split('/').pop() === 'env') {
    i = 1;
    while (i < argv.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]!)) i++;
  }
  return argv[i]?.split('/').pop() ?? '';
}

export function judgeLdapOutcome(outcome: CommandOutcome): LdapJudgement {
  const command = commandName(outcome.argv);
  const tolerated = ALREADY_PRESENT[command] ?? {};
  const fail = (reason: string): LdapJudgement => ({ ok: false, alreadyApplied: false, reason });

  // The image's role scripts print their usage and exit 0 when an argument is missing.
  const usage = /^Usage: .*$/m.exec(`${outcome.stdout}\n${outcome.stderr}`);
  if (usage) return fail(`printed its usage, did nothing: ${usage[0]}`);

  const present: string[] = [];
  const problems: string[] = [];
  const presentCodes = new Set<number>();
  for (const raw of outcome.stderr.split('\n')) {
    if (/^\s/.test(raw)) continue; // "additional info:" / "matched DN:" continue the line before
    const line = raw.trim();
    const m = LDAP_ERROR.exec(line);
    if (m) {
      const code = Number(m[3]);
      if (tolerated[m[1]!]?.has(code)) {
        present.push(line);
        presentCodes.add(code);
      } else {
        problems.push(line);
      }
    } else if (/^ldap(modify|add|delete):/.test(line)) {
      problems.push(line); // the client refused the input (e.g. "invalid format")
    }
  }
  if (problems.length > 0) return fail(problems.join('; '));

  // The role scripts and update-schema end with ldapmodify, so its result code is their exit code.
  if (outcome.exitCode !== 0 && !presentCodes.has(outcome.exitCode)) {
    const tail = outcome.stderr.trim().split('\n').slice(-3).join(' | ');
    return fail(`exit code ${outcome.exitCode}${tail ? `: ${tail}` : ''}`);
  }

  // update-data silently skips a version directory the image does not have.
  if (command === 'update-data' && !/^ldapmodify -f |^(modifying|adding new|deleting) entry /m.test(outcome.stdout)) {
    return fail('applied no LDIF file: the image does not ship this data version');
  }

  return present.length > 0 ? { ok: true, alreadyApplied: true, reason: `already present: ${present.join('; ')}` } : { ok: true, alreadyApplied: false };
}

/**
 * LDIF files of the data versions in range that the image's update-data never applies (it only
 * runs update-<component>-<version>.ldif of its own components), e.g. 5.30.0's update-ui-config:
 * named in the report, to be applied by hand where the archive UI configuration is used.
 */
export function neverAppliedLdifs(files: string[], opts: { from?: string; to?: string } = {}): string[] {
  const from = opts.from ?? DEFAULT_FROM;
  const to = opts.to ?? DEFAULT_TO;
  return files.filter((f) => {
    const [version, name] = f.split('/');
    if (!version || !name || !DATA_VERSION.test(version)) return false;
    return compareDataVersions(version, from) > 0 && compareDataVersions(version, to) <= 0 && /^update-ui-config/.test(name);
  });
}
