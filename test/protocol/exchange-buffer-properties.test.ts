// Property tests: random files through the exchange buffer encoder and decoder, all four formats,
// buffer compression on and off, exchange buffer sizes sampled from 128..99999, random chunking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { ExchangeBufferDecoder } from '../../src/protocol/exchange-buffer-decoder.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import { encodePieces } from './exchange-buffer-drive.ts';

/** Bytes with runs in them: random stretches and runs of one octet, concatenated. */
const soup = (maxParts: number): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        fc.uint8Array({ maxLength: 90, size: 'max' }),
        fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 150 })).map(([b, n]) => new Uint8Array(n).fill(b)),
      ),
      { maxLength: maxParts, size: 'max' },
    )
    .map((parts) => {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let w = 0;
      for (const p of parts) {
        out.set(p, w);
        w += p.length;
      }
      return out;
    });

const exchangeBufferSize = fc.oneof(
  fc.integer({ min: 128, max: 400 }),
  fc.integer({ min: 128, max: 99999 }),
  fc.constantFrom(128, 129, 191, 192, 193, 99999),
);

interface Case {
  format: VirtualFileFormat;
  bufferCompression: boolean;
  exchangeBufferSize: number;
  maxRecordSize: number;
  records: Uint8Array[];
  /** Sizes the input is cut into (cycled). */
  cuts: number[];
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    format: fc.constantFrom<VirtualFileFormat>('U', 'T', 'F', 'V'),
    bufferCompression: fc.boolean(),
    exchangeBufferSize,
    maxRecordSize: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 3000 })),
    data: soup(40),
    lengths: fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 40, size: 'max' }),
    cuts: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8, size: 'max' }),
  })
  .map(({ format, bufferCompression, exchangeBufferSize, maxRecordSize, data, lengths, cuts }) => {
    const records: Uint8Array[] = [];
    if (format === 'U' || format === 'T') {
      records.push(data);
      maxRecordSize = 0;
    } else if (format === 'F') {
      for (let at = 0; at + maxRecordSize <= data.length; at += maxRecordSize) records.push(data.subarray(at, at + maxRecordSize));
    } else {
      // V: records cut from the data; a maximum of 0 means no limit.
      let at = 0;
      for (const n of lengths) {
        const len = Math.min(n, maxRecordSize, data.length - at);
        records.push(data.subarray(at, at + len));
        at += len;
      }
      if (maxRecordSize > 2500) maxRecordSize = 0;
    }
    return { format, bufferCompression, exchangeBufferSize, maxRecordSize, records, cuts };
  });

/** Feeds the records through an encoder in pieces of `cuts` sizes; returns copies of the DATA buffers. */
function encode(c: Case): { buffers: Uint8Array[]; encoder: ExchangeBufferEncoder } {
  const encoder = new ExchangeBufferEncoder(c);
  const pieces: [Uint8Array, number, number, boolean][] = [];
  let cut = 0;
  const stream = c.format === 'U' || c.format === 'T';
  for (const r of c.records) {
    let at = 0;
    while (at < r.length) {
      const n = Math.min(c.cuts[cut++ % c.cuts.length]!, r.length - at);
      pieces.push([r, at, at + n, false]);
      at += n;
    }
    if (c.format === 'V') pieces.push([r, r.length, r.length, true]);
  }
  if (stream && pieces.length > 0 && c.cuts[0]! % 2 === 0) pieces[pieces.length - 1]![3] = true; // sometimes end by flag
  return { buffers: encodePieces(encoder, pieces), encoder };
}

function checkRoundTrip(c: Case): void {
  const { buffers, encoder } = encode(c);
  const stream = c.format === 'U' || c.format === 'T';
  const total = c.records.reduce((n, r) => n + r.length, 0);
  buffers.forEach((b, i) => {
    assert.equal(b[0], 0x44);
    assert.ok(b.length <= c.exchangeBufferSize, 'never longer than negotiated');
    if (i < buffers.length - 1) assert.ok(b.length >= c.exchangeBufferSize - 1, 'strategy 2 fills the buffer');
    if (!c.bufferCompression) {
      for (let p = 1; p < b.length; p += 1 + (b[p]! & 0x3f)) assert.equal(b[p]! & 0x40, 0, 'no compressed subrecord');
    }
  });
  const decoder = new ExchangeBufferDecoder(c);
  const data = new Uint8Array(total);
  let w = 0;
  const ends: number[] = [];
  let endOfFileAt = -1;
  buffers.forEach((b, i) => {
    const r = decoder.decode(b.subarray(1));
    for (const e of r.recordEnds) ends.push(w + e);
    if (r.endOfFile) endOfFileAt = i;
    data.set(r.data, w);
    w += r.data.length;
  });
  decoder.end();
  assert.equal(w, total);
  let at = 0;
  for (const r of c.records) {
    assert.deepEqual(data.subarray(at, at + r.length), r);
    at += r.length;
  }
  if (stream) {
    assert.equal(endOfFileAt, total > 0 ? buffers.length - 1 : -1, 'End of Record in the last buffer ends the file');
    assert.deepEqual(ends, []);
  } else {
    let sum = 0;
    assert.deepEqual(ends, c.records.map((r) => (sum += r.length)));
  }
  assert.equal(encoder.unitCount, total);
  assert.equal(decoder.unitCount, total);
  assert.equal(encoder.recordCount, stream ? 0 : c.records.length);
  assert.equal(decoder.recordCount, stream ? 0 : c.records.length);
}

