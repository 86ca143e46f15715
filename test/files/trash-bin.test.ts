import assert from 'node:assert/strict';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { TrashBin } from '../../src/files/trash-bin.ts';
import { tempDir } from './helpers.ts';

async function trees(dir: string, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const tree = join(dir, `t${i}`);
    await mkdir(tree);
    await writeFile(join(tree, 'data'), Buffer.alloc(1024, i));
    await writeFile(join(tree, 'meta.json'), '{}');
    out.push(tree);
  }
  return out;
}

async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.fail('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const exists = (path: string) => stat(path).then(() => true, () => false);

test('trees are deleted once removals pause, not while they go on', async (t) => {
  const dir = await tempDir(t);
  const bin = new TrashBin({ detached: false, quietMs: 1000 });
  const [a, b, c] = await trees(dir, 3);
  bin.discard(a!, 2048);
  await new Promise((r) => setTimeout(r, 50));
  bin.discard(b!, 2048);
  await new Promise((r) => setTimeout(r, 50));
  bin.discard(c!, 2048);
  assert.equal(bin.waiting, 3, 'each removal within the quiet time puts the deletion off');
  assert.ok(await exists(a!));
  await eventually(async () => (await readdir(dir)).length === 0);
  assert.equal(bin.waiting, 0);
  await bin.close();
});

test('close() deletes what waits before it resolves; later discards are deleted at once', async (t) => {
  const dir = await tempDir(t);
  const bin = new TrashBin({ detached: false, quietMs: 60_000 });
  const made = await trees(dir, 5);
  for (const tree of made) bin.discard(tree, 2048);
  assert.equal(bin.waiting, 5);
  await bin.close();
  assert.deepEqual(await readdir(dir), []);
  const [late] = await trees(dir, 1);
  bin.discard(late!, 2048);
  await eventually(async () => !(await exists(late!)));
});

test('detached: a big tree goes to a detached `rm` at once, small ones at close()', async (t) => {
  const dir = await tempDir(t);
  const bin = new TrashBin({ detached: true, quietMs: 60_000 });
  const [big, small1, small2] = await trees(dir, 3);
  bin.discard(big!, 2 << 20);
  bin.discard(small1!, 2048);
  bin.discard(small2!, 2048);
  assert.equal(bin.waiting, 2, 'the big one does not wait');
  await eventually(async () => !(await exists(big!)));
  assert.ok(await exists(small1!), 'small ones wait for the pause or close()');
  const before = process.getActiveResourcesInfo().filter((r) => r.startsWith('FSReq')).length;
  await bin.close();
  // Handed to `rm`: nothing of this process is deleting them (no file-system request pending).
  assert.equal(process.getActiveResourcesInfo().filter((r) => r.startsWith('FSReq')).length, before);
  await eventually(async () => (await readdir(dir)).length === 0);
});

test('detached: small trees are handed to one detached `rm` once removals pause, none deleted here', async (t) => {
  const dir = await tempDir(t);
  const bin = new TrashBin({ detached: true, quietMs: 100 });
  const made = await trees(dir, 4);
  for (const tree of made) bin.discard(tree, 2048);
  assert.equal(bin.waiting, 4);
  await eventually(async () => bin.waiting === 0);
  // Handed on: nothing of this process is deleting them.
  assert.equal(process.getActiveResourcesInfo().filter((r) => r.startsWith('FSReq')).length, 0);
  await eventually(async () => (await readdir(dir)).length === 0);
  await bin.close();
});

test('a steady stream is deleted as it comes: past 64 waiting, deletion starts without a pause', async (t) => {
  const dir = await tempDir(t);
  const bin = new TrashBin({ detached: false, quietMs: 60_000 });
  const made = await trees(dir, 70);
  for (const tree of made) bin.discard(tree, 2048);
  await eventually(async () => (await readdir(dir)).length === 0);
  assert.equal(bin.waiting, 0);
  await bin.close();
});
