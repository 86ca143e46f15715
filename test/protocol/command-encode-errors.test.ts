// Every encode refusal: LocalUsageError 'OFTP_ERR_ENCODE' for what a level cannot carry or an invalid value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalUsageError } from '../../src/errors.ts';
import { encodeCommand } from '../../src/protocol/command-codec.ts';
import type { OdetteCommand, ProtocolLevel } from '../../src/protocol/command-types.ts';
import { sample } from './command-samples.ts';

function refuses(command: unknown, level: number, pattern: RegExp): void {
  assert.throws(
    () => encodeCommand(command as OdetteCommand, level as ProtocolLevel),
    (e: unknown) => e instanceof LocalUsageError && e.code === 'OFTP_ERR_ENCODE' && pattern.test(e.message),
  );
}

/** The sample of `cmd` at `level` with some values changed. */
function withValues<C extends OdetteCommand['cmd']>(cmd: C, level: ProtocolLevel, values: Record<string, unknown>) {
  return { ...sample(cmd, level), ...values };
}

test('a level that does not exist, something that is not a command', () => {
  refuses(sample('CD', 5), 3, /no protocol level 3/);
  refuses(sample('CD', 5), 0, /no protocol level 0/);
  refuses(null, 5, /not a command/);
  refuses('R', 5, /not a command/);
  refuses({ cmd: 'XYZ' }, 5, /unknown command XYZ/);
  refuses({ cmd: 'toString' }, 5, /unknown command toString/);
  refuses(withValues('SSID', 5, { level: 3 }), 5, /SSID\.SSIDLEV: no protocol level 3/);
});

test('commands a level does not have: SECD, AUCH, AURP below 5, NERP below 4', () => {
  for (const level of [1, 2, 4] as const) {
    refuses(sample('SECD', 5), level, new RegExp(`SECD does not exist at protocol level ${level}`));
    refuses(sample('AUCH', 5), level, /AUCH does not exist/);
    refuses(sample('AURP', 5), level, /AURP does not exist/);
  }
  refuses(sample('NERP', 4), 1, /NERP does not exist at protocol level 1/);
  refuses(sample('NERP', 4), 2, /NERP does not exist at protocol level 2/);
});

test('level-5 values at lower levels must be neutral', () => {
  for (const level of [1, 2, 4] as const) {
    const sfid = (values: Record<string, unknown>, prop: string) =>
      refuses(withValues('SFID', level, values), level, new RegExp(`SFID\\.${prop}: protocol level ${level} cannot carry it`));
    sfid({ description: 'x' }, 'description');
    sfid({ cipherSuite: 1 }, 'cipherSuite');
    sfid({ originalFileSize: 1 }, 'originalFileSize');
    sfid({ securityLevel: 2 }, 'securityLevel');
    sfid({ compression: 1 }, 'compression');
    sfid({ envelope: 1 }, 'envelope');
    sfid({ signedReceipt: true }, 'signedReceipt');
    // The level argument is ignored for SSID: its own level decides.
    refuses(withValues('SSID', level, { secureAuthentication: true }), 5, /SSID\.secureAuthentication: protocol level/);
    refuses(withValues('SFNA', level, { reasonText: 'full' }), level, /SFNA\.reasonText/);
    refuses(withValues('EFNA', level, { reasonText: 'bad' }), level, /EFNA\.reasonText/);
    refuses(withValues('ESID', level, { reasonText: 'bye' }), level, /ESID\.reasonText/);
    refuses(withValues('EERP', level, { fileHash: new Uint8Array(20) }), level, /EERP\.fileHash/);
    refuses(withValues('EERP', level, { signature: new Uint8Array(1) }), level, /EERP\.signature/);
    refuses(withValues('SFID', level, { description: undefined }), level, /SFID\.description/);
  }
  refuses(withValues('NERP', 4, { reasonText: 'x' }), 4, /NERP\.reasonText/);
  refuses(withValues('NERP', 4, { fileHash: new Uint8Array(1) }), 4, /NERP\.fileHash/);
  refuses(withValues('NERP', 4, { signature: new Uint8Array(1) }), 4, /NERP\.signature/);
});

