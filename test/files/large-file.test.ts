// Memory stays bounded while 64 MiB go through the spool, the reader and an incoming file: no API
// returns or holds a whole-file buffer (items <= 64 KiB, RSS growth far below the file size).
import assert from 'node:assert/strict';
import { createHash, randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256File } from '../../src/files/file-digest.ts';
import { defaultPartialDir, openIncoming } from '../../src/files/incoming.ts';
import { Spool } from '../../src/files/spool.ts';
import { sfidFor } from '../../src/files/spool-entry.ts';
import { openSpoolReader } from '../../src/files/spool-reader.ts';
import { IDENTITY, tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

test('64 MiB through spool, reader and incoming file with bounded memory', async (t) => {
  const dir = await tempDir(t);
  // the source is generated on the fly, 1 MiB at a time
  const sourcePath = join(dir, 'big.bin');
  const sourceHash = createHash('sha256');
  const source = await open(sourcePath, 'w');
  const piece = Buffer.allocUnsafe(MiB); // one buffer, refilled: generating does not grow memory
  for (let written = 0; written < SIZE; written += MiB) {
    randomFillSync(piece);
    sourceHash.update(piece);
    await source.write(piece);
  }
  await source.close();
  const expected = sourceHash.digest('hex');

  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };

  const spool = await Spool.open(join(dir, 'spool'));
  const entry = await spool.enqueue(sourcePath, { partner: 'acme', ...IDENTITY, format: 'U' });
  sample();
  assert.equal(entry.meta.sha256, undefined, 'a U file is not read at enqueue');
  assert.equal(entry.meta.fileSize, 65536);

  const inbox = join(dir, 'inbox');
  const file = await openIncoming(defaultPartialDir(inbox), entry.meta, sfidFor(entry.meta, 0));
  const reader = await openSpoolReader(entry, 0);
  let largest = 0;
  let sinceCheckpoint = 0;
  for await (const chunk of reader) {
    largest = Math.max(largest, chunk.length);
    await file.write(chunk);
    sinceCheckpoint += chunk.length;
    if (sinceCheckpoint >= 8 * MiB) {
      await file.checkpoint();
      sinceCheckpoint = 0;
      sample();
    }
  }
  sample();
  assert.deepEqual(file.verifyCounts(0, SIZE), { ok: true });
  const committed = await file.commit(inbox, 'BIG.BIN');
  sample();
  assert.equal(Buffer.from(await sha256File(committed.path)).toString('hex'), expected);
  assert.ok(largest <= 64 * 1024, `largest item ${largest}`);
  const growth = peak - baseline;
  assert.ok(growth < 40 * MiB, `RSS grew by ${(growth / MiB).toFixed(1)} MiB for a 64 MiB file`);
});
