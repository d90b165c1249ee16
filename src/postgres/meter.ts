// A pass-through that counts and hashes the bytes of a stream on their way.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export type OnBytes = (bytes: number) => void;

export function meter(onBytes: OnBytes = () => undefined): { stream: Transform; digest: () => { bytes: number; sha256: string } } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes(bytes);
      done(null, chunk);
    },
  });
  return { stream, digest: () => ({ bytes, sha256: hash.digest('hex') }) };
}
