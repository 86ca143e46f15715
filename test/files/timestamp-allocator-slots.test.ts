// The allocator's state file: two slots written in turn in place, so a torn write never loses the
// stamp before it; the older single-JSON format is read and replaced.
import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TimestampAllocator } from '../../src/files/timestamp-allocator.ts';
import { tempDir } from './helpers.ts';

const at = (iso: string) => () => Date.parse(iso);
const SLOT = 96;

test('slots alternate; a torn newest slot falls back to the one before (whose stamps were the last returned)', async (t) => {
  const file = join(await tempDir(t), 'stamp.json');
  const now = at('2024-05-01T10:00:00Z');
  const alloc = await TimestampAllocator.open(file, { now, utc: true });
  const stamps = [];
  // 64 stamps per write: the 65th persists 0065–0128 in the other slot.
  for (let i = 0; i < 65; i++) stamps.push(await alloc.allocate());
  assert.deepEqual(stamps.at(-1), { date: '20240501', time: '1000000065' });
  assert.equal((await readFile(file)).length, 2 * SLOT, 'the file keeps its size: writes are in place');
  // The newest reservation is in the slot of its sequence; tear it as a power cut mid-write would.
  const text = await readFile(file, 'latin1');
  const slots = [text.slice(0, SLOT), text.slice(SLOT)];
  const newest = slots.findIndex((s) => s.includes('1000000128'));
  assert.ok(newest >= 0 && slots[1 - newest]!.includes('1000000064'), 'the other slot holds the reservation before');
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from('{"version":2,"seq":9'), 0, 20, newest * SLOT);
  await fh.close();
  // Had the write torn, stamp 65 would never have been returned: the next start continues after 64.
  const reopened = await TimestampAllocator.open(file, { now, utc: true });
  assert.deepEqual(await reopened.allocate(), { date: '20240501', time: '1000000065' });
  assert.deepEqual(await reopened.allocate(), { date: '20240501', time: '1000000066' });
});

test('1,000 stamps in one second cost 16 writes of the state file, not 1,000', async (t) => {
  const file = join(await tempDir(t), 'stamp.json');
  const alloc = await TimestampAllocator.open(file, { now: at('2024-05-01T10:00:00Z'), utc: true });
  const stamps = await Promise.all(Array.from({ length: 1000 }, () => alloc.allocate()));
  assert.equal(new Set(stamps.map((s) => s.time)).size, 1000);
  const text = await readFile(file, 'latin1');
  const seqs = [text.slice(0, SLOT), text.slice(SLOT)].map((slot) => JSON.parse(slot).seq as number);
  assert.equal(Math.max(...seqs), 16, 'the first write fills both slots (seq 0 and 1), then one per 64 stamps');
});

test('a state file in the single-JSON format is continued and converted', async (t) => {
  const file = join(await tempDir(t), 'stamp.json');
  await writeFile(file, JSON.stringify({ version: 1, date: '20240501', time: '1000000041' }));
  const alloc = await TimestampAllocator.open(file, { now: at('2024-05-01T10:00:00Z'), utc: true });
  assert.deepEqual(await alloc.allocate(), { date: '20240501', time: '1000000042' });
  assert.equal((await readFile(file)).length, 2 * SLOT);
  const reopened = await TimestampAllocator.open(file, { now: at('2024-05-01T10:00:00Z'), utc: true });
  assert.deepEqual(await reopened.allocate(), { date: '20240501', time: '1000000106' }, 'after the counters reserved with 0042');
});

test('a state file with no valid content is refused, never guessed', async (t) => {
  const file = join(await tempDir(t), 'stamp.json');
  await writeFile(file, 'x'.repeat(2 * SLOT));
  await assert.rejects(TimestampAllocator.open(file), /malformed/);
});
