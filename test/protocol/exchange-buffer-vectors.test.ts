// Data Exchange Buffer vectors written byte by byte from RFC 5024 §7.2 and Appendix A. Each vector is
// checked four ways: decode, encode, round trip, and encoding fed one octet at a time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalUsageError, RemoteProtocolError } from '../../src/errors.ts';
import type { VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { ExchangeBufferDecoder } from '../../src/protocol/exchange-buffer-decoder.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import { transmittedFormat } from '../../src/protocol/exchange-buffer-format.ts';
import { encodePieces, type Piece as EncoderPiece } from './exchange-buffer-drive.ts';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (...parts: (number | string | Uint8Array)[]): Uint8Array => {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') out.push(...ascii(p));
    else out.push(...p);
  }
  return Uint8Array.from(out);
};
const repeat = (octet: number, n: number): Uint8Array => new Uint8Array(n).fill(octet);

interface Piece {
  data: Uint8Array;
  endOfRecord?: boolean;
}

/** Runs an encoder over pieces (optionally one octet at a time) and returns the DATA buffers. */
function encodeAll(
  options: { format: VirtualFileFormat; exchangeBufferSize: number; bufferCompression?: boolean; maxRecordSize?: number },
  pieces: Piece[],
  oneOctetAtATime = false,
): Uint8Array[] {
  const enc = new ExchangeBufferEncoder({ bufferCompression: false, ...options });
  const inputs: Piece[] = [];
  for (const p of pieces) {
    if (!oneOctetAtATime || p.data.length <= 1) inputs.push(p);
    else {
      for (let i = 0; i < p.data.length; i++) {
        inputs.push({ data: p.data.subarray(i, i + 1), endOfRecord: p.endOfRecord === true && i === p.data.length - 1 });
      }
    }
  }
  const out = encodePieces(
    enc,
    inputs.map((p): EncoderPiece => [p.data, 0, p.data.length, p.endOfRecord ?? false]),
  );
  assert.equal(enc.done, true);
  return out;
}

function decodeAll(
  options: { format: VirtualFileFormat; exchangeBufferSize: number; maxRecordSize?: number },
  buffers: Uint8Array[],
): { data: Uint8Array; recordEnds: number[]; endOfFile: boolean; decoder: ExchangeBufferDecoder } {
  const dec = new ExchangeBufferDecoder(options);
  const data: number[] = [];
  const recordEnds: number[] = [];
  let endOfFile = false;
  for (const b of buffers) {
    assert.equal(b[0], 0x44, "DATA buffers start with 'D'");
    const r = dec.decode(b.subarray(1));
    for (const e of r.recordEnds) recordEnds.push(data.length + e);
    data.push(...r.data);
    endOfFile ||= r.endOfFile;
  }
  return { data: Uint8Array.from(data), recordEnds, endOfFile, decoder: dec };
}

