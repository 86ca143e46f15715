import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FileRefusedError } from '../../src/files/file-errors.ts';
import {
  assertSafeFileName,
  collisionName,
  datasetFileName,
  identityKey,
  validateDatasetName,
  validateIdentity,
} from '../../src/files/naming.ts';
import { IDENTITY } from './helpers.ts';

function refused(fn: () => unknown, reason: number, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FileRefusedError, `expected FileRefusedError, got ${String(err)}`);
    assert.equal(err.code, 'OFTP_ERR_INVALID_ARGUMENT');
    assert.equal(err.fileReason, reason);
    assert.equal(err.retry, false);
    assert.match(err.message, message);
    return true;
  });
}

test('traversal and bad dataset names are refused with SFNA 01 and a clear message', () => {
  const cases: [string, RegExp][] = [
    ['../ETC/PASSWD', /path separator|'\.\.'/],
    ['..', /starts with '\.'/],
    ['A/B', /path separator/],
    ['/ETC', /path separator/],
    ['.HIDDEN', /starts with '\.'/],
    ['A..B', /contains '\.\.'/],
    ['NUL', /device name/],
    ['CON.TXT', /device name/],
    ['COM1', /device name/],
    ['LPT9.DAT', /device name/],
    ['TRAILING.', /ends with a dot/],
  ];
  for (const [name, message] of cases) refused(() => datasetFileName(name), 1, message);
  const rfc: [string, RegExp][] = [
    ['', /empty/],
    ['lower', /outside the RFC 5024 String set/],
    ['A\0B', /outside the RFC 5024 String set/],
    ['C:\\WIN', /outside the RFC 5024 String set/],
    ['A B', /embedded space/],
    [' AB', /leading or embedded space/],
    ['X'.repeat(27), /longer than 26/],
    ['ÄPFEL', /outside the RFC 5024 String set/],
  ];
  for (const [name, message] of rfc) refused(() => validateDatasetName(name), 1, message);
});

test('good dataset names are their own file names', () => {
  for (const name of ['ORDERS.EDI', 'A', 'INV-2024&(1)', 'X'.repeat(26), 'DELFOR.D96A']) {
    assert.equal(datasetFileName(name), name);
  }
});

test('assertSafeFileName refuses anything but one harmless path component', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['a/b', /path separator/],
    ['a\\b', /path separator/],
    ['/abs', /path separator/],
    ['.', /starts with '\.'/],
    ['..', /starts with '\.'/],
    ['x\0y', /NUL/],
    ['tab\there', /control character/],
    ['c:stream', /':'/],
    ['aux', /device name/],
    ['con.log', /device name/],
    ['name ', /ends with a dot or a space/],
    ['x'.repeat(201), /longer than 200 octets/],
  ];
  for (const [name, message] of bad) refused(() => assertSafeFileName(name), 1, message);
  for (const name of ['ORDERS.EDI', 'acme-de', 'ORDERS.EDI~2', 'CONSOLE', 'NULL.DAT']) assertSafeFileName(name);
});

test('identity validation names the field and the SFNA reason', () => {
  validateIdentity(IDENTITY);
  validateIdentity({ ...IDENTITY, time: '2359590000' }); // 1.x peers send counter 0000
  refused(() => validateIdentity({ ...IDENTITY, date: '20230229' }), 1, /not a calendar date/);
  refused(() => validateIdentity({ ...IDENTITY, time: '2460000001' }), 1, /not HHMMSScccc/);
  refused(() => validateIdentity({ ...IDENTITY, originator: 'o001' }), 3, /originator/);
  refused(() => validateIdentity({ ...IDENTITY, destination: '' }), 2, /destination is empty/);
  validateIdentity({ ...IDENTITY, originator: 'O0013ACME CORP' }); // SIOORG may hold spaces
});

test('identityKey is always a safe, distinct file name', () => {
  const key = identityKey(IDENTITY);
  assert.match(key, /^202402291230450001-ORDERS_2eEDI-[0-9a-f]{16}$/);
  assert.notEqual(identityKey({ ...IDENTITY, destination: 'OTHER' }), key);
  fc.assert(
    fc.property(
      fc.record({
        datasetName: fc.string({ maxLength: 60, unit: 'binary' }),
        date: fc.string({ maxLength: 12 }),
        time: fc.string({ maxLength: 12 }),
        originator: fc.string({ maxLength: 30 }),
        destination: fc.string({ maxLength: 30 }),
      }),
      (identity) => {
        assertSafeFileName(identityKey(identity));
        assertSafeFileName(`${identityKey(identity)}.ckpt.json`);
      },
    ),
  );
});

test('the collision suffix rule uses ~n, outside the RFC String set', () => {
  assert.equal(collisionName('ORDERS.EDI', 0), 'ORDERS.EDI');
  assert.equal(collisionName('ORDERS.EDI', 1), 'ORDERS.EDI~1');
  assert.equal(collisionName('ORDERS.EDI', 12), 'ORDERS.EDI~12');
  assert.throws(() => validateDatasetName(collisionName('ORDERS.EDI', 1)));
});
