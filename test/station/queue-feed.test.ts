// `oftp2 send FILE…` starts its session while the files are still being queued (QueueFeed): the session
// offers each file once it is released, in the order given, holds the turn while more may come, and
// ends after the last.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpoolEntry } from '../../src/files/index.ts';
import { QueueFeed } from '../../src/station/queue-feed.ts';
import { StationPair, unstructured, visibleFiles, writeLocal } from './harness.ts';

const entry = (sequence: number) => ({ meta: { sequence } }) as SpoolEntry;

test('QueueFeed holds entries after the last released one while open, and wakes waiters', async () => {
  const feed = new QueueFeed(4);
  assert.equal(feed.holds(entry(4)), false, 'entries queued before the feed are not held');
  assert.equal(feed.holds(entry(5)), true);
  let woken = 0;
  const waiting = feed.changed().then(() => woken++);
  feed.release(6);
  await waiting;
  assert.equal(woken, 1);
  assert.equal(feed.holds(entry(6)), false);
  assert.equal(feed.holds(entry(7)), true);
  feed.release(5); // late reports never move the mark back
  assert.equal(feed.holds(entry(6)), false);
  const closing = feed.changed();
  feed.close();
  await closing;
  assert.equal(feed.open, false);
  assert.equal(feed.holds(entry(99)), false, 'closed: nothing is held');
  await feed.changed(); // resolves at once
});

test('a session started before its files are queued sends them in order as they are released, then ends', async (t) => {
  const pair = await StationPair.create(t);
  const feed = new QueueFeed(pair.b.services.spool.lastSequence);
  const session = pair.b.send('a', undefined, feed);
  const paths = await Promise.all(['ONE', 'TWO', 'THREE'].map((name, i) => writeLocal(pair.root, name, unstructured(2000 + i, i + 1))));
  // All three are queued at once (their spool entries land in any order); only the first is released.
  const entries = await Promise.all(paths.map((path) => pair.b.enqueue('a', { path })));
  feed.release(entries[0]!.meta.sequence);
  const until = Date.now() + 10_000;
  while ((await visibleFiles(pair.inboxA())).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await visibleFiles(pair.inboxA()), ['ONE'], 'the others are queued but not released: held');
  feed.release(entries[2]!.meta.sequence); // releasing the third releases the second before it
  feed.close();
  const result = await session;
  assert.equal(result.ended.normal, true);
  assert.equal(result.summary.sent, 3, 'one session for all three');
  const order = pair.logA.find('Inbound: receiving file').map((e) => e.obj.dataset);
  assert.deepEqual(order, ['ONE', 'TWO', 'THREE']);
});