// RFC 5024 Appendix A, "Exchange Buffer 1": the two hex lines under each line of text, high nibbles
// over low nibbles, copied from the RFC. 821 octets: 'D', twelve subrecords with header 0x3f (63 octets,
// no flags) and a last one with header 0xb3 (End of Record + 51 octets), ending the T file.
const APPENDIX_A_ROWS: [string, string][] = [
  ['4347267266266666672467666720046626627767767626662662767662002472', '4F9409301E01E395E40D129E52CDA1E4085034F005480FE50F6048255EDA2290'],
  ['7367266662676726667626662666776766626762004672766766676277677277', '4F890CFE70725902512401E407C944529E70595CDAEF70785256F25034F00734'],
  ['2376672663000025662476666766627266677267626766662766620046624266', '0F48F50D5FDADA248502294572FFD7304FF2301250F05E5407945CDA1E40901D'],
  ['2366772662666300566267677726762667227662666772672767300467277266', '0FE5840F60B9EBDA485075534301250D54C04850651340930354ADAD19734085'],
  ['6372766266777266622000046266667266627676266727666672666620025667', '1F204850D5229049EE2DADA8508FC43089D07948089303B9EE9081E4CDA24852'],
  ['6327672627667222776762662002466626662276666626622676726667626666', '5F07130103890C2015F48085EDA28FC40F66105E81E40D5C07259D251240CFFE'],
  ['2320046776667266726666267677266200004626666726662767626672666776', '1F2DA5643FFE30893081E4042F04085EDADA8508FC43089D07948089307C9445'],
  ['7366626762200566256666662476772776662776662004662667766726666262', '2F9E70595DDDA485075449E7D75534034FF40349CCCDA1E40C9345E30C9B5010'],
  ['7367662766773266666300566246766672667626672766620000566256666662', '4F8255095123B0389C4ADA4850D129E52081480893079CCEDADA485075449E7D'],
  ['4376772767266262776663004626666672667762677266673004662767727766', '7F553403140FE01034FE5ADA85031EEF4038535025408512BDA1E4048530301B'],
  ['6326627667266666672666200566267666726766246766672000056627667276', '5F0FE0481401E395E40D1ECDA4850229784D59540D129E52EDADA48503890071'],
  ['7326666766227662667667726666766200467766726662762676700466672766', '3F03855254C048508122F5203C51254CDAD5229C90494075042F0DA25CF70485'],
  ['2B667622666672766266662004666727662666672667762767200', '03B92BC025CF70485089CCCDA25CF704850C9784D8F53504F0EDA'],
];
const APPENDIX_A_BUFFER = Uint8Array.from(
  APPENDIX_A_ROWS.flatMap(([high, low]) => [...high].map((h, i) => Number.parseInt(h + low[i], 16))),
);
const RIME = [
  'It is an ancient Mariner,',
  'And he stoppeth one of three.',
  '"By thy long grey beard and glittering eye,',
  "Now wherefore stopp'st thou me?",
  '',
  '"The Bridegroom\'s doors are opened wide,',
  'And I am next of kin;',
  'The guests are met, the feast is set:',
  'May\'st hear the merry din."',
  '',
  'He holds him with his skinny hand,',
  '"There was a ship," quoth he.',
  '"Hold off! unhand me, grey-beard loon!"',
  'Eftsoons his hand dropt he.',
  '',
  'He holds him with his glittering eye--',
  'The Wedding-Guest stood still,',
  'And listens like a three years; child:',
  'The Mariner hath his will.',
  '',
  'The Wedding-Guest sat on a stone:',
  'He cannot chuse but hear;',
  'And thus spake on that ancient man,',
  'The bright-eyed Mariner.',
  '',
  'The ship was cheered, the harbour cleared,',
  'Merrily did we drop',
  'Below the kirk, below the hill,',
  'Below the light-house top.',
]
  .map((line) => `${line}\r\n`)
  .join('');

test('Appendix A: the example buffer has the layout the RFC describes', () => {
  const b = APPENDIX_A_BUFFER;
  assert.equal(b.length, 821);
  assert.equal(b[0], 0x44); // 'D'
  for (let i = 0; i < 12; i++) assert.equal(b[1 + 64 * i], 0x3f, `subrecord ${i}: 63 octets, no flags`);
  assert.equal(b[1 + 64 * 12], 0xb3); // End of Record + 51 octets: the end of the T file
  assert.equal(1 + 64 * 12 + 1 + 51, 821);
});

test('Appendix A: decode gives the poem with CR-LF line ends and the end of file', () => {
  const r = decodeAll({ format: 'T', exchangeBufferSize: 821 }, [APPENDIX_A_BUFFER]);
  assert.equal(new TextDecoder().decode(r.data), RIME);
  assert.equal(r.endOfFile, true);
  assert.deepEqual(r.recordEnds, []);
  assert.equal(r.decoder.unitCount, RIME.length);
  assert.equal(r.decoder.recordCount, 0);
});

test('Appendix A: encode (T, one buffer, no compression) gives the RFC octets, also fed one octet at a time', () => {
  for (const sdeb of [821, 1024, 99999]) {
    assert.deepEqual(encodeAll({ format: 'T', exchangeBufferSize: sdeb }, [{ data: ascii(RIME) }]), [APPENDIX_A_BUFFER]);
  }
  assert.deepEqual(encodeAll({ format: 'T', exchangeBufferSize: 821 }, [{ data: ascii(RIME) }], true), [APPENDIX_A_BUFFER]);
  assert.deepEqual(encodeAll({ format: 'U', exchangeBufferSize: 821 }, [{ data: ascii(RIME) }]), [APPENDIX_A_BUFFER]);
});

