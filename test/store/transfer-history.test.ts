import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TransferHistory, type TransferUpdate } from '../../src/store/transfer-history.ts';

const base: TransferUpdate = {
  id: 't1',
  direction: 'out',
  state: 'queued',
  partner: 'acme',
  datasetName: 'ORDERS',
  date: '20261122',
  time: '0101010001',
  originator: 'O0013000000PLANT',
  destination: 'O0013000000ACME',
};

async function tempDir(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-history-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('state changes are kept, replayed after a restart, and keep their creation time', async (t) => {
  const dir = await tempDir(t);
  let clock = new Date('2026-11-22T10:00:00Z');
  const h = await TransferHistory.open({ dir, now: () => clock });
  await h.record(base);
  clock = new Date('2026-11-22T10:00:05Z');
  await h.record({ ...base, state: 'delivered', sha256: 'ab' });
  await h.record({ ...base, id: 't2', partner: 'other', state: 'failed', reason: 'SFNA 13', reasonText: 'Duplicate file' });
  await h.close();
  const again = await TransferHistory.open({ dir, now: () => clock });
  const t1 = again.get('t1')!;
  assert.equal(t1.state, 'delivered');
  assert.equal(t1.sha256, 'ab');
  assert.equal(t1.createdAt, '2026-11-22T10:00:00.000Z');
  assert.equal(t1.updatedAt, '2026-11-22T10:00:05.000Z');
  assert.deepEqual(again.list({ partner: 'other' }).map((r) => r.id), ['t2']);
  assert.deepEqual(again.list({ state: 'delivered' }).map((r) => r.id), ['t1']);
  await again.close();
});

test('a line torn by a crash is skipped and the earlier state stands', async (t) => {
  const dir = await tempDir(t);
  const clock = new Date('2026-11-22T10:00:00Z');
  const h = await TransferHistory.open({ dir, now: () => clock });
  await h.record(base);
  await h.close();
  await appendFile(join(dir, '2026-11.jsonl'), '{"id":"t1","state":"deliv');
  const again = await TransferHistory.open({ dir, now: () => clock });
  assert.equal(again.get('t1')?.state, 'queued');
  // The next record after the torn line is kept (it starts on a line of its own).
  await again.record({ ...base, state: 'sending' });
  await again.close();
  const third = await TransferHistory.open({ dir, now: () => clock });
  assert.equal(third.get('t1')?.state, 'sending');
  await third.close();
});

test('segments older than the retention window roll off at open', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, '2025-01.jsonl'), `${JSON.stringify({ ...base, id: 'old', createdAt: 'x', updatedAt: 'x' })}\n`);
  await writeFile(join(dir, '2026-10.jsonl'), `${JSON.stringify({ ...base, id: 'recent', createdAt: 'x', updatedAt: 'x' })}\n`);
  const h = await TransferHistory.open({ dir, retentionMonths: 3, now: () => new Date('2026-11-22T00:00:00Z') });
  assert.equal(h.get('old'), undefined);
  assert.equal(h.get('recent')?.id, 'recent');
  assert.deepEqual((await readdir(dir)).sort(), ['2026-10.jsonl']);
  await h.close();
});
