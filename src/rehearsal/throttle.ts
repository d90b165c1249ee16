// A pass-through no faster than a rate: held back here, pg_dump blocks on its output and the live
// server's session on its socket, so the whole dump goes at this pace.
import { Transform } from 'node:stream';

export function throttle(bytesPerSecond: number): Transform {
  const started = Date.now();
  let passed = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      passed += chunk.length;
      const wait = started + (passed / bytesPerSecond) * 1000 - Date.now();
      if (wait > 0) setTimeout(() => done(null, chunk), wait);
      else done(null, chunk);
    },
  });
}
