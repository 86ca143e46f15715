import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256File } from '../../src/files/file-digest.ts';
import { FileRefusedError } from '../../src/files/file-errors.ts';
import { checkpointOctets, defaultPartialDir, type IncomingFile, type IncomingSpec, openIncoming, readIncomingCheckpoint } from '../../src/files/incoming.ts';
import { datasetFileName, identityKey } from '../../src/files/naming.ts';
import { type EnqueueMeta, Spool } from '../../src/files/spool.ts';
import { type SpoolEntry, sfidFor } from '../../src/files/spool-entry.ts';
import { openSpoolReader, type SpoolReader } from '../../src/files/spool-reader.ts';
import type { VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { FileReason } from '../../src/protocol/reason-codes.ts';
import {
  fixedContent,
  IDENTITY,
  sha256Hex,
  tempDir,
  textContent,
  variableRecords,
  visibleNames,
  writeSource,
} from './helpers.ts';

interface Sample {
  format: VirtualFileFormat;
  data: Buffer;
  maxRecordSize?: number;
}

const samples: Sample[] = [
  { format: 'U', data: randomBytes(300 * 1024 + 123) },
  { format: 'T', data: textContent(3000) },
  { format: 'F', data: fixedContent(5000, 80), maxRecordSize: 80 },
  { format: 'V', data: variableRecords(2000, 500).local, maxRecordSize: 500 },
];

async function spoolSample(dir: string, sample: Sample): Promise<{ spool: Spool; entry: SpoolEntry }> {
  const spool = await Spool.open(join(dir, 'spool'));
  const meta: EnqueueMeta = { partner: 'acme', ...IDENTITY, format: sample.format, maxRecordSize: sample.maxRecordSize };
  const entry = await spool.enqueue(await writeSource(dir, `source.${sample.format}`, sample.data), meta);
  return { spool, entry };
}

/** Feeds items from the reader until `untilOctets` of the local file have been handed over. */
async function feed(
  file: IncomingFile,
  reader: SpoolReader,
  items: AsyncIterator<Uint8Array>,
  untilOctets = Number.POSITIVE_INFINITY,
): Promise<void> {
  while (reader.progress().octets < untilOctets) {
    const next = await items.next();
    if (next.done) return;
    if (reader.recordMode) await file.writeRecord(next.value);
    else await file.write(next.value);
  }
}

for (const sample of samples) {
  test(`restart ${sample.format}: checkpoint, crash after writing past it, resume, commit: same SHA-256`, async (t) => {
    const dir = await tempDir(t);
    const { spool, entry } = await spoolSample(dir, sample);
    const inbox = join(dir, 'inbox');
    const partials = defaultPartialDir(inbox);
    const spec = (restartPosition: number): IncomingSpec => sfidFor(entry.meta, restartPosition);
    const size = sample.data.length;

    // session 1: 40% then a checkpoint, then 30% more reaches the disk but is never checkpointed
    const first = await openIncoming(partials, entry.meta, spec(0));
    assert.equal(first.restartPosition, 0);
    assert.equal(first.resumed, false);
    const reader1 = await openSpoolReader(entry, 0);
    const items1 = reader1[Symbol.asyncIterator]();
    await feed(first, reader1, items1, size * 0.4);
    const durable = await first.checkpoint();
    const durableOctets = first.progress().octets;
    assert.ok(durable > 0);
    await feed(first, reader1, items1, size * 0.7);
    const sent = reader1.progress();
    await items1.return?.();
    assert.ok((await stat(first.partPath)).size > durableOctets, 'data beyond the checkpoint is on disk');
    await first.close(); // the crash: buffered data is dropped, nothing is committed
    await spool.saveCheckpoint(entry, {
      acceptedRestartPosition: 0,
      sentOctets: sent.octets,
      sentRecords: sent.records,
      attempts: 1,
      updatedAt: new Date().toISOString(),
    });
    assert.deepEqual(await visibleNames(inbox), []);

    // session 2: the sender offers its sent progress; we answer what is durable and cut the rest
    const offer = await spool.restartOffer(entry);
    assert.ok(offer > durable);
    assert.equal(checkpointOctets(await readIncomingCheckpoint(partials, entry.meta)), durableOctets);
    const second = await openIncoming(partials, entry.meta, spec(offer));
    assert.equal(second.resumed, true);
    assert.equal(second.restartPosition, durable);
    const reader2 = await openSpoolReader(entry, second.restartPosition);
    assert.equal((await stat(second.partPath)).size, reader2.start.offset, 'partial truncated to the restart point');
    await feed(second, reader2, reader2[Symbol.asyncIterator]());
    assert.deepEqual(second.verifyCounts(entry.meta.recordCount, entry.meta.unitCount), { ok: true });
    const committed = await second.commit(inbox, datasetFileName(entry.meta.datasetName));
    assert.equal(committed.name, 'ORDERS.EDI');
    assert.equal(Buffer.from(await sha256File(committed.path)).toString('hex'), sha256Hex(sample.data));
    assert.equal(entry.meta.sha256, sample.format === 'U' ? undefined : sha256Hex(sample.data), 'T/F/V are hashed as they are checked at enqueue; U is not read');
    assert.deepEqual(await readdir(partials), [], 'no partial or checkpoint left');
    assert.deepEqual(await visibleNames(inbox), ['ORDERS.EDI']);
  });
}

test('a lower offer from the sender wins: the checkpoint is lowered, then the partial cut', async (t) => {
  const dir = await tempDir(t);
  const sample = samples[3]!; // V: the cut point is found by scanning prefixes
  const { entry } = await spoolSample(dir, sample);
  const partials = join(dir, 'partials');
  const file = await openIncoming(partials, entry.meta, sfidFor(entry.meta, 0));
  const reader = await openSpoolReader(entry, 0);
  const items = reader[Symbol.asyncIterator]();
  await feed(file, reader, items, sample.data.length / 2);
  await items.return?.();
  const durable = await file.checkpoint();
  await file.close();
  const again = await openIncoming(partials, entry.meta, sfidFor(entry.meta, 5));
  assert.equal(again.restartPosition, 5);
  const expected = await openSpoolReader(entry, 5);
  await expected.close();
  assert.equal((await stat(again.partPath)).size, expected.start.offset);
  const saved = JSON.parse(await readFile(join(partials, `${identityKey(entry.meta)}.ckpt.json`), 'utf8'));
  assert.equal(saved.records, 5);
  assert.ok(durable > 5);
  await again.close();
  // no restart offered (or restart off for the session): start from 0
  const fresh = await openIncoming(partials, entry.meta, sfidFor(entry.meta, 0));
  assert.equal(fresh.restartPosition, 0);
  assert.equal(fresh.resumed, false);
  assert.equal((await stat(fresh.partPath)).size, 0);
  assert.deepEqual(await readdir(partials), [`${identityKey(entry.meta)}.part`]);
  await fresh.discard();
  assert.deepEqual(await readdir(partials), []);
});

test('a partial with other attributes, or without a checkpoint, starts again at 0', async (t) => {
  const dir = await tempDir(t);
  const partials = join(dir, 'partials');
  const spec: IncomingSpec = { format: 'U', maxRecordSize: 0, fileSize: 10, restartPosition: 0 };
  const a = await openIncoming(partials, IDENTITY, spec);
  await a.write(Buffer.alloc(5000, 1));
  await a.checkpoint();
  await a.write(Buffer.alloc(5000, 2));
  await a.close();
  const b = await openIncoming(partials, IDENTITY, { ...spec, fileSize: 11, restartPosition: 4 });
  assert.equal(b.restartPosition, 0);
  assert.equal((await stat(b.partPath)).size, 0);
  await b.write(Buffer.alloc(3000)); // never checkpointed: a restart must not trust it
  await b.close();
  const c = await openIncoming(partials, IDENTITY, { ...spec, fileSize: 11, restartPosition: 4 });
  assert.equal(c.restartPosition, 0);
  await c.discard();
});

test('atomic visibility: nothing in the final directory before commit, and collisions never overwrite', async (t) => {
  const dir = await tempDir(t);
  const inbox = join(dir, 'inbox');
  const partials = defaultPartialDir(inbox);
  const spec: IncomingSpec = { format: 'U', maxRecordSize: 0, fileSize: 1, restartPosition: 0 };
  const file = await openIncoming(partials, IDENTITY, spec);
  await file.write(Buffer.from('first'));
  await file.checkpoint();
  assert.deepEqual(await visibleNames(inbox), []);
  const one = await file.commit(inbox, 'ORDERS.EDI');
  assert.deepEqual(await visibleNames(inbox), ['ORDERS.EDI']);
  assert.equal(one.octets, 5);

  const other = await openIncoming(partials, { ...IDENTITY, time: '1230450002' }, spec);
  await other.write(Buffer.from('second'));
  const two = await other.commit(inbox, 'ORDERS.EDI');
  assert.equal(two.name, 'ORDERS.EDI~1');
  const third = await openIncoming(partials, { ...IDENTITY, time: '1230450003' }, spec);
  await third.write(Buffer.from('third'));
  assert.equal((await third.commit(inbox, 'ORDERS.EDI')).name, 'ORDERS.EDI~2');
  assert.deepEqual(await visibleNames(inbox), ['ORDERS.EDI', 'ORDERS.EDI~1', 'ORDERS.EDI~2']);
  assert.equal(await readFile(join(inbox, 'ORDERS.EDI'), 'utf8'), 'first');
  assert.equal(await readFile(join(inbox, 'ORDERS.EDI~1'), 'utf8'), 'second');
  assert.deepEqual(await readdir(partials), []);
  await assert.rejects(file.write(Buffer.from('x')), /committed/);
});

test('a file someone else created under the final name is kept', async (t) => {
  const dir = await tempDir(t);
  const inbox = join(dir, 'inbox');
  const file = await openIncoming(defaultPartialDir(inbox), IDENTITY, {
    format: 'U',
    maxRecordSize: 0,
    fileSize: 1,
    restartPosition: 0,
  });
  await file.write(Buffer.from('new'));
  await writeFile(join(inbox, 'ORDERS.EDI'), 'operator file');
  assert.equal((await file.commit(inbox, 'ORDERS.EDI')).name, 'ORDERS.EDI~1');
  assert.equal(await readFile(join(inbox, 'ORDERS.EDI'), 'utf8'), 'operator file');
});

test('bad names from the peer are refused before anything is created', async (t) => {
  const dir = await tempDir(t);
  const partials = join(dir, 'partials');
  const spec: IncomingSpec = { format: 'U', maxRecordSize: 0, fileSize: 1, restartPosition: 0 };
  await assert.rejects(openIncoming(partials, { ...IDENTITY, datasetName: 'a/../../x' }, spec), (err: unknown) => {
    return err instanceof FileRefusedError && err.fileReason === FileReason.invalidFilename && /String set/.test(err.message);
  });
  await assert.rejects(stat(partials), { code: 'ENOENT' });
  const file = await openIncoming(partials, IDENTITY, spec);
  for (const name of ['../escape', '/etc/passwd', '..', 'NUL', 'a\0b']) {
    await assert.rejects(file.commit(join(dir, 'inbox'), name), FileRefusedError);
  }
  assert.throws(() => datasetFileName('../ETC/PASSWD'), /path separator/);
  await file.discard();
});

test('record checks, record parts, EFID count checks', async (t) => {
  const dir = await tempDir(t);
  const partials = join(dir, 'partials');
  const f = await openIncoming(partials, IDENTITY, { format: 'F', maxRecordSize: 4, fileSize: 1, restartPosition: 0 });
  await assert.rejects(f.write(Buffer.from('abcd')), /takes records/);
  await f.writeRecord(Buffer.from('abcd'));
  await assert.rejects(f.writeRecord(Buffer.from('abc')), (e: unknown) => e instanceof FileRefusedError && e.fileReason === FileReason.formatNotSupported);
  await assert.rejects(f.writeRecord(Buffer.from('abcde')), (e: unknown) => e instanceof FileRefusedError && e.fileReason === FileReason.recordLengthNotSupported);
  await f.writeRecordPart(Buffer.from('ef'), false);
  assert.equal(f.verifyCounts(2, 8).ok, false); // a record part is pending
  await f.writeRecordPart(Buffer.from('gh'), true);
  assert.deepEqual(f.verifyCounts(2, 8), { ok: true });
  assert.deepEqual(f.verifyCounts(3, 8), { ok: false, reason: 10, message: 'EFID record count 3, received 2' });
  assert.deepEqual(f.verifyCounts(2, 9), { ok: false, reason: 11, message: 'EFID unit count 9, received 8' });
  const out = await f.commit(join(dir, 'inbox'), 'F.DAT');
  assert.equal(await readFile(out.path, 'utf8'), 'abcdefgh');

  const v = await openIncoming(partials, { ...IDENTITY, datasetName: 'V' }, { format: 'V', maxRecordSize: 3, fileSize: 1, restartPosition: 0 });
  await v.writeRecord(Buffer.from('ab'));
  await v.writeRecord(Buffer.alloc(0));
  await v.writeRecordPart(Buffer.from('x'), false);
  await v.writeRecordPart(Buffer.from('yz'), true);
  await assert.rejects(v.writeRecordPart(Buffer.from('1234'), true), /exceeds the record size 3/);
  assert.deepEqual(v.verifyCounts(3, 5), { ok: true }); // units exclude the 2-octet prefixes
  const vout = await v.commit(join(dir, 'inbox'), 'V.DAT');
  assert.deepEqual(await readFile(vout.path), Buffer.from([0, 2, 0x61, 0x62, 0, 0, 0, 3, 0x78, 0x79, 0x7a]));

  const u = await openIncoming(partials, { ...IDENTITY, datasetName: 'U' }, { format: 'V', maxRecordSize: 3, fileSize: 1, restartPosition: 0, securityLevel: 2 });
  assert.equal(u.transmissionFormat, 'U');
  await u.write(Buffer.from('opaque'));
  assert.deepEqual(u.verifyCounts(0, 6), { ok: true });
  assert.deepEqual(u.verifyCounts(9, 6), { ok: true }); // record counts are not checked for U/T
  await u.discard();
});

test('one open per identity; overlapping calls are refused', async (t) => {
  const dir = await tempDir(t);
  const partials = join(dir, 'partials');
  const spec: IncomingSpec = { format: 'U', maxRecordSize: 0, fileSize: 1, restartPosition: 0 };
  const file = await openIncoming(partials, IDENTITY, spec);
  await assert.rejects(openIncoming(partials, IDENTITY, spec), (e: unknown) => {
    return e instanceof FileRefusedError && e.fileReason === FileReason.duplicateFile && e.retry;
  });
  const a = file.write(Buffer.alloc(10));
  await assert.rejects(file.write(Buffer.alloc(10)), /one at a time/);
  await a;
  await file.close();
  const again = await openIncoming(partials, IDENTITY, spec);
  await again.discard();
});

test('folders removed while the station runs are made again: the next file is still delivered', async (t) => {
  const dir = await tempDir(t);
  const inbox = join(dir, 'inbox', 'acme');
  const partials = join(dir, 'partials', 'acme');
  const spec: IncomingSpec = { format: 'U', maxRecordSize: 0, fileSize: 1, restartPosition: 0 };
  const receive = async (name: string) => {
    const file = await openIncoming(partials, { ...IDENTITY, datasetName: name }, spec);
    await file.write(Buffer.from(name));
    return (await file.commit(inbox, name)).path;
  };
  await receive('ONE');
  // An operator clears the inbox between two files (the commit finds it gone), then the partials.
  await rm(join(dir, 'inbox'), { recursive: true });
  assert.equal(await readFile(await receive('TWO'), 'utf8'), 'TWO');
  await receive('THREE');
  await rm(join(dir, 'partials'), { recursive: true });
  assert.equal(await readFile(await receive('FOUR'), 'utf8'), 'FOUR');
  assert.deepEqual(await visibleNames(inbox), ['FOUR', 'THREE', 'TWO']);
});
