import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { PendingReceiptStore } from '../../src/files/receipts-store.ts';
import type { Eerp, Nerp } from '../../src/protocol/command-types.ts';
import { IDENTITY, tempDir } from './helpers.ts';

const eerp = (datasetName: string): Eerp => ({
  cmd: 'EERP',
  datasetName,
  date: IDENTITY.date,
  time: IDENTITY.time,
  userData: '',
  destination: IDENTITY.originator,
  originator: IDENTITY.destination,
  fileHash: new Uint8Array(32).fill(0xab),
  signature: new Uint8Array([1, 2, 3]),
});

const nerp: Nerp = {
  cmd: 'NERP',
  datasetName: 'BROKEN',
  date: IDENTITY.date,
  time: IDENTITY.time,
  destination: IDENTITY.originator,
  originator: IDENTITY.destination,
  creator: IDENTITY.destination,
  reason: 33,
  reasonText: 'Entschlüsselung fehlgeschlagen',
  fileHash: new Uint8Array(0),
  signature: new Uint8Array(0),
};

test('pending receipts survive a restart and go only after RTR', async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const store = await PendingReceiptStore.open(dir, { now: () => Date.parse('2024-01-01T00:00:00Z') });
  const first = await store.add('acme', eerp('FIRST'));
  await store.add('acme', nerp);
  await store.add('other', eerp('ELSEWHERE'));
  assert.deepEqual(await store.add('acme', eerp('FIRST')), first, 'adding the same receipt twice keeps one');

  const restarted = await PendingReceiptStore.open(dir);
  assert.deepEqual(await restarted.partners(), ['acme', 'other']);
  const pending = await restarted.list('acme');
  assert.deepEqual(
    pending.map((p) => p.receipt),
    [eerp('FIRST'), nerp],
  );
  assert.equal(pending[0]!.createdAt, '2024-01-01T00:00:00.000Z');
  assert.ok(pending[0]!.receipt.fileHash instanceof Uint8Array);

  await restarted.remove('acme', pending[0]!.id); // the peer's RTR
  await restarted.add('acme', eerp('LATER'));
  const again = await PendingReceiptStore.open(dir);
  assert.deepEqual(
    (await again.list('acme')).map((p) => p.receipt.datasetName),
    ['BROKEN', 'LATER'],
  );
  await again.remove('acme', pending[1]!.id);
  await again.remove('acme', pending[1]!.id); // already gone: fine
  assert.ok((await readdir(join(dir, 'acme'))).every((n) => !n.endsWith('.tmp')));
  await assert.rejects(again.remove('acme', '../other/x'), /not a receipt id/);
  await assert.rejects(again.add('../x', nerp), /path separator/);
  assert.deepEqual(await again.list('nobody'), []);
});
