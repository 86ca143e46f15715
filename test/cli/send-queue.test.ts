// `oftp2 send` queues its files a few at a time (queueInOrder): started and reported in the order
// given, never more than a few in flight, and after a failure nothing new is started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { queueInOrder } from '../../src/cli/send.ts';

const files = Array.from({ length: 30 }, (_, i) => `f${i}`);

test('queueInOrder starts and reports in order, at most 8 at once, whatever order they finish in', async () => {
  const started: string[] = [];
  const reported: string[] = [];
  let inFlight = 0;
  let most = 0;
  await queueInOrder(
    files,
    async (file) => {
      started.push(file);
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, (files.length - files.indexOf(file)) % 7));
      inFlight--;
      return file.toUpperCase();
    },
    (file, result) => {
      assert.equal(result, file.toUpperCase());
      reported.push(file);
    },
  );
  assert.deepEqual(started, files);
  assert.deepEqual(reported, files);
  assert.equal(most, 8);
});

test('queueInOrder: after a failure no file is started, those in flight are reported, the first error is thrown', async () => {
  const started: string[] = [];
  const reported: string[] = [];
  await assert.rejects(
    queueInOrder(
      files,
      async (file) => {
        started.push(file);
        await new Promise((r) => setTimeout(r, 1));
        if (file === 'f10' || file === 'f12') throw new Error(`cannot queue ${file}`);
        return file;
      },
      (file) => reported.push(file),
    ),
    /cannot queue f10/,
  );
  assert.ok(started.length <= 11 + 7, `started ${started.length}`);
  assert.deepEqual(started, files.slice(0, started.length));
  assert.deepEqual(
    reported,
    started.filter((f) => f !== 'f10' && f !== 'f12'),
  );
});
