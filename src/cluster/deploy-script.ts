// Kaapana's deploy_platform.sh, run the way it works: as the Kaapana admin (it refuses root), with
// KUBECONFIG unset (its preflight refuses that too), `--quiet` before every other flag (the script
// acts on flags in order and exits after --undeploy), registry credentials on stdin for its
// prompts (never in argv), and no stdin at all otherwise, so that an unexpected prompt fails at
// once instead of waiting for ever.
import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { mustExecute } from '../files.js';
import { duration } from '../format.js';
import { osUser } from '../os-users.js';

export interface DeployScripts {
  user: string;
  currentScript: string;
  targetScript: string;
  deployArgs: string[];
  /** Read on the node when a deploy needs them; undefined: the script has its own. */
  registry?: () => Promise<{ username: string; password: string }>;
  /** Bound of one run (an undeploy alone waits up to ~10 minutes for helm and the pods). */
  timeoutMs: number;
  log: (line: string) => void;
}

export type Release = 'current' | 'target';
export type DeployAction = 'undeploy' | 'deploy';

/** Environment variables a deploy may need from the worker's; nothing else (no secrets) passes. */
const PASSED_ENV = ['LANG', 'LC_ALL', 'TZ', 'http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'];
const OUTPUT_GRACE_MS = 2_000;
/** microk8s, helm and kubectl live in /snap/bin on a Kaapana node. */
const PATH = '/snap/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function deployScripts(opts: DeployScripts) {
  const scriptOf = (release: Release) => (release === 'current' ? opts.currentScript : opts.targetScript);

  /** argv and environment: directly when we are that user, through runuser when we are root. */
  async function launchOf(argv: string[]): Promise<{ argv: string[]; env: Record<string, string> }> {
    const user = await osUser(opts.user, 'cluster.redeploy.user');
    if (user.uid === 0) throw new Error('cluster.redeploy.user must not be root: deploy_platform.sh refuses to run as root');
    const env: Record<string, string> = { PATH, HOME: user.home, USER: user.name, LOGNAME: user.name };
    for (const name of PASSED_ENV) if (process.env[name]) env[name] = process.env[name]!;
    const self = process.getuid?.();
    if (self === user.uid) return { argv, env };
    if (self !== 0) throw new Error(`the worker runs as uid ${self} and cannot run deploy_platform.sh as ${user.name}: run the worker as root or as ${user.name}`);
    // runuser (not a uid switch by spawn) also gives the user's groups: microk8s access needs them.
    return { argv: ['runuser', '-u', user.name, '--', ...argv], env };
  }

  return {
    /** What preflight can know without running anything: scripts present, user usable. */
    async check(): Promise<string[]> {
      for (const release of ['current', 'target'] as const) {
        await mustExecute(scriptOf(release), `cluster.redeploy.${release}Script`);
      }
      await launchOf([]);
      if (opts.registry) await opts.registry();
      return [`redeploy as ${opts.user}: ${opts.currentScript} (undeploy), then ${opts.targetScript} (deploy)`];
    },

    argvOf(release: Release, action: DeployAction): string[] {
      return [scriptOf(release), '--quiet', ...(action === 'undeploy' ? ['--undeploy'] : opts.deployArgs)];
    },

    async run(release: Release, action: DeployAction): Promise<void> {
      const argv = this.argvOf(release, action);
      const shown = argv.join(' ');
      // Else spawn fails on the missing working directory, reported as "spawn runuser ENOENT".
      await mustExecute(argv[0]!, `could not run \`${shown}\``);
      const launch = await launchOf(argv);
      const answers = action === 'deploy' && opts.registry ? await opts.registry() : undefined;
      opts.log(`$ ${shown} (as ${opts.user})`);
      const tail: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const child = spawn(launch.argv[0]!, launch.argv.slice(1), {
          cwd: path.dirname(scriptOf(release)),
          env: launch.env,
          stdio: [answers ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        });
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
        }, opts.timeoutMs);
        for (const stream of [child.stdout, child.stderr]) {
          readline.createInterface({ input: stream! }).on('line', (line) => {
            opts.log(line);
            tail.push(line);
            if (tail.length > 20) tail.shift();
          });
        }
        if (answers) {
          // The script's prompts, in its order: registry username, then password.
          child.stdin!.on('error', () => undefined);
          child.stdin!.end(`${answers.username}\n${answers.password}\n`);
        }
        child.on('error', (err) => {
          clearTimeout(timer);
          reject(new Error(`could not run \`${shown}\`: ${err.message}`));
        });
        // The script's end counts, not its pipes': a process it left in the background may hold
        // them open for ever. Output still in flight gets a moment to arrive.
        child.on('exit', () => {
          setTimeout(() => {
            child.stdout?.destroy();
            child.stderr?.destroy();
          }, OUTPUT_GRACE_MS).unref();
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (code === 0) return resolve();
          const how = timedOut ? `did not finish within ${duration(opts.timeoutMs)}` : signal ? `was killed by ${signal}` : `exited with ${code}`;
          reject(new Error(`\`${shown}\` (as ${opts.user}) ${how}${tail.length > 0 ? `; last output:\n${tail.join('\n')}` : ''}`));
        });
      });
    },
  };
}

export type DeployScriptRunner = ReturnType<typeof deployScripts>;
