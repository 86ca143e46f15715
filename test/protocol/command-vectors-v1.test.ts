// Vectors for levels 1 and 2 (OFTP 1.2/1.3, RFC 2204 §5.3) and level 4 (OFTP 1.4), field by field.
// Commands whose layout is the same at every level (SSRM, DATA, CDT, EFPA, CD, RTR) are in the level-5 file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCommand } from '../../src/protocol/command-codec.ts';
import type { Sfid } from '../../src/protocol/command-types.ts';
import { checkVector, concat } from './command-vector-check.ts';

const CR = '\r';

test('SSID levels 1, 2 and 4: RSV1 X(5) where level 5 has SSIDAUTH (RFC 2204 §5.3.2)', () => {
  for (const level of [1, 2, 4] as const) {
    const ssid = concat(
      'X', //                          0 SSIDCMD
      String(level), //                1 SSIDLEV
      'O0013000000ACME    PLANT1', //  2 SSIDCODE X(25)
      'SECRET  ', //                  27 SSIDPSWD X(8)
      '00128', //                     35 SSIDSDEB 9(5), the minimum
      'S', //                         40 SSIDSR
      'N', //                         41 SSIDCMPR
      'Y', //                         42 SSIDREST
      'Y', //                         43 SSIDSPEC
      '001', //                       44 SSIDCRED 9(3)
      '     ', //                     47 SSIDRSV1 X(5)
      '        ', //                  52 SSIDUSER X(8)
      CR, //                          60 SSIDCR
    );
    checkVector(
      ssid,
      {
        cmd: 'SSID',
        level,
        identificationCode: 'O0013000000ACME    PLANT1',
        password: 'SECRET',
        exchangeBufferSize: 128,
        sendReceive: 'S',
        bufferCompression: false,
        restart: true,
        specialLogic: true,
        credit: 1,
        secureAuthentication: false, // neutral: the level has no SSIDAUTH
        userData: '',
      },
      [1, 2, 4, 5], // the level argument is ignored for SSID
    );
  }
});

/** The level-5-only SFID fields, neutral. */
const sfidNeutral = {
  originalFileSize: 0,
  securityLevel: 0,
  cipherSuite: 0,
  compression: 0,
  envelope: 0,
  signedReceipt: false,
  description: '',
} satisfies Partial<Sfid>;

test('SFID levels 1 and 2: YYMMDD and HHMMSS, 1.3 widths (RFC 2204 §5.3.3)', () => {
  const sfid = concat(
    'H', //                               0 SFIDCMD
    'INVOICES.2024             ', //      1 SFIDDSN X(26)
    '         ', //                      27 SFIDRSV1 X(9)
    '240229', //                         36 SFIDDATE X(6) YYMMDD: 24 is 2024
    '143015', //                         42 SFIDTIME X(6) HHMMSS: counter 0000
    'REF42   ', //                       48 SFIDUSER X(8)
    'O0013000000BUYER         ', //      56 SFIDDEST X(25)
    'O0013000000SUPPLIER      ', //      81 SFIDORIG X(25)
    'F', //                             106 SFIDFMT
    '00080', //                         107 SFIDLRECL 9(5)
    '9999999', //                       112 SFIDFSIZ 9(7), the maximum
    '999999999', //                     119 SFIDREST 9(9), the maximum
  );
  checkVector(
    sfid,
    {
      cmd: 'SFID',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150000',
      userData: 'REF42',
      destination: 'O0013000000BUYER',
      originator: 'O0013000000SUPPLIER',
      format: 'F',
      maxRecordSize: 80,
      fileSize: 9999999,
      restartPosition: 999999999,
      ...sfidNeutral,
    },
    [1, 2],
  );
});