test('Appendix A: round trip in small buffers and with compression', () => {
  for (const bufferCompression of [false, true]) {
    for (const sdeb of [128, 200, 820]) {
      const buffers = encodeAll({ format: 'T', exchangeBufferSize: sdeb, bufferCompression }, [{ data: ascii(RIME) }]);
      assert.ok(buffers.length > 1);
      for (const b of buffers.slice(0, -1)) assert.ok(b.length >= sdeb - 1, 'strategy 2 fills every buffer but the last');
      const r = decodeAll({ format: 'T', exchangeBufferSize: sdeb }, buffers);
      assert.equal(new TextDecoder().decode(r.data), RIME);
      assert.equal(r.endOfFile, true);
    }
  }
});

// Subrecord header vectors (§7.2): bit 0 (0x80) End of Record, bit 1 (0x40) compression, bits 2-7 count.
interface Vector {
  name: string;
  format: VirtualFileFormat;
  maxRecordSize?: number;
  compression: boolean;
  /** The DATA buffer, 'D' included. */
  buffer: Uint8Array;
  /** The records (F/V) or the file (U/T) it carries. */
  records: Uint8Array[];
}

const VECTORS: Vector[] = [
  { name: 'V: a record of one octet', format: 'V', maxRecordSize: 10, compression: false, buffer: bytes('D', 0x81, 'A'), records: [ascii('A')] },
  { name: 'V: zero-length records are a bare End of Record header', format: 'V', maxRecordSize: 10, compression: false, buffer: bytes('D', 0x80, 0x80, 0x82, 'hi', 0x80), records: [ascii(''), ascii(''), ascii('hi'), ascii('')] },
  { name: 'V: 64 octets split 63 + 1', format: 'V', maxRecordSize: 100, compression: false, buffer: bytes('D', 0x3f, repeat(0x61, 63), 0x81, 'a'), records: [repeat(0x61, 64)] },
  { name: 'F 100: 63 + 37 (0xa5 = EoR + 37)', format: 'F', maxRecordSize: 100, compression: false, buffer: bytes('D', 0x3f, repeat(0x31, 63), 0xa5, repeat(0x31, 37), 0x3f, repeat(0x32, 63), 0xa5, repeat(0x32, 37)), records: [repeat(0x31, 100), repeat(0x32, 100)] },
  { name: 'U: one record, EoR marks the end of file', format: 'U', compression: false, buffer: bytes('D', 0x85, 'hello'), records: [ascii('hello')] },
  { name: 'compressed: 7 x "A" then "B"', format: 'V', maxRecordSize: 8, compression: true, buffer: bytes('D', 0x47, 'A', 0x81, 'B'), records: [ascii('AAAAAAAB')] },
  { name: 'compressed: a run of 2 stays literal', format: 'V', maxRecordSize: 8, compression: true, buffer: bytes('D', 0x83, 'AAB'), records: [ascii('AAB')] },
  { name: 'compressed: a run of 3 is compressed (0xc3 = EoR + compressed + 3)', format: 'V', maxRecordSize: 8, compression: true, buffer: bytes('D', 0xc3, 'A'), records: [ascii('AAA')] },
  { name: 'compressed: a run of 64 is 63 compressed + 1 literal', format: 'V', maxRecordSize: 64, compression: true, buffer: bytes('D', 0x7f, 'A', 0x81, 'A'), records: [repeat(0x41, 64)] },
  { name: 'compressed: a run of 66 is 63 + 3 compressed', format: 'V', maxRecordSize: 66, compression: true, buffer: bytes('D', 0x7f, ' ', 0xc3, ' '), records: [repeat(0x20, 66)] },
  { name: 'compressed F 8: runs stop at record ends', format: 'F', maxRecordSize: 8, compression: true, buffer: bytes('D', 0x02, 'ab', 0xc6, '0', 0xc8, '0'), records: [ascii('ab000000'), ascii('00000000')] },
  { name: 'compressed U: literal, run, literal', format: 'U', compression: true, buffer: bytes('D', 0x02, 'ab', 0x4a, ' ', 0x82, '\r\n'), records: [ascii('ab          \r\n')] },
];

