// Checks one command vector four ways (GUIDE principle 3): decode, encode, round trip, and framed with
// the STB then fed to the deframer one octet at a time.
import assert from 'node:assert/strict';
import { decodeCommand, encodeCommand } from '../../src/protocol/command-codec.ts';
import type { OdetteCommand, ProtocolLevel } from '../../src/protocol/command-types.ts';
import { encodeStb, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';

const utf8 = new TextEncoder();

/** Joins vector parts: strings as UTF-8 (ASCII for every X and 9 field), arrays as raw octets. */
export function concat(...parts: (string | readonly number[] | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((p) => (typeof p === 'string' ? utf8.encode(p) : Uint8Array.from(p)));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** U(2), network byte order. */
export function u16(n: number): number[] {
  return [n >>> 8, n & 0xff];
}

/** `n` spaces, for reserved fields and padding. */
export function spaces(n: number): string {
  return ' '.repeat(n);
}

/** Octets 0..n-1 (mod 256), a recognisable binary value. */
export function ramp(n: number, start = 0): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
}

export function checkVector(bytes: Uint8Array, expected: OdetteCommand, levels: readonly ProtocolLevel[]): void {
  for (const level of levels) {
    const at = `${expected.cmd} at level ${level}`;
    // 1. decode
    const decoded = decodeCommand(bytes, level);
    assert.deepStrictEqual(decoded, expected, `${at}: decode`);
    // 2. encode
    const encoded = encodeCommand(expected, level);
    assert.deepStrictEqual(encoded, bytes, `${at}: encode`);
    // 3. round trips, both ways
    assert.deepStrictEqual(decodeCommand(encoded, level), expected, `${at}: encode then decode`);
    assert.deepStrictEqual(encodeCommand(decoded, level), bytes, `${at}: decode then encode`);
    // 4. framed, one octet at a time
    const framed = encodeStb(bytes);
    const deframer = new StbDeframer({ maxExchangeBufferSize: 99999 });
    const received: Uint8Array[] = [];
    for (let i = 0; i < framed.length; i++) received.push(...deframer.push(framed.subarray(i, i + 1)));
    assert.equal(received.length, 1, `${at}: one exchange buffer out of the deframer`);
    assert.deepStrictEqual(received[0], bytes, `${at}: deframed bytes`);
    assert.deepStrictEqual(decodeCommand(received[0]!, level), expected, `${at}: deframed decode`);
  }
}
