// Where build.sh puts the test cluster's binaries: a cache outside the checkout, by the same rule as
// the PostgreSQL 9.6 binaries (src/demo/binaries.ts), so that every clone on the machine shares one build.
import os from 'node:os';
import path from 'node:path';

export const KUBE_VERSION = 'v1.30.14';
const CACHE_ROOT = process.getuid?.() === 0 ? '/var/cache/kaapana-migrate' : path.join(os.homedir(), '.cache', 'kaapana-migrate');
export const KUBE_BIN_DIR = path.join(CACHE_ROOT, `kube-${KUBE_VERSION}`, 'bin');

const NAMES = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok', 'exec-kubelet'] as const;
export type KubeBinary = (typeof NAMES)[number];

/** Each binary's path (present or not) in binDir. */
export function kubeBinaries(binDir = KUBE_BIN_DIR): Record<KubeBinary, string> {
  return Object.fromEntries(NAMES.map((n) => [n, path.join(binDir, n)])) as Record<KubeBinary, string>;
}