test('SFID level 4: CCYYMMDD and HHMMSScccc at 30/38 in the 1.3 length of 128', () => {
  const sfid = concat(
    'H', //                               0 SFIDCMD
    'INVOICES.2024             ', //      1 SFIDDSN X(26)
    '   ', //                            27 SFIDRSV1 X(3)
    '20240229', //                       30 SFIDDATE 9(8)
    '1430150007', //                     38 SFIDTIME 9(10)
    'REF42   ', //                       48 SFIDUSER X(8)
    'O0013000000BUYER         ', //      56 SFIDDEST X(25)
    'O0013000000SUPPLIER      ', //      81 SFIDORIG X(25)
    'T', //                             106 SFIDFMT
    '00000', //                         107 SFIDLRECL 9(5)
    '0000012', //                       112 SFIDFSIZ 9(7)
    '000000003', //                     119 SFIDREST 9(9)
  );
  checkVector(
    sfid,
    {
      cmd: 'SFID',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150007',
      userData: 'REF42',
      destination: 'O0013000000BUYER',
      originator: 'O0013000000SUPPLIER',
      format: 'T',
      maxRecordSize: 0,
      fileSize: 12,
      restartPosition: 3,
      ...sfidNeutral,
    },
    [4],
  );
});

test('SFPA levels 1, 2, 4 (RFC 2204 §5.3.4)', () => {
  const sfpa = concat(
    '2', //          0 SFPACMD
    '000000042', //  1 SFPAACNT 9(9)
  );
  checkVector(sfpa, { cmd: 'SFPA', answerCount: 42 }, [1, 2, 4]);
});

test('SFNA levels 1, 2, 4 (RFC 2204 §5.3.5)', () => {
  const sfna = concat(
    '3', //   0 SFNACMD
    '14', //  1 SFNAREAS 9(2) (14 is new in 1.4; reason codes are not checked by the codec)
    'Y', //   3 SFNARRTR
  );
  checkVector(sfna, { cmd: 'SFNA', reason: 14, retry: true, reasonText: '' }, [1, 2, 4]);
});

test('EFID levels 1, 2, 4 (RFC 2204 §5.3.8)', () => {
  const efid = concat(
    'T', //             0 EFIDCMD
    '000000100', //     1 EFIDRCNT 9(9)
    '999999999999', // 10 EFIDUCNT 9(12), the maximum
  );
  checkVector(efid, { cmd: 'EFID', recordCount: 100, unitCount: 999999999999 }, [1, 2, 4]);
});

test('EFNA levels 1, 2, 4 (RFC 2204 §5.3.10)', () => {
  const efna = concat(
    '5', //   0 EFNACMD
    '10', //  1 EFNAREAS 9(2)
  );
  checkVector(efna, { cmd: 'EFNA', reason: 10, reasonText: '' }, [1, 2, 4]);
});

test('ESID levels 1, 2, 4 (RFC 2204 §5.3.11)', () => {
  const esid = concat(
    'F', //   0 ESIDCMD
    '99', //  1 ESIDREAS 9(2)
    CR, //    3 ESIDCR
  );
  checkVector(esid, { cmd: 'ESID', reason: 99, reasonText: '' }, [1, 2, 4]);
});

test('EERP levels 1 and 2 (RFC 2204 §5.3.13)', () => {
  const eerp = concat(
    'E', //                               0 EERPCMD
    'INVOICES.2024             ', //      1 EERPDSN X(26)
    '         ', //                      27 EERPRSV1 X(9)
    '991231', //                         36 EERPDATE X(6): 99 is 1999
    '235959', //                         42 EERPTIME X(6)
    '        ', //                       48 EERPUSER X(8)
    'O0013000000SUPPLIER      ', //      56 EERPDEST X(25)
    'O0013000000BUYER         ', //      81 EERPORIG X(25)
  );
  checkVector(
    eerp,
    {
      cmd: 'EERP',
      datasetName: 'INVOICES.2024',
      date: '19991231',
      time: '2359590000',
      userData: '',
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      fileHash: new Uint8Array(0),
      signature: new Uint8Array(0),
    },
    [1, 2],
  );
});

test('EERP level 4: CCYYMMDD and HHMMSScccc in the 1.3 length of 106', () => {
  const eerp = concat(
    'E', //                               0 EERPCMD
    'INVOICES.2024             ', //      1 EERPDSN X(26)
    '   ', //                            27 EERPRSV1 X(3)
    '20240229', //                       30 EERPDATE 9(8)
    '1430150007', //                     38 EERPTIME 9(10)
    '        ', //                       48 EERPUSER X(8)
    'O0013000000SUPPLIER      ', //      56 EERPDEST X(25)
    'O0013000000BUYER         ', //      81 EERPORIG X(25)
  );
  checkVector(
    eerp,
    {
      cmd: 'EERP',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150007',
      userData: '',
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      fileHash: new Uint8Array(0),
      signature: new Uint8Array(0),
    },
    [4],
  );
});

