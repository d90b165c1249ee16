// The live server reached from the worker's host (a node without a cluster): the host's client
// tools, at the rehearsal's priority, the password in their environment only.
import path from 'node:path';
import { CLIENT_LOCALE, type DatabaseCredentials } from '../runtime/port.js';
import { priorityArgv, type Priority } from '../runtime/priority.js';
import { runTool } from '../runtime/process.js';
import { mustBeLiveTool, type LiveDatabase } from './port.js';

export interface LiveEndpoint {
  host: string;
  port: number;
  clientBinDir: string;
  credentials: DatabaseCredentials;
  priority: Priority;
}

export function createLiveEndpoint(opts: LiveEndpoint): LiveDatabase {
  return {
    where: `${opts.host}:${opts.port}`,
    exec(argv, io) {
      const tool = mustBeLiveTool(argv);
      return runTool([...priorityArgv(opts.priority), path.join(opts.clientBinDir, tool), ...argv.slice(1)], {
        ...io,
        env: {
          ...process.env,
          PGHOST: opts.host,
          PGPORT: String(opts.port),
          PGUSER: opts.credentials.user,
          PGDATABASE: opts.credentials.name,
          PGPASSWORD: opts.credentials.password,
          PGAPPNAME: io.appName,
          LC_ALL: CLIENT_LOCALE,
        },
      });
    },
  };
}
