import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileRefusedError } from '../../src/files/file-errors.ts';
import { identityKey } from '../../src/files/naming.ts';
import { type EnqueueMeta, Spool } from '../../src/files/spool.ts';
import { sfidFor } from '../../src/files/spool-entry.ts';
import { TimestampAllocator } from '../../src/files/timestamp-allocator.ts';
import { FileReason } from '../../src/protocol/reason-codes.ts';
import {
  fixedContent,
  IDENTITY,
  sha256Hex,
  tempDir,
  textContent,
  variableRecords,
  writeSource,
} from './helpers.ts';

const meta = (over: Partial<EnqueueMeta> = {}): EnqueueMeta => ({
  partner: 'acme',
  datasetName: IDENTITY.datasetName,
  originator: IDENTITY.originator,
  destination: IDENTITY.destination,
  date: IDENTITY.date,
  time: IDENTITY.time,
  format: 'U',
  ...over,
});

test('enqueue spools the octets with their metadata, hash and sizes', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'), { now: () => Date.parse('2024-02-29T12:00:00Z') });
  const data = fixedContent(100, 80);
  const source = await writeSource(dir, 'orders.dat', data);
  const entry = await spool.enqueue(source, meta({ format: 'F', maxRecordSize: 80, description: 'Bestellungen' }));
  assert.deepEqual(await readFile(entry.dataPath), data);
  assert.equal(entry.meta.sha256, sha256Hex(data));
  assert.equal(entry.meta.octets, 8000);
  assert.equal(entry.meta.fileSize, 8); // ceil(8000 / 1024)
  assert.equal(entry.meta.originalFileSize, 8);
  assert.equal(entry.meta.recordCount, 100);
  assert.equal(entry.meta.unitCount, 8000);
  assert.equal(entry.meta.transmissionFormat, 'F');
  assert.equal(entry.meta.createdAt, '2024-02-29T12:00:00.000Z');
  assert.equal(entry.meta.sourceName, 'orders.dat');
  const onDisk = JSON.parse(await readFile(join(entry.dir, 'meta.json'), 'utf8'));
  assert.deepEqual(onDisk, entry.meta);
  assert.deepEqual(await readdir(join(dir, 'spool', '.tmp')), []);
  const sfid = sfidFor(entry.meta, 3);
  assert.equal(sfid.cmd, 'SFID');
  assert.equal(sfid.restartPosition, 3);
  assert.equal(sfid.maxRecordSize, 80);
  assert.equal(sfid.description, 'Bestellungen');
  assert.equal(sfid.originator, IDENTITY.originator);
});

test('V record size defaults to the longest record; units exclude the prefixes', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const { records, local } = variableRecords(50, 300);
  const entry = await spool.enqueue(await writeSource(dir, 'v', local), meta({ format: 'V' }));
  assert.equal(entry.meta.recordCount, 50);
  assert.equal(entry.meta.unitCount, local.length - 100);
  assert.equal(entry.meta.maxRecordSize, Math.max(...records.map((r) => r.length)));
});

test('an empty V file is spooled with record size 1, not 0 (receivers refuse V with SFIDLRECL 0)', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const entry = await spool.enqueue(await writeSource(dir, 'empty-v', Buffer.alloc(0)), meta({ format: 'V' }));
  assert.equal(entry.meta.recordCount, 0);
  assert.equal(entry.meta.maxRecordSize, 1);
  assert.equal(sfidFor(entry.meta, 0).maxRecordSize, 1);
});

test('a secured file travels as U and is not structure-checked', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const envelope = Buffer.from([0x30, 0x80, 1, 2, 3]); // not a valid V file, and need not be
  const entry = await spool.enqueue(
    await writeSource(dir, 'cms', envelope),
    meta({ format: 'V', maxRecordSize: 500, securityLevel: 3, cipherSuite: 1, envelope: 1, originalFileSize: 12 }),
  );
  assert.equal(entry.meta.transmissionFormat, 'U');
  assert.equal(entry.meta.format, 'V');
  assert.equal(entry.meta.maxRecordSize, 500);
  assert.equal(entry.meta.recordCount, 0);
  assert.equal(entry.meta.unitCount, 5);
  assert.equal(entry.meta.originalFileSize, 12);
});

