// No cluster: the applications are stopped and restarted by the site itself.
import type { Cluster } from './port.js';

export function createNoCluster(): Cluster {
  const absent = (what: string) => () => Promise.reject(new Error(`${what} needs a cluster; the configuration says cluster.kind = none`));
  return {
    kind: 'none',
    preflight: async () => ({ notes: ['no cluster configured: stop dcm4chee and the database deployment yourself before starting'] }),
    stopApplications: async () => ({}),
    restoreApplications: async () => 'no cluster: nothing to restore',
    backupLdap: async () => undefined,
    redeploy: absent('redeploy'),
    undeployTarget: async () => 'no cluster: nothing was deployed',
    execLdap: absent('the LDAP update'),
    ldapData: absent('the LDAP update'),
    restartPods: absent('restarting pods'),
    execDatabase: absent('running a client tool in the database pod'),
  };
}
