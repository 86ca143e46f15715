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

test('slots alternate; a torn newest slot falls back to the one before (whose stamp was the last returned)', async (t) => {
  const file = join(await tempDir(t), 'stamp.json');
  const now = at('2024-05-01T10:00:00Z');
  const alloc = await TimestampAllocator.open(file, { now, utc: true });
  const stamps = [];
  for (let i = 0; i < 5; i++) stamps.push(await alloc.allocate());
  assert.deepEqual(stamps.at(-1), { date: '20240501', time: '1000000005' });
  assert.equal((await readFile(file)).length, 2 * SLOT, 'the file keeps its size: writes are in place');
  // The newest stamp is in the slot of its sequence; tear it as a power cut mid-write would.
  const text = await readFile(file, 'latin1');
  const slots = [text.slice(0, SLOT), text.slice(SLOT)];
  const newest = slots.findIndex((s) => s.includes('1000000005'));
  assert.ok(newest >= 0 && slots[1 - newest]!.includes('1000000004'), 'the other slot holds the stamp before');
  const fh = await open(file, 'r+');
  await fh.write(Buffer.from('{"version":2,"seq":9'), 0, 20, newest * SLOT);
  await fh.close();
  // Had the write torn, stamp 5 would never have been returned: the next start continues after 4.
  const reopened = await TimestampAllocator.open(file, { now, utc: true });
  assert.deepEqual(await reopened.allocate(), { date: '20240501', time: '1000000005' });
  assert.deepEqual(await reopened.allocate(), { date: '20240501', time: '1000000006' });
});

test('a state file in the single-JSON format is continued and converted', async (t) => {
  const file = join(await tempDir(t), 'stamp.json');
  await writeFile(file, JSON.stringify({ version: 1, date: '20240501', time: '1000000041' }));
  const alloc = await TimestampAllocator.open(file, { now: at('2024-05-01T10:00:00Z'), utc: true });
  assert.deepEqual(await alloc.allocate(), { date: '20240501', time: '1000000042' });
  assert.equal((await readFile(file)).length, 2 * SLOT);
  const reopened = await TimestampAllocator.open(file, { now: at('2024-05-01T10:00:00Z'), utc: true });
  assert.deepEqual(await reopened.allocate(), { date: '20240501', time: '1000000043' });
});

test('a state file with no valid content is refused, never guessed', async (t) => {
  const file = join(await tempDir(t), 'stamp.json');
  await writeFile(file, 'x'.repeat(2 * SLOT));
  await assert.rejects(TimestampAllocator.open(file), /malformed/);
});
