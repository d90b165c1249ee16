// OS accounts the worker runs programs as: the PostgreSQL server user of the local runtime, and
// the Kaapana admin who runs deploy_platform.sh.
import { promises as fs } from 'node:fs';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The account from /etc/passwd; `what` names the setting in the error. */
export async function osUser(name: string, what: string): Promise<OsUser> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  const entry = passwd.split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  if (!entry) throw new Error(`${what}: no OS user named ${name}`);
  return { name, uid: Number(entry[2]), gid: Number(entry[3]), home: entry[5] ?? '/' };
}
