import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type EnqueueMeta, Spool } from '../../src/files/spool.ts';
import { openSpoolReader, SpoolReader } from '../../src/files/spool-reader.ts';
import { fixedContent, IDENTITY, tempDir, textContent, variableRecords, writeSource } from './helpers.ts';

const meta = (over: Partial<EnqueueMeta>): EnqueueMeta => ({
  partner: 'acme',
  ...IDENTITY,
  format: 'U',
  ...over,
});

async function collect(reader: SpoolReader): Promise<Uint8Array[]> {
  const items: Uint8Array[] = [];
  for await (const item of reader) items.push(item);
  return items;
}

test('U/T: bounded chunks from a 1K-block restart position; totals count from the file start', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const text = textContent(2000);
  const entry = await spool.enqueue(await writeSource(dir, 't', text), meta({ format: 'T' }));
  const reader = await openSpoolReader(entry, 10, { chunkSize: 4096 });
  assert.equal(reader.recordMode, false);
  assert.deepEqual(reader.progress(), { octets: 10240, records: 0, units: 10240, restartPosition: 10 });
  const chunks = await collect(reader);
  assert.ok(chunks.every((c) => c.length <= 4096 && c.length > 0));
  assert.deepEqual(Buffer.concat(chunks), text.subarray(10240));
  assert.deepEqual(reader.progress(), {
    octets: text.length,
    records: 0,
    units: text.length,
    restartPosition: Math.floor(text.length / 1024),
  });
  assert.equal(reader.done, true);
  // the exact end is a valid (empty) restart; one block further is our misuse
  const size = text.length - (text.length % 1024);
  await assert.rejects(openSpoolReader(entry, size / 1024 + 1), /beyond the end/);
});

test('F: one record per item from record n', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const data = fixedContent(1000, 100);
  const entry = await spool.enqueue(await writeSource(dir, 'f', data), meta({ format: 'F', maxRecordSize: 100 }));
  const reader = await openSpoolReader(entry, 990, { chunkSize: 250 });
  const records = await collect(reader);
  assert.equal(records.length, 10);
  assert.ok(records.every((r) => r.length === 100));
  assert.deepEqual(Buffer.concat(records), data.subarray(99_000));
  assert.deepEqual(reader.progress(), { octets: 100_000, records: 1000, units: 100_000, restartPosition: 1000 });
  assert.equal((await collect(await openSpoolReader(entry, 1000))).length, 0);
  await assert.rejects(openSpoolReader(entry, 1001), /beyond the end/);
});

test('V: records without prefixes from record n, across every chunk boundary', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const { records, local } = variableRecords(300, 700);
  const entry = await spool.enqueue(await writeSource(dir, 'v', local), meta({ format: 'V', maxRecordSize: 700 }));
  for (const chunkSize of [1, 2, 3, 511, 4096, 1 << 20]) {
    // tiny chunks (one read per octet) only for the tail, to keep the test fast
    for (const start of chunkSize < 4 ? [280, 299, 300] : [0, 1, 150, 299, 300]) {
      const reader = await openSpoolReader(entry, start, { chunkSize });
      const got = await collect(reader);
      assert.equal(got.length, 300 - start, `chunk ${chunkSize} start ${start}`);
      got.forEach((r, i) => {
        assert.deepEqual(Buffer.from(r), records[start + i]);
      });
      assert.deepEqual(reader.progress(), {
        octets: local.length,
        records: 300,
        units: local.length - 600,
        restartPosition: 300,
      });
    }
  }
  await assert.rejects(openSpoolReader(entry, 301), /beyond the end/);
});

test('a secured V file is read as U chunks', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const entry = await spool.enqueue(
    await writeSource(dir, 'cms', Buffer.alloc(5000, 7)),
    meta({ format: 'V', maxRecordSize: 100, securityLevel: 2 }),
  );
  const reader = await openSpoolReader(entry, 4);
  assert.equal(reader.recordMode, false);
  assert.deepEqual(Buffer.concat(await collect(reader)), Buffer.alloc(5000 - 4096, 7));
});

test('breaking out of the loop closes the file; a reader iterates once', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const entry = await spool.enqueue(await writeSource(dir, 'u', Buffer.alloc(200_000)), meta({}));
  const reader = await SpoolReader.open(entry.dataPath, 'U', 0, 0);
  for await (const chunk of reader) {
    assert.equal(chunk.length, 65536);
    break;
  }
  assert.equal(reader.progress().octets, 65536);
  assert.throws(() => reader[Symbol.asyncIterator](), /iterated once/);
});
