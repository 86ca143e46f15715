// SpoolReader with `recycle`: the same items as without, read into two buffers taken in turn, so an
// item stays intact while the consumer holds it and takes one more (the station's read-ahead).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { type EnqueueMeta, Spool } from '../../src/files/spool.ts';
import { openSpoolReader } from '../../src/files/spool-reader.ts';
import type { VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { fixedContent, IDENTITY, tempDir, textContent, variableRecords, writeSource } from './helpers.ts';

const samples: { format: VirtualFileFormat; data: Buffer; maxRecordSize?: number }[] = [
  { format: 'U', data: randomBytes(50_000) },
  { format: 'T', data: textContent(2000) },
  { format: 'F', data: fixedContent(700, 80), maxRecordSize: 80 },
  { format: 'V', data: variableRecords(600, 300).local, maxRecordSize: 300 },
];

for (const sample of samples) {
  test(`recycle, ${sample.format}: same items as fresh memory; an item survives the next one`, async (t) => {
    const dir = await tempDir(t);
    const spool = await Spool.open(join(dir, 'spool'));
    const meta: EnqueueMeta = { partner: 'acme', ...IDENTITY, format: sample.format, maxRecordSize: sample.maxRecordSize };
    const entry = await spool.enqueue(await writeSource(dir, 'source', sample.data), meta);
    const fresh: Buffer[] = [];
    for await (const item of await openSpoolReader(entry, 0, { chunkSize: 4000 })) fresh.push(Buffer.from(item));

    const reader = await openSpoolReader(entry, 0, { chunkSize: 4000, recycle: true });
    const items = reader[Symbol.asyncIterator]();
    const got: Buffer[] = [];
    let held = await items.next();
    const memories = new Set<ArrayBufferLike>();
    while (!held.done) {
      const copy = Buffer.from(held.value);
      const next = await items.next(); // one read ahead, as OutgoingTransfer does
      assert.deepEqual(Buffer.from(held.value), copy, 'the held item is intact after the next one is taken');
      memories.add(held.value.buffer);
      got.push(copy);
      held = next;
    }
    assert.deepEqual(got, fresh);
    if (sample.format !== 'V') assert.equal(memories.size, 2, 'two read buffers serve the whole file');
    assert.deepEqual(Buffer.concat(got).length, entry.meta.unitCount);
  });
}
