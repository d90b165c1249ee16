// `pods/exec` through @kubernetes/client-node's Exec, on a websocket of our own that reports how
// it ended: a command whose connection drops before its exit status is reported as such, never
// as success. Commands run behind an end marker, so that a cut stream never reads as complete.
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import WebSocket from 'ws';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { duration } from '../format.js';
import { Collector } from '../streams.js';
import { explain } from './kube-errors.js';

/** v4 and v5 both report the exit code on the status channel. */
const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const CLOSE_CHANNEL = 255;

export interface ExecTarget {
  namespace: string;
  pod: string;
  container: string;
}

export interface ExecBounds {
  /** Bound of the whole command; without one, only `signal` ends it. */
  timeoutMs?: number;
  /** Aborting ends the exec: the websocket is terminated. */
  signal?: AbortSignal;
}

/**
 * Runs argv in the container; stdout goes to the given stream (ended by the client on exit).
 * Errors name the command as `shown` (the caller's command, without a wrapping script).
 */
export async function execInPod(kc: KubeConfig, target: ExecTarget, argv: string[], stdout: Writable, bounds: ExecBounds, shown = argv): Promise<{ exitCode: number; stderr: string }> {
  const { namespace, pod, container } = target;
  const command = shown.join(' ');
  const { timeoutMs, signal } = bounds;
  signal?.throwIfAborted();
  const stderr = new Collector();
  const socket = new ChannelSocket(kc, stdout);
  let status: V1Status | undefined;
  let ws: WebSocket;
  try {
    ws = await new Exec(kc, socket).exec(namespace, pod, container, argv, stdout, stderr, null, false, (s) => {
      status = s;
    });
  } catch (err) {
    throw new Error(`could not start "${command}" in pod ${pod}: ${explain(err)}`, { cause: err });
  }
  // Why the exec was ended from this side, if it was.
  let stopped: string | undefined;
  const stop = (why: string) => {
    if (stopped === undefined && status === undefined) {
      stopped = why;
      ws.terminate();
    }
  };
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => stop(`did not finish within ${duration(timeoutMs)}`), timeoutMs);
  const onAbort = () => stop('was aborted');
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  // The output has nowhere to go: the rest of the command's run is of no use.
  const onOutputError = (err: Error) => stop(`was ended: its output could not be written (${err.message})`);
  stdout.once('error', onOutputError);
  const closed = await socket.closed;
  clearTimeout(timer);
  signal?.removeEventListener('abort', onAbort);
  stdout.off('error', onOutputError);
  if (!status) {
    // No status: the stream broke. The command may have run partly; the caller retries, and the
    // LDAP commands are judged so that a re-run is recognised.
    const why = stopped ?? `lost its connection (websocket closed, code ${closed.code}${closed.error ? `: ${closed.error.message}` : ''}) before the exit status arrived`;
    throw new Error(`"${command}" in pod ${pod} ${why}`, signal?.aborted ? { cause: signal.reason } : undefined);
  }
  return { exitCode: exitCodeOf(status, command, pod), stderr: stderr.text() };
}

const END_MARKER = 'kaapana-migrate-exec-end';

/**
 * Runs argv in the container through the image's sh, which prints an end marker with the exit
 * status after the command, on stdout and on stderr: under the v5 exec protocol (Kubernetes 1.30+)
 * a node connection that breaks mid-command reaches the client as "Success" with the output cut
 * short, so only the markers tell a finished command, whose output arrived whole, from a cut
 * stream. The script is a constant (`setup`, a constant too, runs first in it); argv stays argv
 * ("$@"). On any failure, stdout is destroyed.
 */
