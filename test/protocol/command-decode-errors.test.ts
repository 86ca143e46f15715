// Every decode error path: code, command, field, offset and ESID reason (RFC 5024 §5.3.11: 01, 06, 07;
// 03 and 04 for a malformed SSIDCODE and SSIDPSWD).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/errors.ts';
import { decodeCommand } from '../../src/protocol/command-codec.ts';
import type { ProtocolLevel } from '../../src/protocol/command-types.ts';
import { patch, sampleBytes } from './command-samples.ts';
import { concat } from './command-vector-check.ts';

interface Expected {
  command: string;
  field: string;
  offset: number;
  esidReason?: number;
}

const CODES = { 1: 'OFTP_ERR_UNKNOWN_COMMAND', 6: 'OFTP_ERR_INVALID_FIELD', 7: 'OFTP_ERR_BUFFER_SIZE' } as const;

function rejects(bytes: Uint8Array, level: ProtocolLevel, code: 1 | 3 | 4 | 6 | 7, expected: Expected): DecodeError {
  let error: unknown;
  try {
    decodeCommand(bytes, level);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof DecodeError, `expected a DecodeError, got ${String(error)}`);
  assert.deepEqual(
    { code: error.code, command: error.command, field: error.field, offset: error.offset, esidReason: error.esidReason },
    { code: CODES[code === 3 || code === 4 ? 6 : code], ...expected, esidReason: code },
  );
  return error;
}

const unknown = (bytes: Uint8Array, level: ProtocolLevel, e: Expected) => rejects(bytes, level, 1, e);
const invalid = (bytes: Uint8Array, level: ProtocolLevel, e: Expected) => rejects(bytes, level, 6, e);
const size = (bytes: Uint8Array, level: ProtocolLevel, e: Expected) => rejects(bytes, level, 7, e);

test('01: an unknown command octet', () => {
  for (const level of [1, 2, 4, 5] as const) {
    unknown(concat('Q'), level, { command: '0x51', field: 'CMD', offset: 0 });
    unknown(concat([0x00, 0x41]), level, { command: '0x00', field: 'CMD', offset: 0 });
    unknown(concat([0xc4]), level, { command: '0xc4', field: 'CMD', offset: 0 }); // 'D' with the parity bit
  }
});

test('01: a command that does not exist at the level', () => {
  for (const level of [1, 2, 4] as const) {
    unknown(concat('J'), level, { command: 'SECD', field: 'SECDCMD', offset: 0 });
    unknown(concat('A', [0, 1, 9]), level, { command: 'AUCH', field: 'AUCHCMD', offset: 0 });
    unknown(concat('S', new Uint8Array(20)), level, { command: 'AURP', field: 'AURPCMD', offset: 0 });
  }
  for (const level of [1, 2] as const) {
    unknown(sampleBytes('NERP', 4), level, { command: 'NERP', field: 'NERPCMD', offset: 0 });
  }
});

test('07: empty buffer, DATA without payload', () => {
  size(new Uint8Array(0), 5, { command: '(empty)', field: 'CMD', offset: 0 });
  for (const level of [1, 2, 4, 5] as const) size(concat('D'), level, { command: 'DATA', field: 'DATABUF', offset: 1 });
});

test('07: fixed-length commands too short name the first field cut short', () => {
  size(concat('X'), 5, { command: 'SSID', field: 'SSIDLEV', offset: 1 });
  size(concat('X5O1'), 5, { command: 'SSID', field: 'SSIDCODE', offset: 2 });
  size(sampleBytes('SSID', 1).subarray(0, 60), 1, { command: 'SSID', field: 'SSIDCR', offset: 60 });
  size(concat('C '), 5, { command: 'CDT', field: 'CDTRSV1', offset: 1 });
  size(concat('I', 'ODETTE FTP READY '), 5, { command: 'SSRM', field: 'SSRMCR', offset: 18 });
  size(sampleBytes('SFPA', 5).subarray(0, 10), 5, { command: 'SFPA', field: 'SFPAACNT', offset: 1 });
  size(sampleBytes('SFID', 1).subarray(0, 120), 1, { command: 'SFID', field: 'SFIDREST', offset: 119 });
  size(sampleBytes('NERP', 4).subarray(0, 127), 4, { command: 'NERP', field: 'NERPREAS', offset: 126 });
  size(sampleBytes('AURP', 5).subarray(0, 20), 5, { command: 'AURP', field: 'AURPRSP', offset: 1 });
  size(concat('F', '0'), 1, { command: 'ESID', field: 'ESIDREAS', offset: 1 });
});

