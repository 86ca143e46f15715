// `oftp2 send` shares the caller's file with the spool (a hard link, 'share'): a U file is never read
// or copied at queueing. A file changed after it was queued is not sent, before its SFID or, if it
// changes while it is read, before its EFID: the session ends (ESID 99), nothing is delivered, and the
// next session records the file as failed and takes it out of the spool.
import assert from 'node:assert/strict';
import { appendFile, open, stat } from 'node:fs/promises';
import { test } from 'node:test';
import { sha256, sha256Of, StationPair, unstructured, visibleFiles, writeLocal } from './harness.ts';

test('a shared file goes linked and unread, and arrives; one changed after it was queued is not sent', async (t) => {
  const pair = await StationPair.create(t);
  const kept = unstructured(50_000, 3);
  const keptPath = await writeLocal(pair.root, 'kept.bin', kept);
  const entry = await pair.b.enqueue('a', { path: keptPath, transfer: 'share' });
  assert.equal((await stat(entry.dataPath)).ino, (await stat(keptPath)).ino, 'the spool links the file');
  assert.equal(entry.meta.sha256, undefined, 'a U file is not read at queueing');
  assert.equal(typeof entry.meta.sharedMtimeMs, 'number');
  const changedPath = await writeLocal(pair.root, 'changed.bin', unstructured(20_000, 4));
  const changed = await pair.b.enqueue('a', { path: changedPath, transfer: 'share' });
  await appendFile(changedPath, 'one more line\n');

  const { a, b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.deepEqual(b.summary, { sent: 1, received: 0, failed: 1, receiptsSent: 0, receiptsReceived: 1 });
  assert.equal(a.summary.received, 1);
  assert.deepEqual(await visibleFiles(pair.inboxA()), [entry.meta.datasetName]);
  assert.equal(await sha256Of(`${pair.inboxA()}/${entry.meta.datasetName}`), sha256(kept.bytes));
  const failed = pair.b.services.history.list({ direction: 'out' }).find((r) => r.datasetName === changed.meta.datasetName);
  assert.equal(failed?.state, 'failed');
  assert.equal(failed?.reason, 'changed');
  assert.match(failed?.reasonText ?? '', /CHANGED\.BIN|changed\.bin/);
  assert.match(failed?.reasonText ?? '', /changed after it was queued \(now 20014 octets/);
  assert.deepEqual(await pair.b.services.spool.list('a'), [], 'the changed file left the spool');
  assert.equal((await stat(changedPath)).size, 20_014, "the caller's file is untouched");
});

test('a shared file changed while it is sent: no EFID, nothing delivered, the next session reports it', async (t) => {
  // Small windows (credit 2 of 4 KiB buffers), so the file is read over many of them.
  const settings = { exchangeBufferSize: 4096, credit: 2 };
  const pair = await StationPair.create(t, { a: settings, b: settings });
  const path = await writeLocal(pair.root, 'moving.bin', unstructured(400_000, 5));
  const entry = await pair.b.enqueue('a', { path, transfer: 'share' });
  let touched = false;
  const before = pair.sessionsA.length;
  const first = await pair.b.send('a', () => {
    if (touched) return;
    touched = true;
    // Same size, new octets at the start, new modification time: only the time tells.
    void open(path, 'r+').then(async (fh) => {
      await fh.write(Buffer.from('rewritten'), 0, 9, 0);
      await fh.close();
    });
  });
  await pair.waitForSessionsA(before + 1);
  assert.equal(touched, true);
  assert.equal(first.ended.normal, false, 'the session ends abnormally');
  assert.match(first.ended.reasonText ?? '', /changed after it was queued/);
  assert.deepEqual(await visibleFiles(pair.inboxA()), [], 'nothing delivered');

  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.equal(b.summary.failed, 1);
  assert.equal(b.summary.sent, 0);
  assert.deepEqual(await visibleFiles(pair.inboxA()), []);
  const record = pair.b.services.history.list({ direction: 'out' }).find((r) => r.datasetName === entry.meta.datasetName);
  assert.equal(record?.state, 'failed');
  assert.equal(record?.reason, 'changed');
  assert.deepEqual(await pair.b.services.spool.list('a'), []);
});
