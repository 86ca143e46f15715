// V format record lengths (RFC 5024 §6.5) and the local V file layout: vectors, restart skipping,
// chunking down to one octet, and the path local file -> encoder -> decoder -> local file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LocalUsageError } from '../../src/errors.ts';
import { ExchangeBufferDecoder } from '../../src/protocol/exchange-buffer-decoder.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import {
  decodeVRecords,
  encodeVRecords,
  readRecordLength,
  VRecordReader,
  VRecordScanner,
  VRecordWriter,
  writeRecordLength,
} from '../../src/protocol/v-format.ts';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

// §6.5: "2-byte binary numbers, in network byte order ... the number of data bytes in the record and
// don't include themselves". Records "AB", "", 300 x 'x':
//   00 02 41 42 | 00 00 | 01 2C (300) 78 ...
const THREE_RECORDS = [ascii('AB'), new Uint8Array(0), new Uint8Array(300).fill(0x78)];
const THREE_RECORDS_FILE = Uint8Array.of(0x00, 0x02, 0x41, 0x42, 0x00, 0x00, 0x01, 0x2c, ...new Uint8Array(300).fill(0x78));

test('vector: record length prefixes are big-endian data lengths', () => {
  assert.deepEqual(encodeVRecords(THREE_RECORDS), THREE_RECORDS_FILE);
  assert.deepEqual(decodeVRecords(THREE_RECORDS_FILE), THREE_RECORDS);
  assert.deepEqual(decodeVRecords(Buffer.from(THREE_RECORDS_FILE)), THREE_RECORDS, 'from a Buffer too: Uint8Array copies');
  const b = new Uint8Array(2);
  writeRecordLength(b, 0, 0xffff);
  assert.deepEqual(b, Uint8Array.of(0xff, 0xff));
  assert.equal(readRecordLength(Uint8Array.of(0x12, 0x34), 0), 0x1234);
  assert.throws(() => writeRecordLength(b, 0, 65536), LocalUsageError);
});

test('the reader hands on pieces in any chunking, down to one octet', () => {
  for (const size of [1, 2, 3, 7, 1000]) {
    const got: number[][] = [[]];
    const reader = new VRecordReader({
      onPiece: (data, start, end, endOfRecord) => {
        got[got.length - 1]!.push(...data.subarray(start, end));
        if (endOfRecord) got.push([]);
      },
    });
    for (let i = 0; i < THREE_RECORDS_FILE.length; i += size) reader.push(THREE_RECORDS_FILE.subarray(i, i + size));
    reader.end();
    got.pop();
    assert.deepEqual(got, THREE_RECORDS.map((r) => [...r]));
    assert.equal(reader.recordCount, 3);
    assert.equal(reader.unitCount, 302);
  }
});

test('the scanner reports each record at its prefix offset in any chunking, and stops before record n', () => {
  for (const size of [1, 2, 3, 7, 1000]) {
    const starts: [number, number][] = [];
    const pieces: [number, boolean][] = [];
    const scanner = new VRecordScanner();
    for (let i = 0; i < THREE_RECORDS_FILE.length; i += size) {
      const chunk = THREE_RECORDS_FILE.subarray(i, i + size);
      const used = scanner.push(
        chunk,
        (length, offset) => starts.push([length, offset]) > 0,
        (_d, s, e, endOfRecord) => pieces.push([e - s, endOfRecord]),
      );
      assert.equal(used, chunk.length);
    }
    assert.deepEqual(starts, [[2, 0], [0, 4], [300, 6]]);
    assert.equal(pieces.filter(([, last]) => last).length, 3, 'one last piece per record, the empty one too');
    assert.equal(pieces.reduce((n, [len]) => n + len, 0), 302);
    assert.equal(scanner.records, 3);
    assert.equal(scanner.octets, THREE_RECORDS_FILE.length);
    assert.ok(scanner.atRecordBoundary);

    // where record 2 starts: the scan stops before its prefix
    const finder = new VRecordScanner();
    let found: number | undefined;
    for (let i = 0; i < THREE_RECORDS_FILE.length && found === undefined; i += size) {
      finder.push(THREE_RECORDS_FILE.subarray(i, i + size), (_length, offset) => {
        if (finder.records !== 2) return true;
        found = offset;
        return false;
      });
    }
    assert.equal(found, 6);
    assert.ok(finder.stopped);
    assert.equal(finder.records, 2);
  }
  const half = new VRecordScanner();
  half.push(Uint8Array.of(0x00, 0x05, 0x41), () => true);
  assert.equal(half.atRecordBoundary, false, 'inside a record');
  const prefix = new VRecordScanner();
  prefix.push(Uint8Array.of(0x00), () => true);
  assert.equal(prefix.atRecordBoundary, false, 'inside a prefix');
});

