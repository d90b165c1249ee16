// Downtime estimates. The benchmark measures each mode and verification at a few sizes and fits
// its times as a fixed part (starting servers, scheduling) plus seconds per GiB of database
// directory; throughput.json holds those figures and names the run that made them. The size of
// the directory is what `plan` can read of a live node without starting anything.
import { z } from 'zod';
import type { MigrationConfig } from '../config/schema.js';
import figuresFile from './throughput.json' with { type: 'json' };

type Mode = MigrationConfig['mode'];
type Verification = MigrationConfig['verification'];

/** The workflow variants the benchmark runs, by the names its --modes option and table use. */
export const WORKFLOW_VARIANTS = [
  { name: 'guide', mode: 'guide', verification: 'checksums' },
  { name: 'guide-counts', mode: 'guide', verification: 'counts' },
  { name: 'fast', mode: 'fast', verification: 'checksums' },
  { name: 'fast-counts', mode: 'fast', verification: 'counts' },
] as const satisfies readonly { name: string; mode: Mode; verification: Verification }[];
export type VariantName = (typeof WORKFLOW_VARIANTS)[number]['name'];

export const variantOf = (mode: Mode, verification: Verification): VariantName => WORKFLOW_VARIANTS.find((v) => v.mode === mode && v.verification === verification)!.name;

const GIB = 2 ** 30;

const lineSchema = z.object({ fixedSeconds: z.number().min(0), secondsPerGiB: z.number().min(0) });
export type Line = z.infer<typeof lineSchema>;

const runSchema = z.object({ instances: z.number().int().positive(), dataDirBytes: z.number().int().positive(), seconds: z.number().positive() });
export type MeasuredRun = z.infer<typeof runSchema>;

export const throughputSchema = z.object({
  about: z.string(),
  /** The benchmark command whose runs these are. */
  command: z.string().min(1),
  date: z.iso.date(),
  machine: z.string().min(1),
  variants: z.record(z.enum(WORKFLOW_VARIANTS.map((v) => v.name)), lineSchema.extend({ runs: z.array(runSchema).min(2) })),
});
export type Throughput = z.infer<typeof throughputSchema>;

/** What the file says of itself (JSON has no comments). */
export const ABOUT =
  'Written by bench/run.ts from its own runs: per variant, the downtime of the workflow (from the end of the steps before the archive stops to the result, without the wait for approval), on the local runtime without a cluster, fitted as fixedSeconds + secondsPerGiB × GiB of the database directory (paths.dataDir). Edit by running the benchmark, not by hand.';

/**
 * Least squares through the measured runs. An intercept below zero (noise at small sizes) is
 * dropped for a line through the origin: no migration takes less than no time. A slope below zero
 * means the runs cannot tell size from noise, and no estimate is better than a wrong one.
 */
export function fitLine(runs: Pick<MeasuredRun, 'dataDirBytes' | 'seconds'>[]): Line {
  const xs = runs.map((r) => r.dataDirBytes / GIB);
  const ys = runs.map((r) => r.seconds);
  if (new Set(xs).size < 2) throw new Error('a fit needs runs at two sizes or more');
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const [mx, my] = [mean(xs), mean(ys)];
  const sxy = xs.reduce((t, x, i) => t + (x - mx) * (ys[i]! - my), 0);
  const sxx = xs.reduce((t, x) => t + (x - mx) ** 2, 0);
  const slope = sxy / sxx;
  if (slope < 0) throw new Error(`the times fall as the size grows (${runs.map((r) => `${r.seconds} s at ${r.dataDirBytes} bytes`).join(', ')}): repeat the runs (--repeat) or use sizes farther apart`);
  const fixed = my - slope * mx;
  if (fixed >= 0) return { fixedSeconds: fixed, secondsPerGiB: slope };
  return { fixedSeconds: 0, secondsPerGiB: xs.reduce((t, x, i) => t + x * ys[i]!, 0) / xs.reduce((t, x) => t + x * x, 0) };
}

/** The figures file from the benchmark's runs of every variant. */
export function throughputOf(made: Pick<Throughput, 'command' | 'date' | 'machine'>, runs: Record<VariantName, MeasuredRun[]>): Throughput {
  const variants = Object.fromEntries(WORKFLOW_VARIANTS.map(({ name }) => [name, { ...fitLine(runs[name]), runs: runs[name] }])) as Throughput['variants'];
  return throughputSchema.parse({ about: ABOUT, ...made, variants });
}

export function estimateMs(line: Line, dataDirBytes: number): number {
  return Math.round((line.fixedSeconds + (line.secondsPerGiB * dataDirBytes) / GIB) * 1000);
}

/** The project's figures (src/plan/throughput.json); throws when the file is not what the benchmark writes. */
export function benchmarkFigures(): Throughput {
  const parsed = throughputSchema.safeParse(figuresFile);
  if (!parsed.success) throw new Error(`src/plan/throughput.json holds no benchmark figures (${z.prettifyError(parsed.error).replace(/\n/g, ' ')}): run npm run bench`);
  return parsed.data;
}

/** Where the estimate stands relative to what was measured: beyond the largest run it extrapolates. */
export function measuredRange(figures: Throughput): { minBytes: number; maxBytes: number } {
  const sizes = Object.values(figures.variants).flatMap((v) => v.runs.map((r) => r.dataDirBytes));
  return { minBytes: Math.min(...sizes), maxBytes: Math.max(...sizes) };
}

/** Which run the figures come from, for every line that shows an estimate. */
export const madeBy = (figures: Throughput): string => `\`${figures.command}\`, ${figures.date}, ${figures.machine}`;
