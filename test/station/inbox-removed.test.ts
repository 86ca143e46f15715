// An operator clears a partner's inbox folder (partials included) while the station runs: the next
// file is still received (the station makes the folder again), not refused.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { StationPair, unstructured, visibleFiles, writeLocal } from './harness.ts';

test('an inbox folder removed while the station runs is made again for the next file', async (t) => {
  const pair = await StationPair.create(t);
  await pair.b.enqueue('a', { path: await writeLocal(pair.root, 'FIRST', unstructured(3000, 1)) });
  assert.equal((await pair.sendFromB()).b.summary.sent, 1);
  assert.deepEqual(await visibleFiles(pair.inboxA()), ['FIRST']);
  await rm(pair.inboxA(), { recursive: true });
  await pair.b.enqueue('a', { path: await writeLocal(pair.root, 'SECOND', unstructured(3000, 2)) });
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.equal(b.summary.sent, 1);
  assert.deepEqual(await visibleFiles(pair.inboxA()), ['SECOND']);
});
