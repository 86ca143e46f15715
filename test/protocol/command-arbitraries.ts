// fast-check arbitraries: random valid commands of every type at every level (RFC 5024 §5.3, RFC 2204 §5.3).
import fc from 'fast-check';
import type { OdetteCommand, ProtocolLevel } from '../../src/protocol/command-types.ts';

const STRING_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ/-.&()';
const stringChar = fc.constantFrom(...STRING_CHARS);

/** An RFC "String" (no space) of minLength..maxLength characters. */
export const odetteString = (maxLength: number, minLength = 0) => fc.string({ unit: stringChar, minLength, maxLength });

/** §5.4: either a plain String, or SIOOID+SIOICD, a SIOORG with inner spaces, and a SIOCSA. */
export const identificationCode = fc.oneof(
  odetteString(25, 1),
  fc
    .tuple(odetteString(5, 5), fc.string({ unit: fc.constantFrom(...STRING_CHARS, ' '), minLength: 14, maxLength: 14 }), odetteString(6))
    .map(([head, org, csa]) => (head + org + csa).trimEnd()),
);

/** An integer in [0, max] for any max up to MAX_SAFE_INTEGER, edges included. */
export function upTo(max: number, min = 0): fc.Arbitrary<number> {
  const inner =
    max <= 0x7fffffff
      ? fc.integer({ min, max })
      : max === Number.MAX_SAFE_INTEGER
        ? fc.maxSafeNat().filter((n) => n >= min)
        : fc
            .tuple(fc.integer({ min: 0, max: Math.floor(max / 1e8) }), fc.integer({ min: 0, max: 99999999 }))
            .map(([hi, lo]) => hi * 1e8 + lo)
            .filter((n) => n >= min && n <= max);
  return fc.oneof({ arbitrary: inner, weight: 8 }, { arbitrary: fc.constantFrom(min, max), weight: 1 });
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** 'CCYYMMDD': any real date at levels 4/5, years 1950..2049 at 1/2 (what YYMMDD carries). */
function date(level: ProtocolLevel): fc.Arbitrary<string> {
  const [first, last] = level >= 4 ? [1, 9999] : [1950, 2049];
  return fc
    .tuple(fc.integer({ min: first, max: last }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }))
    .map(([y, m, d]) => {
      const days = new Date(Date.UTC(2000, m, 0)).getUTCDate(); // 2000: Feb has 29
      const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
      const day = Math.min(d, m === 2 && !leap ? 28 : days);
      return pad(y, 4) + pad(m, 2) + pad(day, 2);
    });
}

/** 'HHMMSScccc': counter 0000..9999 at levels 4/5, 0000 at 1/2. */
function time(level: ProtocolLevel): fc.Arbitrary<string> {
  return fc
    .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: level >= 4 ? 9999 : 0 }))
    .map(([h, m, s, c]) => pad(h, 2) + pad(m, 2) + pad(s, 2) + pad(c, 4));
}

/** UTF-8 text of at most 999 octets (200 code points of at most 4 octets), any code point. */
const text = fc.string({ unit: 'binary', maxLength: 200 });
const bytes = (maxLength: number, minLength = 0) => fc.uint8Array({ minLength, maxLength });
const none = fc.constant(new Uint8Array(0));
const flag = fc.boolean();

/** A random valid command of every type that exists at `level` (level-5-only fields neutral below 5). */
export function commandOf(level: ProtocolLevel): fc.Arbitrary<OdetteCommand> {
  const v5 = level === 5;
  const at5 = <T>(arb: fc.Arbitrary<T>, neutral: T) => (v5 ? arb : fc.constant(neutral));
  const wide = (digits5: number, digits1x: number) => upTo(10 ** (v5 ? digits5 : digits1x) - 1 > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : 10 ** (v5 ? digits5 : digits1x) - 1);
  const reason = fc.integer({ min: 0, max: 99 });
  const commands: fc.Arbitrary<OdetteCommand>[] = [
    fc.constant({ cmd: 'SSRM' }),
    fc.record({
      cmd: fc.constant('SSID'),
      level: fc.constant(level),
      identificationCode: identificationCode,
      password: odetteString(8),
      exchangeBufferSize: upTo(99999, 128),
      sendReceive: fc.constantFrom('S', 'R', 'B'),
      bufferCompression: flag,
      restart: flag,
      specialLogic: flag,
      credit: upTo(999, 1),
      secureAuthentication: at5(flag, false),
      userData: odetteString(8),
    }),
    fc.record({
      cmd: fc.constant('SFID'),
      datasetName: odetteString(26, 1),
      date: date(level),
      time: time(level),
      userData: odetteString(8),
      destination: identificationCode,
      originator: identificationCode,
      format: fc.constantFrom('F', 'V', 'U', 'T'),
      maxRecordSize: upTo(99999),
      fileSize: wide(13, 7),
      originalFileSize: at5(upTo(9999999999999), 0),
      restartPosition: wide(17, 9),
      securityLevel: at5(upTo(3), 0),
      cipherSuite: at5(upTo(99), 0),
      compression: at5(upTo(9), 0),
      envelope: at5(upTo(9), 0),
      signedReceipt: at5(flag, false),
      description: at5(text, ''),
    }),
    fc.record({ cmd: fc.constant('SFPA'), answerCount: wide(17, 9) }),
    fc.record({ cmd: fc.constant('SFNA'), reason, retry: flag, reasonText: at5(text, '') }),
    fc.record({ cmd: fc.constant('DATA'), payload: bytes(500, 1) }),
    fc.constant({ cmd: 'CDT' }),
    fc.record({ cmd: fc.constant('EFID'), recordCount: wide(17, 9), unitCount: wide(17, 12) }),
    fc.record({ cmd: fc.constant('EFPA'), changeDirection: flag }),
    fc.record({ cmd: fc.constant('EFNA'), reason, reasonText: at5(text, '') }),
    fc.record({ cmd: fc.constant('ESID'), reason, reasonText: at5(text, '') }),
    fc.constant({ cmd: 'CD' }),
    fc.record({
      cmd: fc.constant('EERP'),
      datasetName: odetteString(26, 1),
      date: date(level),
      time: time(level),
      userData: odetteString(8),
      destination: identificationCode,
      originator: identificationCode,
      fileHash: at5(bytes(64), new Uint8Array(0)),
      signature: at5(bytes(600), new Uint8Array(0)),
    }),
    fc.constant({ cmd: 'RTR' }),
  ];
  if (level >= 4) {
    commands.push(
      fc.record({
        cmd: fc.constant('NERP'),
        datasetName: odetteString(26, 1),
        date: date(level),
        time: time(level),
        destination: identificationCode,
        originator: identificationCode,
        creator: identificationCode,
        reason,
        reasonText: at5(text, ''),
        fileHash: v5 ? bytes(64) : none,
        signature: v5 ? bytes(600) : none,
      }),
    );
  }
  if (v5) {
    commands.push(
      fc.constant({ cmd: 'SECD' }),
      fc.record({ cmd: fc.constant('AUCH'), challenge: bytes(600, 1) }),
      fc.record({ cmd: fc.constant('AURP'), response: bytes(20, 20) }),
    );
  }
  // fc.record builds null-prototype objects; decoded commands are plain objects.
  return fc.oneof(...commands).map((c) => ({ ...c })) as fc.Arbitrary<OdetteCommand>;
}