test('07: fixed-length commands too long (e.g. a level-5 SFPA at level 1)', () => {
  size(sampleBytes('SFPA', 5), 1, { command: 'SFPA', field: '(end)', offset: 10 });
  size(sampleBytes('EFID', 5), 4, { command: 'EFID', field: '(end)', offset: 22 });
  size(concat('RR'), 5, { command: 'CD', field: '(end)', offset: 1 });
  size(concat('P', [0]), 1, { command: 'RTR', field: '(end)', offset: 1 });
  size(concat(sampleBytes('SSID', 5), ' '), 5, { command: 'SSID', field: '(end)', offset: 61 });
  size(concat('F', '00', '\r', '\r'), 1, { command: 'ESID', field: '(end)', offset: 4 });
  size(concat('F', '00', '\r', '\r'), 5, { command: 'ESID', field: 'ESIDREASL', offset: 3 }); // neither form
});

test('07: variable commands: fixed part too short, length past the end, missing tail, trailing octets', () => {
  const sfid = sampleBytes('SFID', 5); // SFIDDESCL = 012 at 162, 12 octets of SFIDDESC at 165
  size(sfid.subarray(0, 164), 5, { command: 'SFID', field: 'SFIDDESCL', offset: 162 });
  size(sfid.subarray(0, 170), 5, { command: 'SFID', field: 'SFIDDESC', offset: 165 });
  size(concat(sfid, 'X'), 5, { command: 'SFID', field: '(end)', offset: 177 });
  const eerp = sampleBytes('EERP', 5); // HSHL 20 at 106, SIGL 30 at 128
  size(eerp.subarray(0, 120), 5, { command: 'EERP', field: 'EERPHSH', offset: 108 });
  size(eerp.subarray(0, 129), 5, { command: 'EERP', field: 'EERPSIGL', offset: 128 });
  size(eerp.subarray(0, 150), 5, { command: 'EERP', field: 'EERPSIG', offset: 130 });
  size(eerp.subarray(0, 107), 5, { command: 'EERP', field: 'EERPHSHL', offset: 106 });
  const nerp = sampleBytes('NERP', 5); // REASL 014 at 128, text at 131, HSHL at 145
  size(patch(nerp, 128, '999'), 5, { command: 'NERP', field: 'NERPREAST', offset: 131 });
  size(nerp.subarray(0, 146), 5, { command: 'NERP', field: 'NERPHSHL', offset: 145 });
  size(concat('F', '00', '005', 'abc'), 5, { command: 'ESID', field: 'ESIDREAST', offset: 6 });
  size(concat('F', '00', '003', 'abc'), 5, { command: 'ESID', field: 'ESIDCR', offset: 9 });
  size(concat('A', [0, 9], 'short'), 5, { command: 'AUCH', field: 'AUCHCHAL', offset: 3 });
  size(concat('A', [0]), 5, { command: 'AUCH', field: 'AUCHCHLL', offset: 1 });
  size(concat(sampleBytes('SFNA', 5), ' '), 5, { command: 'SFNA', field: '(end)', offset: 21 });
  size(concat('5', '11'), 5, { command: 'EFNA', field: 'EFNAREASL', offset: 3 });
});

