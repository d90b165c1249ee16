// Loading the node's configuration file (YAML) with messages an admin can act on.
import { promises as fs } from 'node:fs';
import YAML from 'yaml';
import { z } from 'zod';
import { rehearsalSchema, type RehearsalOptions } from './rehearsal.js';
import { configSchema, type MigrationConfig, type SecretRef } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseConfig(raw: unknown, source = 'configuration'): MigrationConfig {
  return parsed(configSchema, raw, source);
}

function parsed<T>(schema: z.ZodType<T>, raw: unknown, source: string, at: string[] = []): T {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  - ${[...at, ...issue.path.map(String)].join('.') || '(top level)'}: ${describeIssue(issue)}`);
  throw new ConfigError(`${source} is not valid:\n${lines.join('\n')}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} (a typo?)`;
  return issue.message;
}

export async function loadConfig(file: string): Promise<MigrationConfig> {
  return (await loadNodeFile(file)).config;
}

/** The node's file: the migration's configuration and the rehearsal's section (`rehearsal:`, all defaults when absent). */
export async function loadNodeFile(file: string): Promise<{ config: MigrationConfig; rehearsal: RehearsalOptions }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the configuration file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`);
  }
  // The rehearsal's section is not the migration's: it never travels in a migration's input.
  const isMap = raw !== null && typeof raw === 'object' && !Array.isArray(raw);
  const { rehearsal, ...config } = isMap ? (raw as Record<string, unknown>) : {};
  return { config: parseConfig(isMap ? config : raw, file), rehearsal: parsed(rehearsalSchema, rehearsal ?? {}, file, ['rehearsal']) };
}

/** Resolve a secret reference on the machine that needs it; the value never travels further. */
export async function resolveSecret(ref: SecretRef): Promise<string> {
  if ('env' in ref) {
    const value = process.env[ref.env];
    if (!value) throw new ConfigError(`the database password is taken from the environment variable ${ref.env}, which is not set for this process`);
    return value;
  }
  try {
    return (await fs.readFile(ref.file, 'utf8')).replace(/\r?\n$/, '');
  } catch (err) {
    throw new ConfigError(`cannot read the database password file ${ref.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
