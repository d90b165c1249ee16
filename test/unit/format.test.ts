import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duration, fineDuration, gib, kib, mib, seconds } from '../../src/format.js';

test('durations: tenths of a second below a minute, whole seconds above, rounded once', () => {
  assert.equal(duration(0), '0.0 s');
  assert.equal(duration(4_240), '4.2 s');
  assert.equal(duration(59_940), '59.9 s');
  // Rounded up to a full minute: shown as one, never as "60.0 s" or "N min 60 s".
  assert.equal(duration(59_960), '1 min 0 s');
  assert.equal(duration(60_000), '1 min 0 s');
  assert.equal(duration(119_600), '2 min 0 s');
  assert.equal(duration(192_400), '3 min 12 s');
  assert.equal(duration(3_600_000), '60 min 0 s');
});

test("a statement's time: milliseconds below a second, else as durations", () => {
  assert.equal(fineDuration(0.412), '0 ms');
  assert.equal(fineDuration(41.6), '42 ms');
  assert.equal(fineDuration(999.4), '999 ms');
  // Rounds to a second: shown as one, never as "1000 ms".
  assert.equal(fineDuration(999.6), '1.0 s');
  assert.equal(fineDuration(61_000), '1 min 1 s');
});

test('seconds without the unit, as benchmark columns show them', () => {
  assert.equal(seconds(103_449), '103.4');
  assert.equal(seconds(50), '0.1');
  assert.equal(seconds(49), '0.0');
});

test('sizes in binary units, one decimal', () => {
  assert.equal(kib(1536), '1.5 KiB');
  assert.equal(mib(44 * 2 ** 20 + 2 ** 19), '44.5 MiB');
  assert.equal(gib(7.76 * 2 ** 30), '7.8 GiB');
});