test('strings longer than their field or outside the String set', () => {
  const ssid = (values: Record<string, unknown>, field: string) => refuses(withValues('SSID', 5, values), 5, new RegExp(`SSID\\.${field}`));
  ssid({ identificationCode: 'O'.repeat(26) }, 'SSIDCODE');
  ssid({ identificationCode: '' }, 'SSIDCODE');
  ssid({ identificationCode: 'o0013' }, 'SSIDCODE');
  ssid({ identificationCode: 'O0013ACME ' }, 'SSIDCODE'); // trailing space is padding, not data
  ssid({ identificationCode: 'O0013000000ACME     PLANT' }, 'SSIDCODE'); // space in SIOCSA
  ssid({ identificationCode: 42 }, 'SSIDCODE');
  ssid({ password: 'TOOLONGPW' }, 'SSIDPSWD');
  ssid({ password: 'secret' }, 'SSIDPSWD');
  ssid({ userData: 'A B' }, 'SSIDUSER');
  ssid({ userData: 'ÄRGER' }, 'SSIDUSER');
  ssid({ userData: 'USERDATA9' }, 'SSIDUSER');
  refuses(withValues('SSID', 5, { password: 'secret' }), 5, /^(?!.*secret)/); // the password is not echoed
  const sfid = (values: Record<string, unknown>, field: string) => refuses(withValues('SFID', 5, values), 5, new RegExp(`SFID\\.${field}`));
  sfid({ datasetName: 'D'.repeat(27) }, 'SFIDDSN');
  sfid({ datasetName: '' }, 'SFIDDSN');
  sfid({ datasetName: 'MY FILE' }, 'SFIDDSN');
  sfid({ datasetName: 'FILE_1' }, 'SFIDDSN');
  sfid({ originator: 'O 0013' }, 'SFIDORIG');
});

test('SFIDDEST with a space inside SIOORG is accepted', () => {
  assert.ok(encodeCommand({ ...sample('SFID', 5), destination: 'O0013 BUYER' }, 5).length > 0);
});

test('numbers out of range or not integers', () => {
  const at = (cmd: OdetteCommand['cmd'], level: ProtocolLevel, values: Record<string, unknown>, field: string) =>
    refuses(withValues(cmd, level, values), level, new RegExp(`${cmd}\\.${field}: .* is not an integer in`));
  at('SSID', 5, { exchangeBufferSize: 127 }, 'SSIDSDEB');
  at('SSID', 5, { exchangeBufferSize: 100000 }, 'SSIDSDEB');
  at('SSID', 5, { credit: 0 }, 'SSIDCRED');
  at('SSID', 5, { credit: 1000 }, 'SSIDCRED');
  at('SFID', 5, { maxRecordSize: 100000 }, 'SFIDLRECL');
  at('SFID', 5, { fileSize: 10_000_000_000_000 }, 'SFIDFSIZ');
  at('SFID', 5, { restartPosition: Number.MAX_SAFE_INTEGER + 1 }, 'SFIDREST');
  at('SFID', 5, { restartPosition: -1 }, 'SFIDREST');
  at('SFID', 5, { restartPosition: 1.5 }, 'SFIDREST');
  at('SFID', 5, { restartPosition: Number.NaN }, 'SFIDREST');
  at('SFID', 5, { restartPosition: '42' }, 'SFIDREST');
  at('SFID', 5, { securityLevel: 4 }, 'SFIDSEC');
  at('SFID', 5, { cipherSuite: 100 }, 'SFIDCIPH');
  at('SFID', 5, { compression: 10 }, 'SFIDCOMP');
  at('SFID', 1, { fileSize: 10_000_000 }, 'SFIDFSIZ'); // 9(7) at 1.x
  at('SFID', 4, { restartPosition: 1_000_000_000 }, 'SFIDREST'); // 9(9) at 1.x
  at('SFPA', 2, { answerCount: 1_000_000_000 }, 'SFPAACNT');
  at('EFID', 1, { unitCount: 1_000_000_000_000 }, 'EFIDUCNT');
  at('SFNA', 5, { reason: 100 }, 'SFNAREAS');
  at('ESID', 1, { reason: -1 }, 'ESIDREAS');
  at('NERP', 4, { reason: 1e3 }, 'NERPREAS');
});