test('bad F/V/T content is refused at enqueue with a clear error and leaves nothing behind', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const cases: [string, Buffer, Partial<EnqueueMeta>, RegExp][] = [
    ['F size', Buffer.alloc(81), { format: 'F', maxRecordSize: 80 }, /F file: size 81 is not a multiple of the record size 80/],
    ['V truncated', Buffer.from([0, 5, 1, 2]), { format: 'V' }, /V file: 4 octets end inside record 1/],
    ['V too long', Buffer.from([0, 3, 1, 2, 3]), { format: 'V', maxRecordSize: 2 }, /record 1 at offset 0 is 3 octets, longer than the record size 2/],
    ['V half prefix', Buffer.from([0, 1, 9, 0]), { format: 'V' }, /end inside record/],
    ['T lone LF', Buffer.from('AB\nC'), { format: 'T' }, /T file: LF without CR at offset 2/],
    ['T lone CR', Buffer.from('AB\rC'), { format: 'T' }, /T file: CR not followed by LF at offset 2/],
    ['T tab', Buffer.from('A\tB\r\n'), { format: 'T' }, /octet 0x09 at offset 1 is not printable ASCII/],
    ['T 8-bit', Buffer.from('caf\xe9', 'latin1'), { format: 'T' }, /octet 0xe9 at offset 3/],
    ['T long line', Buffer.from(`${'x'.repeat(2049)}\r\n`), { format: 'T' }, /line longer than 2048 characters at offset 2048/],
    ['T ends in CR', Buffer.from('AB\r'), { format: 'T' }, /ends with CR without LF/],
  ];
  for (const [name, data, over, message] of cases) {
    await assert.rejects(
      spool.enqueue(await writeSource(dir, 'bad', data), meta(over)),
      (err: unknown) => {
        assert.ok(err instanceof FileRefusedError, name);
        assert.equal(err.fileReason, FileReason.formatNotSupported, name);
        assert.match(err.message, message, name);
        return true;
      },
    );
  }
  assert.deepEqual(await spool.list('acme'), []);
  assert.deepEqual(await readdir(join(dir, 'spool', '.tmp')), []);
  // lines of exactly 2048 characters and a last line without CR-LF are fine
  await spool.enqueue(await writeSource(dir, 'ok', Buffer.from(`${'x'.repeat(2048)}\r\nEND`)), meta({ format: 'T' }));
});

test('bad metadata is refused before anything is written', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const source = await writeSource(dir, 'u', Buffer.from('x'));
  await assert.rejects(spool.enqueue(source, meta({ datasetName: 'orders' })), /String set/);
  await assert.rejects(spool.enqueue(source, meta({ partner: '../other' })), /path separator/);
  await assert.rejects(spool.enqueue(source, meta({ format: 'F' })), /an F file needs a record size/);
  await assert.rejects(spool.enqueue(source, meta({ format: 'V', maxRecordSize: 70000 })), /2-octet prefix/);
  await assert.rejects(spool.enqueue(source, meta({ format: 'T', maxRecordSize: 80 })), /must be 0/);
  await assert.rejects(spool.enqueue(source, meta({ date: undefined })), /both date and time/);
  await assert.rejects(spool.enqueue(source, meta({ date: undefined, time: undefined })), /no TimestampAllocator/);
  await assert.rejects(spool.enqueue(join(dir, 'missing'), meta()), { code: 'OFTP_ERR_IO' });
  await mkdir(join(dir, 'adir'));
  await assert.rejects(spool.enqueue(join(dir, 'adir'), meta()), /not a regular file/);
  assert.deepEqual(await spool.partners(), []);
});

test('an RFC-legal dataset name with / and .. stays inside the spool', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const entry = await spool.enqueue(await writeSource(dir, 'u', Buffer.from('x')), meta({ datasetName: '../../ETC/X' }));
  assert.equal(join(entry.dir, '..'), join(dir, 'spool', 'acme'));
  assert.match(entry.meta.id, /^000000000001-202402291230450001-_2e_2e_2f_2e_2e_2fETC_2fX-[0-9a-f]{16}$/);
  assert.equal(entry.meta.datasetName, '../../ETC/X');
});

