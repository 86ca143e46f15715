// The pickup rules under a virtual clock: which names a folder listing offers, when the 'stable' rule
// finds a file complete (size, mtime, ctime, inode and its sidecar's unchanged for stableMs), that the
// 'rename' rule takes final names at once and never temporary ones, and that the 'marker' rule waits
// for FILE.ready/FILE.done and for the file itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, isTemporaryName, readyToTake, type RuleOptions, signatureText, StabilityTracker } from '../../src/gateway/outbox-rules.ts';

const stable: RuleOptions = { pickup: 'stable', stableMs: 500, markerSuffixes: ['.ready', '.done'] };
const rename: RuleOptions = { ...stable, pickup: 'rename' };
const marker: RuleOptions = { ...stable, pickup: 'marker' };

const sig = (size: number, mtimeMs = 1000, ctimeMs = 1000, ino = 7) => signatureText({ size, mtimeMs, ctimeMs, ino });

test('temporary, hidden, lock and sidecar names are never candidates', () => {
  for (const name of ['.hidden', '.oftp-pickup', 'ORDERS.TMP', 'orders.tmp', '~$report.xlsx']) assert.equal(isTemporaryName(name), true, name);
  for (const name of ['orders.xml', 'tmp.xml', 'a.tmpx']) assert.equal(isTemporaryName(name), false, name);
  const listing = classify(['b.xml', '.x.xml.swp', 'a.xml', 'a.xml.oftp.json', 'orphan.oftp.json', 'w.tmp', 'c.ready'], stable);
  assert.deepEqual(listing.candidates, ['a.xml', 'b.xml', 'c.ready']);
  assert.deepEqual([...listing.sidecars], [['a.xml', 'a.xml.oftp.json'], ['orphan', 'orphan.oftp.json']]);
});

test('stable: a file is ready once unchanged for stableMs; every change restarts the wait', () => {
  const tracker = new StabilityTracker();
  const listing = classify(['data.bin'], stable);
  const at = (now: number, signature: string) => readyToTake(listing, new Map([['data.bin', signature]]), tracker, now, stable);
  assert.deepEqual(at(0, sig(100)), { ready: [], nextAt: 500 });
  assert.deepEqual(at(300, sig(200, 1300, 1300)), { ready: [], nextAt: 800 }, 'grew: wait again from 300');
  assert.deepEqual(at(799, sig(200, 1300, 1300)), { ready: [], nextAt: 800 });
  assert.deepEqual(at(800, sig(200, 1300, 1300)), { ready: ['data.bin'], nextAt: undefined });
});

test('stable: a writer that resets mtime (an SMB copy keeping the source time) is still seen writing through ctime', () => {
  const tracker = new StabilityTracker();
  const listing = classify(['copy.bin'], stable);
  const at = (now: number, signature: string) => readyToTake(listing, new Map([['copy.bin', signature]]), tracker, now, stable);
  at(0, sig(4096, 5, 1000));
  // Same size and the same (old) mtime, but written again: ctime moved.
  assert.deepEqual(at(600, sig(4096, 5, 1550)).ready, []);
  assert.deepEqual(at(1100, sig(4096, 5, 1550)).ready, ['copy.bin']);
});

test('stable: a file replaced by another of the same size and times (new inode) waits again', () => {
  const tracker = new StabilityTracker();
  const listing = classify(['f'], stable);
  readyToTake(listing, new Map([['f', sig(1, 1, 1, 1)]]), tracker, 0, stable);
  assert.deepEqual(readyToTake(listing, new Map([['f', sig(1, 1, 1, 2)]]), tracker, 600, stable).ready, []);
});

test('stable: a sidecar written after its file delays the file', () => {
  const tracker = new StabilityTracker();
  const before = classify(['d.csv'], stable);
  readyToTake(before, new Map([['d.csv', sig(10)]]), tracker, 0, stable);
  const after = classify(['d.csv', 'd.csv.oftp.json'], stable);
  const sigs = new Map([['d.csv', sig(10)], ['d.csv.oftp.json', sig(30, 2, 2, 9)]]);
  assert.deepEqual(readyToTake(after, sigs, tracker, 450, stable), { ready: [], nextAt: 950 });
  assert.deepEqual(readyToTake(after, sigs, tracker, 950, stable).ready, ['d.csv']);
});

test('stable with stableMs 0 takes a file at first sight; names gone from a scan are forgotten', () => {
  const tracker = new StabilityTracker();
  const options = { ...stable, stableMs: 0 };
  assert.deepEqual(readyToTake(classify(['x'], options), new Map([['x', sig(1)]]), tracker, 0, options).ready, ['x']);
  readyToTake(classify([], options), new Map(), tracker, 1, options);
  assert.equal(tracker.size, 0);
});

test('rename: final names are ready at once, temporary ones never', () => {
  const listing = classify(['.ORDERS.XML.swp', 'ORDERS.XML.tmp', 'INVOIC.XML'], rename);
  const r = readyToTake(listing, new Map([['INVOIC.XML', sig(1)]]), new StabilityTracker(), 0, rename);
  assert.deepEqual(r, { ready: ['INVOIC.XML'], nextAt: undefined });
});

test('marker: FILE waits for FILE.ready or FILE.done, and a marker waits for its FILE', () => {
  assert.deepEqual(classify(['a.dat'], marker).candidates, [], 'no marker yet');
  assert.deepEqual(classify(['a.dat.ready'], marker).candidates, [], 'marker before its file');
  const listing = classify(['a.dat', 'a.dat.ready', 'b.dat', 'b.dat.done', 'c.dat', 'c.dat.oftp.json'], marker);
  assert.deepEqual(listing.candidates, ['a.dat', 'b.dat']);
  assert.deepEqual([...listing.markers], [['a.dat', 'a.dat.ready'], ['b.dat', 'b.dat.done']]);
  const r = readyToTake(listing, new Map([['a.dat', sig(1)], ['b.dat', sig(2)]]), new StabilityTracker(), 0, marker);
  assert.deepEqual(r.ready, ['a.dat', 'b.dat']);
  // Under 'stable' the same names are plain files.
  assert.deepEqual(classify(['a.dat', 'a.dat.ready'], stable).candidates, ['a.dat', 'a.dat.ready']);
});
