// Special logic (RFC 5024 Appendix C.2): vectors worked out by hand from C.2.4-C.2.9, each checked
// by encoding, decoding whole, and decoding one octet at a time; error cases; property tests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FramingError } from '../../src/errors.ts';
import {
  blockChecksum,
  encodeSpecialLogicBlock,
  NAK_CR,
  SpecialLogicDecoder,
  type SpecialLogicEvent,
  SpecialLogicEncoder,
} from '../../src/protocol/special-logic.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.split(/\s+/).filter(Boolean), (h) => Number.parseInt(h, 16));

function feed(decoder: SpecialLogicDecoder, line: Uint8Array, oneOctetAtATime: boolean): SpecialLogicEvent[] {
  if (!oneOctetAtATime) return decoder.push(line);
  const events: SpecialLogicEvent[] = [];
  for (let i = 0; i < line.length; i++) events.push(...decoder.push(line.subarray(i, i + 1)));
  return events;
}

const buffers = (events: SpecialLogicEvent[]): Uint8Array[] =>
  events.flatMap((e) => (e.type === 'buffer' ? [e.buffer] : []));

// Vector 1: a CDT ('R' + two reserved spaces), BSN 0.
//   Sums (C.2.7) over '0' 'R' ' ' ' ' = 30 52 20 20: C0 48 130 162 194, C1 48 178 85 24 (mod 255).
//   Two zero octets: C0 = 194, C1 = 24 + 2*194 = 157. X = 194 - 157 = 37 (0x25); Y = 157 - 388 = 24 (0x18).
//   0x18 is a control character: SO (0x0e), 0x18 + 0x20 = 0x38 (C.2.9).
//   Receiver check (C.2.8) over 30 52 20 20 25 18: C0 ends at 255 = 0, C1 at 0.
const CDT_BLOCK = hex('02 30 52 20 20 25 0E 38 0D');
// Vector 2: BSN 7, CEB 44 0D 8E 02 41 00 FF (CR, SO with parity, STX and NUL inside the data).
//   Sums over 37 44 0D 8E 02 41 00 FF: C0 = 90, C1 = 122; with two zeros C1 = 122 + 180 = 47.
//   X = 90 - 47 = 43 (0x2b); Y = 47 - 180 = -133 = 122 (0x7a).
//   Escapes: 0D -> 0E 2D, 8E -> 0E AE, 02 -> 0E 22, 00 -> 0E 20; 44, 41, FF, 2B, 7A go as they are.
const ESCAPE_CEB = hex('44 0D 8E 02 41 00 FF');
const ESCAPE_BLOCK = hex('02 37 44 0E 2D 0E AE 0E 22 41 0E 20 FF 2B 7A 0D');

test('vector: CDT with BSN 0 encodes as the worked example', () => {
  assert.deepEqual(blockChecksum(0x30, hex('52 20 20')), [0x25, 0x18]);
  assert.deepEqual(encodeSpecialLogicBlock(hex('52 20 20'), 0), CDT_BLOCK);
  assert.deepEqual(encodeSpecialLogicBlock(ESCAPE_CEB, 7), ESCAPE_BLOCK);
});

for (const oneOctetAtATime of [false, true]) {
  test(`vector: decode${oneOctetAtATime ? ' one octet at a time' : ''}`, () => {
    const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
    assert.deepEqual(feed(d, CDT_BLOCK, oneOctetAtATime), [{ type: 'buffer', buffer: hex('52 20 20'), sequence: 0 }]);
    assert.equal(d.synchronised, false);
    const e = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
    for (let s = 0; s < 7; s++) feed(e, encodeSpecialLogicBlock(hex('52 20 20'), s), oneOctetAtATime);
    assert.deepEqual(feed(e, ESCAPE_BLOCK, oneOctetAtATime), [{ type: 'buffer', buffer: ESCAPE_CEB, sequence: 7 }]);
  });
}

test('vector: the receiver takes SO as 0x8e and STX, CR with the parity bit set', () => {
  const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  assert.deepEqual(d.push(hex('82 30 52 20 20 25 8E 38 8D')), [{ type: 'buffer', buffer: hex('52 20 20'), sequence: 0 }]);
});