export async function execToEnd(kc: KubeConfig, target: ExecTarget, argv: string[], stdout: Writable, bounds: ExecBounds & { setup?: string }): Promise<{ exitCode: number; stderr: string }> {
  // On both streams: each proves that its own stream arrived whole.
  const script = `${bounds.setup ?? ''}"$@"; rc=$?; printf '\\n%s %d\\n' ${END_MARKER} "$rc"; printf '%s %d\\n' ${END_MARKER} "$rc" >&2; exit "$rc"`;
  const guard = new EndMarkerGuard(END_MARKER);
  // A failed write of the output destroys the guard, which ends the exec (execInPod); the failure
  // is awaited below, once the exec is over.
  const delivered = pipeline(guard, stdout);
  delivered.catch(() => undefined);
  let outcome: { exitCode: number; stderr: string };
  try {
    outcome = await execInPod(kc, target, ['sh', '-c', script, 'sh', ...argv], guard, bounds, argv);
    if (!guard.writableEnded) guard.end();
    await delivered;
  } catch (err) {
    // Read before the guard goes: pipeline then destroys stdout too ("premature close").
    const writeError = stdout.errored;
    guard.destroy();
    await delivered.catch(() => undefined);
    // A failed write is the cause, not the ended exec it brought about.
    if (writeError) throw new Error(`"${argv.join(' ')}" in pod ${target.pod}: writing its output failed: ${writeError.message}`, { cause: writeError });
    throw err;
  }
  const { exitCode, stderr } = outcome;
  // The command's stderr need not end with a newline: the marker may follow on the same line.
  const end = new RegExp(`${END_MARKER} (\\d+)\\n?$`).exec(stderr);
  if (!end || Number(end[1]) !== exitCode || guard.status !== exitCode) {
    throw new Error(`"${argv.join(' ')}" in pod ${target.pod}: the stream ended before the command did (exit status ${exitCode} without the end marker on ${!end ? 'stderr' : 'stdout'}); it may have run partly`);
  }
  return { exitCode, stderr: stderr.slice(0, end.index) };
}

function exitCodeOf(status: V1Status, command: string, pod: string): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  if (cause && Number.isInteger(code)) return code;
  // Failure without an exit code: the command never ran (e.g. not found in the image).
  throw new Error(`"${command}" could not run in pod ${pod}: ${status.message ?? status.reason ?? 'unknown failure'}`);
}

/**
 * The websocket under client-node's Exec. Its own handler would end process.stdout when a v5 server
 * closes a stream, and tells nobody when the socket drops; this one ignores close frames and exposes
 * how the socket ended. Exec writes stdout without regard to backpressure: this socket stops
 * reading while stdout is full, so that a dump to a slow disk waits in the pod, not in our memory.
 */
class ChannelSocket {
  /** Set by connect: resolves when the socket is gone, with the close code and any error. */
  closed!: Promise<{ code: number; error?: Error }>;

  constructor(
    private readonly kc: KubeConfig,
    private readonly stdout: Writable,
  ) {}

  async connect(apiPath: string, _text: unknown, binary: ((channel: number, data: Buffer) => boolean) | null): Promise<WebSocket> {
    const server = this.kc.getCurrentCluster()!.server.replace(/\/$/, '');
    const options: WebSocket.ClientOptions = {};
    await this.kc.applyToHTTPSOptions(options);
    const ws = new WebSocket(`${server.replace(/^http/, 'ws')}${apiPath}`, CHANNEL_PROTOCOLS, options);
    let failure: Error | undefined;
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve({ code, ...(failure ? { error: failure } : {}) })));
    ws.on('error', (err) => {
      failure = err;
    });
    ws.on('message', (data: WebSocket.RawData) => {
      const frame = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (frame.length === 0 || frame[0] === CLOSE_CHANNEL) return;
      try {
        if (binary && !binary(frame[0]!, frame.subarray(1))) ws.close(1000);
        if (this.stdout.writableNeedDrain && !ws.isPaused) this.readAfterDrain(ws);
      } catch (err) {
        failure = err instanceof Error ? err : new Error(String(err));
        ws.terminate();
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return ws;
  }

  /** Pauses the socket until stdout drained, or is gone (then the rest is dropped by it). */
  private readAfterDrain(ws: WebSocket): void {
    ws.pause();
    const resume = () => {
      this.stdout.off('drain', resume);
      this.stdout.off('close', resume);
      ws.resume();
    };
    this.stdout.on('drain', resume);
    this.stdout.on('close', resume);
  }
}

/**
 * Passes a command's stdout on, minus the end marker the wrapping shell printed after the command
 * ("\n<marker> <status>\n"): only the marker at the very end shows that all of stdout arrived.
 */
export class EndMarkerGuard extends Transform {
  /** The status the marker carried; undefined when the stream ended without it. */
  status: number | undefined;
  private tail = Buffer.alloc(0);

  constructor(private readonly marker: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    // Hold back what could be the start of the marker; pass everything before it on.
    const all = Buffer.concat([this.tail, chunk]);
    const keep = Math.min(all.length, this.marker.length + 16);
    this.tail = all.subarray(all.length - keep);
    done(null, all.subarray(0, all.length - keep));
  }

  override _flush(done: TransformCallback): void {
    const text = this.tail.toString('latin1');
    const m = new RegExp(`\\n${this.marker} (\\d+)\\n$`).exec(text);
    if (m) this.status = Number(m[1]);
    done(null, m ? this.tail.subarray(0, m.index) : this.tail);
  }
}
