// Vectors for every command at level 5 (OFTP 2.0), written field by field from RFC 5024 §5.3.
import { test } from 'node:test';
import { checkVector, concat, ramp, u16 } from './command-vector-check.ts';

const CR = '\r';

test('SSRM (§5.3.1)', () => {
  const ssrm = concat(
    'I', //                  0 SSRMCMD
    'ODETTE FTP READY ', //  1 SSRMMSG X(17)
    CR, //                  18 SSRMCR
  );
  checkVector(ssrm, { cmd: 'SSRM' }, [1, 2, 4, 5]);
});

test('SSID level 5 (§5.3.2)', () => {
  const ssid = concat(
    'X', //                          0 SSIDCMD
    '5', //                          1 SSIDLEV
    'O0013000000ACME    PLANT1', //  2 SSIDCODE X(25): SIOOID, SIOICD, SIOORG (spaces allowed), SIOCSA
    'SECRET  ', //                  27 SSIDPSWD X(8)
    '04096', //                     35 SSIDSDEB 9(5)
    'B', //                         40 SSIDSR
    'Y', //                         41 SSIDCMPR
    'Y', //                         42 SSIDREST
    'N', //                         43 SSIDSPEC
    '099', //                       44 SSIDCRED 9(3)
    'Y', //                         47 SSIDAUTH
    '    ', //                      48 SSIDRSV1 X(4)
    'USER01  ', //                  52 SSIDUSER X(8)
    CR, //                          60 SSIDCR
  );
  // The level argument is ignored for SSID: SSIDLEV decides.
  checkVector(
    ssid,
    {
      cmd: 'SSID',
      level: 5,
      identificationCode: 'O0013000000ACME    PLANT1',
      password: 'SECRET',
      exchangeBufferSize: 4096,
      sendReceive: 'B',
      bufferCompression: true,
      restart: true,
      specialLogic: false,
      credit: 99,
      secureAuthentication: true,
      userData: 'USER01',
    },
    [1, 2, 4, 5],
  );
});

test('SFID level 5 with a UTF-8 description (§5.3.3)', () => {
  const sfid = concat(
    'H', //                               0 SFIDCMD
    'INVOICES.2024             ', //      1 SFIDDSN X(26)
    '   ', //                            27 SFIDRSV1 X(3)
    '20240229', //                       30 SFIDDATE 9(8) CCYYMMDD
    '1430150001', //                     38 SFIDTIME 9(10) HHMMSScccc
    '        ', //                       48 SFIDUSER X(8)
    'O0013000000BUYER         ', //      56 SFIDDEST X(25)
    'O0013000000SUPPLIER      ', //      81 SFIDORIG X(25)
    'V', //                             106 SFIDFMT
    '00512', //                         107 SFIDLRECL 9(5)
    '0000000001234', //                 112 SFIDFSIZ 9(13)
    '0000000004321', //                 125 SFIDOSIZ 9(13)
    '00000000000000042', //             138 SFIDREST 9(17)
    '03', //                            155 SFIDSEC 9(2)
    '02', //                            157 SFIDCIPH 9(2)
    '1', //                             159 SFIDCOMP 9(1)
    '1', //                             160 SFIDENV 9(1)
    'Y', //                             161 SFIDSIGN
    '012', //                           162 SFIDDESCL 9(3): octets, not characters
    'Prüfbericht', //                   165 SFIDDESC T(12)
  );
  checkVector(
    sfid,
    {
      cmd: 'SFID',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150001',
      userData: '',
      destination: 'O0013000000BUYER',
      originator: 'O0013000000SUPPLIER',
      format: 'V',
      maxRecordSize: 512,
      fileSize: 1234,
      originalFileSize: 4321,
      restartPosition: 42,
      securityLevel: 3,
      cipherSuite: 2,
      compression: 1,
      envelope: 1,
      signedReceipt: true,
      description: 'Prüfbericht',
    },
    [5],
  );
});

