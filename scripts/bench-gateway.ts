// Gateway benchmark (npm run bench:gateway): files dropped into an outbox folder to their SFID.
//
// Two real `oftp2 serve` processes over loopback: sender B with a `gateway` section (its share's
// outbox `a/out`, watched by src/gateway/outbox-watcher.ts with the default stability rule: size,
// mtime, ctime and inode unchanged for 500 ms), receiver A. The script writes files into B's outbox
// as a PLC does over the share (write, close). Two phases, each on fresh stations:
// - paced: N files (default 10,000 × 1 KiB) at --rate files/s (default 100), a steady production
//   line: drop-to-SFID is the gateway's own delay (stability wait, pickup, scheduling, dial);
// - burst: the same N files written at once; drop-to-SFID is then the backlog (half the files wait
//   for the other half to go first), so its median is N / 2 ÷ the in-session files/s.
// Measured per phase: drop-to-SFID per file (drop = file closed; SFID = A's history creating the
// 'receiving' record), median and p99; end-to-end files/s (N over first drop to last file in A's
// inbox); the in-session files/s (files over the span of SFIDs at A), the session engine's ceiling.
// History at 100,000 records: replay at open, one durable write (append + fsync), newest-50 and
// per-partner queries, counts.
// Targets: median drop-to-SFID ≤ 1 s with the default stability rule (paced phase), history ≤ 10 ms.
// The last line is JSON.
//
// Options: --files N (10000), --size BYTES (1024), --rate R (100), --history N (100000),
// --only paced,burst,history, --keep (keep the temp dir).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { StationStore } from '../src/store/station-store.ts';
import { freePort } from './lib/bench-proc.ts';
import { TransferHistory, type TransferRecord } from '../src/store/transfer-history.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '100' },
    files: { type: 'string', default: '10000' },
    size: { type: 'string', default: '1024' },
    history: { type: 'string', default: '100000' },
    only: { type: 'string', default: 'paced,burst,history' },
    keep: { type: 'boolean' },
  },
});
const FILES = Number(values.files);
const SIZE = Number(values.size);
const HISTORY = Number(values.history);
const RATE = Number(values.rate);
const ONLY = new Set(values.only.split(','));
const MAIN = join(import.meta.dirname, '../src/cli/main.ts');
const ID_A = 'O0013000000BENCHA';
const ID_B = 'O0013000000BENCHB';

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
const fmt = (n: number, d = 3) => n.toFixed(d);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listening(port: number): Promise<void> {
  for (let i = 0; ; i++) {
    const taken = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(true));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
    if (taken) return;
    if (i > 200) throw new Error(`oftp2 serve did not listen on ${port}`);
    await sleep(50);
  }
}

