// Transfer history at 100,000 records: group-committed writes, reopen (replay), lists newest-first from
// the change-order indexes and per-partner counts; the indexes agree with a naive sort after random
// updates. Bounds are loose (shared CI machines): the figures belong to scripts/bench-gateway.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { seededRandom } from '../../src/gateway/retry-policy.ts';
import { TransferHistory, type TransferRecord, type TransferState, type TransferUpdate } from '../../src/store/transfer-history.ts';

const STATES: TransferState[] = ['queued', 'sending', 'sent', 'delivered', 'failed', 'received', 'acknowledged'];

function update(i: number, state: TransferState, partner = `p${i % 20}`): TransferUpdate {
  return {
    id: `out:${i}`,
    direction: i % 3 === 0 ? 'in' : 'out',
    state,
    partner,
    datasetName: `FILE${i}`,
    date: '20261122',
    time: '1010100001',
    originator: 'O0013000000PLANT',
    destination: 'O0013000000ACME',
    size: 1000 + i,
    path: `/srv/outbox/${partner}/FILE${i}`,
  };
}

async function tempDir(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-history-scale-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('100,000 records: written with group commit, replayed, listed and counted quickly', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const h = await TransferHistory.open({ dir });
  let seen = 0;
  h.subscribe(() => seen++);
  let start = performance.now();
  await Promise.all(Array.from({ length: 100_000 }, (_, i) => h.record(update(i, 'queued'))));
  const writeAll = performance.now() - start;
  assert.equal(seen, 100_000, 'every change told to subscribers after it is durable');
  // Half of them move on: delivered.
  await Promise.all(Array.from({ length: 50_000 }, (_, i) => h.record(update(i * 2, 'delivered'))));
  assert.ok(writeAll < 60_000, `100,000 writes in ${writeAll.toFixed(0)} ms`);
  await h.close();

  start = performance.now();
  const again = await TransferHistory.open({ dir });
  const openMs = performance.now() - start;
  t.after(() => again.close());
  assert.equal(again.size, 100_000);
  assert.ok(openMs < 5000, `replay in ${openMs.toFixed(0)} ms`);

  const timed = <T>(f: () => T): [T, number] => {
    const s = performance.now();
    const r = f();
    return [r, performance.now() - s];
  };
  const [newest, newestMs] = timed(() => again.list({ limit: 50 }));
  assert.deepEqual(newest.slice(0, 3).map((r) => r.id), ['out:99998', 'out:99996', 'out:99994'], 'the last changes first');
  const [byPartner, byPartnerMs] = timed(() => again.list({ partner: 'p3', limit: 50 }));
  assert.ok(byPartner.every((r) => r.partner === 'p3') && byPartner.length === 50);
  const [failed, failedMs] = timed(() => again.list({ state: 'failed', limit: 50 }));
  assert.equal(failed.length, 0);
  const [counts, countsMs] = timed(() => again.counts());
  const total = (partner: string, state: TransferState) => (counts.get(partner)!.out[state] ?? 0) + (counts.get(partner)!.in[state] ?? 0);
  assert.deepEqual([total('p3', 'queued'), total('p3', 'delivered')], [5000, 0], 'odd ids stayed queued');
  assert.deepEqual([total('p4', 'queued'), total('p4', 'delivered')], [0, 5000], 'even ids moved on');
  for (const [what, ms] of [['newest 50', newestMs], ['partner 50', byPartnerMs], ['counts', countsMs]] as const) {
    assert.ok(ms < 50, `${what}: ${ms.toFixed(2)} ms`);
  }
  // A state with no match scans everything once, still well under a second.
  assert.ok(failedMs < 500, `state scan ${failedMs.toFixed(1)} ms`);

  // One more change: a single write is one append and one fsync.
  const [write] = timed(() => again.record(update(7, 'failed')));
  await write;
  assert.equal(again.list({ limit: 1 })[0]!.id, 'out:7');
  assert.equal(again.list({ state: 'failed' }).length, 1);
});

test('the indexes agree with a naive newest-first sort after random updates, partner moves and a reopen', async (t) => {
  const dir = await tempDir(t);
  let clock = Date.UTC(2026, 10, 22);
  const now = () => new Date(clock);
  const h = await TransferHistory.open({ dir, now });
  const r = seededRandom(11);
  const model = new Map<string, TransferRecord>();
  const order: string[] = [];
  for (let n = 0; n < 5000; n++) {
    clock += 1000;
    const i = Math.floor(r() * 800);
    const state = STATES[Math.floor(r() * STATES.length)]!;
    const partner = `p${Math.floor(r() * (n % 50 === 0 ? 9 : 4))}`;
    const rec = await h.record(update(i, state, partner));
    model.set(rec.id, rec);
    order.push(rec.id);
  }
  const naive = (filter: { partner?: string; state?: TransferState; limit?: number }) => {
    const out: string[] = [];
    const done = new Set<string>();
    for (let k = order.length - 1; k >= 0; k--) {
      const id = order[k]!;
      if (done.has(id)) continue;
      done.add(id);
      const rec = model.get(id)!;
      if (filter.partner && rec.partner !== filter.partner) continue;
      if (filter.state && rec.state !== filter.state) continue;
      out.push(id);
    }
    return filter.limit ? out.slice(0, filter.limit) : out;
  };
  const check = (history: TransferHistory, label: string) => {
    for (const filter of [{}, { limit: 10 }, { partner: 'p1' }, { partner: 'p7' }, { state: 'failed' as const }, { partner: 'p2', state: 'sent' as const, limit: 5 }]) {
      assert.deepEqual(
        history.list(filter).map((x) => x.id),
        naive(filter),
        `${label} ${JSON.stringify(filter)}`,
      );
    }
    for (const [partner, c] of history.counts()) {
      for (const state of STATES) {
        const expected = [...model.values()].filter((x) => x.partner === partner && x.state === state).length;
        assert.equal((c.in[state] ?? 0) + (c.out[state] ?? 0), expected, `${label} count ${partner} ${state}`);
      }
    }
  };
  check(h, 'live');
  await h.close();
  const again = await TransferHistory.open({ dir, now });
  check(again, 'reopened');
  await again.close();
});
