// The WebAssembly subrecord mover against the JavaScript loops it replaces: same DATA buffers out of
// the encoder, same user data out of the decoder, for random subrecord layouts and input cuts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { ExchangeBufferDecoder } from '../../src/protocol/exchange-buffer-decoder.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import { subrecordMover } from '../../src/protocol/subrecord-mover.ts';
import { encodePieces, type Piece } from './exchange-buffer-drive.ts';

test('WebAssembly SIMD is available on Node 24, so sessions use the mover', () => {
  assert.ok(subrecordMover, 'subrecordMover is undefined: the module failed to compile');
});

function encodeAll(format: VirtualFileFormat, exchangeBufferSize: number, data: Uint8Array, cuts: number[], webAssembly: boolean): Uint8Array[] {
  const encoder = new ExchangeBufferEncoder({ format, exchangeBufferSize, bufferCompression: false, maxRecordSize: format === 'V' ? 0 : undefined, webAssembly });
  const pieces: Piece[] = [];
  for (let at = 0, cut = 0; at < data.length; ) {
    const n = Math.min(cuts[cut++ % cuts.length]!, data.length - at);
    pieces.push([data, at, at + n, format === 'V']);
    at += n;
  }
  return encodePieces(encoder, pieces);
}

test('property: the encoder makes the same DATA buffers with and without WebAssembly', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<VirtualFileFormat>('U', 'T', 'V'),
      fc.integer({ min: 128, max: 99999 }),
      fc.uint8Array({ minLength: 0, maxLength: 300_000, size: 'max' }),
      fc.array(fc.integer({ min: 1, max: 120_000 }), { minLength: 1, maxLength: 5 }),
      (format, sdeb, data, cuts) => {
        const viaWasm = encodeAll(format, sdeb, data, cuts, true);
        assert.deepEqual(viaWasm, encodeAll(format, sdeb, data, cuts, false));
        const decoder = new ExchangeBufferDecoder({ format, exchangeBufferSize: sdeb, webAssembly: true });
        const back = Buffer.concat(viaWasm.map((b) => Buffer.from(decoder.decode(b.subarray(1)).data)));
        assert.ok(back.equals(Buffer.from(data)), 'round trip');
      },
    ),
    { numRuns: 60 },
  );
});

/** A valid U payload: literal subrecords of any count, compressed ones (flag 0x40, one octet), End of Record on the last. */
const payloadArb = fc
  .array(
    fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 63 }).map((d) => Uint8Array.of(d.length, ...d)),
      fc.uint8Array({ minLength: 63, maxLength: 63 }).map((d) => Uint8Array.of(63, ...d)),
      fc.tuple(fc.integer({ min: 1, max: 63 }), fc.integer({ min: 0, max: 255 })).map(([n, b]) => Uint8Array.of(0x40 | n, b)),
    ),
    { minLength: 1, maxLength: 1500, size: 'max' },
  )
  .map((subrecords) => {
    const p = Buffer.concat(subrecords);
    p[p.length - (subrecords.at(-1)!.length)]! |= 0x80;
    return new Uint8Array(p);
  });

test('property: the decoder moves the same octets with and without WebAssembly, into its buffer and the caller\'s (past the offset)', () => {
  fc.assert(
    fc.property(payloadArb, fc.integer({ min: 0, max: 100 }), (payload, offset) => {
      const js = new ExchangeBufferDecoder({ format: 'U', exchangeBufferSize: 99999, webAssembly: false }).decode(payload);
      const wasm = new ExchangeBufferDecoder({ format: 'U', exchangeBufferSize: 99999, webAssembly: true }).decode(payload);
      assert.deepEqual(wasm.data, js.data);
      assert.equal(wasm.endOfFile, true);
      const target = new Uint8Array(offset + 64 * payload.length).fill(0xee);
      const into = new ExchangeBufferDecoder({ format: 'U', exchangeBufferSize: 99999 }).decodeInto(payload, target, offset);
      assert.deepEqual(into.data, js.data);
      assert.ok(target.subarray(0, offset).every((b) => b === 0xee), 'nothing written before the offset');
    }),
    { numRuns: 300 },
  );
});
