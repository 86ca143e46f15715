// Gateway benchmark (npm run bench:gateway): files dropped for a partner to their SFID, end to end.
//
// Receiver A is a real `oftp2 serve` process; sender B is the daemon in this process (scheduler,
// hooks, history) with a drop-folder pickup in front of it. N small files (default 10,000 × 1 KiB)
// are dropped as fast as they can be written; each is taken into the spool once it is complete
// (Station.enqueue) and the scheduler told (notifyQueued), as the outbox watcher does. Measured:
// - drop-to-SFID per file: from the drop (file written and closed) to A's history recording the
//   SFID ('receiving' created), median and p99;
// - end-to-end files/s: N over first drop to last delivery at A; beside it the in-session rate
//   (files over the span of SFIDs at A), the ceiling the session engine sets for this file size;
// - history at 100,000 records: replay at open, one durable write (append + fsync), newest-50 and
//   per-partner queries, counts.
// Targets: median drop-to-SFID ≤ 1 s, history operations ≤ 10 ms. The last line is JSON.
//
// The share's own watcher (src/gateway/outbox-watcher.ts, with its stability rule) is not in the
// loop here: the pickup is this script's (write, then enqueue). Its stability wait adds to the
// drop-to-SFID figure; see the report line "pickup".
//
// Options: --files N (10000), --size BYTES (1024), --history N (100000), --keep (keep the temp dir),
// --rate R (drop R files per second instead of a burst: drop-to-SFID without a backlog, i.e. the
// scheduler's and the session start's own delay).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Daemon } from '../src/gateway/daemon.ts';
import type { Log } from '../src/station/session-handler.ts';
import { StationStore } from '../src/store/station-store.ts';
import { TransferHistory, type TransferRecord } from '../src/store/transfer-history.ts';

const { values } = parseArgs({
  options: { rate: { type: 'string' }, files: { type: 'string', default: '10000' }, size: { type: 'string', default: '1024' }, history: { type: 'string', default: '100000' }, keep: { type: 'boolean' } },
});
const FILES = Number(values.files);
const SIZE = Number(values.size);
const HISTORY = Number(values.history);
const RATE = values.rate === undefined ? undefined : Number(values.rate);
const MAIN = join(import.meta.dirname, '../src/cli/main.ts');
const ID_A = 'O0013000000BENCHA';
const ID_B = 'O0013000000BENCHB';

