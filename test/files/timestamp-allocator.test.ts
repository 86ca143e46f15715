import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TimestampAllocator } from '../../src/files/timestamp-allocator.ts';
import { tempDir } from './helpers.ts';

const at = (iso: string) => () => Date.parse(iso);

test('stamps count up within a second and restart at 0001 in the next', async (t) => {
  const dir = await tempDir(t);
  let now = Date.parse('2024-02-29T12:30:45.100Z');
  const alloc = await TimestampAllocator.open(join(dir, 'stamp.json'), { now: () => now, utc: true });
  assert.deepEqual(await alloc.allocate(), { date: '20240229', time: '1230450001' });
  assert.deepEqual(await alloc.allocate(), { date: '20240229', time: '1230450002' });
  now += 1000;
  assert.deepEqual(await alloc.allocate(), { date: '20240229', time: '1230460001' });
});

test('concurrent allocations are all distinct', async (t) => {
  const dir = await tempDir(t);
  const alloc = await TimestampAllocator.open(join(dir, 'stamp.json'), { now: at('2024-01-01T00:00:00Z'), utc: true });
  const stamps = await Promise.all(Array.from({ length: 20 }, () => alloc.allocate()));
  assert.equal(new Set(stamps.map((s) => s.date + s.time)).size, 20);
});

test('uniqueness survives a restart and a clock stepped backwards', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'state', 'stamp.json');
  const first = await TimestampAllocator.open(file, { now: at('2024-03-01T08:00:00Z'), utc: true });
  await first.allocate();
  assert.deepEqual(await first.allocate(), { date: '20240301', time: '0800000002' });
  // "restart": a new instance on the same state file, same second: after the counters the first
  // reserved (0001–0064), which it may have issued
  const second = await TimestampAllocator.open(file, { now: at('2024-03-01T08:00:00Z'), utc: true });
  assert.deepEqual(await second.allocate(), { date: '20240301', time: '0800000065' });
  // clock stepped back an hour: continue after the last reservation, never repeat
  const third = await TimestampAllocator.open(file, { now: at('2024-03-01T07:00:00Z'), utc: true });
  assert.deepEqual(await third.allocate(), { date: '20240301', time: '0800000129' });
});

test('counter 9999 moves on to the next second, across midnight and year end', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'stamp.json');
  await writeFile(file, JSON.stringify({ version: 1, date: '20231231', time: '2359599999' }));
  const alloc = await TimestampAllocator.open(file, { now: at('2023-12-31T23:59:59Z'), utc: true });
  assert.deepEqual(await alloc.allocate(), { date: '20240101', time: '0000000001' });
  assert.deepEqual(await alloc.allocate(), { date: '20240101', time: '0000000002' });
});

test('local time is the default', async (t) => {
  const dir = await tempDir(t);
  const ms = Date.parse('2024-06-15T10:20:30Z');
  const alloc = await TimestampAllocator.open(join(dir, 'stamp.json'), { now: () => ms });
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  assert.deepEqual(await alloc.allocate(), {
    date: `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}`,
    time: `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}0001`,
  });
});