test('per-partner FIFO, duplicate identities refused, removal, and reopening keeps order', async (t) => {
  const dir = await tempDir(t);
  const stamps = await TimestampAllocator.open(join(dir, 'stamp.json'), { now: () => Date.parse('2024-01-02T03:04:05Z'), utc: true });
  const spool = await Spool.open(join(dir, 'spool'), { allocator: stamps });
  const source = await writeSource(dir, 'u', Buffer.from('payload'));
  const names = ['FIRST', 'SECOND', 'THIRD'];
  for (const name of names) {
    await spool.enqueue(source, meta({ datasetName: name, date: undefined, time: undefined }));
  }
  await spool.enqueue(source, meta({ partner: 'other', datasetName: 'ELSEWHERE' }));
  const listed = await spool.list('acme');
  assert.deepEqual(listed.map((e) => e.meta.datasetName), names);
  assert.deepEqual(listed.map((e) => e.meta.time), ['0304050001', '0304050002', '0304050003']);
  assert.deepEqual(await spool.partners(), ['acme', 'other']);
  await assert.rejects(
    spool.enqueue(source, meta({ datasetName: 'SECOND', date: listed[1]!.meta.date, time: listed[1]!.meta.time })),
    (err: unknown) => err instanceof FileRefusedError && err.fileReason === FileReason.duplicateFile,
  );
  await spool.remove(listed[0]!);
  await spool.remove(listed[0]!); // twice is harmless
  const reopened = await Spool.open(join(dir, 'spool'), { allocator: stamps });
  await reopened.enqueue(source, meta({ datasetName: 'FOURTH', date: undefined, time: undefined }));
  assert.deepEqual((await reopened.list('acme')).map((e) => e.meta.datasetName), ['SECOND', 'THIRD', 'FOURTH']);
  assert.equal((await reopened.get('acme', listed[1]!.meta.id))?.meta.datasetName, 'SECOND');
  assert.equal(await reopened.get('acme', listed[0]!.meta.id), undefined);
  assert.equal(await reopened.get('acme', '../../etc'), undefined);
});

test('leftovers of an interrupted enqueue are cleared at open and never listed', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'spool');
  await Spool.open(root);
  await mkdir(join(root, '.tmp', 'half'));
  await writeFile(join(root, '.tmp', 'half', 'data'), 'partial');
  const spool = await Spool.open(root);
  assert.deepEqual(await readdir(join(root, '.tmp')), []);
  assert.deepEqual(await spool.partners(), []);
});

test('link transfer shares the inode and still hashes and validates', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const text = textContent(50);
  const source = await writeSource(dir, 't', text);
  const entry = await spool.enqueue(source, meta({ format: 'T' }), { transfer: 'link' });
  assert.equal((await stat(entry.dataPath)).ino, (await stat(source)).ino);
  assert.equal(entry.meta.sha256, sha256Hex(text));
  await assert.rejects(
    spool.enqueue(await writeSource(dir, 'bad', Buffer.from('A\nB')), meta({ format: 'T', datasetName: 'BAD' }), { transfer: 'link' }),
    /LF without CR/,
  );
  assert.equal((await spool.list('acme')).length, 1);
});

test('outgoing checkpoint: the next SFID offers the further of accepted and sent', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const u = await spool.enqueue(await writeSource(dir, 'u', Buffer.alloc(10_000)), meta());
  const f = await spool.enqueue(
    await writeSource(dir, 'f', fixedContent(10, 80)),
    meta({ datasetName: 'FIXED', format: 'F', maxRecordSize: 80 }),
  );
  assert.equal(await spool.restartOffer(u), 0);
  assert.deepEqual(await spool.loadCheckpoint(u), { acceptedRestartPosition: 0, sentOctets: 0, sentRecords: 0, attempts: 0, updatedAt: '' });
  await spool.saveCheckpoint(u, { acceptedRestartPosition: 2, sentOctets: 5000, sentRecords: 0, attempts: 1, updatedAt: 'x' });
  assert.equal(await spool.restartOffer(u), 4); // floor(5000 / 1024)
  await spool.saveCheckpoint(f, { acceptedRestartPosition: 7, sentOctets: 400, sentRecords: 5, attempts: 2, updatedAt: 'x' });
  assert.equal(await spool.restartOffer(f), 7);
  const again = await Spool.open(join(dir, 'spool'));
  const [u2] = await again.list('acme');
  assert.equal(await again.restartOffer(u2!), 4);
});

/** Polls until `check` holds (a detached process is doing the work), failing after `ms`. */
async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('detachedRemoval: a removed entry is deleted by a detached process that keeps nothing of ours busy', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'spool');
  await mkdir(join(root, '.trash', 'leftover'), { recursive: true });
  await writeFile(join(root, '.trash', 'leftover', 'data'), 'old');
  const spool = await Spool.open(root, { detachedRemoval: true });
  const entry = await spool.enqueue(await writeSource(dir, 'u', Buffer.alloc(1 << 20, 1)), meta());
  const before = process.getActiveResourcesInfo().filter((r) => r.startsWith('FSReq')).length;
  await spool.remove(entry);
  // An in-process deletion would still be running here (a pending file-system request keeps the
  // process alive); the detached `rm` is neither waited for nor keeping the event loop alive.
  assert.equal(process.getActiveResourcesInfo().filter((r) => r.startsWith('FSReq')).length, before);
  assert.deepEqual(await spool.list('acme'), []);
  await eventually(async () => (await readdir(join(root, '.trash'))).length === 0);
  await assert.rejects(stat(entry.dir), { code: 'ENOENT' });
});

