import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { RECEIPTS_LOG } from '../../src/files/receipts-log.ts';
import { PendingReceiptStore } from '../../src/files/receipts-store.ts';
import type { Eerp, Nerp } from '../../src/protocol/command-types.ts';
import { IDENTITY, tempDir } from './helpers.ts';

const eerp = (datasetName: string): Eerp => ({
  cmd: 'EERP',
  datasetName,
  date: IDENTITY.date,
  time: IDENTITY.time,
  userData: '',
  destination: IDENTITY.originator,
  originator: IDENTITY.destination,
  fileHash: new Uint8Array(32).fill(0xab),
  signature: new Uint8Array([1, 2, 3]),
});

const nerp: Nerp = {
  cmd: 'NERP',
  datasetName: 'BROKEN',
  date: IDENTITY.date,
  time: IDENTITY.time,
  destination: IDENTITY.originator,
  originator: IDENTITY.destination,
  creator: IDENTITY.destination,
  reason: 33,
  reasonText: 'Entschlüsselung fehlgeschlagen',
  fileHash: new Uint8Array(0),
  signature: new Uint8Array(0),
};

test('pending receipts survive a restart and go only after RTR', async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const store = await PendingReceiptStore.open(dir, { now: () => Date.parse('2024-01-01T00:00:00Z') });
  const first = await store.add('acme', eerp('FIRST'));
  await store.add('acme', nerp);
  await store.add('other', eerp('ELSEWHERE'));
  assert.deepEqual(await store.add('acme', eerp('FIRST')), first, 'adding the same receipt twice keeps one');

  const restarted = await PendingReceiptStore.open(dir);
  assert.deepEqual(await restarted.partners(), ['acme', 'other']);
  const pending = await restarted.list('acme');
  assert.deepEqual(
    pending.map((p) => p.receipt),
    [eerp('FIRST'), nerp],
  );
  assert.equal(pending[0]!.createdAt, '2024-01-01T00:00:00.000Z');
  assert.ok(pending[0]!.receipt.fileHash instanceof Uint8Array);

  await restarted.remove('acme', pending[0]!.id); // the peer's RTR
  await restarted.add('acme', eerp('LATER'));
  const again = await PendingReceiptStore.open(dir);
  assert.deepEqual(
    (await again.list('acme')).map((p) => p.receipt.datasetName),
    ['BROKEN', 'LATER'],
  );
  await again.remove('acme', pending[1]!.id);
  await again.remove('acme', pending[1]!.id); // already gone: fine
  assert.ok((await readdir(dir)).every((n) => !n.endsWith('.tmp')));
  await assert.rejects(again.remove('acme', '../other/x'), /not a receipt id/);
  await assert.rejects(again.add('../x', nerp), /path separator/);
  assert.deepEqual(await again.list('nobody'), []);
  for (const s of [store, restarted, again]) await s.close();
});

test('addSoon: receipts within the linger are written as one batch, durable and listed in call order when they resolve', async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const store = await PendingReceiptStore.open(dir);
  const kept = await store.add('acme', eerp('KEPT'));
  const names = Array.from({ length: 70 }, (_, i) => `F${String(i).padStart(2, '0')}`);
  const added = names.map((n) => store.addSoon('acme', eerp(n), 50));
  assert.equal(store.addSoon('acme', eerp('F03'), 50), added[3], 'the same receipt while waiting: the same promise');
  // Not listed before it is durable.
  assert.deepEqual(
    (await store.list('acme')).map((p) => p.receipt.datasetName),
    ['KEPT'],
  );
  await Promise.all(added);
  assert.deepEqual(await store.addSoon('acme', eerp('KEPT')), kept, 'a receipt already stored is kept once');
  assert.deepEqual(
    (await store.list('acme')).map((p) => p.receipt.datasetName),
    ['KEPT', ...names],
  );
  const reopened = await PendingReceiptStore.open(dir);
  assert.deepEqual(
    (await reopened.list('acme')).map((p) => p.receipt),
    [eerp('KEPT'), ...names.map(eerp)],
  );
  const lines = (await readFile(join(dir, RECEIPTS_LOG), 'utf8')).trim().split('\n');
  assert.equal(lines.length, 71, 'one line per receipt');
  await store.close();
  await reopened.close();
});

