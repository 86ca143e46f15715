// IncomingFile.checkpointBehind(): the checkpoint's fsync runs while data keeps coming, and the
// checkpoint claims only what was written before that fsync started.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkpointOctets, defaultPartialDir, openIncoming, readIncomingCheckpoint } from '../../src/files/incoming.ts';
import { datasetFileName } from '../../src/files/naming.ts';
import { IDENTITY, sha256Hex, tempDir } from './helpers.ts';

const spec = (restartPosition: number) => ({ format: 'U' as const, maxRecordSize: 0, fileSize: 600, restartPosition });

test('a checkpoint behind claims what was written before it; later data is cut at the restart', async (t) => {
  const dir = await tempDir(t);
  const partials = defaultPartialDir(join(dir, 'inbox'));
  const first = randomBytes(300 * 1024);
  const more = randomBytes(200 * 1024);
  const file = await openIncoming(partials, IDENTITY, spec(0), { bufferSize: 64 * 1024 });
  await file.write(first);
  await file.checkpointBehind();
  await file.checkpointBehind(); // one at a time: a second call while it runs does nothing
  await file.write(more); // goes on while the fsync runs
  await file.close(); // waits for the checkpoint
  assert.equal(checkpointOctets(await readIncomingCheckpoint(partials, IDENTITY)), first.length);
  const saved = JSON.parse(await readFile(file.partPath.replace(/\.part$/, '.ckpt.json'), 'utf8'));
  assert.equal(saved.octets, first.length);
  assert.ok((await stat(file.partPath)).size >= first.length);

  const again = await openIncoming(partials, IDENTITY, spec(600), { bufferSize: 64 * 1024 });
  assert.equal(again.restartPosition, first.length / 1024);
  assert.equal((await stat(again.partPath)).size, first.length, 'cut back to the checkpoint');
  await again.write(more);
  const committed = await again.commit(join(dir, 'inbox'), datasetFileName(IDENTITY.datasetName));
  assert.equal(sha256Hex(await readFile(committed.path)), sha256Hex(Buffer.concat([first, more])));
});

test('commit waits for a checkpoint behind and leaves no checkpoint file', async (t) => {
  const dir = await tempDir(t);
  const inbox = join(dir, 'inbox');
  const partials = defaultPartialDir(inbox);
  const data = randomBytes(150 * 1024);
  const file = await openIncoming(partials, IDENTITY, spec(0));
  await file.write(data);
  await file.checkpointBehind();
  const committed = await file.commit(inbox, datasetFileName(IDENTITY.datasetName));
  assert.equal(sha256Hex(await readFile(committed.path)), sha256Hex(data));
  assert.equal(checkpointOctets(await readIncomingCheckpoint(partials, IDENTITY)), 0, 'the checkpoint went with the commit');
});
