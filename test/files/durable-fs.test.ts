import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { mkdirDurable, moveNoReplace, readJsonIfExists, removeInterruptedWrites, removeTreeDetached, tempNameFor, writeJsonAtomic } from '../../src/files/durable-fs.ts';
import { tempDir } from './helpers.ts';

test('mkdirDurable creates nested directories, also from a relative path', async (t) => {
  const dir = await tempDir(t);
  await mkdirDurable(join(dir, 'a', 'b', 'c'));
  assert.ok((await stat(join(dir, 'a', 'b', 'c'))).isDirectory());
  await mkdirDurable(join(dir, 'a', 'b', 'c')); // exists: fine
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    await mkdirDurable(join('x', 'y'));
  } finally {
    process.chdir(cwd);
  }
  assert.ok((await stat(join(dir, 'x', 'y'))).isDirectory());
});

test('writeJsonAtomic replaces whole files and leaves no temp files', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'state.json');
  assert.equal(await readJsonIfExists(path), undefined);
  await writeJsonAtomic(path, { n: 1 });
  await writeJsonAtomic(path, { n: 2 });
  assert.deepEqual(await readJsonIfExists(path), { n: 2 });
  assert.deepEqual(await readdir(dir), ['state.json']);
  await writeFile(path, '{broken');
  await assert.rejects(readJsonIfExists(path), { code: 'OFTP_ERR_IO' });
});

test('moveNoReplace never overwrites', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a'), 'A');
  await writeFile(join(dir, 'b'), 'B');
  assert.equal(await moveNoReplace(join(dir, 'a'), join(dir, 'b')), false);
  assert.equal(await readFile(join(dir, 'b'), 'utf8'), 'B');
  assert.equal(await moveNoReplace(join(dir, 'a'), join(dir, 'c')), true);
  assert.deepEqual((await readdir(dir)).sort(), ['b', 'c']);
});

test('removeInterruptedWrites removes the temp files a crash left behind, and nothing else', async (t) => {
  const dir = await tempDir(t);
  const kept = join(dir, 'entry.json');
  await writeJsonAtomic(kept, { n: 1 });
  const stale = tempNameFor(kept); // what a SIGKILL between open and rename leaves
  await writeFile(stale, '{"n":');
  await writeFile(join(dir, 'other.tmp'), 'not hidden: not ours');
  assert.deepEqual(await removeInterruptedWrites(dir), [stale.slice(dir.length + 1)]);
  assert.deepEqual((await readdir(dir)).sort(), ['entry.json', 'other.tmp']);
  assert.deepEqual(await removeInterruptedWrites(join(dir, 'absent')), []);
});

test('removeTreeDetached removes a small flat tree in this process (no `rm` started per small spool entry)', async (t) => {
  const dir = await tempDir(t);
  const small = join(dir, 'small');
  await mkdir(small);
  await writeFile(join(small, 'data'), Buffer.alloc(1024, 1));
  await writeFile(join(small, 'meta.json'), '{}');
  await removeTreeDetached(small);
  // Settled means gone: a detached `rm` would only have been started by now.
  await assert.rejects(stat(small), { code: 'ENOENT' });
});
