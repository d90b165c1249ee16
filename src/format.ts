// Sizes and durations as every message, report, progress line and benchmark table writes them.

export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
export const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/** Seconds to a tenth, without the unit ("4.2"): for columns and lists headed "seconds". */
export const seconds = (ms: number): string => (Math.round(ms / 100) / 10).toFixed(1);

/**
 * "4.2 s" below a minute, "3 min 12 s" above. Rounded once, to the unit shown, so that 59.96 s is
 * "1 min 0 s" and 119.6 s "2 min 0 s" (not "60.0 s", "1 min 60 s").
 */
export function duration(ms: number): string {
  if (Math.round(ms / 100) < 600) return `${seconds(ms)} s`;
  const whole = Math.round(ms / 1000);
  return `${Math.floor(whole / 60)} min ${whole % 60} s`;
}

/** Text as one Markdown table cell: no column breaks, no line breaks. */
export const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** "42 ms" below a second (a statement's time, where tenths of a second would read 0.0), else as duration(). */
export const fineDuration = (ms: number): string => (Math.round(ms) < 1000 ? `${Math.round(ms)} ms` : duration(ms));
