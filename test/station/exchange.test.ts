// Two real stations over TCP exchange files both ways in one session, for every local format (U, T with
// CR-LF text, F 80-octet records, V with empty and long records), with buffer compression on and off
// and with the smallest (128), a small (256) and the largest (99999) exchange buffers. Every delivered
// file must be byte-identical, and both histories must show the receipts: out 'delivered', in
// 'acknowledged'. At 128 the level 5 SFID (165+ octets) is longer than SSIDSDEB, which bounds data
// exchange buffers only (RFC 5024 §5.3.2): regression for the engine refusing such commands.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Station } from '../../src/station/station.ts';
import { commandsIn, fixed, type LocalFile, sha256, sha256Of, StationPair, text, unstructured, variable, visibleFiles, writeLocal } from './harness.ts';

const FILES: Record<string, LocalFile> = {
  'unstructured.bin': unstructured(20_000, 7),
  'lines.txt': text(12_000),
  'fixed80.dat': fixed(150, 80),
  'variable.dat': variable(140, 300),
};

async function enqueueAll(station: Station, partner: string, dir: string, prefix: string): Promise<Map<string, LocalFile>> {
  const byDataset = new Map<string, LocalFile>();
  for (const [name, file] of Object.entries(FILES)) {
    const path = await writeLocal(dir, `${prefix}-${name}`, file);
    const entry = await station.enqueue(partner, { path, format: file.format, recordLength: file.recordLength });
    byDataset.set(entry.meta.datasetName, file);
  }
  return byDataset;
}

async function assertDelivered(inbox: string, expected: Map<string, LocalFile>): Promise<void> {
  assert.deepEqual(await visibleFiles(inbox), [...expected.keys()].sort());
  for (const [dataset, file] of expected) {
    assert.equal(await sha256Of(join(inbox, dataset)), sha256(file.bytes), `${dataset} (${file.format}) is byte-identical`);
  }
}

function assertHistory(station: Station, side: string, sent: number, received: number): void {
  const out = station.services.history.list({ direction: 'out' });
  const inn = station.services.history.list({ direction: 'in' });
  assert.equal(out.length, sent, `${side}: outgoing transfers`);
  assert.equal(inn.length, received, `${side}: incoming transfers`);
  for (const r of out) assert.equal(r.state, 'delivered', `${side} out ${r.datasetName}: EERP recorded`);
  for (const r of inn) assert.equal(r.state, 'acknowledged', `${side} in ${r.datasetName}: our EERP was acknowledged`);
}

for (const bufferCompression of [false, true]) {
  for (const exchangeBufferSize of [128, 256, 99999]) {
    test(`both directions, all four formats, compression ${bufferCompression ? 'on' : 'off'}, exchange buffer ${exchangeBufferSize}`, async (t) => {
      const settings = { bufferCompression, exchangeBufferSize, credit: 7 };
      const pair = await StationPair.create(t, { a: settings, b: settings });
      const toA = await enqueueAll(pair.b, 'a', pair.root, 'from-b');
      const toB = await enqueueAll(pair.a, 'b', pair.root, 'from-a');
      const { a, b } = await pair.sendFromB();

      assert.equal(b.ended.normal, true, `B's session ended normally: ${b.ended.reasonText}`);
      assert.equal(a.ended.normal, true, `A's session ended normally: ${a.ended.reasonText}`);
      assert.equal(a.partner, 'b');
      assert.deepEqual(b.summary, { sent: 4, received: 4, failed: 0, receiptsSent: 4, receiptsReceived: 4 });
      assert.deepEqual(a.summary, { sent: 4, received: 4, failed: 0, receiptsSent: 4, receiptsReceived: 4 });
      // What A answered in its SSID, as it went over the wire.
      const answer = commandsIn(pair.proxy.connections[0]!.toB).find((c) => c.cmd === 'SSID');
      assert.ok(answer?.cmd === 'SSID');
      assert.equal(answer.bufferCompression, bufferCompression);
      assert.equal(answer.exchangeBufferSize, exchangeBufferSize);

      await assertDelivered(pair.inboxA(), toA);
      await assertDelivered(pair.inboxB(), toB);
      assertHistory(pair.a, 'A', 4, 4);
      assertHistory(pair.b, 'B', 4, 4);
      // Nothing left behind: spools empty, no receipts owed, no partials.
      assert.deepEqual(await pair.a.services.spool.list('b'), []);
      assert.deepEqual(await pair.b.services.spool.list('a'), []);
      assert.deepEqual(await pair.a.services.receipts.list('b'), []);
      assert.deepEqual(await pair.b.services.receipts.list('a'), []);
      assert.deepEqual(await visibleFiles(join(pair.inboxA(), '.oftp-partial')), []);
    });
  }
}

// RFC 2204 partners (levels 1/2) carry SFIDTIME as HHMMSS, without the counter. Regression: two files
// of one dataset name spooled in the same second shared an identity on the wire, and the receiver
// discarded the second as a duplicate while the sender counted it sent; the history also kept a
// 'queued' record under the spooled identity beside the 'delivered' one under the wire identity.
for (const level of [4, 2, 1]) {
  test(`both directions at level ${level}, and two files of one name in one second`, async (t) => {
    const pair = await StationPair.create(t, { aPartner: { level }, bPartner: { level } });
    const toA = await enqueueAll(pair.b, 'a', pair.root, 'from-b');
    const toB = await enqueueAll(pair.a, 'b', pair.root, 'from-a');
    const first = unstructured(3000, 11);
    const second = unstructured(3000, 12);
    await pair.b.enqueue('a', { path: await writeLocal(pair.root, 'first', first), datasetName: 'ORDERS' });
    await pair.b.enqueue('a', { path: await writeLocal(pair.root, 'second', second), datasetName: 'ORDERS' });
    const { a, b } = await pair.sendFromB();
    assert.equal(b.ended.normal, true, b.ended.reasonText);
    assert.deepEqual(b.summary, { sent: 6, received: 4, failed: 0, receiptsSent: 4, receiptsReceived: 6 });
    assert.deepEqual(a.summary, { sent: 4, received: 6, failed: 0, receiptsSent: 6, receiptsReceived: 4 });
    await assertDelivered(pair.inboxB(), toB);
    const inboxA = await visibleFiles(pair.inboxA());
    assert.deepEqual(inboxA, [...toA.keys(), 'ORDERS', 'ORDERS~1'].sort());
    const orders = [await sha256Of(join(pair.inboxA(), 'ORDERS')), await sha256Of(join(pair.inboxA(), 'ORDERS~1'))];
    assert.deepEqual(orders, [sha256(first.bytes), sha256(second.bytes)], 'both files, in order');
    assertHistory(pair.a, 'A', 4, 6);
    assertHistory(pair.b, 'B', 6, 4);
  });
}