test('restart: the reader skips records and counts their units', () => {
  const seen: number[] = [];
  const reader = new VRecordReader({ skipRecords: 2, onPiece: (_d, s, e) => seen.push(e - s) });
  reader.push(THREE_RECORDS_FILE);
  reader.end();
  assert.equal(reader.skippedUnits, 2);
  assert.equal(reader.recordCount, 1);
  assert.equal(seen.reduce((a, b) => a + b, 0), 300);
  const short = new VRecordReader({ skipRecords: 4, onPiece: () => {} });
  short.push(THREE_RECORDS_FILE);
  assert.throws(() => short.end(), LocalUsageError);
});

test('bad local files are LocalUsageErrors: truncated record or prefix, record over the maximum', () => {
  for (const bad of [Uint8Array.of(0x00, 0x05, 0x41), Uint8Array.of(0x00)]) {
    const r = new VRecordReader({ onPiece: () => {} });
    r.push(bad);
    assert.throws(() => r.end(), LocalUsageError);
  }
  const r = new VRecordReader({ maxRecordSize: 2, onPiece: () => {} });
  assert.throws(() => r.push(Uint8Array.of(0x00, 0x03)), LocalUsageError);
  const w = new VRecordWriter({ maxRecordSize: 2, onData: () => {} });
  assert.throws(() => w.write(ascii('abc'), 0, 3, true), LocalUsageError);
  const open = new VRecordWriter({ onData: () => {} });
  open.write(ascii('a'), 0, 1, false);
  assert.throws(() => open.end(), LocalUsageError);
});

test('the writer builds the layout from pieces and flushes complete records only', () => {
  const out: number[] = [];
  const w = new VRecordWriter({ onData: (b) => out.push(...b) });
  w.write(ascii('xAB'), 1, 3, true);
  w.write(new Uint8Array(0), 0, 0, true);
  w.write(new Uint8Array(100).fill(0x78), 0, 100, false);
  w.flush();
  assert.deepEqual(out, [0x00, 0x02, 0x41, 0x42, 0x00, 0x00]);
  assert.equal(w.openRecordLength, 100);
  w.write(new Uint8Array(200).fill(0x78), 0, 200, true);
  w.end();
  assert.deepEqual(Uint8Array.from(out), THREE_RECORDS_FILE);
  assert.equal(w.recordCount, 3);
});

test('the writer copes with records of the largest length back to back', () => {
  const records = [new Uint8Array(65535).fill(1), new Uint8Array(65535).fill(2), new Uint8Array(10).fill(3), new Uint8Array(65535).fill(4), new Uint8Array(65535).fill(5)];
  const chunks: Uint8Array[] = [];
  const w = new VRecordWriter({ onData: (b) => chunks.push(b.slice()) });
  for (const r of records) w.write(r, 0, r.length, true);
  w.end();
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  assert.deepEqual(all, encodeVRecords(records));
});

test('property: local V file -> reader -> encoder -> decoder -> writer gives the same file', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 500, size: 'max' }), { maxLength: 30, size: 'max' }),
      fc.integer({ min: 128, max: 2000 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 900 }),
      (records, exchangeBufferSize, bufferCompression, chunk) => {
        const file = encodeVRecords(records);
        const enc = new ExchangeBufferEncoder({ format: 'V', exchangeBufferSize, bufferCompression, maxRecordSize: 500 });
        const dec = new ExchangeBufferDecoder({ format: 'V', exchangeBufferSize, maxRecordSize: 500 });
        const out: number[] = [];
        const writer = new VRecordWriter({ maxRecordSize: 500, onData: (b) => out.push(...b) });
        const drain = (): void => {
          for (let b = enc.pull(); b; b = enc.pull()) writer.writeDecoded(dec.decode(b.subarray(1)));
        };
        const reader = new VRecordReader({
          maxRecordSize: 500,
          onPiece: (data, start, end, endOfRecord) => {
            drain();
            enc.write(data, start, end, endOfRecord);
          },
        });
        for (let i = 0; i < file.length; i += chunk) reader.push(file.subarray(i, i + chunk));
        reader.end();
        drain();
        enc.end();
        drain();
        dec.end();
        writer.end();
        assert.deepEqual(Uint8Array.from(out), file);
        assert.equal(enc.recordCount, records.length);
        assert.equal(dec.recordCount, records.length);
        assert.equal(dec.unitCount, reader.unitCount);
      },
    ),
    { numRuns: 200 },
  );
});