test('SFID level 5 at the limits: largest sizes, no description (§5.3.3)', () => {
  const sfid = concat(
    'H', //                               0 SFIDCMD
    'A                         ', //      1 SFIDDSN X(26)
    '   ', //                            27 SFIDRSV1 X(3)
    '99991231', //                       30 SFIDDATE
    '2359599999', //                     38 SFIDTIME
    'U1      ', //                       48 SFIDUSER
    'O0013000000BUYER         ', //      56 SFIDDEST
    'O0013000000SUPPLIER      ', //      81 SFIDORIG
    'U', //                             106 SFIDFMT
    '00000', //                         107 SFIDLRECL
    '9999999999999', //                 112 SFIDFSIZ
    '0000000000000', //                 125 SFIDOSIZ: 0 = unknown
    '09007199254740991', //             138 SFIDREST = Number.MAX_SAFE_INTEGER
    '00', //                            155 SFIDSEC
    '00', //                            157 SFIDCIPH
    '0', //                             159 SFIDCOMP
    '0', //                             160 SFIDENV
    'N', //                             161 SFIDSIGN
    '000', //                           162 SFIDDESCL: no SFIDDESC follows
  );
  checkVector(
    sfid,
    {
      cmd: 'SFID',
      datasetName: 'A',
      date: '99991231',
      time: '2359599999',
      userData: 'U1',
      destination: 'O0013000000BUYER',
      originator: 'O0013000000SUPPLIER',
      format: 'U',
      maxRecordSize: 0,
      fileSize: 9999999999999,
      originalFileSize: 0,
      restartPosition: Number.MAX_SAFE_INTEGER,
      securityLevel: 0,
      cipherSuite: 0,
      compression: 0,
      envelope: 0,
      signedReceipt: false,
      description: '',
    },
    [5],
  );
});

test('SFPA level 5 (§5.3.4)', () => {
  const sfpa = concat(
    '2', //                  0 SFPACMD
    '00000000000000042', //  1 SFPAACNT 9(17)
  );
  checkVector(sfpa, { cmd: 'SFPA', answerCount: 42 }, [5]);
});

test('SFNA level 5 (§5.3.5)', () => {
  const sfna = concat(
    '3', //               0 SFNACMD
    '13', //              1 SFNAREAS 9(2)
    'N', //               3 SFNARRTR
    '014', //             4 SFNAREASL 9(3)
    'Duplicate file', //  7 SFNAREAST T(14)
  );
  checkVector(sfna, { cmd: 'SFNA', reason: 13, retry: false, reasonText: 'Duplicate file' }, [5]);
});

test('DATA (§5.3.6): the payload is the rest of the buffer', () => {
  const data = concat(
    'D', //         0 DATACMD
    [0x85], //      1 DATABUF: a subrecord header (§7.3), end of record, 5 octets
    'HELLO', //     2 ... its data
  );
  checkVector(data, { cmd: 'DATA', payload: concat([0x85], 'HELLO') }, [1, 2, 4, 5]);
});

test('CDT (§5.3.7)', () => {
  const cdt = concat(
    'C', //   0 CDTCMD
    '  ', //  1 CDTRSV1 X(2)
  );
  checkVector(cdt, { cmd: 'CDT' }, [1, 2, 4, 5]);
});

test('EFID level 5 (§5.3.8)', () => {
  const efid = concat(
    'T', //                  0 EFIDCMD
    '00000000000000100', //  1 EFIDRCNT 9(17)
    '00000000000051200', // 18 EFIDUCNT 9(17)
  );
  checkVector(efid, { cmd: 'EFID', recordCount: 100, unitCount: 51200 }, [5]);
});

test('EFPA (§5.3.9)', () => {
  const efpa = concat(
    '4', //  0 EFPACMD
    'Y', //  1 EFPACD
  );
  checkVector(efpa, { cmd: 'EFPA', changeDirection: true }, [1, 2, 4, 5]);
});

test('EFNA level 5 (§5.3.10)', () => {
  const efna = concat(
    '5', //    0 EFNACMD
    '11', //   1 EFNAREAS 9(2)
    '000', //  3 EFNAREASL: no text
  );
  checkVector(efna, { cmd: 'EFNA', reason: 11, reasonText: '' }, [5]);
});

test('ESID level 5, with and without reason text (§5.3.11)', () => {
  const plain = concat(
    'F', //    0 ESIDCMD
    '00', //   1 ESIDREAS 9(2)
    '000', //  3 ESIDREASL 9(3)
    CR, //     6 ESIDCR
  );
  checkVector(plain, { cmd: 'ESID', reason: 0, reasonText: '' }, [5]);
  const withText = concat(
    'F', //                    0 ESIDCMD
    '03', //                   1 ESIDREAS
    '019', //                  3 ESIDREASL
    'User code not known', //  6 ESIDREAST T(19)
    CR, //                    25 ESIDCR
  );
  checkVector(withText, { cmd: 'ESID', reason: 3, reasonText: 'User code not known' }, [5]);
});

