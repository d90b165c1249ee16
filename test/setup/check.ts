// Run first by `npm test`: one clear check of everything the suite needs, so that a machine that
// lacks something fails here, naming it and the command that installs it, instead of in 40 tests.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { cachedOldPostgresBinDir, NEW_POSTGRES_BIN_DIR } from '../../src/demo/binaries.js';
import { isExecutable, onPath } from '../../src/prerequisites.js';
import { findTemporalCli } from '../../src/temporal/cli-binary.js';
import { kubeBinaries } from '../support/kube/binaries.js';
import { KAAPANA_TEST_USER } from '../support/kube/deploy-scripts.js';

interface Need {
  what: string;
  present: () => boolean;
}

const program = (name: string, what: string): Need => ({ what: `${name} (${what})`, present: () => onPath(name) !== undefined });
const file = (p: string, what: string): Need => ({ what: `${p} (${what})`, present: () => isExecutable(p) });

const needs: Need[] = [
  ...['postgres', 'initdb', 'pg_ctl', 'psql', 'pg_dump'].map((tool) => file(path.join(NEW_POSTGRES_BIN_DIR, tool), 'PostgreSQL 15')),
  ...['postgres', KAAPANA_TEST_USER].map((user) => ({ what: `the OS user ${user} (test servers or deploy scripts run as it)`, present: () => spawnSync('id', ['-u', user]).status === 0 })),
  { what: 'the PostgreSQL 9.6.24 server binaries in the project cache', present: () => cachedOldPostgresBinDir() !== undefined },
  { what: 'the Temporal CLI (temporal)', present: () => findTemporalCli() !== undefined },
  program('podman', "the Docker Engine API for the Docker runtime's tests"),
  program('runc', "podman's container runtime"),
  file('/usr/sbin/slapd', 'OpenLDAP, the ldap pod of the cluster tests'),
  ...['slapadd', 'ldapsearch', 'ldapmodify'].map((tool) => program(tool, 'OpenLDAP tools')),
  file('/usr/bin/chromium', 'the Web UI test'),
  program('etcd', 'the Kubernetes test cluster'),
  ...Object.entries(kubeBinaries()).map(([name, p]) => file(p, `${name}, built for the Kubernetes test cluster`)),
  ...['openssl', 'unshare', 'runuser', 'unzip'].map((tool) => program(tool, 'test support')),
];

const missing = needs.filter((n) => !n.present());
if (missing.length > 0) {
  process.stderr.write(
    `The test suite needs what this machine lacks:\n${missing.map((n) => `  - ${n.what}`).join('\n')}\n` +
      'Install all of it with: npm run test:setup   (apt-get, the Go module proxy, PyPI and Maven Central; see README, "Tests")\n',
  );
  process.exit(1);
}