for (const v of VECTORS) {
  const codec = { format: v.format, exchangeBufferSize: 1024, maxRecordSize: v.maxRecordSize };
  const pieces: Piece[] = v.records.map((data) => ({ data, endOfRecord: v.format === 'V' }));
  test(`vector ${v.name}: decode`, () => {
    const r = decodeAll(codec, [v.buffer]);
    assert.deepEqual([...r.data], v.records.flatMap((rec) => [...rec]));
    if (v.format === 'U' || v.format === 'T') assert.equal(r.endOfFile, true);
    else {
      let at = 0;
      assert.deepEqual(r.recordEnds, v.records.map((rec) => (at += rec.length)));
      assert.equal(r.decoder.recordCount, v.records.length);
    }
  });
  test(`vector ${v.name}: encode, round trip${v.compression ? '' : ', one octet at a time'}`, () => {
    const buffers = encodeAll({ ...codec, bufferCompression: v.compression }, pieces);
    assert.deepEqual(buffers, [v.buffer]);
    if (!v.compression) assert.deepEqual(encodeAll({ ...codec, bufferCompression: false }, pieces, true), [v.buffer]);
    const r = decodeAll(codec, buffers);
    assert.deepEqual([...r.data], v.records.flatMap((rec) => [...rec]));
  });
}

test('every subrecord count 0..63, uncompressed and compressed, decodes', () => {
  for (let count = 0; count <= 63; count++) {
    const data = Uint8Array.from({ length: count }, (_, i) => 0x20 + i);
    const dec = new ExchangeBufferDecoder({ format: 'V', exchangeBufferSize: 128, maxRecordSize: 200 });
    const plain = dec.decode(bytes(count, data, 0x80));
    assert.deepEqual([...plain.data], [...data]);
    assert.deepEqual([...plain.recordEnds], [count]);
    const compressed = dec.decode(bytes(0xc0 | count, 'z'));
    assert.deepEqual([...compressed.data], [...repeat(0x7a, count)]);
    assert.deepEqual([...compressed.recordEnds], [count]);
    // Encoding a V record of `count` octets: one subrecord with End of Record.
    assert.deepEqual(encodeAll({ format: 'V', exchangeBufferSize: 128, maxRecordSize: 63 }, [{ data, endOfRecord: true }]), [
      bytes('D', 0x80 | count, data),
    ]);
  }
});

test('zero-length subrecords may appear anywhere in a record and in the buffer', () => {
  const dec = new ExchangeBufferDecoder({ format: 'V', exchangeBufferSize: 128, maxRecordSize: 10 });
  const r = dec.decode(bytes(0x00, 0x02, 'ab', 0x00, 0x40, 'x', 0x81, 'c', 0x00, 0x80));
  assert.deepEqual([...r.data], [...ascii('abc')]);
  assert.deepEqual([...r.recordEnds], [3, 3]);
  assert.equal(dec.recordCount, 2);
});

test('strategy 2: U in 128-octet buffers is cut 63 + 62 per buffer, the last subrecord carries EoR', () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const buffers = encodeAll({ format: 'U', exchangeBufferSize: 128 }, [{ data }]);
  assert.deepEqual(buffers, [
    bytes('D', 0x3f, data.subarray(0, 63), 0x3e, data.subarray(63, 125)),
    bytes('D', 0x3f, data.subarray(125, 188), 0x3e, data.subarray(188, 250)),
    bytes('D', 0xb2, data.subarray(250, 300)),
  ]);
});

test('a record that ends exactly at a full buffer gets its flag before the buffer is handed out', () => {
  // 128-octet buffer: 'D' + 63+1 + 62+1 = 128; the V record is 125 octets.
  const data = repeat(0x41, 125);
  const enc = new ExchangeBufferEncoder({ format: 'V', exchangeBufferSize: 128, bufferCompression: false, maxRecordSize: 200 });
  enc.write(data);
  assert.equal(enc.pull(), null, 'full, but End of Record is not decided yet');
  assert.equal(enc.needsInput, true);
  enc.endRecord();
  assert.equal(enc.pull(), null);
  enc.end();
  assert.deepEqual(enc.pull()?.slice(), bytes('D', 0x3f, data.subarray(0, 63), 0xbe, data.subarray(63)));
  assert.equal(enc.pull(), null);
  assert.equal(enc.done, true);
});

