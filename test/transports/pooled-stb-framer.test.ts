// PooledStbFramer: the same frames and errors as the STB codec (RFC 5024 §8), with frame and assembly
// memory reused under the rules the station's driver keeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FramingError } from '../../src/errors.ts';
import { encodeStb, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';
import { PooledStbFramer } from '../../src/transports/pooled-stb-framer.ts';

const bytes = (...b: number[]) => Uint8Array.from(b);
const data = (length: number, seed: number) => {
  const b = new Uint8Array(length);
  b[0] = 0x44; // 'D'
  for (let i = 1; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

test('frames are the STB encoding, small and pooled alike', () => {
  const framer = new PooledStbFramer({ exchangeBufferSize: 99999 });
  for (const buffer of [bytes(0x52), data(5000, 1), data(99999, 2)]) {
    assert.deepEqual(Uint8Array.from(framer.encode(buffer)), encodeStb(buffer));
  }
});

test('a released frame’s memory serves the next frame; one still being written is never reused', () => {
  const framer = new PooledStbFramer({ exchangeBufferSize: 99999 });
  const a = framer.encode(data(99999, 1));
  const b = framer.encode(data(99999, 2));
  assert.notEqual(a.buffer, b.buffer);
  framer.release(a);
  const c = framer.encode(data(50000, 3));
  assert.equal(c.buffer, a.buffer, 'the released memory is reused');
  assert.deepEqual(Uint8Array.from(b), encodeStb(data(99999, 2)), 'the unreleased frame is intact');
  assert.deepEqual(Uint8Array.from(c), encodeStb(data(50000, 3)));
  framer.release(c);
  framer.release(c); // twice: ignored
  framer.release(encodeStb(bytes(1))); // not ours: ignored
  const d = framer.encode(data(99999, 4));
  const e = framer.encode(data(99999, 5));
  assert.notEqual(d.buffer, e.buffer, 'a double release does not hand the memory out twice');
});

test('deframing yields the same buffers as StbDeframer whatever the chunking', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
      (buffers, cuts) => {
        const stream = Buffer.concat(buffers.map(encodeStb));
        const framer = new PooledStbFramer({ exchangeBufferSize: 300, maxExchangeBufferSize: 300 });
        const reference = new StbDeframer({ maxExchangeBufferSize: 300 });
        const got: Uint8Array[] = [];
        const expected: Uint8Array[] = [];
        let pos = 0;
        let i = 0;
        while (pos < stream.length) {
          const piece = stream.subarray(pos, pos + cuts[i++ % cuts.length]!);
          // Copied right away: a reused buffer is only valid until the push after next.
          got.push(...framer.push(piece).map((b) => Uint8Array.from(b)));
          expected.push(...reference.push(piece).map((b) => Uint8Array.from(b)));
          pos += piece.length;
        }
        assert.deepEqual(got, buffers);
        assert.deepEqual(got, expected);
      },
    ),
  );
});

test('DATA assembled across chunks alternates between two buffers; other commands are copies', () => {
  const framer = new PooledStbFramer({ exchangeBufferSize: 1000 });
  const assembled = (buffer: Uint8Array) => {
    const frame = encodeStb(buffer);
    assert.deepEqual(framer.push(frame.subarray(0, 10)), []);
    const [out] = framer.push(frame.subarray(10));
    assert.deepEqual(Uint8Array.from(out!), buffer);
    return out!;
  };
  const first = assembled(data(900, 1));
  const second = assembled(data(900, 2));
  assert.notEqual(first.buffer, second.buffer, 'the buffer of the previous push is left alone');
  const third = assembled(data(900, 3));
  assert.equal(third.buffer, first.buffer, 'the push after next reuses the memory');
  const command = new Uint8Array(600).fill(0x48); // not DATA
  const kept = assembled(command);
  assembled(data(900, 4));
  assembled(data(900, 5));
  assert.deepEqual(Uint8Array.from(kept), command, 'a non-DATA command is never overwritten');
});

test('DATA inside one chunk is a view of the chunk; other commands are copies', () => {
  const framer = new PooledStbFramer({ exchangeBufferSize: 128, maxExchangeBufferSize: 128 });
  const chunk = Buffer.concat([encodeStb(bytes(0x44, 2, 3)), encodeStb(bytes(0x52))]);
  const [dataBuffer, cd] = framer.push(chunk);
  assert.equal(dataBuffer!.buffer, chunk.buffer);
  assert.notEqual(cd!.buffer, chunk.buffer);
  chunk.fill(0);
  assert.deepEqual(Uint8Array.from(cd!), bytes(0x52), 'the command does not change with the chunk');
});

function expectFraming(input: Uint8Array, code: string, esid: number, max = 128) {
  const framer = new PooledStbFramer({ exchangeBufferSize: 128, maxExchangeBufferSize: max });
  assert.throws(
    () => framer.push(input),
    (e: unknown) => e instanceof FramingError && e.code === code && e.esidReason === esid,
  );
  assert.throws(() => framer.push(encodeStb(bytes(0x52))), FramingError, 'stays failed');
}

test('bad version is refused', () => expectFraming(bytes(0x20, 0, 0, 5, 0x52), 'OFTP_ERR_STB_VERSION', 99));
test('bad flags are refused', () => expectFraming(bytes(0x11, 0, 0, 5, 0x52), 'OFTP_ERR_STB_FLAGS', 99));
test('a length below 5 is refused', () => expectFraming(bytes(0x10, 0, 0, 4), 'OFTP_ERR_STB_LENGTH', 7));
test('a length above the limit is refused', () => expectFraming(bytes(0x10, 0, 0, 133), 'OFTP_ERR_STB_LENGTH', 7, 128));
test('by default any buffer up to the STB maximum is taken: SSIDSDEB bounds DATA, which the engine checks', () => {
  const framer = new PooledStbFramer({ exchangeBufferSize: 128 });
  const sfid = new Uint8Array(700).fill(0x48);
  assert.deepEqual(framer.push(encodeStb(sfid)).map((b) => Uint8Array.from(b)), [sfid]);
  assert.throws(() => framer.push(bytes(0x10, 0x01, 0x86, 0xa4)), (e: unknown) => e instanceof FramingError && e.esidReason === 7);
});
test('a bad header split across chunks is refused when its last byte arrives', () => {
  const framer = new PooledStbFramer({ exchangeBufferSize: 128, maxExchangeBufferSize: 128 });
  assert.deepEqual(framer.push(bytes(0x10, 0x00)), []);
  assert.deepEqual(framer.push(bytes(0x00)), []);
  assert.throws(() => framer.push(bytes(200)), FramingError);
});