test('a U file is copied by the kernel, not read: no hash; a source growing meanwhile is refused', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const data = Buffer.alloc(9 * (1 << 20) + 12345);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
  const source = await writeSource(dir, 'big', data);
  const entry = await spool.enqueue(source, meta());
  assert.deepEqual(await readFile(entry.dataPath), data);
  assert.equal(entry.meta.octets, data.length);
  assert.equal(entry.meta.fileSize, Math.ceil(data.length / 1024));
  assert.equal(entry.meta.sha256, undefined, 'U is not read at enqueue');
  const small = await spool.enqueue(await writeSource(dir, 'small', Buffer.from('payload')), meta({ datasetName: 'SMALL' }));
  assert.deepEqual(await readFile(small.dataPath), Buffer.from('payload'));
  assert.equal(small.meta.sha256, undefined);

  const growing = await writeSource(dir, 'growing', Buffer.alloc(16 << 20, 7));
  let settled = false;
  const enqueued = spool.enqueue(growing, meta({ datasetName: 'GROWING' })).finally(() => {
    settled = true;
  });
  enqueued.catch(() => {});
  while (!settled) await appendFile(growing, 'x');
  await assert.rejects(enqueued, /ECHANGED/);
  assert.deepEqual((await spool.list('acme')).map((e) => e.meta.datasetName), [IDENTITY.datasetName, 'SMALL']);
  assert.deepEqual(await readdir(join(dir, 'spool', '.tmp')), []);
});

test('entries enqueued with several in flight keep the order they were enqueued in, whatever order their writes finish in', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  // The first one also creates the partner's folder (and fsyncs its parent), so the others overtake it.
  const names = Array.from({ length: 16 }, (_, i) => `F${String(i).padStart(2, '0')}`);
  const sources = await Promise.all(names.map((name, i) => writeSource(dir, name, Buffer.alloc((16 - i) * 64 * 1024, i))));
  await Promise.all(names.map((name, i) => spool.enqueue(sources[i]!, meta({ datasetName: name, time: `12304500${String(i).padStart(2, '0')}` }))));
  assert.deepEqual(
    (await spool.list('acme')).map((e) => e.meta.datasetName),
    names,
  );
  const reopened = await Spool.open(join(dir, 'spool'));
  assert.deepEqual(
    (await reopened.list('acme')).map((e) => e.meta.datasetName),
    names,
  );
});

test('remove with lingerMs: removals within the linger share one folder fsync; each is durable, and gone after a reopen, when it resolves', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const names = ['A', 'B', 'C', 'D'];
  const sources = await Promise.all(names.map((name) => writeSource(dir, name, Buffer.from(name))));
  const entries = [];
  for (const [i, name] of names.entries()) entries.push(await spool.enqueue(sources[i]!, meta({ datasetName: name, time: `12304500${i}0` })));
  await Promise.all([spool.remove(entries[0]!, { lingerMs: 20 }), spool.remove(entries[1]!, { lingerMs: 20 })]);
  // After the first linger's fsync started: a later removal gets a sync of its own.
  await spool.remove(entries[2]!, { lingerMs: 5 });
  assert.deepEqual(
    (await spool.list('acme')).map((e) => e.meta.datasetName),
    ['D'],
  );
  const reopened = await Spool.open(join(dir, 'spool'));
  assert.deepEqual(
    (await reopened.list('acme')).map((e) => e.meta.datasetName),
    ['D'],
  );
});

test('a removed entry leaves the queue at once; its files are deleted after removals pause, or at close()', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'spool');
  const spool = await Spool.open(root);
  const entry = await spool.enqueue(await writeSource(dir, 'u', Buffer.alloc(4096, 1)), meta());
  await spool.remove(entry);
  assert.deepEqual(await spool.list('acme'), []);
  await assert.rejects(stat(entry.dir), { code: 'ENOENT' });
  assert.equal((await readdir(join(root, '.trash'))).length, 1, 'deleted later, out of the way of the next file');
  await spool.close();
  assert.deepEqual(await readdir(join(root, '.trash')), []);
});

