// The live server of a Kubernetes node: the tools run in its own pod (postgres-dcm4che), over the
// pod's unix socket, niced there; no password travels.
import { Writable } from 'node:stream';
import type { Cluster } from '../cluster/port.js';
import type { DatabaseCredentials } from '../runtime/port.js';
import type { Priority } from '../runtime/priority.js';
import { mustBeLiveTool, type LiveDatabase } from './port.js';

export function createLivePod(cluster: Pick<Cluster, 'execDatabase'>, credentials: Omit<DatabaseCredentials, 'password'>, priority: Priority): LiveDatabase {
  return {
    where: 'the postgres-dcm4che pod',
    exec(argv, io) {
      const tool = mustBeLiveTool(argv);
      // A connection string names the session, which the pod's environment cannot (ionice may be
      // missing from the image: nice only).
      const conninfo = `dbname=${credentials.name} user=${credentials.user} application_name=${io.appName}`;
      const discard = new Writable({ write: (_chunk, _enc, done) => done() });
      return cluster.execDatabase(['nice', '-n', String(priority.nice), tool, `--dbname=${conninfo}`, ...argv.slice(1)], io.stdout ?? discard, io.signal);
    },
  };
}
