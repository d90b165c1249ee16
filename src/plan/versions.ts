// Archive versions: natural order (5.31 < 5.31.1 < 5.32) and the chain of database updates.

/** Every database update the vendor ships between Kaapana 0.2.x (5.26) and 0.3.x (5.32). */
export const ARCHIVE_UPDATE_CHAIN = ['5.27', '5.28', '5.29', '5.30', '5.31', '5.31.1', '5.32'] as const;

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

export function inRange(version: string, from: string, to: string): boolean {
  return compareVersions(version, from) >= 0 && compareVersions(version, to) <= 0;
}