test('the encoder numbers blocks 0..9 and wraps; the decoder follows', () => {
  const enc = new SpecialLogicEncoder();
  const dec = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  for (let i = 0; i < 23; i++) {
    assert.equal(enc.nextSequence, i % 10);
    const ceb = Uint8Array.of(0x44, i);
    assert.deepEqual(dec.push(enc.encode(ceb)), [{ type: 'buffer', buffer: ceb, sequence: i % 10 }]);
  }
  enc.reset();
  assert.equal(enc.nextSequence, 0);
});

test('outside a block only NAK CR counts; noise is ignored', () => {
  const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  assert.deepEqual(d.push(hex('41 42 0D 15 43 0D')), []);
  assert.deepEqual(d.push(NAK_CR), [{ type: 'nak' }]);
  assert.deepEqual(d.push(hex('95')), []);
  assert.deepEqual(d.push(hex('8D')), [{ type: 'nak' }]);
  assert.deepEqual(d.push(hex('7F 20 0D')), []);
  assert.deepEqual(buffers(d.push(CDT_BLOCK)), [hex('52 20 20')]);
});

const badBlock = (events: SpecialLogicEvent[]): boolean =>
  events.length === 1 &&
  events[0]!.type === 'bad-block' &&
  events[0]!.error instanceof FramingError &&
  events[0]!.error.code === 'OFTP_ERR_SPECIAL_LOGIC';

test('bad blocks: checksum, escapes, control octets, length, BSN; the next good block is taken', () => {
  const cases: [string, Uint8Array][] = [
    ['bad data', hex('02 30 53 20 20 25 0E 38 0D')],
    ['bad checksum', hex('02 30 52 20 20 26 0E 38 0D')],
    ['SO then a non-escape octet', hex('02 30 52 20 0E 41 25 0E 38 0D')],
    ['SO then CR', hex('02 30 52 20 20 25 0E 0D')],
    ['unescaped control octet', hex('02 30 52 01 20 20 25 0E 38 0D')],
    ['too short', hex('02 30 00 0D')],
    ['empty', hex('02 0D')],
    ['BSN not a digit', encodeSpecialLogicBlock(hex('52 20 20'), 0).map((o, i) => (i === 1 ? 0x41 : o))],
  ];
  for (const [name, block] of cases) {
    const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
    assert.ok(badBlock(d.push(block)), name);
    assert.deepEqual(buffers(d.push(CDT_BLOCK)), [hex('52 20 20')], `${name}: recovers`);
  }
  // A non-digit BSN with a checksum that verifies is still a bad block.
  const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  const ceb = hex('52 20 20');
  const [x, y] = blockChecksum(0x41, ceb);
  const shiftOut = (o: number): number[] => ((o & 0x7f) < 0x20 ? [0x0e, o + 0x20] : [o]);
  assert.ok(badBlock(d.push(Uint8Array.of(0x02, 0x41, ...ceb, ...shiftOut(x), ...shiftOut(y), 0x0d))));
});

test('a block longer than the exchange buffer size is bad, and memory stays bounded', () => {
  const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  const long = encodeSpecialLogicBlock(new Uint8Array(129).fill(0x41), 0);
  assert.ok(badBlock(d.push(long)));
  assert.deepEqual(buffers(d.push(encodeSpecialLogicBlock(new Uint8Array(128).fill(0x41), 0))).length, 1);
  // Endless data without CR: nothing accumulates beyond the limit.
  const e = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  e.push(hex('02'));
  for (let i = 0; i < 1000; i++) assert.deepEqual(e.push(new Uint8Array(1000).fill(0x41)), []);
  assert.ok(badBlock(e.push(hex('0D'))));
});

test('an STX inside a block loses that block and starts the next', () => {
  const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  const events = d.push(Uint8Array.of(...hex('02 30 52'), ...CDT_BLOCK));
  assert.equal(events.length, 2);
  assert.ok(badBlock(events.slice(0, 1)));
  assert.deepEqual(events[1], { type: 'buffer', buffer: hex('52 20 20'), sequence: 0 });
});