test('06: fixed values (SSRMMSG, carriage returns, SSIDLEV)', () => {
  const ssrm = sampleBytes('SSRM', 5);
  invalid(patch(ssrm, 1, 'odette'), 5, { command: 'SSRM', field: 'SSRMMSG', offset: 1 });
  invalid(patch(ssrm, 17, 'X'), 5, { command: 'SSRM', field: 'SSRMMSG', offset: 1 });
  invalid(patch(ssrm, 18, '\n'), 5, { command: 'SSRM', field: 'SSRMCR', offset: 18 });
  invalid(patch(sampleBytes('SSID', 5), 60, ' '), 5, { command: 'SSID', field: 'SSIDCR', offset: 60 });
  invalid(concat('F', '00', '000', [0x0a]), 5, { command: 'ESID', field: 'ESIDCR', offset: 6 });
  invalid(concat('F', '00', 'X'), 1, { command: 'ESID', field: 'ESIDCR', offset: 3 });
  for (const bad of ['0', '3', 'A', ' ']) {
    invalid(patch(sampleBytes('SSID', 5), 1, bad), 5, { command: 'SSID', field: 'SSIDLEV', offset: 1 });
  }
});

test('03 and 04: a malformed SSIDCODE or SSIDPSWD (§5.3.11), and the password is not echoed', () => {
  const ssid = sampleBytes('SSID', 5);
  const code = (value: string) => rejects(patch(ssid, 2, value.padEnd(25)), 5, 3, { command: 'SSID', field: 'SSIDCODE', offset: 2 });
  code('o0013000000ACME'); // lower case
  code(''); // mandatory
  code(' O0013'); // leading space
  code('O 0013'); // a space outside SIOORG (positions 5..18)
  code('O0013000000ACME     PLANT'); // a space at 19, in SIOCSA
  code('O0013_ACME'); // outside the String set
  const password = rejects(patch(ssid, 27, 'p4ss    '), 5, 4, { command: 'SSID', field: 'SSIDPSWD', offset: 27 });
  assert.ok(!password.message.includes('p4ss'), password.message);
  rejects(patch(ssid, 27, 'A B     '), 5, 4, { command: 'SSID', field: 'SSIDPSWD', offset: 27 });
  rejects(patch(ssid, 27, [0x41, 0xe9]), 5, 4, { command: 'SSID', field: 'SSIDPSWD', offset: 27 });
});

test('06: SSID values', () => {
  const ssid = sampleBytes('SSID', 5);
  const at = (offset: number, value: string, field: string) => invalid(patch(ssid, offset, value), 5, { command: 'SSID', field, offset });
  at(35, '00127', 'SSIDSDEB'); // below 128
  at(35, '0012A', 'SSIDSDEB');
  at(35, ' 4096', 'SSIDSDEB');
  at(40, 'X', 'SSIDSR');
  at(41, 'y', 'SSIDCMPR');
  at(42, ' ', 'SSIDREST');
  at(43, '1', 'SSIDSPEC');
  at(44, '000', 'SSIDCRED'); // below 1
  at(44, '-12', 'SSIDCRED');
  at(47, ' ', 'SSIDAUTH');
  at(52, 'A B     ', 'SSIDUSER'); // embedded space
  at(52, 'user    ', 'SSIDUSER');
  // At level 1 offset 47 is reserved: anything goes.
  assert.equal(decodeCommand(patch(sampleBytes('SSID', 1), 47, 'Y?!  '), 1).cmd, 'SSID');
});

test('06: SFID values at level 5', () => {
  const sfid = sampleBytes('SFID', 5);
  const at = (offset: number, value: string | number[], field: string, reportedAt = offset) =>
    invalid(patch(sfid, offset, value), 5, { command: 'SFID', field, offset: reportedAt });
  at(1, ' '.repeat(26), 'SFIDDSN'); // mandatory
  at(1, 'INVOICES 2024', 'SFIDDSN'); // embedded space
  at(1, [0xc3, 0xa9], 'SFIDDSN'); // not ISO 646
  at(30, '20230229', 'SFIDDATE'); // not a leap year
  at(30, '20241301', 'SFIDDATE');
  at(30, '00000101', 'SFIDDATE');
  at(30, '2024-1-1', 'SFIDDATE');
  at(38, '2400000000', 'SFIDTIME');
  at(38, '1260000000', 'SFIDTIME');
  at(38, '12000 0000', 'SFIDTIME');
  at(48, 'a       ', 'SFIDUSER');
  at(56, 'O0013_BUYER', 'SFIDDEST');
  at(81, ' '.repeat(25), 'SFIDORIG');
  at(106, 'X', 'SFIDFMT');
  at(107, ' 0512', 'SFIDLRECL');
  at(112, '000000000123X', 'SFIDFSIZ');
  at(138, '09007199254740992', 'SFIDREST'); // MAX_SAFE_INTEGER + 1
  at(138, '99999999999999999', 'SFIDREST');
  at(155, '04', 'SFIDSEC');
  at(157, 'AB', 'SFIDCIPH');
  at(159, 'Z', 'SFIDCOMP');
  at(160, '-', 'SFIDENV');
  at(161, 'X', 'SFIDSIGN');
  at(162, '0A2', 'SFIDDESCL');
  at(165, [0xff], 'SFIDDESC'); // not UTF-8
  at(165, [0xed, 0xa0, 0x80], 'SFIDDESC'); // an encoded surrogate is not UTF-8 either
});