test('the log: a torn last line is skipped and never continued; it goes once nothing is owed', async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const store = await PendingReceiptStore.open(dir);
  await store.add('acme', eerp('ONE'));
  await store.close();
  await appendFile(join(dir, RECEIPTS_LOG), '{"add":{"version":1,"id":"0000000000'); // a power cut mid-append
  const reopened = await PendingReceiptStore.open(dir);
  assert.deepEqual((await reopened.list('acme')).map((p) => p.receipt.datasetName), ['ONE']);
  const two = await reopened.add('acme', eerp('TWO'));
  await reopened.close();
  const third = await PendingReceiptStore.open(dir);
  const owed = await third.list('acme');
  assert.deepEqual(owed.map((p) => p.receipt.datasetName), ['ONE', 'TWO'], 'the record after the torn line is whole');
  assert.equal(owed[1]!.id, two.id);
  await third.removeMany('acme', owed.map((p) => p.id));
  await assert.rejects(readFile(join(dir, RECEIPTS_LOG)), { code: 'ENOENT' }, 'nothing owed: the log is removed');
  await third.add('acme', eerp('THREE'));
  assert.deepEqual((await (await PendingReceiptStore.open(dir)).list('acme')).map((p) => p.receipt.datasetName), ['THREE']);
  await third.close();
});

test('the log is rewritten with what is still owed once it has grown to four times that', async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const store = await PendingReceiptStore.open(dir);
  const names = Array.from({ length: 4200 }, (_, i) => `F${i}`);
  const stored = await Promise.all(names.map((n) => store.addSoon('acme', eerp(n), 1)));
  store.forget('acme', stored[1]!.id); // acknowledged, its removal not yet written: kept through a rewrite
  await store.removeMany('acme', stored.slice(2, 4000).map((s) => s.id));
  const lines = (await readFile(join(dir, RECEIPTS_LOG), 'utf8')).trim().split('\n');
  assert.equal(lines.length, 202, 'rewritten: the 201 owed and the forgotten one');
  const reopened = await PendingReceiptStore.open(dir);
  assert.deepEqual((await reopened.list('acme')).map((p) => p.receipt.datasetName), ['F0', 'F1', ...names.slice(4000)]);
  await store.close();
  await reopened.close();
});

test('receipts of the earlier layout (a file each) are read, and their files removed when acknowledged', async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const legacy = join(dir, 'acme', '000000000007-EERP-legacykey.json');
  await mkdir(join(dir, 'acme'), { recursive: true });
  const file = { version: 1, id: '000000000007-EERP-legacykey', partner: 'acme', createdAt: '2024-01-01T00:00:00.000Z', receipt: { ...eerp('OLD'), fileHash: Buffer.alloc(32, 0xab).toString('base64'), signature: Buffer.from([1, 2, 3]).toString('base64') } };
  await writeFile(legacy, JSON.stringify(file));
  const store = await PendingReceiptStore.open(dir);
  const [old] = await store.list('acme');
  assert.deepEqual(old!.receipt, eerp('OLD'));
  const next = await store.add('acme', eerp('NEW'));
  assert.ok(next.id > old!.id, 'numbered after the old ones');
  await store.remove('acme', old!.id);
  await assert.rejects(readFile(legacy), { code: 'ENOENT' });
  assert.deepEqual((await (await PendingReceiptStore.open(dir)).list('acme')).map((p) => p.receipt.datasetName), ['NEW']);
  await store.close();
});

test('addSoon: a receipt whose addSoon resolved survives a SIGKILL right after it', { timeout: 60_000 }, async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const module = resolve(import.meta.dirname, '../../src/files/receipts-store.ts');
  const script = `
    const { PendingReceiptStore } = await import(${JSON.stringify(module)});
    const store = await PendingReceiptStore.open(${JSON.stringify(dir)});
    const eerp = (datasetName) => ({ cmd: 'EERP', datasetName, date: '20240229', time: '1230450001', userData: '', destination: 'A', originator: 'B', fileHash: new Uint8Array(32), signature: new Uint8Array(0) });
    for (let i = 0; ; i++) {
      store.addSoon('acme', eerp('F' + i), 2).then(() => process.stdout.write('added F' + i + '\\n'));
      await new Promise((r) => setTimeout(r, i % 3));
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const exited = new Promise((r) => child.once('exit', r));
  while (!/added F200\n/.test(out)) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  await exited;
  const added = [...out.matchAll(/^added (F\d+)$/gm)].map((m) => m[1]!);
  const listed = new Set((await (await PendingReceiptStore.open(dir)).list('acme')).map((p) => p.receipt.datasetName));
  for (const name of added) assert.ok(listed.has(name), `${name}: addSoon resolved before the kill, so it is stored`);
  t.diagnostic(`killed after ${added.length} receipts stored (${listed.size} on disk)`);
});

test('a receipt stored while the last owed one is being removed keeps the log', async (t) => {
  const dir = join(await tempDir(t), 'receipts');
  const store = await PendingReceiptStore.open(dir);
  for (let round = 0; round < 20; round++) {
    const a = await store.add('acme', eerp(`A${round}`));
    const removing = store.remove('acme', a.id);
    const b = await store.add('acme', eerp(`B${round}`));
    await removing;
    const reopened = await PendingReceiptStore.open(dir);
    assert.ok((await reopened.list('acme')).some((p) => p.id === b.id), `round ${round}: B is on disk`);
    await reopened.close();
    await store.remove('acme', b.id);
  }
  await store.close();
});
