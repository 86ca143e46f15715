// Names and sidecars: a dropped file's name → SFIDDSN and SFIDDESC; a received file's identity → its
// inbox name; sidecar validation (every malformed kind refused with a reason) and how a sidecar
// overrides the folder's defaults; the gateway section's checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileSettings, parseSidecar, SidecarError } from '../../src/gateway/sidecar.ts';
import { datasetNameForDrop, descriptionForDrop, inboxFileName } from '../../src/gateway/share-naming.ts';
import { validateStationConfig } from '../../src/store/station-config.ts';

test('dropped file names map to valid dataset names; the original name travels in the description', () => {
  const cases: [string, string][] = [
    ['orders.xml', 'ORDERS.XML'],
    ['Lieferschein März 2026.pdf', 'LIEFERSCHEIN-M-RZ-2026.PDF'],
    ['.hidden-start', 'HIDDEN-START'],
    ['a_b c+d.txt', 'A-B-C-D.TXT'],
    ['x'.repeat(40), 'X'.repeat(26)],
    ['ÄÖÜ', '---'],
    ['...', 'FILE'],
  ];
  for (const [name, dsn] of cases) assert.equal(datasetNameForDrop(name), dsn, name);
  assert.equal(descriptionForDrop('Lieferschein März 2026.pdf'), 'Lieferschein März 2026.pdf');
  const long = `${'ä'.repeat(600)}.txt`;
  const cut = descriptionForDrop(long);
  assert.ok(Buffer.byteLength(cut) <= 999 && long.startsWith(cut) && !cut.includes('\ufffd'), 'cut at a character boundary');
});

test('inbox names: <DSN>_<date>_<HHMMSS>_<counter>, made safe as one visible path component', () => {
  assert.equal(inboxFileName({ datasetName: 'ORDERS', date: '20261122', time: '1015000001' }), 'ORDERS_20261122_101500_0001');
  assert.equal(inboxFileName({ datasetName: 'A/B C', date: '20261122', time: '1015000000' }), 'A_B_C_20261122_101500_0000');
  assert.equal(inboxFileName({ datasetName: '.X..Y', date: '20261122', time: '0000000002' }), '_X_Y_20261122_000000_0002');
  assert.equal(inboxFileName({ datasetName: 'CON', date: '20261122', time: '0000000002' }), 'CON_20261122_000000_0002');
});

test('a valid sidecar overrides the folder defaults; a format change brings its own record length', () => {
  const folder = { format: 'F' as const, recordLength: 80, signedReceipt: false, userData: 'PLANT1', destination: 'O0013000000STATIONB' };
  assert.deepEqual(fileSettings(folder, undefined), { datasetName: undefined, format: 'F', recordLength: 80, destination: 'O0013000000STATIONB', userData: 'PLANT1', description: undefined, signedReceipt: false });
  const sidecar = parseSidecar(Buffer.from(JSON.stringify({ datasetName: 'DELFOR', format: 'V', userData: 'X1', destination: 'O0013000000STATIONC', description: 'Lieferabruf', signedReceipt: true })));
  assert.deepEqual(fileSettings(folder, sidecar), {
    datasetName: 'DELFOR',
    format: 'V',
    recordLength: undefined,
    destination: 'O0013000000STATIONC',
    userData: 'X1',
    description: 'Lieferabruf',
    signedReceipt: true,
  });
  assert.equal(fileSettings(folder, parseSidecar(Buffer.from('{"recordLength": 120}'))).recordLength, 120);
});

test('malformed sidecars are refused with a reason naming the problem', () => {
  const refused: [string, RegExp][] = [
    ['{not json', /not JSON/],
    ['[]', /must be object/],
    ['{"datasetName": "orders lower"}', /datasetName/],
    ['{"datasetName": "THIS-NAME-IS-FAR-TOO-LONG-FOR-SFIDDSN"}', /datasetName/],
    ['{"format": "X"}', /format/],
    ['{"format": "F"}', /needs a recordLength/],
    ['{"format": "U", "recordLength": 80}', /only for F and V/],
    ['{"destination": "not an id!"}', /destination/],
    ['{"userData": "TOO-LONG-9"}', /userData/],
    ['{"originator": "O0013000000STATIONX"}', /originator/],
    ['{"recordLength": 0}', /recordLength/],
    [JSON.stringify({ description: 'é'.repeat(500) }), /999/],
  ];
  for (const [text, reason] of refused) {
    assert.throws(() => parseSidecar(Buffer.from(text)), (err: Error) => err instanceof SidecarError && reason.test(err.message), text);
  }
  assert.throws(() => parseSidecar(Buffer.alloc(70_000, 0x20)), /larger than/);
});

test('the gateway section: defaults filled in, folder and route mistakes refused at load', () => {
  const base = { version: 1, station: { odetteId: 'O0013000000STATIONA' }, partners: [] };
  const config = validateStationConfig({ ...base, gateway: { outboxes: [{ folder: 'plant/out', partner: 'b' }] } }, 't');
  assert.deepEqual(config.gateway, {
    shareRoot: 'share',
    rescanIntervalMs: 2000,
    outboxPerPartner: true,
    retryMs: 5000,
    outboxes: [{ folder: 'plant/out', partner: 'b', format: 'U', signedReceipt: false, pickup: 'stable', stableMs: 500, markerSuffixes: ['.ready', '.done'] }],
    inboxes: [],
    routes: [],
  });
  const refused: [unknown, RegExp][] = [
    [{ outboxes: [{ folder: '../escape', partner: 'b' }] }, /folder must match pattern/],
    [{ outboxes: [{ folder: '/abs', partner: 'b' }] }, /folder must match pattern/],
    [{ outboxes: [{ folder: 'a/.hidden', partner: 'b' }] }, /folder must match pattern/],
    [{ outboxes: [{ folder: 'x' }] }, /needs a partner or a destination/],
    [{ outboxes: [{ folder: 'x', partner: 'b', format: 'F' }] }, /needs a recordLength/],
    [{ outboxes: [{ folder: 'x', partner: 'b' }, { folder: 'x', partner: 'c' }] }, /is also/],
    [{ outboxes: [{ folder: 'x', partner: 'b' }], inboxes: [{ partner: 'b', folder: 'x/in' }] }, /nested/],
    [{ inboxes: [{ partner: 'b' }, { partner: 'b' }] }, /two inboxes/],
    [{ routes: [{ destination: 'O0013000000STATIONA', partner: 'b' }] }, /is this station/],
    [{ outboxes: [{ folder: 'x', partner: 'b', pickup: 'sometimes' }] }, /pickup/],
    [{ unknownKey: 1 }, /additional properties/],
  ];
  for (const [gateway, reason] of refused) {
    assert.throws(() => validateStationConfig({ ...base, gateway }, 't'), reason, JSON.stringify(gateway));
  }
});