test('06: short stamps at levels 1 and 2', () => {
  const sfid = sampleBytes('SFID', 1);
  invalid(patch(sfid, 36, '240230'), 1, { command: 'SFID', field: 'SFIDDATE', offset: 36 });
  invalid(patch(sfid, 36, '24 229'), 2, { command: 'SFID', field: 'SFIDDATE', offset: 36 });
  invalid(patch(sfid, 42, '246000'), 1, { command: 'SFID', field: 'SFIDTIME', offset: 42 });
  const eerp = sampleBytes('EERP', 2);
  invalid(patch(eerp, 36, '230229'), 2, { command: 'EERP', field: 'EERPDATE', offset: 36 });
});

test('06: other commands', () => {
  invalid(patch(sampleBytes('SFPA', 1), 1, 'X'), 1, { command: 'SFPA', field: 'SFPAACNT', offset: 1 });
  invalid(patch(sampleBytes('SFNA', 5), 3, 'X'), 5, { command: 'SFNA', field: 'SFNARRTR', offset: 3 });
  invalid(patch(sampleBytes('SFNA', 5), 7, [0xc3]), 5, { command: 'SFNA', field: 'SFNAREAST', offset: 7 });
  invalid(patch(sampleBytes('EFID', 5), 18, 'x'), 5, { command: 'EFID', field: 'EFIDUCNT', offset: 18 });
  invalid(patch(sampleBytes('EFPA', 1), 1, 'n'), 1, { command: 'EFPA', field: 'EFPACD', offset: 1 });
  invalid(patch(sampleBytes('EFNA', 4), 1, ' 1'), 4, { command: 'EFNA', field: 'EFNAREAS', offset: 1 });
  invalid(patch(sampleBytes('ESID', 5), 1, 'XX'), 5, { command: 'ESID', field: 'ESIDREAS', offset: 1 });
  invalid(patch(sampleBytes('ESID', 5), 3, '01x'), 5, { command: 'ESID', field: 'ESIDREASL', offset: 3 });
  invalid(patch(sampleBytes('EERP', 4), 1, 'lower'), 4, { command: 'EERP', field: 'EERPDSN', offset: 1 });
  invalid(patch(sampleBytes('EERP', 4), 40, '6'), 4, { command: 'EERP', field: 'EERPTIME', offset: 38 }); // minute 60
  invalid(patch(sampleBytes('NERP', 4), 101, 'HUB HUB'), 4, { command: 'NERP', field: 'NERPCREA', offset: 101 });
  invalid(patch(sampleBytes('NERP', 5), 126, 'AB'), 5, { command: 'NERP', field: 'NERPREAS', offset: 126 });
  invalid(concat('A', [0, 0]), 5, { command: 'AUCH', field: 'AUCHCHLL', offset: 1 }); // a challenge is required
});

test('the message names the command, field and offset for the operator', () => {
  const error = invalid(patch(sampleBytes('SFID', 5), 106, 'X'), 5, { command: 'SFID', field: 'SFIDFMT', offset: 106 });
  assert.match(error.message, /^SFID\.SFIDFMT at offset 106: expected one of 'FVUT', got 'X'$/);
});