test('property: records and bytes survive encoder then decoder exactly', () => {
  fc.assert(fc.property(caseArb, checkRoundTrip), { numRuns: 400 });
});

test('property: large files in large buffers', () => {
  const big = fc.record({
    format: fc.constantFrom<VirtualFileFormat>('U', 'F', 'V'),
    bufferCompression: fc.boolean(),
    exchangeBufferSize: fc.integer({ min: 128, max: 99999 }),
    maxRecordSize: fc.integer({ min: 1, max: 99999 }),
    seed: fc.integer(),
    size: fc.integer({ min: 0, max: 400_000 }),
    cut: fc.integer({ min: 1, max: 300_000 }),
  });
  fc.assert(
    fc.property(big, ({ format, bufferCompression, exchangeBufferSize, maxRecordSize, seed, size, cut }) => {
      let x = seed >>> 0 || 1;
      const data = new Uint8Array(size);
      for (let i = 0; i < size; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        // Mostly runs of spaces with random stretches.
        data[i] = (x & 0x300) === 0 ? x & 0xff : 0x20;
      }
      const records: Uint8Array[] = [];
      if (format === 'U') records.push(data);
      else for (let at = 0; at + maxRecordSize <= size; at += maxRecordSize) records.push(data.subarray(at, at + maxRecordSize));
      checkRoundTrip({ format, bufferCompression, exchangeBufferSize, maxRecordSize: format === 'U' ? 0 : maxRecordSize, records, cuts: [cut] });
    }),
    { numRuns: 30 },
  );
});

test('property: without compression the DATA buffers do not depend on how the input was cut', () => {
  fc.assert(
    fc.property(caseArb, fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }), (c, otherCuts) => {
      const a = encode({ ...c, bufferCompression: false, cuts: c.cuts.map((n) => n * 2 + 1) }).buffers;
      const b = encode({ ...c, bufferCompression: false, cuts: otherCuts.map((n) => n * 2 + 1) }).buffers;
      assert.deepEqual(a, b);
    }),
    { numRuns: 200 },
  );
});

test('property: the decoder is total over arbitrary payloads and agrees with a plain reference decoder', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<VirtualFileFormat>('U', 'F', 'V'),
      fc.integer({ min: 0, max: 70 }),
      fc.array(fc.uint8Array({ maxLength: 300, size: 'max' }), { maxLength: 4, size: 'max' }),
      (format, maxRecordSize, payloads) => {
        if (format === 'F' && maxRecordSize === 0) maxRecordSize = 1;
        const dec = new ExchangeBufferDecoder({ format, exchangeBufferSize: 300, maxRecordSize });
        const ref = new ReferenceDecoder(format, maxRecordSize);
        for (const p of payloads) {
          let expected: { data: number[]; ends: number[] } | string;
          try {
            expected = ref.decode(p);
          } catch (e) {
            expected = (e as Error).message;
          }
          try {
            const r = dec.decode(p);
            assert.deepEqual({ data: [...r.data], ends: [...r.recordEnds] }, expected);
          } catch (e) {
            if (e instanceof assert.AssertionError) throw e;
            assert.equal(typeof expected, 'string', `decoder threw ${String(e)} where the reference did not`);
            assert.equal((e as { code?: string }).code, 'OFTP_ERR_DATA_BUFFER');
            return; // the session would end here
          }
        }
      },
    ),
    { numRuns: 2000 },
  );
});

/** The §7.2 rules written as plainly as possible, one octet at a time. */
class ReferenceDecoder {
  #recordLength = 0;
  #endOfFile = false;
  readonly format: VirtualFileFormat;
  readonly maxRecordSize: number;
  constructor(format: VirtualFileFormat, maxRecordSize: number) {
    this.format = format;
    this.maxRecordSize = maxRecordSize;
  }
  decode(p: Uint8Array): { data: number[]; ends: number[] } {
    if (p.length + 1 > 300) throw new Error('size');
    const data: number[] = [];
    const ends: number[] = [];
    let recordLength = this.#recordLength;
    let endOfFile = this.#endOfFile;
    let i = 0;
    while (i < p.length) {
      const h = p[i++]!;
      const count = h & 63;
      if (h & 0x40) {
        if (i >= p.length) throw new Error('no octet');
        const o = p[i++]!;
        for (let k = 0; k < count; k++) data.push(o);
      } else {
        if (i + count > p.length) throw new Error('beyond end');
        for (let k = 0; k < count; k++) data.push(p[i++]!);
      }
      if (this.format === 'U') {
        if (endOfFile && count > 0) throw new Error('after eof');
        if (h & 0x80) endOfFile = true;
      } else {
        recordLength += count;
        if (this.maxRecordSize > 0 && recordLength > this.maxRecordSize) throw new Error('too long');
        if (h & 0x80) {
          if (this.format === 'F' && recordLength !== this.maxRecordSize) throw new Error('F length');
          ends.push(data.length);
          recordLength = 0;
        }
      }
    }
    this.#recordLength = recordLength;
    this.#endOfFile = endOfFile;
    return { data, ends };
  }
}
