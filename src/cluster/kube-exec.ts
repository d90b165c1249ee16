// `pods/exec` through @kubernetes/client-node's Exec, on a websocket of our own that reports how
// it ended: a command whose connection drops before its exit status is reported as such, never
// as success.
import { Transform, Writable, type TransformCallback } from 'node:stream';
import WebSocket from 'ws';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
import { duration } from '../format.js';
import { explain } from './kube-errors.js';

/** v4 and v5 both report the exit code on the status channel. */
const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const CLOSE_CHANNEL = 255;

export interface ExecTarget {
  namespace: string;
  pod: string;
  container: string;
}

/** Runs argv in the container; stdout goes to the given stream (ended by the client on exit). */
export async function execInPod(kc: KubeConfig, target: ExecTarget, argv: string[], stdout: Writable, timeoutMs: number): Promise<{ exitCode: number; stderr: string }> {
  const { namespace, pod, container } = target;
  const stderr = new Collector();
  const socket = new ChannelSocket(kc);
  let status: V1Status | undefined;
  let ws: WebSocket;
  try {
    ws = await new Exec(kc, socket).exec(namespace, pod, container, argv, stdout, stderr, null, false, (s) => {
      status = s;
    });
  } catch (err) {
    throw new Error(`could not start "${argv.join(' ')}" in pod ${pod}: ${explain(err)}`, { cause: err });
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    ws.terminate();
  }, timeoutMs);
  const closed = await socket.closed;
  clearTimeout(timer);
  if (!status) {
    // No status: the stream broke. The command may have run partly; the caller retries, and the
    // LDAP commands are judged so that a re-run is recognised.
    const why = timedOut ? `did not finish within ${duration(timeoutMs)}` : `lost its connection (websocket closed, code ${closed.code}${closed.error ? `: ${closed.error.message}` : ''}) before the exit status arrived`;
    throw new Error(`"${argv.join(' ')}" in pod ${pod} ${why}`);
  }
  return { exitCode: exitCodeOf(status, argv, pod), stderr: stderr.text() };
}

function exitCodeOf(status: V1Status, argv: string[], pod: string): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const code = Number(cause?.message);
  if (cause && Number.isInteger(code)) return code;
  // Failure without an exit code: the command never ran (e.g. not found in the image).
  throw new Error(`"${argv.join(' ')}" could not run in pod ${pod}: ${status.message ?? status.reason ?? 'unknown failure'}`);
}

/** Collects a stream's bytes; decoded once at the end so split multi-byte characters survive. */
export class Collector extends Writable {
  private readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    done();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * The websocket under client-node's Exec. Its own handler would end process.stdout when a v5 server
 * closes a stream, and tells nobody when the socket drops; this one ignores close frames and exposes
 * how the socket ended.
 */
class ChannelSocket {
  /** Set by connect: resolves when the socket is gone, with the close code and any error. */
  closed!: Promise<{ code: number; error?: Error }>;

  constructor(private readonly kc: KubeConfig) {}

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