function serve(dir: string) {
  const child = spawn(process.execPath, [MAIN, 'serve', '-d', dir, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((r) => child.once('close', r));
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface GatewayFigures {
  latencies: number[];
  filesPerS: number;
  dropsPerS: number;
  inSessionPerS: number;
}

async function gatewayRun(root: string, rate: number | undefined): Promise<GatewayFigures> {
  const portA = await freePort();
  const portB = await freePort();
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const a = await StationStore.init(dirA, { odetteId: ID_A, listen: { host: '127.0.0.1', port: portA } });
  await a.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: 'PWFROMA', passwordExpected: 'PWFROMB' });
  const b = await StationStore.init(dirB, { odetteId: ID_B, listen: { host: '127.0.0.1', port: portB } });
  await b.addPartner({ name: 'a', odetteId: ID_A, host: '127.0.0.1', port: portA, passwordToSend: 'PWFROMB', passwordExpected: 'PWFROMA' });
  // The default gateway: outbox per partner, default pickup rule and scan interval.
  await b.update((draft) => {
    draft.gateway = {} as typeof draft.gateway;
  });

  const serveA = serve(dirA);
  const serveB = serve(dirB);
  try {
    await listening(portA);
    await listening(portB);
    const outbox = join(dirB, 'share', 'a', 'out');
    for (let i = 0; ; i++) {
      if (await readdir(outbox).then(() => true, () => false)) break;
      if (i > 200) throw new Error(`the gateway did not create ${outbox}`);
      await sleep(50);
    }
    const payload = Buffer.alloc(SIZE, 0x41);
    const dropAt = new Map<string, number>();
    const first = Date.now();
    for (let i = 0; i < FILES; i++) {
      if (rate) {
        const wait = first + (i * 1000) / rate - Date.now();
        if (wait > 0) await sleep(wait);
      }
      const name = `F${String(i).padStart(6, '0')}`;
      await writeFile(join(outbox, name), payload);
      dropAt.set(name, Date.now());
    }
    const dropsDone = Date.now();
    const inbox = join(dirA, 'inbox', 'b'); // A has no gateway: its files land in the data directory's inbox
    for (;;) {
      const n = (await readdir(inbox).catch(() => [] as string[])).filter((f) => !f.startsWith('.')).length;
      if (n >= FILES) break;
      if (Date.now() - first > 30 * 60_000) throw new Error(`only ${n} of ${FILES} files arrived in 30 minutes`);
      await sleep(100);
    }
    const allIn = Date.now();
    await serveB.stop();
    await serveA.stop();

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
    if (latencies.length !== FILES) throw new Error(`A's history holds ${latencies.length} of the ${FILES} files`);
    latencies.sort((x, y) => x - y);
    sfidTimes.sort((x, y) => x - y);
    return {
      latencies,
      filesPerS: FILES / ((allIn - first) / 1000),
      dropsPerS: FILES / ((dropsDone - first) / 1000),
      inSessionPerS: (sfidTimes.length - 1) / ((sfidTimes.at(-1)! - sfidTimes[0]!) / 1000),
    };
  } finally {
    await serveB.stop();
    await serveA.stop();
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

function report(label: string, g: GatewayFigures): Record<string, number> {
  const median = pct(g.latencies, 0.5);
  const p99 = pct(g.latencies, 0.99);
  console.log(`${label}: drops at ${fmt(g.dropsPerS, 0)} files/s; drop → SFID at the partner: median ${fmt(median)} s, p99 ${fmt(p99)} s`);
  console.log(`${label}: end to end ${fmt(g.filesPerS, 1)} files/s beside in-session ${fmt(g.inSessionPerS, 1)} files/s (the session's own ceiling at ${SIZE} octets)`);
  return { median, p99, filesPerS: g.filesPerS, inSessionPerS: g.inSessionPerS };
}

const root = await mkdtemp(join(tmpdir(), 'oftp2-bench-gateway-'));
try {
  console.log(`bench-gateway: ${FILES} files of ${SIZE} octets into the outbox of \`oftp2 serve\` (default stability rule), paced at ${RATE} files/s and in one burst; history at ${HISTORY} records`);
  const summary: Record<string, number> = {};
  if (ONLY.has('paced')) {
    const p = report('paced', await gatewayRun(join(root, 'paced'), RATE));
    Object.assign(summary, {
      drop_rate_per_s: RATE,
      drop_to_sfid_median_s: Number(fmt(p.median)),
      drop_to_sfid_p99_s: Number(fmt(p.p99)),
      files_per_s: Number(fmt(p.filesPerS, 1)),
    });
    console.log(`paced: median drop → SFID ${fmt(p.median)} s (target ≤ 1 s)`);
  }
  if (ONLY.has('burst')) {
    const b = report('burst', await gatewayRun(join(root, 'burst'), undefined));
    Object.assign(summary, {
      burst_drop_to_sfid_median_s: Number(fmt(b.median)),
      burst_drop_to_sfid_p99_s: Number(fmt(b.p99)),
      burst_files_per_s: Number(fmt(b.filesPerS, 1)),
      in_session_files_per_s: Number(fmt(b.inSessionPerS, 1)),
    });
  }
  if (ONLY.has('history')) {
    const h = await historyRun(root);
    console.log(`history at ${HISTORY} transfers (${HISTORY * 4} lines): open ${fmt(h.openMs, 0)} ms; write (append + fsync) median ${fmt(h.writeMedian, 2)} ms, p99 ${fmt(h.writeP99, 2)} ms; query median ${fmt(h.queryMedian, 3)} ms, p99 ${fmt(h.queryP99, 3)} ms   (target ≤ 10 ms)`);
    Object.assign(summary, {
      history_ms: Number(fmt(Math.max(h.writeMedian, h.queryP99), 3)),
      history_write_p99_ms: Number(fmt(h.writeP99, 3)),
      history_open_ms: Number(fmt(h.openMs, 0)),
    });
  }
  console.log(JSON.stringify({ bench: 'gateway', files: FILES, size: SIZE, ...summary }));
} finally {
  if (!values.keep) await rm(root, { recursive: true, force: true });
  else console.error(`kept ${root}`);
}
