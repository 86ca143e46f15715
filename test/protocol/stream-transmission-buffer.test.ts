import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FramingError } from '../../src/errors.ts';
import { encodeStb, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';

const bytes = (...b: number[]) => Uint8Array.from(b);

test('STB vector: CD command framed as 0x10 0x00 0x00 0x05 "R" (RFC 5024 §8.2)', () => {
  const framed = encodeStb(bytes(0x52));
  //                     ver|flags  length (24 bits) = 5    CD
  assert.deepEqual(framed, bytes(0x10, 0x00, 0x00, 0x05, 0x52));
  const d = new StbDeframer({ maxExchangeBufferSize: 99999 });
  assert.deepEqual(d.push(framed), [bytes(0x52)]);
  assert.ok(d.idle);
});

test('STB vector: largest buffer 99999 has length 100003 = 0x0186A3', () => {
  const framed = encodeStb(new Uint8Array(99999).fill(0x44));
  assert.deepEqual(framed.subarray(0, 4), bytes(0x10, 0x01, 0x86, 0xa3));
  const out = new StbDeframer({ maxExchangeBufferSize: 99999 }).push(framed);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.length, 99999);
});

test('deframer yields the same buffers whatever the chunking, down to one byte', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
      (buffers, cuts) => {
        const stream = Buffer.concat(buffers.map(encodeStb));
        const d = new StbDeframer({ maxExchangeBufferSize: 300 });
        const got: Uint8Array[] = [];
        let pos = 0;
        let i = 0;
        while (pos < stream.length) {
          const n = cuts[i++ % cuts.length]!;
          got.push(...d.push(stream.subarray(pos, pos + n)).map((b) => Uint8Array.from(b)));
          pos += n;
        }
        assert.deepEqual(got, buffers);
        assert.ok(d.idle);
      },
    ),
  );
});

test('a buffer inside one chunk is returned without a copy', () => {
  const chunk = encodeStb(bytes(1, 2, 3));
  const [buf] = new StbDeframer({ maxExchangeBufferSize: 128 }).push(chunk);
  assert.equal(buf!.buffer, chunk.buffer);
});

function expectFraming(input: Uint8Array, code: string, esid: number, max = 128) {
  const d = new StbDeframer({ maxExchangeBufferSize: max });
  assert.throws(
    () => d.push(input),
    (e: unknown) => e instanceof FramingError && e.code === code && e.esidReason === esid,
  );
  // The deframer stays failed: the session must end.
  assert.throws(() => d.push(encodeStb(bytes(0x52))), FramingError);
}

test('bad version is refused', () => expectFraming(bytes(0x20, 0, 0, 5, 0x52), 'OFTP_ERR_STB_VERSION', 99));
test('bad flags are refused', () => expectFraming(bytes(0x11, 0, 0, 5, 0x52), 'OFTP_ERR_STB_FLAGS', 99));
test('a length below 5 is refused', () => expectFraming(bytes(0x10, 0, 0, 4), 'OFTP_ERR_STB_LENGTH', 7));
test('a length above the negotiated buffer size is refused', () =>
  expectFraming(bytes(0x10, 0, 0, 133), 'OFTP_ERR_STB_LENGTH', 7, 128));
test('a length above the protocol maximum is refused before any body arrives', () =>
  expectFraming(bytes(0x10, 0xff, 0xff, 0xff), 'OFTP_ERR_STB_LENGTH', 7, 99999));
test('a bad header split across chunks is refused when its last byte arrives', () => {
  const d = new StbDeframer({ maxExchangeBufferSize: 128 });
  assert.deepEqual(d.push(bytes(0x10, 0x00)), []);
  assert.deepEqual(d.push(bytes(0x00)), []);
  assert.throws(() => d.push(bytes(200)), FramingError);
});
