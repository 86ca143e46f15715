import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { forgetEnsuredDirs, fsyncDirShared, mkdirDurable, mkdirDurableOnce, moveNoReplace, readJsonIfExists, removeInterruptedWrites, tempNameFor, writeJsonAtomic } from '../../src/files/durable-fs.ts';
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

test('fsyncDirShared: callers while an fsync runs share the one that starts after it', async (t) => {
  const dir = await tempDir(t);
  const first = fsyncDirShared(dir);
  const later = Array.from({ length: 5 }, () => fsyncDirShared(dir));
  assert.notEqual(later[0], first, 'a change made while an fsync runs needs one that starts after it');
  for (const p of later) assert.equal(p, later[0], 'every caller meanwhile shares that one');
  await Promise.all([first, ...later]);
  const again = fsyncDirShared(dir);
  assert.notEqual(again, later[0], 'none running: a new one starts');
  await again;
  await assert.rejects(fsyncDirShared(join(dir, 'missing')), { code: 'OFTP_ERR_IO' });
});

test('mkdirDurableOnce checks a folder once per process; forgetEnsuredDirs makes it check again', async (t) => {
  const dir = await tempDir(t);
  const folder = join(dir, 'inbox', 'acme');
  await mkdirDurableOnce(folder, 0o750);
  assert.equal((await stat(folder)).mode & 0o777, 0o750);
  await rm(join(dir, 'inbox'), { recursive: true });
  await mkdirDurableOnce(folder);
  await assert.rejects(stat(folder), { code: 'ENOENT' }, 'known: not looked at again');
  forgetEnsuredDirs();
  await mkdirDurableOnce(folder);
  assert.ok((await stat(folder)).isDirectory());
});
