// A stand-in for Kaapana's deploy_platform.sh, behaving as the real one does in the ways the
// migration depends on (see the domain notes, "Redeploy"): flags acted on in order, `--undeploy`
// exits at once; a plain deploy runs preflight checks that fail as root or with KUBECONFIG set and
// then `read` (even with --quiet), so without stdin it exits 1; "already deployed" exits 1; registry
// credentials are prompted for on stdin; the deploy returns before the platform exists (kube-helm
// installs it later); undeploy deletes the chart's objects and every PV. It talks to the cluster as
// the script does: with a kubeconfig file of the invoking user's (the real script's ~/.kube/config;
// here the one of its script set, KM_STANDIN_KUBECONFIG, so that test files running at the same
// time, each with its own cluster, do not share one file).
//
// Run by the wrapper scripts of writeDeployScripts() (deploy-scripts.ts), which bake in what the
// real script has baked in: its release and its chart's objects for this node (KM_STANDIN_CHART,
// written from the kaapana-node fixture). Plain JavaScript, run bundled with its libraries
// (deploy-scripts.ts): it starts as a process of its own for every deploy, undeploy and install,
// and under the TypeScript loader each start cost seconds of CPU.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`deploy-platform stand-in: ${name} is not set by its wrapper`);
  return v;
};
const release = env('KM_STANDIN_RELEASE');
/** Control files the test writes: fail-deploy (or fail-deploy-<release>), delay-ms, registry (expected "user\npassword"). */
const control = env('KM_STANDIN_CONTROL_DIR');
/** The release's objects for this node: { namespace, fastDataDir, objects, dcm4chee } of kaapanaNode(). */
const node = JSON.parse(readFileSync(env('KM_STANDIN_CHART'), 'utf8'));
/** Where the stand-in keeps its "helm release": helm's own release secrets live in a namespace too. */
const RELEASE = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kaapana-platform-release', namespace: 'default' } };
const say = (line) => process.stdout.write(`${line}\n`);
const controlFile = (name) => (existsSync(path.join(control, name)) ? readFileSync(path.join(control, name), 'utf8') : undefined);

function cluster() {
  const kc = new KubeConfig();
  // KUBECONFIG is refused by the preflight of a deploy; undeploy would use it as kubectl does.
  if (process.env.KUBECONFIG) kc.loadFromDefault();
  else kc.loadFromFile(process.env.KM_STANDIN_KUBECONFIG ?? path.join(os.homedir(), '.kube', 'config'));
  return { objects: KubernetesObjectApi.makeApiClient(kc), core: kc.makeApiClient(CoreV1Api) };
}

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
/** `read` under `set -e`: no more input ends the script with status 1. */
async function read(prompt) {
  process.stdout.write(prompt);
  const next = await lines.next();
  if (next.done) {
    say('');
    process.exit(1);
  }
  return next.value;
}

async function exists(o) {
  return cluster().objects.read(o).then(() => true, () => false);
}

async function preflightChecks(quiet) {
  const failed = [];
  if (process.getuid?.() === 0) failed.push('300 Check if the script is running as non-root user: failed');
  if (process.env.KUBECONFIG !== undefined) failed.push(`100 Check that $KUBECONFIG is untouched: failed (KUBECONFIG=${process.env.KUBECONFIG})`);
  for (const f of failed) say(f);
  if (failed.length === 0) return;
  // The real script asks even in quiet mode (its test of QUIET is inverted).
  say(quiet ? 'Problems with a high severity have been found!' : 'Problems found.');
  for (;;) {
    const answer = await read('Do you want to fix the problems before continuing? (Recommended) ');
    if (/^\s*[Yy]/.test(answer)) {
      say('exiting...');
      process.exit(1);
    }
    if (/^\s*[Nn]/.test(answer)) return;
    say('Please answer yes or no.');
  }
}

async function deploy(quiet, credentials) {
  await preflightChecks(quiet);
  if (await exists(RELEASE)) {
    say(quiet ? 'Project already deployed!\nabort.' : 'kaapana-platform-chart already deployed!');
    process.exit(1);
  }
  const username = credentials.username ?? (await read('Registry username: '));
  const password = credentials.password ?? (await read('Registry password: '));
  const expected = controlFile('registry');
  if (expected !== undefined && expected !== `${username}\n${password}`) {
    say('Error: login failed: unauthorized');
    process.exit(1);
  }
  if (controlFile('fail-deploy') !== undefined || controlFile(`fail-deploy-${release}`) !== undefined) {
    say('Error: INSTALLATION FAILED: the test made this deploy fail');
    process.exit(1);
  }
  await cluster().objects.create({ ...RELEASE, data: { release, fastDataDir: node.fastDataDir } });
  // helm install returns without --wait; kube-helm installs the platform's services later.
  const installer = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--standin-install'], { detached: true, stdio: 'ignore', env: process.env });
  installer.unref();
  say(`Deployed kaapana-platform-chart ${release}; the services come up in a few minutes.`);
}

/** The background part: what kube-helm does minutes after the deploy returned. */
async function install() {
  await new Promise((r) => setTimeout(r, Number(controlFile('delay-ms') ?? '2000')));
  const { objects, core } = cluster();
  const rank = (o) => (o.kind === 'Namespace' ? 0 : o.metadata?.namespace ? 2 : 1);
  for (const o of [...node.objects].sort((a, b) => rank(a) - rank(b))) {
    if (rank(o) === 2) {
      // Pods are refused until the namespace's default service account exists.
      for (let i = 0; i < 100 && !(await core.listNamespacedServiceAccount({ namespace: o.metadata.namespace })).items.some((s) => s.metadata?.name === 'default'); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await objects.patch(o, undefined, undefined, 'kube-helm', true, PatchStrategy.ServerSideApply);
  }
}

async function undeploy() {
  const { objects, core } = cluster();
  say('Undeploy releases');
  // As helm uninstall: background propagation, the controllers remove replica sets and pods.
  for (const o of node.dcm4chee) await objects.delete(o, undefined, undefined, undefined, undefined, 'Background').catch(() => undefined);
  for (let i = 0; i < 600; i++) {
    const left = (await core.listNamespacedPod({ namespace: node.namespace })).items.length;
    if (left === 0) break;
    say(`Waiting for ${left} pods to terminate ...`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // As `kubectl delete pv --all`: the data survives through Retain, the objects do not.
  for (const pv of (await core.listPersistentVolume()).items) await core.deletePersistentVolume({ name: pv.metadata.name }).catch(() => undefined);
  for (let i = 0; i < 300 && (await core.listPersistentVolume()).items.length > 0; i++) await new Promise((r) => setTimeout(r, 200));
  await objects.delete(RELEASE).catch(() => undefined);
  say('UNDEPLOYMENT DONE');
}

async function main(argv) {
  if (argv[0] === '--standin-install') return install();
  let quiet = false;
  const credentials = {};
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    switch (key) {
      case '--quiet':
        quiet = true;
        break;
      case '--undeploy':
        return undeploy();
      case '-u':
      case '--username':
        credentials.username = argv[++i];
        break;
      case '-p':
      case '--password':
        credentials.password = argv[++i];
        break;
      case '-d':
      case '--domain':
        i++;
        break;
      default:
        say(`unknown parameter: ${key}`);
        process.exit(1);
    }
  }
  return deploy(quiet, credentials);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