test('T2 expiry: resynchronise() drops the partial block', () => {
  const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  d.push(hex('02 30 52'));
  assert.equal(d.synchronised, true);
  d.resynchronise();
  assert.equal(d.synchronised, false);
  assert.deepEqual(d.push(hex('20 20 25 0E 38 0D')), []);
  assert.deepEqual(buffers(d.push(CDT_BLOCK)), [hex('52 20 20')]);
});

test('a repeated block (previous BSN) is a duplicate; any other BSN a protocol violation', () => {
  const enc = new SpecialLogicEncoder();
  const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 128 });
  const first = enc.encode(hex('44 01'));
  d.push(first);
  assert.deepEqual(d.push(first), [{ type: 'duplicate', sequence: 0 }]);
  const events = d.push(encodeSpecialLogicBlock(hex('44 02'), 5));
  assert.equal(events.length, 1);
  const v = events[0]!;
  assert.equal(v.type, 'violation');
  assert.ok(v.type === 'violation' && v.error instanceof FramingError && v.error.esidReason === 2);
  assert.throws(() => d.push(CDT_BLOCK), FramingError);
  d.reset();
  assert.deepEqual(buffers(d.push(CDT_BLOCK)), [hex('52 20 20')]);
});

test('property: any exchange buffers survive encoder, noise between blocks and any chunking', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 300, size: 'max' }), { maxLength: 25, size: 'max' }),
      // Noise outside blocks: anything but STX, and no NAK so that no NAK CR is formed.
      fc.array(fc.uint8Array({ maxLength: 6 }).map((a) => a.map((o) => ((o & 0x7f) === 0x02 || (o & 0x7f) === 0x15 ? 0x41 : o)))),
      fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 6 }),
      (cebs, noise, cuts) => {
        const enc = new SpecialLogicEncoder();
        const parts: number[] = [];
        cebs.forEach((ceb, i) => {
          parts.push(...(noise[i] ?? []));
          parts.push(...enc.encode(ceb));
        });
        const line = Uint8Array.from(parts);
        for (let i = 0; i < line.length; i++) {
          // After the escapes, no octet between STX and CR is a raw control character.
          if (line[i] === 0x02) {
            let j = i + 1;
            while (line[j] !== 0x0d) assert.ok((line[j++]! & 0x7f) >= 0x20 || line[j - 1] === 0x0e);
          }
        }
        const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 300 });
        const events: SpecialLogicEvent[] = [];
        let at = 0;
        let k = 0;
        while (at < line.length) {
          const n = cuts[k++ % cuts.length]!;
          events.push(...d.push(line.subarray(at, at + n)));
          at += n;
        }
        assert.deepEqual(
          events,
          cebs.map((buffer, i) => ({ type: 'buffer', buffer, sequence: i % 10 })),
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('property: one corrupted octet in a block is caught (bad block), never delivered', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 200, size: 'max' }),
      fc.nat(),
      fc.integer({ min: 0, max: 7 }),
      (ceb, where, bit) => {
        const block = encodeSpecialLogicBlock(ceb, 0);
        const i = 1 + (where % (block.length - 2)); // between STX and CR
        const corrupted = block.slice();
        corrupted[i] = corrupted[i]! ^ (1 << bit);
        // A flip that makes an STX or CR changes the framing rather than the data; leave it to the timers.
        fc.pre((corrupted[i]! & 0x7f) !== 0x02 && (corrupted[i]! & 0x7f) !== 0x0d);
        // SO is 0x0e or 0x8e (C.2.9): flipping its eighth bit changes nothing.
        fc.pre(!((block[i]! & 0x7f) === 0x0e && bit === 7));
        const d = new SpecialLogicDecoder({ maxExchangeBufferSize: 300 });
        assert.ok(badBlock(d.push(corrupted)), 'reported as a bad block');
        assert.deepEqual(d.push(block), [{ type: 'buffer', buffer: ceb, sequence: 0 }], 'the repeat is taken');
      },
    ),
    { numRuns: 500 },
  );
});