test('an empty U file sends no buffer; an empty V record sends a bare End of Record', () => {
  assert.deepEqual(encodeAll({ format: 'U', exchangeBufferSize: 128 }, []), []);
  assert.deepEqual(encodeAll({ format: 'V', exchangeBufferSize: 128, maxRecordSize: 5 }, [{ data: new Uint8Array(0), endOfRecord: true }]), [bytes('D', 0x80)]);
});

test('unit and record counts for EFID, restart positions, and restart start counts', () => {
  const enc = new ExchangeBufferEncoder({ format: 'F', exchangeBufferSize: 128, bufferCompression: false, maxRecordSize: 10, startUnitCount: 30, startRecordCount: 3 });
  enc.write(repeat(1, 25));
  assert.equal(enc.unitCount, 55);
  assert.equal(enc.recordCount, 5);
  assert.equal(enc.openRecordLength, 5);
  assert.equal(enc.restartPosition, 5);
  enc.write(repeat(1, 5), 0, 5, true);
  enc.end();
  const buf = enc.pull()!;
  const dec = new ExchangeBufferDecoder({ format: 'F', exchangeBufferSize: 128, maxRecordSize: 10, startUnitCount: 30, startRecordCount: 3 });
  dec.decode(buf.subarray(1));
  dec.end();
  assert.deepEqual([dec.unitCount, dec.recordCount, dec.restartPosition], [60, 6, 6]);
  const u = new ExchangeBufferEncoder({ format: 'U', exchangeBufferSize: 4096, bufferCompression: true, startUnitCount: 2048 });
  u.write(repeat(0x20, 3000));
  assert.deepEqual([u.unitCount, u.recordCount, u.restartPosition], [5048, 0, 4]);
});

test('decodeInto writes at an offset of the caller buffer', () => {
  const dec = new ExchangeBufferDecoder({ format: 'U', exchangeBufferSize: 128 });
  const target = new Uint8Array(300).fill(0xee);
  const r = dec.decodeInto(bytes(0x03, 'abc', 0x4a, '-', 0x81, 'z'), target, 7);
  assert.equal(new TextDecoder().decode(r.data), 'abc----------z');
  assert.equal(r.data.buffer, target.buffer);
  assert.equal(target[6], 0xee);
  assert.equal(new TextDecoder().decode(target.subarray(7, 21)), 'abc----------z');
  const fresh = new ExchangeBufferDecoder({ format: 'U', exchangeBufferSize: 128 });
  assert.throws(() => fresh.decodeInto(bytes(0x7f, 'x'), new Uint8Array(10)), LocalUsageError);
});

test('pullInto copies after room for a stream transmission header', () => {
  const enc = new ExchangeBufferEncoder({ format: 'U', exchangeBufferSize: 128, bufferCompression: false });
  enc.write(ascii('abc'));
  enc.end();
  const target = new Uint8Array(132);
  assert.equal(enc.pullInto(target, 4), 5);
  assert.deepEqual(target.subarray(4, 9), bytes('D', 0x83, 'abc'));
  assert.equal(enc.pullInto(target, 4), 0);
});

test('a secured file is transmitted as U whatever its SFIDFMT', () => {
  assert.equal(transmittedFormat({ format: 'V' }), 'V');
  assert.equal(transmittedFormat({ format: 'F', securityLevel: 2 }), 'U');
  assert.equal(transmittedFormat({ format: 'V', compression: 1 }), 'U');
  assert.equal(transmittedFormat({ format: 'T', envelope: 1 }), 'U');
});

