// Primitive fields (src/protocol/fields.ts): X(n), 9(n), U(n), T(n) and the value rules built on them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  encodeUtf8,
  expandShortDate,
  fitsShortDate,
  isDatasetName,
  isDate,
  isIdentificationCode,
  isOdetteString,
  isPassword,
  isTime,
  numericFieldMax,
  readAlphanumeric,
  readNumeric,
  readUint16,
  readUtf8,
  writeAlphanumeric,
  writeNumeric,
  writeUint16,
} from '../../src/protocol/fields.ts';
import { concat } from './command-vector-check.ts';

test('X(n): trailing padding removed, octets outside the String set refused', () => {
  assert.equal(readAlphanumeric(concat('AB  '), 0, 4), 'AB');
  assert.equal(readAlphanumeric(concat('    '), 0, 4), '');
  assert.equal(readAlphanumeric(concat(' A B'), 0, 4), ' A B'); // leading/embedded spaces are the rule's call
  assert.equal(readAlphanumeric(concat('xAB'), 1, 2), 'AB');
  assert.equal(readAlphanumeric(concat('ab'), 0, 2), undefined);
  assert.equal(readAlphanumeric(concat([0x41, 0x00]), 0, 2), undefined);
  assert.equal(readAlphanumeric(concat([0xc1]), 0, 1), undefined);
  const out = new Uint8Array(5);
  writeAlphanumeric(out, 0, 5, 'AB');
  assert.deepEqual(out, concat('AB   '));
});

test('String (§5.3): 0-9 A-Z / - . & ( ), no space', () => {
  assert.ok(isOdetteString('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ/-.&()'.slice(0, 26), 26));
  assert.ok(isOdetteString('', 8));
  for (const bad of ['A B', ' A', 'A ', 'a', 'A_B', 'É', 'A\u0141']) assert.ok(!isOdetteString(bad, 8), bad);
  assert.ok(!isOdetteString('123456789', 8));
  assert.ok(isPassword('') && isPassword('PASSWORD') && !isPassword('PASSWORD1'));
  assert.ok(!isDatasetName('') && isDatasetName('D'.repeat(26)) && !isDatasetName('D'.repeat(27)));
});

test('identification code (§5.4): spaces only inside SIOORG, never trailing', () => {
  assert.ok(isIdentificationCode('O0013000000ACME    PLANT1'));
  assert.ok(isIdentificationCode('O0013 ACME')); // space at 5: first octet of SIOORG
  assert.ok(isIdentificationCode('O0013ACME          X')); // space at 18: last octet of SIOORG
  assert.ok(isIdentificationCode('XNONODETTE')); // SIOOID other than 'O'
  assert.ok(!isIdentificationCode(''));
  assert.ok(!isIdentificationCode('O001 3'));
  assert.ok(!isIdentificationCode('O0013ACME           X')); // space at 19: SIOCSA
  assert.ok(!isIdentificationCode('O0013ACME '));
  assert.ok(!isIdentificationCode('O'.repeat(26)));
  assert.ok(!isIdentificationCode('o0013'));
});

test('9(n): digits only, below 2^53', () => {
  assert.equal(readNumeric(concat('00042'), 0, 5), 42);
  assert.equal(readNumeric(concat('09007199254740991'), 0, 17), Number.MAX_SAFE_INTEGER);
  assert.ok(Number.isNaN(readNumeric(concat('09007199254740992'), 0, 17)));
  assert.ok(Number.isNaN(readNumeric(concat('99999999999999999'), 0, 17)));
  assert.ok(Number.isNaN(readNumeric(concat(' 42'), 0, 3)));
  assert.ok(Number.isNaN(readNumeric(concat('4-2'), 0, 3)));
  assert.ok(Number.isNaN(readNumeric(concat('+42'), 0, 3)));
  const out = new Uint8Array(17);
  writeNumeric(out, 0, 17, Number.MAX_SAFE_INTEGER);
  assert.deepEqual(out, concat('09007199254740991'));
  writeNumeric(out, 0, 3, 7);
  assert.deepEqual(out.subarray(0, 3), concat('007'));
  assert.equal(numericFieldMax(13), 9999999999999);
  assert.equal(numericFieldMax(17), Number.MAX_SAFE_INTEGER);
});

test('U(2): network byte order', () => {
  const out = new Uint8Array(2);
  writeUint16(out, 0, 0x1234);
  assert.deepEqual(out, Uint8Array.of(0x12, 0x34));
  assert.equal(readUint16(Uint8Array.of(0xff, 0xfe), 0), 0xfffe);
});

test('T(n): well-formed UTF-8 only; a BOM is content', () => {
  assert.equal(readUtf8(concat('Grüße'), 0, 7), 'Grüße');
  assert.equal(readUtf8(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41), 0, 4), '\uFEFFA');
  assert.equal(readUtf8(Uint8Array.of(0xc3), 0, 1), undefined); // truncated sequence
  assert.equal(readUtf8(Uint8Array.of(0xc0, 0x80), 0, 2), undefined); // overlong
  assert.equal(readUtf8(Uint8Array.of(0xed, 0xa0, 0x80), 0, 3), undefined); // surrogate
  assert.deepEqual(encodeUtf8('\uFEFFA'), Uint8Array.of(0xef, 0xbb, 0xbf, 0x41));
  assert.equal(encodeUtf8('\uDC00'), undefined);
  assert.deepEqual(encodeUtf8('😀'), Uint8Array.of(0xf0, 0x9f, 0x98, 0x80));
});

test('dates: real Gregorian calendar dates CCYYMMDD', () => {
  for (const good of ['20240229', '20000229', '19991231', '00010101', '99991231']) assert.ok(isDate(good), good);
  for (const bad of ['19000229', '20230229', '20240431', '20241301', '20240001', '20240100', '00000101', '2024022', '2024-2-1', '2024022A']) {
    assert.ok(!isDate(bad), bad);
  }
});

test('times: HHMMSScccc with counter 0000..9999', () => {
  for (const good of ['0000000000', '2359599999', '1200000001']) assert.ok(isTime(good), good);
  for (const bad of ['2400000000', '1260000000', '1200600000', '120000', '12000000000', '12000A0000']) assert.ok(!isTime(bad), bad);
});

test('YYMMDD century rule (fixed pivot, RFC 5280 style): 50..99 → 19YY, 00..49 → 20YY', () => {
  assert.equal(expandShortDate('500101'), '19500101');
  assert.equal(expandShortDate('991231'), '19991231');
  assert.equal(expandShortDate('000101'), '20000101');
  assert.equal(expandShortDate('491231'), '20491231');
  assert.ok(fitsShortDate('19500101') && fitsShortDate('20491231'));
  assert.ok(!fitsShortDate('19491231') && !fitsShortDate('20500101'));
});
