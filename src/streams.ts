// Small stream helpers shared by the adapters.
import { Writable } from 'node:stream';

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