test('CD (§5.3.12)', () => {
  checkVector(concat('R' /* 0 CDCMD */), { cmd: 'CD' }, [1, 2, 4, 5]);
});

test('EERP level 5, signed (§5.3.13)', () => {
  const hash = ramp(20, 0xa0);
  const signature = ramp(300, 0x30);
  const eerp = concat(
    'E', //                               0 EERPCMD
    'INVOICES.2024             ', //      1 EERPDSN X(26)
    '   ', //                            27 EERPRSV1 X(3)
    '20240229', //                       30 EERPDATE
    '1430150001', //                     38 EERPTIME
    '        ', //                       48 EERPUSER X(8)
    'O0013000000SUPPLIER      ', //      56 EERPDEST X(25): the file's originator
    'O0013000000BUYER         ', //      81 EERPORIG X(25): the final recipient
    u16(20), //                         106 EERPHSHL U(2)
    hash, //                            108 EERPHSH U(20)
    u16(300), //                        128 EERPSIGL U(2)
    signature, //                       130 EERPSIG U(300)
  );
  checkVector(
    eerp,
    {
      cmd: 'EERP',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150001',
      userData: '',
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      fileHash: hash,
      signature,
    },
    [5],
  );
});

test('EERP level 5, unsigned (§5.3.13)', () => {
  const eerp = concat(
    'E', //                               0 EERPCMD
    'INVOICES.2024             ', //      1 EERPDSN
    '   ', //                            27 EERPRSV1
    '20240229', //                       30 EERPDATE
    '1430150001', //                     38 EERPTIME
    'REF42   ', //                       48 EERPUSER
    'O0013000000SUPPLIER      ', //      56 EERPDEST
    'O0013000000BUYER         ', //      81 EERPORIG
    u16(0), //                          106 EERPHSHL: no hash
    u16(0), //                          108 EERPSIGL: not signed
  );
  checkVector(
    eerp,
    {
      cmd: 'EERP',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150001',
      userData: 'REF42',
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      fileHash: new Uint8Array(0),
      signature: new Uint8Array(0),
    },
    [5],
  );
});

test('NERP level 5 (§5.3.14)', () => {
  const hash = ramp(32, 0x10);
  const signature = ramp(7, 0x60);
  const nerp = concat(
    'N', //                               0 NERPCMD
    'INVOICES.2024             ', //      1 NERPDSN X(26)
    '      ', //                         27 NERPRSV1 X(6)
    '20240229', //                       33 NERPDATE
    '1430150001', //                     41 NERPTIME
    'O0013000000SUPPLIER      ', //      51 NERPDEST X(25)
    'O0013000000BUYER         ', //      76 NERPORIG X(25)
    'O0013000000HUB           ', //     101 NERPCREA X(25)
    '23', //                            126 NERPREAS 9(2)
    '014', //                           128 NERPREASL 9(3)
    'Duplicate file', //                131 NERPREAST T(14)
    u16(32), //                         145 NERPHSHL
    hash, //                            147 NERPHSH
    u16(7), //                          179 NERPSIGL
    signature, //                       181 NERPSIG
  );
  checkVector(
    nerp,
    {
      cmd: 'NERP',
      datasetName: 'INVOICES.2024',
      date: '20240229',
      time: '1430150001',
      destination: 'O0013000000SUPPLIER',
      originator: 'O0013000000BUYER',
      creator: 'O0013000000HUB',
      reason: 23,
      reasonText: 'Duplicate file',
      fileHash: hash,
      signature,
    },
    [5],
  );
});

test('RTR (§5.3.15)', () => {
  checkVector(concat('P' /* 0 RTRCMD */), { cmd: 'RTR' }, [1, 2, 4, 5]);
});

test('SECD (§5.3.16)', () => {
  checkVector(concat('J' /* 0 SECDCMD */), { cmd: 'SECD' }, [5]);
});

test('AUCH (§5.3.17)', () => {
  const challenge = ramp(258, 0x30);
  const auch = concat(
    'A', //          0 AUCHCMD
    u16(258), //     1 AUCHCHLL U(2), network byte order: 0x01 0x02
    challenge, //    3 AUCHCHAL U(258)
  );
  checkVector(auch, { cmd: 'AUCH', challenge }, [5]);
});

test('AURP (§5.3.18)', () => {
  const response = ramp(20, 0xf0);
  const aurp = concat(
    'S', //         0 AURPCMD
    response, //    1 AURPRSP U(20)
  );
  checkVector(aurp, { cmd: 'AURP', response }, [5]);
});
