// One station per data directory (station.lock): a second Station on the same directory fails with a
// clear error, whether the first is in this process or in another live one; a lock left by a process
// that is gone is taken over; closing releases it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { releaseLock, takeLock } from '../../src/station/data-dir-lock.ts';
import { Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';

async function dataDir(t: import('node:test').TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'oftp-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await StationStore.init(dir, { odetteId: 'O0013000000LOCKED' });
  return dir;
}

const lockPath = (dir: string) => join(dir, 'state', 'station.lock');

test('a second Station on the same data directory in this process fails clearly', async (t) => {
  const dir = await dataDir(t);
  const first = await Station.open(dir);
  t.after(() => first.close());
  await assert.rejects(Station.open(dir), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'OFTP_ERR_CONFIG');
    assert.match(err.message, /data directory is in use/);
    return true;
  });
  // The refused open must not have taken the lock away from the first.
  assert.equal(JSON.parse(await readFile(lockPath(dir), 'utf8')).pid, process.pid);
  await first.close();
  await first.close(); // twice: must not remove a lock it no longer holds
  // Two opens at once: exactly one wins.
  const both = await Promise.allSettled([Station.open(dir), Station.open(dir)]);
  assert.deepEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  for (const r of both) if (r.status === 'fulfilled') await r.value.close();
});

test('a lock held by another live process refuses the open and names the process', async (t) => {
  const dir = await dataDir(t);
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  await writeFile(lockPath(dir), String(child.pid));
  await assert.rejects(Station.open(dir), new RegExp(`in use by process ${child.pid}`));
  assert.equal(await readFile(lockPath(dir), 'utf8'), String(child.pid), 'the lock is left alone');
});

test('a lock left by a process that is gone is taken over', async (t) => {
  const dir = await dataDir(t);
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise((resolve) => child.once('spawn', resolve));
  await exited;
  await writeFile(lockPath(dir), String(child.pid));
  const station = await Station.open(dir);
  assert.equal(JSON.parse(await readFile(lockPath(dir), 'utf8')).pid, process.pid);
  await station.close();
});

test('a lock whose pid now names another process (same pid after a reboot) is taken over', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'station.lock');
  // pid 1 is alive, but it is not the process that wrote the lock: another boot id says so.
  await writeFile(path, JSON.stringify({ pid: 1, boot: 'a-boot-before-the-reboot', start: '1' }));
  await takeLock(path);
  assert.equal(JSON.parse(await readFile(path, 'utf8')).pid, process.pid);
  await releaseLock(path);
  // The same pid with the same boot and start time is a live owner: refused.
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
  const stat = await readFile('/proc/1/stat', 'utf8');
  const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  await writeFile(path, JSON.stringify({ pid: 1, boot: bootId, start }));
  await assert.rejects(takeLock(path), /in use by process 1/);
});
