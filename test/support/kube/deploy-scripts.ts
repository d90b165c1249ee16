// Two deploy_platform.sh stand-ins (0.2.x and 0.3.x) for a test node, as the Kaapana installer
// leaves them: each a script with its release and data directories baked in, run by the
// migration as the Kaapana admin. A control directory lets the test steer them (deploy-platform.mjs).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { osUser } from '../../../src/os-users.js';
import { kaapanaNode, type KaapanaVersion } from '../../fixtures/kaapana-node/index.js';

/** The OS user the tests run deploy_platform.sh as (made by `npm run test:setup`). */
export const KAAPANA_TEST_USER = 'kaapana-test';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const STANDIN = path.join(HERE, 'deploy-platform.mjs');
const CLIENT_PACKAGE = path.resolve(HERE, '..', '..', '..', 'node_modules', '@kubernetes', 'client-node', 'package.json');

let bundled: Promise<string> | undefined;

/**
 * The stand-in and its libraries in one file under the system's temp directory, which the admin
 * user can read: the checkout itself may sit where only root can enter (a clone in `mktemp -d`).
 * Made once per state of the stand-in and the client library, like the workflow bundle.
 */
function standinBundle(): Promise<string> {
  bundled ??= (async () => {
    const key = createHash('sha256').update(await fs.readFile(STANDIN)).update(await fs.readFile(CLIENT_PACKAGE)).digest('hex').slice(0, 16);
    const file = path.join(os.tmpdir(), `km-deploy-platform-${key}.mjs`);
    if (await fs.stat(file).then(() => true, () => false)) return file;
    // Built under a temporary name and renamed: a concurrent test file never runs half a bundle.
    const tmp = `${file}.${process.pid}.tmp`;
    await build({
      entryPoints: [STANDIN],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'error',
      // The bundled CommonJS modules require Node's own modules: give the ES module a require.
      banner: { js: "import { createRequire as standinRequire } from 'node:module'; const require = standinRequire(import.meta.url);" },
    });
    await fs.chmod(tmp, 0o644);
    await fs.rename(tmp, file);
    return file;
  })();
  bundled.catch(() => (bundled = undefined));
  return bundled;
}

export interface DeployScriptSet {
  current: string;
  target: string;
  /** Files the stand-ins read: fail-deploy (both) or fail-deploy-<release>, delay-ms, registry. */
  controlDir: string;
  /**
   * Gives the user the cluster's admin kubeconfig, as the installer does with ~/.kube/config: a file
   * of the user's, mode 0600, but one per script set (the stand-ins read it through
   * KM_STANDIN_KUBECONFIG). One shared ~/.kube/config made test files running at the same time
   * deploy to and undeploy from each other's clusters.
   */
  installKubeconfig(kubeconfigPath: string): Promise<void>;
  /** Where installKubeconfig puts it. */
  kubeconfig: string;
  control(name: 'fail-deploy' | 'fail-deploy-0.2.x' | 'fail-deploy-0.3.x' | 'delay-ms' | 'registry', content: string | undefined): Promise<void>;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export async function writeDeployScripts(dir: string, opts: { fastDataDir: string; slowDataDir: string; instanceUid?: string }): Promise<DeployScriptSet> {
  const user = await osUser(KAAPANA_TEST_USER, 'the tests (npm run test:setup creates it)');
  const standin = await standinBundle();
  const controlDir = path.join(dir, 'control');
  await fs.mkdir(controlDir, { recursive: true, mode: 0o755 });
  const kubeDir = path.join(dir, 'kube');
  const kubeconfig = path.join(kubeDir, 'config');
  const script = async (release: KaapanaVersion) => {
    const file = path.join(dir, `kaapana-${release}`, 'deploy_platform.sh');
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    // The chart the real script deploys, made for this node by the fixture.
    const chart = path.join(path.dirname(file), 'chart.json');
    await fs.writeFile(chart, JSON.stringify(kaapanaNode({ version: release, ...opts })), { mode: 0o644 });
    const vars = {
      KM_STANDIN_RELEASE: release,
      KM_STANDIN_CHART: chart,
      KM_STANDIN_CONTROL_DIR: controlDir,
      KM_STANDIN_KUBECONFIG: kubeconfig,
    };
    const exports = Object.entries(vars).map(([k, v]) => `export ${k}=${quote(v)}`).join('\n');
    await fs.writeFile(file, `#!/bin/sh\n${exports}\nexec ${quote(process.execPath)} ${quote(standin)} "$@"\n`, { mode: 0o755 });
    return file;
  };
  const [current, target] = [await script('0.2.x'), await script('0.3.x')];
  return {
    current,
    target,
    controlDir,
    kubeconfig,
    async installKubeconfig(kubeconfigPath) {
      await fs.mkdir(kubeDir, { recursive: true, mode: 0o700 });
      await fs.chown(kubeDir, user.uid, user.gid);
      // Written beside and renamed: a stand-in starting meanwhile reads the old file or the new one.
      await fs.copyFile(kubeconfigPath, `${kubeconfig}.new`);
      await fs.chown(`${kubeconfig}.new`, user.uid, user.gid);
      await fs.chmod(`${kubeconfig}.new`, 0o600);
      await fs.rename(`${kubeconfig}.new`, kubeconfig);
    },
    async control(name, content) {
      const file = path.join(controlDir, name);
      if (content === undefined) await fs.rm(file, { force: true });
      else await fs.writeFile(file, content, { mode: 0o644 });
    },
  };
}
