// The SHA-256 of a received file is for history only: it is computed from the delivered file behind
// the file's EERP, not while the file streams in and not in the way of the receipt.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { sha256, StationPair, unstructured, writeLocal } from './harness.ts';

test('the EERP of a received file does not wait for its SHA-256; history gets the hash once it is computed', async (t) => {
  const pair = await StationPair.create(t);
  const file = unstructured(50_000, 3);
  await pair.b.enqueue('a', { path: await writeLocal(pair.root, 'hashed.bin', file), format: 'U' });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const asked: string[] = [];
  pair.a.services.digestReceived = async (path) => {
    asked.push(path);
    await released;
    return sha256(await readFile(path));
  };
  // B's session runs to its end, EERP and RTR included, while A's hash is held back.
  const b = await pair.b.send('a');
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.deepEqual(b.summary, { sent: 1, received: 0, failed: 0, receiptsSent: 0, receiptsReceived: 1 });
  assert.equal(asked.length, 1);
  assert.equal(pair.sessionsA.length, 0, "A's session waits for the hash before it reports its end");
  release();
  await pair.waitForSessionsA(1);
  const received = pair.a.services.history.list({ direction: 'in' });
  assert.equal(received.length, 1);
  assert.equal(received[0]!.state, 'acknowledged', 'the RTR that came before the hash is recorded after it');
  assert.equal(received[0]!.sha256, sha256(file.bytes));
  assert.equal(received[0]!.path, asked[0]);
});