test('NERP level 4: the level-5 fields up to NERPREAS, 128 octets', () => {
  const nerp = concat(
    'N', //                               0 NERPCMD
    'INVOICES.2024             ', //      1 NERPDSN X(26)
    '      ', //                         27 NERPRSV1 X(6)
    '20240229', //                       33 NERPDATE 9(8)
    '1430150007', //                     41 NERPTIME 9(10)
    'O0013000000SUPPLIER      ', //      51 NERPDEST X(25)
    'O0013000000BUYER         ', //      76 NERPORIG X(25)
    'O0013000000HUB           ', //     101 NERPCREA X(25)
    '12', //                            126 NERPREAS 9(2)
  );
  checkVector(
    nerp,
    {
      cmd: 'NERP',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150007',
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      creator: 'O0013000000HUB',
      reason: 12,
      reasonText: '',
      fileHash: new Uint8Array(0),
      signature: new Uint8Array(0),
    },
    [4],
  );
});

test('YYMMDD century rule: 50..99 is 19YY, 00..49 is 20YY', () => {
  const eerpOn = (yymmdd: string) =>
    concat('E', 'F                         ', '         ', yymmdd, '000000', '        ', 'O1', ' '.repeat(23), 'O2', ' '.repeat(23));
  const dateOf = (yymmdd: string) => (decodeCommand(eerpOn(yymmdd), 1) as { date: string }).date;
  assert.equal(dateOf('500101'), '19500101');
  assert.equal(dateOf('991231'), '19991231');
  assert.equal(dateOf('000229'), '20000229'); // 2000 is a leap year
  assert.equal(dateOf('491231'), '20491231');
});

test('ESID: either form is taken at any level, told apart by length (it can precede the level)', () => {
  // A 1.x responder refusing our level-5 SSID answers in the 1.x form.
  assert.deepEqual(decodeCommand(concat('F', '03', CR), 5), { cmd: 'ESID', reason: 3, reasonText: '' });
  // A 2.0 responder answering a 1.x initiator in the 2.0 form keeps its text.
  assert.deepEqual(decodeCommand(concat('F', '04', '016', 'Invalid password', CR), 1), {
    cmd: 'ESID',
    reason: 4,
    reasonText: 'Invalid password',
  });
});

test('a carriage return 0x8D is accepted in SSRM, SSID and ESID', () => {
  assert.deepEqual(decodeCommand(concat('I', 'ODETTE FTP READY ', [0x8d]), 5), { cmd: 'SSRM' });
  assert.deepEqual(decodeCommand(concat('F', '00', '000', [0x8d]), 5), { cmd: 'ESID', reason: 0, reasonText: '' });
  assert.deepEqual(decodeCommand(concat('F', '00', [0x8d]), 1), { cmd: 'ESID', reason: 0, reasonText: '' });
  const ssid = concat('X', '1', 'O1', ' '.repeat(23), ' '.repeat(8), '00128', 'B', 'N', 'N', 'N', '001', ' '.repeat(5), ' '.repeat(8), [0x8d]);
  assert.equal(decodeCommand(ssid, 1).cmd, 'SSID');
});

test('an SSID of a future level (6..9) is read with the level-5 layout as level 5 (§5.3.2 negotiation)', () => {
  const ssid = concat('X', '6', 'O1', ' '.repeat(23), ' '.repeat(8), '99999', 'R', 'N', 'N', 'N', '999', 'N', '    ', ' '.repeat(8), CR);
  assert.deepEqual(decodeCommand(ssid, 5), {
    cmd: 'SSID',
    level: 5,
    identificationCode: 'O1',
    password: '',
    exchangeBufferSize: 99999,
    sendReceive: 'R',
    bufferCompression: false,
    restart: false,
    specialLogic: false,
    credit: 999,
    secureAuthentication: false,
    userData: '',
  });
});

test('DATA is not copied on decode', () => {
  const buffer = concat('D', 'payload');
  const data = decodeCommand(buffer, 5);
  assert.equal(data.cmd, 'DATA');
  if (data.cmd !== 'DATA') return;
  assert.equal(data.payload.buffer, buffer.buffer);
  assert.equal(data.payload.byteOffset, 1);
  assert.equal(data.payload.length, 7);
});