const quiet: Log = { info() {}, warn() {} };
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
const fmt = (n: number, d = 3) => n.toFixed(d);

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function gatewayRun(root: string) {
  const portA = await freePort();
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const a = await StationStore.init(dirA, { odetteId: ID_A, listen: { host: '127.0.0.1', port: portA } });
  await a.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: 'PWFROMA', passwordExpected: 'PWFROMB' });
  const b = await StationStore.init(dirB, { odetteId: ID_B, listen: { host: '127.0.0.1', port: await freePort() } });
  await b.addPartner({ name: 'a', odetteId: ID_A, host: '127.0.0.1', port: portA, passwordToSend: 'PWFROMB', passwordExpected: 'PWFROMA' });

  const serveA = spawn(process.execPath, [MAIN, 'serve', '-d', dirA, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exitedA = new Promise((r) => serveA.once('close', r));
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = createServer();
        s.once('error', () => resolve(true));
        s.listen(portA, '127.0.0.1', () => s.close(() => resolve(false)));
      });
      if (ok) break;
      if (i > 200) throw new Error('oftp2 serve (A) did not listen');
      await new Promise((r) => setTimeout(r, 50));
    }
    const daemon = await Daemon.start({ dataDir: dirB, log: quiet, host: '127.0.0.1' });
    const drops = join(root, 'drops');
    await mkdir(drops);
    const payload = Buffer.alloc(SIZE, 0x41);
    const dropAt = new Map<string, number>();
    const pickupMs: number[] = [];
    const first = Date.now();
    for (let i = 0; i < FILES; i++) {
      if (RATE) {
        const wait = first + (i * 1000) / RATE - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      const name = `F${String(i).padStart(6, '0')}`;
      const path = join(drops, name);
      await writeFile(path, payload);
      const dropped = Date.now();
      dropAt.set(name, dropped);
      await daemon.station.enqueue('a', { path, datasetName: name });
      daemon.scheduler.notifyQueued('a');
      pickupMs.push(Date.now() - dropped);
    }
    const dropsDone = Date.now();
    const inbox = join(dirA, 'inbox', 'b');
    for (;;) {
      const n = (await readdir(inbox).catch(() => [] as string[])).filter((f) => !f.startsWith('.')).length;
      if (n >= FILES) break;
      if (Date.now() - first > 30 * 60_000) throw new Error(`only ${n} of ${FILES} files arrived in 30 minutes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const allIn = Date.now();
    await daemon.scheduler.idle();
    await daemon.stop('bench done');
    serveA.kill('SIGTERM');
    await exitedA;

    const historyA = await TransferHistory.open({ dir: join(dirA, 'state', 'history') });
    const received = historyA.list({ direction: 'in' });
    await historyA.close();
    const latencies: number[] = [];
    const sfidTimes: number[] = [];
    for (const r of received as TransferRecord[]) {
      const dropped = dropAt.get(r.datasetName);
      if (dropped === undefined) continue;
      const sfid = Date.parse(r.createdAt);
      sfidTimes.push(sfid);
      latencies.push((sfid - dropped) / 1000);
    }
    latencies.sort((x, y) => x - y);
    sfidTimes.sort((x, y) => x - y);
    pickupMs.sort((x, y) => x - y);
    return {
      latencies,
      filesPerS: FILES / ((allIn - first) / 1000),
      dropsPerS: FILES / ((dropsDone - first) / 1000),
      inSessionPerS: (sfidTimes.length - 1) / ((sfidTimes.at(-1)! - sfidTimes[0]!) / 1000),
      pickupMedianMs: pct(pickupMs, 0.5),
      pickupP99Ms: pct(pickupMs, 0.99),
    };
  } finally {
    if (serveA.exitCode === null) serveA.kill('SIGKILL');
  }
}

async function historyRun(root: string) {
  const dir = join(root, 'history');
  await mkdir(dir);
  // 100,000 transfers, each queued → sending → sent → delivered (4 lines), written as the segment file.
  const month = new Date().toISOString().slice(0, 7);
  const lines: string[] = [];
  const t0 = Date.now() - HISTORY * 1000;
  for (let i = 0; i < HISTORY; i++) {
    const base = {
      id: `out:${i}`,
      direction: 'out',
      partner: `p${i % 20}`,
      datasetName: `FILE${i}`,
      date: '20261122',
      time: '1010100001',
      originator: ID_B,
      destination: ID_A,
      size: SIZE,
      sha256: 'ab'.repeat(32),
      path: `/srv/share/outbox/p${i % 20}/FILE${i}`,
      createdAt: new Date(t0 + i * 1000).toISOString(),
    };
    for (const state of ['queued', 'sending', 'sent', 'delivered']) lines.push(JSON.stringify({ ...base, state, updatedAt: new Date(t0 + i * 1000 + 10).toISOString() }));
  }
  await writeFile(join(dir, `${month}.jsonl`), `${lines.join('\n')}\n`);
  let s = performance.now();
  const h = await TransferHistory.open({ dir });
  const openMs = performance.now() - s;
  const writes: number[] = [];
  for (let i = 0; i < 200; i++) {
    s = performance.now();
    await h.record({ id: `out:${i}`, direction: 'out', state: 'failed', partner: `p${i % 20}`, datasetName: `FILE${i}`, date: '20261122', time: '1010100001', originator: ID_B, destination: ID_A, reason: 'NERP 35', reasonText: 'Not delivered to recipient' });
    writes.push(performance.now() - s);
  }
  const queries: number[] = [];
  for (let i = 0; i < 200; i++) {
    s = performance.now();
    h.list({ limit: 50 });
    h.list({ partner: `p${i % 20}`, limit: 50 });
    h.list({ state: 'failed', limit: 10 });
    h.counts();
    queries.push((performance.now() - s) / 4);
  }
  await h.close();
  writes.sort((x, y) => x - y);
  queries.sort((x, y) => x - y);
  return { openMs, writeMedian: pct(writes, 0.5), writeP99: pct(writes, 0.99), queryMedian: pct(queries, 0.5), queryP99: pct(queries, 0.99) };
}

const root = await mkdtemp(join(tmpdir(), 'oftp2-bench-gateway-'));
try {
  console.log(`bench-gateway: ${FILES} files of ${SIZE} octets dropped for one partner ${RATE ? `at ${RATE} files/s` : 'in one burst'}; history at ${HISTORY} records`);
  const g = await gatewayRun(root);
  const median = pct(g.latencies, 0.5);
  const p99 = pct(g.latencies, 0.99);
  console.log(`pickup (write → spooled, this script's): median ${fmt(g.pickupMedianMs, 1)} ms, p99 ${fmt(g.pickupP99Ms, 1)} ms; drops at ${fmt(g.dropsPerS, 0)} files/s`);
  console.log(`drop → SFID at the partner: median ${fmt(median)} s, p99 ${fmt(p99)} s   (target: median ≤ 1 s)`);
  console.log(`end to end: ${fmt(g.filesPerS, 0)} files/s   beside in-session ${fmt(g.inSessionPerS, 0)} files/s (the session's own ceiling at ${SIZE} octets)`);
  const h = await historyRun(root);
  console.log(`history at ${HISTORY} transfers (${HISTORY * 4} lines): open ${fmt(h.openMs, 0)} ms; write (append + fsync) median ${fmt(h.writeMedian, 2)} ms, p99 ${fmt(h.writeP99, 2)} ms; query median ${fmt(h.queryMedian, 3)} ms, p99 ${fmt(h.queryP99, 3)} ms   (target ≤ 10 ms)`);
  const historyMs = Math.max(h.writeMedian, h.queryP99);
  console.log(
    JSON.stringify({
      drop_to_sfid_median_s: Number(fmt(median)),
      drop_to_sfid_p99_s: Number(fmt(p99)),
      files_per_s: Number(fmt(g.filesPerS, 1)),
      in_session_files_per_s: Number(fmt(g.inSessionPerS, 1)),
      history_ms: Number(fmt(historyMs, 3)),
      history_write_p99_ms: Number(fmt(h.writeP99, 3)),
      history_open_ms: Number(fmt(h.openMs, 0)),
    }),
  );
} finally {
  if (!values.keep) await rm(root, { recursive: true, force: true });
  else console.error(`kept ${root}`);
}
