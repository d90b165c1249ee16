// The workflow's input: the whole configuration with every default written in, and the version of
// its shape. What a running migration does then never depends on the defaults of the worker that
// happens to replay it.
import { z } from 'zod';
import { rehearsalProblems, rehearsalSchema, type RehearsalOptions } from './rehearsal.js';
import { configSchema, type MigrationConfig } from './schema.js';

/** Version 2: every field explicit. Inputs without a version were recorded before and were completed by the worker. */
export const INPUT_SCHEMA_VERSION = 2;

export interface MigrationInput {
  schemaVersion: typeof INPUT_SCHEMA_VERSION;
  /** Holds the password only by reference (environment variable or file on the worker's node). */
  config: MigrationConfig;
}

/** The input for a configuration already parsed (so completed) by the CLI or a client. */
export function migrationInput(config: MigrationConfig): MigrationInput {
  return { schemaVersion: INPUT_SCHEMA_VERSION, config };
}

export type InputCheck = { ok: true; config: MigrationConfig } | { ok: false; problems: string[] };

/** Checks an input without filling anything in: a field the schema would default counts as missing. */
export function checkInput(input: unknown): InputCheck {
  const given = input as { schemaVersion?: unknown; config?: unknown } | undefined;
  if (given?.schemaVersion !== INPUT_SCHEMA_VERSION) {
    return { ok: false, problems: [`schemaVersion: must be ${INPUT_SCHEMA_VERSION} (found ${JSON.stringify(given?.schemaVersion) ?? 'none'})`] };
  }
  const parsed = configSchema.safeParse(given.config);
  if (!parsed.success) return { ok: false, problems: issues(parsed.error) };
  const missing = filledIn(given.config, parsed.data, 'config');
  if (missing.length > 0) return { ok: false, problems: missing.map((p) => `${p}: missing (the input carries every setting; \`kaapana-migrate plan --write-input FILE\` writes a complete one)`) };
  return { ok: true, config: parsed.data };
}

/** Inputs recorded before version 2 ran with the worker's defaults; they keep doing so on replay. */
export function checkUnversionedInput(input: unknown): InputCheck {
  const parsed = configSchema.safeParse((input as { config?: unknown } | undefined)?.config);
  return parsed.success ? { ok: true, config: parsed.data } : { ok: false, problems: issues(parsed.error) };
}

/** A rehearsal's input: the node's configuration and the rehearsal's settings, every field explicit. */
export interface RehearsalInput {
  schemaVersion: typeof INPUT_SCHEMA_VERSION;
  config: MigrationConfig;
  rehearsal: RehearsalOptions;
}

export function rehearsalInput(config: MigrationConfig, rehearsal: RehearsalOptions): RehearsalInput {
  return { schemaVersion: INPUT_SCHEMA_VERSION, config, rehearsal };
}

export type RehearsalCheck = { ok: true; config: MigrationConfig; rehearsal: RehearsalOptions } | { ok: false; problems: string[] };

export function checkRehearsalInput(input: unknown): RehearsalCheck {
  const checked = checkInput(input);
  if (!checked.ok) return checked;
  const given = (input as { rehearsal?: unknown }).rehearsal;
  const parsed = rehearsalSchema.safeParse(given);
  if (!parsed.success) return { ok: false, problems: issues(parsed.error, 'rehearsal') };
  const missing = filledIn(given, parsed.data, 'rehearsal');
  if (missing.length > 0) return { ok: false, problems: missing.map((p) => `${p}: missing (the input carries every setting)`) };
  const problems = rehearsalProblems(checked.config, parsed.data);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, config: checked.config, rehearsal: parsed.data };
}

function issues(error: z.ZodError, root = 'config'): string[] {
  return error.issues.map((i) => `${root}${i.path.map((p) => `.${String(p)}`).join('')}: ${i.message}`);
}

/** Paths that the parse produced but the input did not hold. */
function filledIn(given: unknown, parsed: unknown, at: string): string[] {
  if (given === undefined) return [at];
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return [];
  const holder = given as Record<string, unknown>;
  return Object.entries(parsed).flatMap(([key, value]) => filledIn(holder[key], value, `${at}.${key}`));
}