test('flags, choices, dates and times', () => {
  refuses(withValues('EFPA', 5, { changeDirection: 'Y' }), 5, /EFPA\.EFPACD: a boolean is required/);
  refuses(withValues('SSID', 5, { sendReceive: 'b' }), 5, /SSID\.SSIDSR/);
  refuses(withValues('SSID', 5, { sendReceive: 'SR' }), 5, /SSID\.SSIDSR/);
  refuses(withValues('SFID', 5, { format: 'X' }), 5, /SFID\.SFIDFMT/);
  refuses(withValues('SFID', 5, { date: '20230229' }), 5, /SFID\.SFIDDATE: "20230229" is not a calendar date/);
  refuses(withValues('SFID', 5, { date: '2024021' }), 5, /SFID\.SFIDDATE/);
  refuses(withValues('SFID', 5, { time: '2400000000' }), 5, /SFID\.SFIDTIME/);
  refuses(withValues('SFID', 5, { time: '123000' }), 5, /SFID\.SFIDTIME/);
  // Levels 1/2: YYMMDD holds 1950..2049 only, HHMMSS holds counter 0000 only.
  refuses(withValues('SFID', 1, { date: '19491231' }), 1, /SFID\.SFIDDATE: 19491231 cannot travel as YYMMDD/);
  refuses(withValues('EERP', 2, { date: '20500101' }), 2, /EERP\.EERPDATE: 20500101 cannot travel as YYMMDD/);
  refuses(withValues('SFID', 1, { time: '1430150001' }), 1, /SFID\.SFIDTIME: 1430150001 has a counter/);
  refuses(withValues('EERP', 2, { time: '1430159999' }), 2, /EERP\.EERPTIME/);
  assert.ok(encodeCommand({ ...sample('SFID', 4), time: '1430159999', date: '19000101' }, 4).length === 128);
});

test('text: too long, lone surrogates, not a string', () => {
  refuses(withValues('SFID', 5, { description: 'é'.repeat(500) }), 5, /SFID\.SFIDDESC: 1000 octets of UTF-8, at most 999/);
  assert.ok(encodeCommand({ ...sample('SFID', 5), description: 'é'.repeat(499) + 'e' }, 5).length === 165 + 999);
  refuses(withValues('SFNA', 5, { reasonText: 'bad \uD800 half' }), 5, /SFNA\.SFNAREAST: a well-formed string/);
  refuses(withValues('ESID', 5, { reasonText: 7 }), 5, /ESID\.ESIDREAST/);
});

test('binary: wrong type, too long, required, fixed size', () => {
  refuses(withValues('EERP', 5, { fileHash: [1, 2, 3] }), 5, /EERP\.EERPHSH: a Uint8Array is required/);
  refuses(withValues('EERP', 5, { signature: new Uint8Array(65536) }), 5, /EERP\.EERPSIG: 65536 octets, at most 65535/);
  refuses(withValues('AUCH', 5, { challenge: new Uint8Array(0) }), 5, /AUCH\.AUCHCHAL: it is required/);
  refuses(withValues('AURP', 5, { response: new Uint8Array(19) }), 5, /AURP\.AURPRSP: a Uint8Array of 20 octets/);
  refuses(withValues('AURP', 5, { response: new Uint8Array(21) }), 5, /AURP\.AURPRSP/);
});

test('DATA: the payload must be a non-empty Uint8Array', () => {
  refuses({ cmd: 'DATA', payload: new Uint8Array(0) }, 5, /DATA\.DATABUF/);
  refuses({ cmd: 'DATA', payload: 'text' }, 1, /DATA\.DATABUF/);
});