// Bad input from the peer: RemoteProtocolError 'OFTP_ERR_DATA_BUFFER' with the ESID reason.
const BAD: { name: string; format: VirtualFileFormat; maxRecordSize?: number; payloads: Uint8Array[]; esid: number }[] = [
  { name: 'count beyond the end of the buffer', format: 'U', payloads: [bytes(0x05, 'abc')], esid: 6 },
  { name: 'count beyond the end, EoR set', format: 'V', maxRecordSize: 99, payloads: [bytes(0x02, 'ab', 0xbf, 'x')], esid: 6 },
  { name: 'compressed subrecord without its octet', format: 'U', payloads: [bytes(0x01, 'a', 0x45)], esid: 6 },
  { name: 'V record longer than SFIDLRECL', format: 'V', maxRecordSize: 4, payloads: [bytes(0x85, 'abcde')], esid: 6 },
  { name: 'V record longer than SFIDLRECL across buffers', format: 'V', maxRecordSize: 4, payloads: [bytes(0x03, 'abc'), bytes(0x42, 'x')], esid: 6 },
  { name: 'F record shorter than SFIDLRECL', format: 'F', maxRecordSize: 4, payloads: [bytes(0x83, 'abc')], esid: 6 },
  { name: 'F record longer than SFIDLRECL', format: 'F', maxRecordSize: 4, payloads: [bytes(0x05, 'abcde')], esid: 6 },
  { name: 'F empty record', format: 'F', maxRecordSize: 4, payloads: [bytes(0x80)], esid: 6 },
  { name: 'U data after the end of file', format: 'U', payloads: [bytes(0x81, 'a', 0x01, 'b')], esid: 6 },
  { name: 'U data after the end of file, next buffer', format: 'T', payloads: [bytes(0x81, 'a'), bytes(0x41, 'b')], esid: 6 },
  { name: 'buffer longer than the negotiated size', format: 'U', payloads: [new Uint8Array(128)], esid: 7 },
];

for (const b of BAD) {
  test(`decode rejects ${b.name}`, () => {
    const dec = new ExchangeBufferDecoder({ format: b.format, exchangeBufferSize: 128, maxRecordSize: b.maxRecordSize });
    const last = b.payloads.length - 1;
    for (const p of b.payloads.slice(0, last)) dec.decode(p);
    const units = dec.unitCount;
    assert.throws(
      () => dec.decode(b.payloads[last]!),
      (e: unknown) => e instanceof RemoteProtocolError && e.code === 'OFTP_ERR_DATA_BUFFER' && e.esidReason === b.esid,
    );
    assert.equal(dec.unitCount, units, 'a rejected buffer changes nothing');
  });
}

test('zero-length subrecords after the end of a U file are tolerated', () => {
  const dec = new ExchangeBufferDecoder({ format: 'U', exchangeBufferSize: 128 });
  assert.equal(dec.decode(bytes(0x81, 'a', 0x00, 0x80)).endOfFile, true);
  assert.equal(dec.decode(bytes(0x00)).endOfFile, false);
  assert.equal(dec.unitCount, 1);
});

test('end() at EFID rejects an F/V file ending inside a record', () => {
  const dec = new ExchangeBufferDecoder({ format: 'V', exchangeBufferSize: 128, maxRecordSize: 10 });
  dec.decode(bytes(0x02, 'ab'));
  assert.equal(dec.openRecordLength, 2);
  assert.throws(() => dec.end(), (e: unknown) => e instanceof RemoteProtocolError && e.code === 'OFTP_ERR_DATA_BUFFER');
});

test('our own misuse of the encoder is a LocalUsageError', () => {
  const opts = { exchangeBufferSize: 128, bufferCompression: false };
  assert.throws(() => new ExchangeBufferEncoder({ ...opts, format: 'U', exchangeBufferSize: 127 }), LocalUsageError);
  assert.throws(() => new ExchangeBufferEncoder({ ...opts, format: 'F' }), LocalUsageError, 'F needs a record length');
  const f = new ExchangeBufferEncoder({ ...opts, format: 'F', maxRecordSize: 4 });
  assert.throws(() => f.write(ascii('abc'), 0, 3, true), LocalUsageError, 'F record ends at 3 of 4');
  f.write(ascii('abc'));
  assert.throws(() => f.end(), LocalUsageError, 'end inside a record');
  const v = new ExchangeBufferEncoder({ ...opts, format: 'V', maxRecordSize: 4 });
  assert.throws(() => v.write(ascii('abcde')), LocalUsageError);
  const u = new ExchangeBufferEncoder({ ...opts, format: 'U' });
  u.write(new Uint8Array(1000));
  assert.throws(() => u.write(new Uint8Array(1)), LocalUsageError, 'pending data: pull first');
  assert.throws(() => u.write(new Uint8Array(4), 3, 5), LocalUsageError);
  while (u.pull()) {
    // drain
  }
  u.end();
  assert.throws(() => u.write(new Uint8Array(1)), LocalUsageError);
});
