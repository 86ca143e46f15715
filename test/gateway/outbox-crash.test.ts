// Crash points of the outbox pickup (src/gateway/outbox-claim.ts). The pickup is stopped for good
// after each of its steps (a promise that never settles, as a killed process never continues), the
// station is closed and opened again, and a new watcher starts: every time the file is spooled exactly
// once, with its sidecar's settings, under the identity fixed in claim.json once it was claimed; the
// outbox and the claim folder end up empty; the partner receives one byte-identical file. One more
// point: inside Station.enqueue, with the spool entry published but its history line not written. And
// one where the spooled file was already sent before the restart: the claim is only cleaned up.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stationTarget } from '../../src/gateway/outbox-claim.ts';
import type { PickupStep } from '../../src/gateway/outbox-claim.ts';
import type { VirtualFileStamp } from '../../src/files/timestamp-allocator.ts';
import { everything, eventually, ID_A, ID_B, shareNodes, visible } from './share-harness.ts';

type CrashPoint = PickupStep | 'inside-enqueue' | 'spooled-then-sent';
const POINTS: CrashPoint[] = ['claim-folder', 'claim-record', 'claimed', 'extras', 'inside-enqueue', 'spooled', 'spooled-then-sent', 'cleaned'];
const CONTENT = Buffer.from('SHIPMENT NOTICE 4711\r\n'.repeat(500));

for (const point of POINTS) {
  test(`a pickup stopped after '${point}' finishes once after a restart`, async (t) => {
    const { a, b } = await shareNodes(t, [
      { name: 'a', odetteId: ID_A, partners: { b: {} }, gateway: { rescanIntervalMs: 200, retryMs: 100, outboxes: [{ folder: 'b/out', partner: 'b', pickup: 'rename' }] } },
      { name: 'b', odetteId: ID_B, partners: { a: {} }, gateway: {} },
    ]);
    const outbox = join(a!.shareRoot, 'b', 'out');
    let stopped = false;
    const never = () => {
      stopped = true;
      return new Promise<void>(() => {});
    };
    let stamp: VirtualFileStamp | undefined;
    const real = stationTarget(a!.station);
    const step = point === 'spooled-then-sent' ? 'spooled' : point;
    if (point === 'inside-enqueue') {
      const history = a!.station.services.history;
      const record = history.record.bind(history);
      history.record = (update) => (update.state === 'queued' && !stopped ? never().then(() => record(update)) : record(update));
    }
    await a!.startGateway({
      target: { ...real, allocateStamp: async (p) => (stamp = await real.allocateStamp(p)) },
      hooks: { afterStep: (s) => (s === step && !stopped ? never() : undefined) },
    });
    await writeFile(join(outbox, 'shipment.txt.oftp.json'), JSON.stringify({ userData: 'CRASH', format: 'T' }));
    await writeFile(join(outbox, 'shipment.txt'), CONTENT);
    await eventually(`stopped after ${point}`, () => stopped);
    const allocated = stamp;
    await a!.crash();
    if (point === 'spooled-then-sent') {
      // Sent (and removed from the spool) by a session before the watcher runs again.
      await a!.open();
      assert.equal((await a!.dial(b!)).ended.normal, true);
      await a!.close();
    }

    await a!.open();
    await a!.startGateway();
    const out = await eventually('one outgoing transfer', () => {
      const list = a!.station.services.history.list({ direction: 'out' });
      return list.length === 1 && list;
    });
    assert.equal(a!.station.services.history.list({ direction: 'out' }).length, 1, 'never queued twice');
    const spooled = await a!.station.services.spool.list('b');
    if (point === 'spooled-then-sent') {
      assert.deepEqual(spooled, [], 'already sent: not queued again');
    } else {
      assert.equal(spooled.length, 1);
      assert.equal(spooled[0]!.meta.userData, 'CRASH', "the sidecar's settings survived");
      assert.equal(spooled[0]!.meta.format, 'T');
    }
    if (point !== 'claim-folder' && point !== 'claim-record') {
      // Claimed before the stop: it keeps the identity claim.json fixed. Before the claim the file was
      // still in the outbox: the empty claim was dropped and the file taken afresh.
      assert.deepEqual({ date: out[0]!.date, time: out[0]!.time }, allocated, 'the identity fixed in claim.json before the crash');
    }
    await eventually('outbox and claims empty', async () => (await visible(outbox)).length === 0 && (await everything(join(outbox, '.oftp-pickup'))).length === 0);

    if (point !== 'spooled-then-sent') assert.equal((await a!.dial(b!)).ended.normal, true);
    const inbox = join(b!.shareRoot, 'a', 'in');
    const delivered = await visible(inbox);
    assert.equal(delivered.length, 1, `one file at the partner: ${delivered.join(', ')}`);
    assert.deepEqual(await readFile(join(inbox, delivered[0]!)), CONTENT);
    assert.equal(b!.station.services.history.list({ direction: 'in' }).length, 1);
  });
}