test('a partner folder removed while the spool is open is made again at the next enqueue', async (t) => {
  const dir = await tempDir(t);
  const root = join(dir, 'spool');
  const spool = await Spool.open(root);
  await spool.remove(await spool.enqueue(await writeSource(dir, 'one', Buffer.from('one')), meta()));
  await rm(join(root, 'acme'), { recursive: true });
  const entry = await spool.enqueue(await writeSource(dir, 'two', Buffer.from('two')), { ...meta(), datasetName: 'TWO' });
  assert.deepEqual(await readFile(entry.dataPath, 'utf8'), 'two');
  assert.deepEqual((await spool.list('acme')).map((e) => e.meta.datasetName), ['TWO']);
  await spool.close();
});

test('find: an entry by its identity key, from the index', async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const entry = await spool.enqueue(await writeSource(dir, 'one', Buffer.from('one')), meta());
  assert.equal(await spool.find('acme', identityKey(entry.meta)), entry);
  assert.equal(await spool.find('acme', 'no-such-key'), undefined);
  assert.equal(await spool.find('other', identityKey(entry.meta)), undefined);
  await spool.remove(entry);
  assert.equal(await spool.find('acme', identityKey(entry.meta)), undefined);
  await spool.close();
});

test("'share' links the file: U unread, T/F/V checked and hashed through the link; changes are seen; 'copy' is a file of its own", async (t) => {
  const dir = await tempDir(t);
  const spool = await Spool.open(join(dir, 'spool'));
  const data = Buffer.from('unstructured octets');
  const source = await writeSource(dir, 'u.bin', data);
  const shared = await spool.enqueue(source, meta(), { transfer: 'share' });
  assert.equal((await stat(shared.dataPath)).ino, (await stat(source)).ino);
  assert.equal(shared.meta.sha256, undefined);
  assert.equal(shared.meta.sharedMtimeMs, (await stat(source)).mtimeMs);
  assert.equal(await spool.sharedFileChanged(shared), undefined);
  const copied = await spool.enqueue(source, meta({ datasetName: 'COPIED' }), { transfer: 'copy' });
  assert.notEqual((await stat(copied.dataPath)).ino, (await stat(source)).ino);
  assert.equal(copied.meta.sharedMtimeMs, undefined);
  await appendFile(source, '!');
  assert.match((await spool.sharedFileChanged(shared)) ?? '', /u\.bin was changed after it was queued \(now 20 octets/);
  assert.equal(await spool.sharedFileChanged(copied), undefined, 'a copy never changes with its source');
  assert.deepEqual(await readFile(copied.dataPath), data);
  await rm(shared.dataPath);
  assert.match((await spool.sharedFileChanged(shared)) ?? '', /cannot be read \(ENOENT\)/);

  const records = fixedContent(10, 80);
  const f = await spool.enqueue(await writeSource(dir, 'f.dat', records), meta({ datasetName: 'F', format: 'F', maxRecordSize: 80 }), { transfer: 'share' });
  assert.equal(f.meta.sha256, sha256Hex(records), 'F is read (checked and hashed) through the link');
  assert.equal(f.meta.recordCount, 10);
  assert.equal(typeof f.meta.sharedMtimeMs, 'number');
  const bad = await writeSource(dir, 'bad.dat', Buffer.alloc(81));
  await assert.rejects(spool.enqueue(bad, meta({ datasetName: 'BAD', format: 'F', maxRecordSize: 80 }), { transfer: 'share' }), FileRefusedError);
  assert.deepEqual(await readdir(join(dir, 'spool', '.tmp')), [], 'nothing left of the refused one');
  assert.equal((await stat(bad)).size, 81, "the caller's file stays");
});

test("'share' across filesystems falls back to a copy, with no change watch", async (t) => {
  const dir = await tempDir(t);
  const elsewhere = await mkdtemp(join('/dev/shm', 'oftp-share-'));
  t.after(() => rm(elsewhere, { recursive: true, force: true }));
  if ((await stat(elsewhere)).dev === (await stat(dir)).dev) {
    t.skip('/dev/shm is on the same filesystem as the temp folder here');
    return;
  }
  const spool = await Spool.open(join(dir, 'spool'));
  const source = await writeSource(elsewhere, 'far.bin', Buffer.from('far away'));
  const entry = await spool.enqueue(source, meta(), { transfer: 'share' });
  assert.notEqual((await stat(entry.dataPath)).dev, (await stat(source)).dev);
  assert.equal(entry.meta.sharedMtimeMs, undefined);
  await appendFile(source, '!');
  assert.equal(await spool.sharedFileChanged(entry), undefined);
  assert.deepEqual(await readFile(entry.dataPath), Buffer.from('far away'));
});
