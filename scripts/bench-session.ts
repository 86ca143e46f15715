// Session benchmark: two real `oftp2` processes over loopback TCP (`serve` on 127.0.0.1 with a free
// port, `send` from a second data directory), beside a raw TCP pipe of the same octets.
//
//   npm run bench -- [--quick] [--runs N] [--only a,b,c,d] [--disk DIR] [--cli binary|source] [--strace]
//
// `oftp2` is the single binary as shipped (dist/oftp2, built by scripts/build.ts at the start: what a
// station runs), or with --cli source `node src/cli/main.ts` (type stripping, no code cache: each
// process starts about 60 ms later).
//
// Cases (each ends with one JSON line; the last line of the run is one JSON object with every figure):
//   a  throughput  a 1 GiB U file of random octets (256 MiB with --quick), on disk (under --disk,
//                  default /var/tmp) and on tmpfs (/dev/shm). Timed: `oftp2 send bee FILE` from its
//                  spawn to its exit (node start, queueing the file: `send` shares it with the spool,
//                  a hard link, as the source lies on the same filesystem; then the session, EFPA, the
//                  receipt and the release; nothing subtracted). Also timed: the same with the file queued
//                  beforehand (`send` run once while the partner is down), and SFID→EFPA from the
//                  receiver's log. The ideal is scripts/lib/bench-pipe-child.ts: a reader process
//                  streams the file into a socket, a writer process writes it to a file and fsyncs;
//                  timed from the reader's spawn to its exit after the writer's acknowledgement.
//                  ratio = ideal time / oftp2 time (on disk; tmpfs_ratio on tmpfs), per run (the pipe and
//                  the sends of a run go back to back), then the median over --runs. The writer reads
//                  Node's usual way (a new 64 KiB buffer per read); a second pipe per run reads into
//                  one reused buffer as the session does (tcp.ts), the stronger reference:
//                  ratio_to_reused_read_pipe (and queued_, tmpfs_ variants).
//   b  memory      peak RSS (process.resourceUsage().maxRSS, printed by OFTP2_REPORT_RSS=1 at exit) of
//                  send and serve in the 1 GiB runs, and of one 4 GiB run on disk (skipped by --quick).
//                  The binary's file is out of the page cache at the start (as on a box after a restart:
//                  a process maps the pages it runs); one more 1 GiB send with every page of it cached
//                  (right after a build or a copy, the kernel maps cached neighbours too: more RSS).
//                  Also the peak RSS of an idle `oftp2 send` (loading the CLI).
//                  Every run also reports each process's CPU time (user + system, all threads).
//   c  small files 1,000 files of 1 KiB in one session, on disk (durable). files/s from `send`'s spawn
//                  to its exit (spooling included), and from the
//                  receiver's first SFID to its session end; the run with the median files/s of --runs.
//                  Also the same with the files queued beforehand (`send` run once while the partner is
//                  down), as a gateway's outbox queues them: the session without spooling beside it.
//                  --strace adds one untimed run under strace to count fsyncs per file.
//   d  latency     connect → sessionReady, median of 20 sessions with nothing to send: the bench dials
//                  `oftp2 serve` with the real engine and driver (scripts/lib/bench-setup.ts). Also the
//                  wall time of `oftp2 send` with an empty spool (node start included), median of 5.
// Everything made (temp directories, child processes) is removed at the end, also on failure.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { dropFromCache, shippedBinary, sourceCli } from './lib/bench-binary.ts';
import { makeRandomFile, makeSmallFiles, sha256 } from './lib/bench-data.ts';
import { runPipe } from './lib/bench-pipe.ts';
import { GiB, MB, MiB, median, Registry, round } from './lib/bench-proc.ts';
import { timeSessionSetup } from './lib/bench-setup.ts';
import { createPair, type OftpCli, serverLog, spawnSend, startServe, stopServe } from './lib/bench-stations.ts';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--quick' || a === '--strace') continue;
  if ((a === '--runs' || a === '--only' || a === '--disk' || a === '--cli') && args[i + 1] !== undefined) {
    i++;
    continue;
  }
  console.error(`bench-session: unknown argument ${a} (use --quick, --runs N, --only a,b,c,d, --disk DIR, --cli binary|source, --strace)`);
  process.exit(2);
}
const quick = args.includes('--quick');
const withStrace = args.includes('--strace');
const runs = Number(option('--runs') ?? (quick ? 1 : 5));
const only = new Set((option('--only') ?? 'a,b,c,d').split(','));
const diskBase = resolve(option('--disk') ?? '/var/tmp');
const TMPFS = '/dev/shm';
const BIG = quick ? 256 * MiB : GiB;
const HUGE = 4 * GiB;
const SMALL_COUNT = 1000;
const SMALL_SIZE = 1024;
const SETUP_SESSIONS = quick ? 10 : 20;

if (!Number.isInteger(runs) || runs < 1) {
  console.error('bench-session: --runs must be a positive integer');
  process.exit(2);
}

const cliKind = option('--cli') ?? 'binary';
if (cliKind !== 'binary' && cliKind !== 'source') {
  console.error('bench-session: --cli is binary or source');
  process.exit(2);
}
// The product as shipped (the single binary, built now by scripts/build.ts), or the source tree.
const oftp: OftpCli = cliKind === 'binary' ? shippedBinary(root) : sourceCli(root);
const registry = new Registry();
const summary: Record<string, unknown> = { bench: 'session' };

let cleaned = false;
const cleanUp = () => {
  if (cleaned) return;
  cleaned = true;
  registry.cleanUp();
};
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`bench-session: ${signal}, cleaning up`);
    cleanUp();
    process.exit(130);
  });
}

const log = (text: string) => console.log(text);
const mbps = (octets: number, ms: number) => round(octets / MB / (ms / 1000), 1);
const mib = (n: number | undefined) => (n === undefined ? undefined : round(n, 1));
const syncDisks = () => spawnSync('sync');
const fileSize = (path: string) => statSync(path).size;

function machine(): Record<string, unknown> {
  const cpu = cpus();
  const fsOf = (dir: string) => spawnSync('df', ['--output=fstype', dir], { encoding: 'utf8' }).stdout.split('\n')[1]?.trim();
  return {
    nproc: cpu.length,
    cpu: cpu[0]?.model,
    node: process.version,
    disk_dir: diskBase,
    disk_fs: fsOf(diskBase),
    tmpfs_dir: TMPFS,
    tmpfs_fs: fsOf(TMPFS),
    oftp2: oftp.label,
    loadavg_1m: round(loadavg()[0]!, 2),
  };
}

interface SendRun {
  ms: number;
  /** spawn → the "queued" line on stdout (spooling done), ms; undefined when nothing was queued. */
  enqueueMs: number | undefined;
  /** receiver log: "receiving file" (SFPA next) → "file delivered" (EFPA next), ms (1 ms resolution). */
  sfidToEfpaMs: number;
  sendRssMiB: number | undefined;
  serveRssMiB: number | undefined;
  /** User + system CPU of each process (start-up included), ms. */
  sendCpuMs: number;
  serveCpuMs: number;
}

/** One `oftp2 send` of one big file into a fresh pair of stations under `dir`. */
async function sendBig(dir: string, source: string, expectedHash: string | undefined, queuedFirst: boolean, cli: OftpCli = oftp): Promise<SendRun> {
  registry.tempDir(dir);
  const pair = await createPair(registry, oftp, dir);
  if (queuedFirst) {
    // Queue while the partner is down: `send` spools the file, cannot connect, exits 1.
    const q = spawnSend(registry, cli, pair, [source]);
    const e = await q.exit(600_000);
    if (e.code !== 1 || !q.stdout.some((l) => l.text.startsWith('queued '))) throw new Error(`queueing failed\n${q.describe()}`);
  }
  syncDisks();
  const serve = await startServe(registry, cli, pair);
  const send = spawnSend(registry, cli, pair, queuedFirst ? [] : [source]);
  const exit = await send.success(900_000);
  await stopServe(serve);
  const queuedLine = send.stdout.find((l) => l.text.startsWith('queued '));
  const logLines = serverLog(serve);
  const start = logLines.find((l) => l.msg === 'Inbound: receiving file');
  const delivered = logLines.find((l) => l.msg === 'Inbound: file delivered');
  if (!delivered || typeof delivered.path !== 'string') throw new Error(`no delivery in the receiver's log\n${serve.describe()}`);
  const octets = fileSize(source);
  if (fileSize(delivered.path) !== octets) throw new Error(`${delivered.path} has ${fileSize(delivered.path)} octets, expected ${octets}`);
  if (expectedHash !== undefined && (await sha256(delivered.path)) !== expectedHash) throw new Error(`${delivered.path} differs from the source`);
  const run: SendRun = {
    ms: exit.at - send.startedAt,
    enqueueMs: queuedLine ? queuedLine.at - send.startedAt : undefined,
    sfidToEfpaMs: start && delivered ? delivered.time - start.time : Number.NaN,
    sendRssMiB: send.reportedMaxRssMiB(),
    serveRssMiB: serve.reportedMaxRssMiB(),
    sendCpuMs: send.reportedCpuMs() ?? Number.NaN,
    serveCpuMs: serve.reportedCpuMs() ?? Number.NaN,
  };
  registry.removeDir(dir);
  return run;
}

interface Throughput {
  medium: 'disk' | 'tmpfs';
  octets: number;
  idealMs: number;
  idealReusedMs: number;
  sendMs: number;
  queuedMs: number;
  /** Median over runs of each run's ideal time ÷ oftp2 time. */
  ratio: number;
  queuedRatio: number;
  /** The same against the pipe reading into reused memory. */
  reusedRatio: number;
  queuedReusedRatio: number;
  rssMiB: { send: number; serve: number; pipeReader: number; pipeWriter: number };
}

async function caseThroughput(medium: 'disk' | 'tmpfs', base: string): Promise<Throughput> {
  const dir = registry.tempDir(mkdtempSync(join(base, 'oftp2-bench-')));
  const source = join(dir, 'source.bin');
  log(`a/${medium}: writing ${BIG / MiB} MiB of random octets to ${source}`);
  await makeRandomFile(source, BIG);
  const hash = await sha256(source);
  const ideal: number[] = [];
  /** The pipe whose writer reads into reused memory, as the session does: the stronger reference. */
  const idealReused: number[] = [];
  const idealReceive: number[] = [];
  const idealCpu: number[] = [];
  const sends: SendRun[] = [];
  const queued: SendRun[] = [];
  const rss = { send: 0, serve: 0, pipeReader: 0, pipeWriter: 0 };
  for (let i = 1; i <= runs; i++) {
    syncDisks();
    const out = join(dir, 'pipe.out');
    const p = await runPipe(registry, source, out, 600_000);
    if (fileSize(out) !== BIG) throw new Error(`pipe wrote ${fileSize(out)} octets`);
    rmSync(out, { force: true });
    ideal.push(p.ms);
    idealReceive.push(p.receiveMs);
    idealCpu.push(p.cpuMs);
    rss.pipeReader = Math.max(rss.pipeReader, p.readerRssMiB ?? 0);
    rss.pipeWriter = Math.max(rss.pipeWriter, p.writerRssMiB ?? 0);
    log(`a/${medium} run ${i}: raw pipe ${round(p.ms)} ms (${mbps(BIG, p.ms)} MB/s; writer first octet → fsync ${round(p.receiveMs)} ms; CPU ${p.cpuMs} ms)`);
    syncDisks();
    const r = await runPipe(registry, source, out, 600_000, 'reused');
    if (fileSize(out) !== BIG) throw new Error(`pipe (reused reads) wrote ${fileSize(out)} octets`);
    rmSync(out, { force: true });
    idealReused.push(r.ms);
    log(`a/${medium} run ${i}: raw pipe, reads into reused memory ${round(r.ms)} ms (${mbps(BIG, r.ms)} MB/s; CPU ${r.cpuMs} ms)`);

    const s = await sendBig(join(dir, `send-${i}`), source, hash, false);
    sends.push(s);
    log(
      `a/${medium} run ${i}: oftp2 send FILE ${round(s.ms)} ms (${mbps(BIG, s.ms)} MB/s; spooled after ${round(s.enqueueMs ?? Number.NaN)} ms, ` +
        `SFID→EFPA ${s.sfidToEfpaMs} ms; peak RSS send ${mib(s.sendRssMiB)} MiB, serve ${mib(s.serveRssMiB)} MiB; CPU send ${s.sendCpuMs} ms, serve ${s.serveCpuMs} ms)`,
    );
    const q = await sendBig(join(dir, `queued-${i}`), source, i === 1 ? hash : undefined, true);
    queued.push(q);
    log(`a/${medium} run ${i}: oftp2 send (queued before) ${round(q.ms)} ms (${mbps(BIG, q.ms)} MB/s; SFID→EFPA ${q.sfidToEfpaMs} ms; CPU send ${q.sendCpuMs} ms, serve ${q.serveCpuMs} ms)`);
    for (const r of [s, q]) {
      rss.send = Math.max(rss.send, r.sendRssMiB ?? 0);
      rss.serve = Math.max(rss.serve, r.serveRssMiB ?? 0);
    }
  }
  registry.removeDir(dir);
  const idealMs = median(ideal);
  const sendMs = median(sends.map((s) => s.ms));
  const queuedMs = median(queued.map((s) => s.ms));
  // Each run's pipe and sends run back to back, under the same conditions: a ratio per run, then
  // their median (the machine's disk and CPU vary more from run to run than within one).
  const ratio = median(sends.map((s, i) => ideal[i]! / s.ms));
  const queuedRatio = median(queued.map((q, i) => ideal[i]! / q.ms));
  const reusedRatio = median(sends.map((s, i) => idealReused[i]! / s.ms));
  const queuedReusedRatio = median(queued.map((q, i) => idealReused[i]! / q.ms));
  const line = {
    case: 'throughput',
    medium,
    dir: base,
    mib: BIG / MiB,
    runs,
    ideal_mbps: mbps(BIG, idealMs),
    ideal_receive_ms: round(median(idealReceive)),
    mbps: mbps(BIG, sendMs),
    ratio: round(ratio, 3),
    ratio_runs: sends.map((s, i) => round(ideal[i]! / s.ms, 3)),
    send_ms: round(sendMs),
    enqueue_ms: round(median(sends.map((s) => s.enqueueMs ?? Number.NaN))),
    sfid_to_efpa_ms: median(sends.map((s) => s.sfidToEfpaMs)),
    sfid_to_efpa_mbps: mbps(BIG, median(sends.map((s) => s.sfidToEfpaMs))),
    queued_mbps: mbps(BIG, queuedMs),
    queued_ratio: round(queuedRatio, 3),
    queued_ratio_runs: queued.map((q, i) => round(ideal[i]! / q.ms, 3)),
    queued_sfid_to_efpa_ms: median(queued.map((s) => s.sfidToEfpaMs)),
    ideal_reused_read_mbps: mbps(BIG, median(idealReused)),
    ratio_to_reused_read_pipe: round(reusedRatio, 3),
    queued_ratio_to_reused_read_pipe: round(queuedReusedRatio, 3),
    ideal_cpu_ms: median(idealCpu),
    send_cpu_ms: median(sends.map((s) => s.sendCpuMs)),
    serve_cpu_ms: median(sends.map((s) => s.serveCpuMs)),
    queued_send_cpu_ms: median(queued.map((s) => s.sendCpuMs)),
    queued_serve_cpu_ms: median(queued.map((s) => s.serveCpuMs)),
    rss_send_mb: round(rss.send),
    rss_serve_mb: round(rss.serve),
    rss_pipe_reader_mb: round(rss.pipeReader),
    rss_pipe_writer_mb: round(rss.pipeWriter),
  };
  console.log(JSON.stringify(line));
  return { medium, octets: BIG, idealMs, idealReusedMs: median(idealReused), sendMs, queuedMs, ratio, queuedRatio, reusedRatio, queuedReusedRatio, rssMiB: rss };
}

async function caseMemory(oneGiB: Throughput[]): Promise<void> {
  const line: Record<string, unknown> = { case: 'memory' };
  if (oneGiB.length > 0) {
    line.mib = BIG / MiB;
    line.rss_send_mb = round(Math.max(...oneGiB.map((t) => t.rssMiB.send)));
    line.rss_serve_mb = round(Math.max(...oneGiB.map((t) => t.rssMiB.serve)));
    summary.rss_mb = Math.max(line.rss_send_mb as number, line.rss_serve_mb as number);
  }
  if (quick) {
    log('b: the 4 GiB run is skipped with --quick');
  } else {
    const dir = registry.tempDir(mkdtempSync(join(diskBase, 'oftp2-bench-')));
    const source = join(dir, 'source4g.bin');
    log(`b: writing 4 GiB of random octets to ${source}`);
    await makeRandomFile(source, HUGE);
    const r = await sendBig(join(dir, 'send'), source, undefined, false);
    registry.removeDir(dir);
    log(`b: 4 GiB on disk: send ${round(r.ms)} ms (${mbps(HUGE, r.ms)} MB/s), peak RSS send ${mib(r.sendRssMiB)} MiB, serve ${mib(r.serveRssMiB)} MiB`);
    line.rss_send_mb_4g = round(r.sendRssMiB ?? Number.NaN);
    line.rss_serve_mb_4g = round(r.serveRssMiB ?? Number.NaN);
    line.mbps_4g = mbps(HUGE, r.ms);
    summary.rss_mb_4g = Math.max(line.rss_send_mb_4g as number, line.rss_serve_mb_4g as number);
    summary.mbps_4g = line.mbps_4g;
    if (summary.rss_mb !== undefined) line.growth_mb = round((summary.rss_mb_4g as number) - (summary.rss_mb as number));
  }
  const empty = await baselineRss(oftp);
  line.rss_empty_send_mb = empty;
  summary.rss_empty_send_mb = empty;

  // The binary with every page of its file in the page cache (as right after it is built or copied):
  // the kernel then maps the cached neighbours of each page a process touches (fault-around), so the
  // same process shows more file-backed RSS than on a box where only the pages it runs were read.
  if (cliKind === 'binary') {
    const dir = registry.tempDir(mkdtempSync(join(TMPFS, 'oftp2-bench-')));
    const source = join(dir, 'source.bin');
    await makeRandomFile(source, BIG);
    readFileSync(oftp.exe); // every page of the binary into the cache
    const r = await sendBig(join(dir, 'run-cached'), source, undefined, false);
    log(`b/binary, whole file cached, ${BIG / MiB} MiB on tmpfs: peak RSS send ${mib(r.sendRssMiB)} MiB, serve ${mib(r.serveRssMiB)} MiB`);
    line.rss_send_mb_binary_cached = round(r.sendRssMiB ?? Number.NaN);
    line.rss_serve_mb_binary_cached = round(r.serveRssMiB ?? Number.NaN);
    summary.rss_mb_binary_cached = Math.max(line.rss_send_mb_binary_cached as number, line.rss_serve_mb_binary_cached as number);
    dropFromCache(oftp.exe);
    registry.removeDir(dir);
  }
  console.log(JSON.stringify(line));
}

/** Peak RSS of `oftp2 send` with nothing to send and nobody to dial: what loading the CLI costs. */
async function baselineRss(cli: OftpCli): Promise<number> {
  const dir = registry.tempDir(mkdtempSync(join(diskBase, 'oftp2-bench-')));
  const pair = await createPair(registry, oftp, dir);
  const send = spawnSend(registry, cli, pair, []);
  await send.exit(60_000);
  await new Promise((r) => setTimeout(r, 20));
  registry.removeDir(dir);
  return round(send.reportedMaxRssMiB() ?? Number.NaN);
}

async function smallFiles(base: string, strace: boolean, queuedFirst = false): Promise<Record<string, number>> {
  const dir = registry.tempDir(mkdtempSync(join(base, 'oftp2-bench-')));
  const files = await makeSmallFiles(join(dir, 'files'), SMALL_COUNT, SMALL_SIZE);
  const pair = await createPair(registry, oftp, join(dir, 'stations'));
  if (queuedFirst) {
    // Queued beforehand (untimed): `send` while the partner is down spools them and exits 1.
    const q = spawnSend(registry, oftp, pair, files);
    const e = await q.exit(900_000);
    if (e.code !== 1 || q.stdout.filter((l) => l.text.startsWith('queued ')).length !== SMALL_COUNT) throw new Error(`queueing failed\n${q.describe()}`);
  }
  syncDisks();
  let serveCli = oftp;
  let sendCli = oftp;
  const traceOut = { serve: join(dir, 'strace-serve.txt'), send: join(dir, 'strace-send.txt') };
  if (strace) {
    const wrap = (out: string): OftpCli => ({ exe: 'strace', args: ['-f', '-c', '-o', out, '-e', 'trace=fsync,fdatasync,sync_file_range,syncfs', oftp.exe, ...oftp.args], label: 'strace' });
    serveCli = wrap(traceOut.serve);
    sendCli = wrap(traceOut.send);
  }
  const serve = await startServe(registry, serveCli, pair);
  const send = spawnSend(registry, sendCli, pair, queuedFirst ? [] : files);
  const exit = await send.success(900_000);
  await stopServe(serve);
  const inbox = join(pair.b, 'inbox', 'ay');
  const delivered = readdirSync(inbox).filter((n) => !n.startsWith('.'));
  if (delivered.length !== SMALL_COUNT) throw new Error(`${delivered.length} files delivered, expected ${SMALL_COUNT}\n${send.describe()}\n${serve.describe()}`);
  const logLines = serverLog(serve);
  const first = logLines.find((l) => l.msg === 'Inbound: receiving file');
  const ended = logLines.find((l) => l.msg === 'session ended');
  const lastQueued = send.stdout.filter((l) => l.text.startsWith('queued ')).at(-1);
  const result: Record<string, number> = {
    send_ms: round(exit.at - send.startedAt),
    files_per_s: round(SMALL_COUNT / ((exit.at - send.startedAt) / 1000)),
    enqueue_ms: round(lastQueued ? lastQueued.at - send.startedAt : Number.NaN),
    session_files_per_s: first && ended ? round(SMALL_COUNT / ((ended.time - first.time) / 1000)) : Number.NaN,
    first_sfid_to_end_ms: first && ended ? ended.time - first.time : Number.NaN,
  };
  if (strace) {
    const count = (file: string) => {
      let total = 0;
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync|sync_file_range|syncfs)\s*$/.exec(line);
        if (m) total += Number(m[1]);
      }
      return total;
    };
    result.fsyncs_per_file_send = round(count(traceOut.send) / SMALL_COUNT, 2);
    result.fsyncs_per_file_serve = round(count(traceOut.serve) / SMALL_COUNT, 2);
  }
  registry.removeDir(dir);
  return result;
}

/** `runs` small-file runs on `base`; the run with the median files/s, and every run's files/s. */
async function smallFilesMedian(base: string, label: string, queuedFirst = false): Promise<{ median: Record<string, number>; all: number[] }> {
  const results: Record<string, number>[] = [];
  for (let run = 1; run <= runs; run++) {
    const r = await smallFiles(base, false, queuedFirst);
    const spooling = queuedFirst ? 'queued beforehand' : `spooled after ${r.enqueue_ms} ms`;
    log(`c/${label} run ${run}: send ${r.send_ms} ms → ${r.files_per_s} files/s (${spooling}); first SFID → session end ${r.first_sfid_to_end_ms} ms → ${r.session_files_per_s} files/s`);
    results.push(r);
  }
  const sorted = [...results].sort((x, y) => x.files_per_s! - y.files_per_s!);
  return { median: sorted[Math.floor((sorted.length - 1) / 2)]!, all: results.map((r) => r.files_per_s!) };
}

async function caseSmallFiles(): Promise<void> {
  const { median: disk, all } = await smallFilesMedian(diskBase, 'disk');
  log(`c/disk: ${SMALL_COUNT} × ${SMALL_SIZE} octets, median of ${runs}: ${disk.files_per_s} files/s (runs: ${all.join(', ')})`);
  const { median: queued, all: queuedAll } = await smallFilesMedian(diskBase, 'disk, queued', true);
  log(`c/disk, queued beforehand: median ${queued.files_per_s} files/s (runs: ${queuedAll.join(', ')}); first SFID → session end → ${queued.session_files_per_s} files/s`);
  const { median: tmpfs } = await smallFilesMedian(TMPFS, 'tmpfs');
  log(`c/tmpfs: median ${tmpfs.files_per_s} files/s; first SFID → session end → ${tmpfs.session_files_per_s} files/s`);
  const line: Record<string, unknown> = {
    case: 'small_files',
    files: SMALL_COUNT,
    size: SMALL_SIZE,
    runs,
    ...disk,
    files_per_s_runs: all,
    queued_files_per_s: queued.files_per_s,
    queued_session_files_per_s: queued.session_files_per_s,
    tmpfs_files_per_s: tmpfs.files_per_s,
    tmpfs_session_files_per_s: tmpfs.session_files_per_s,
  };
  if (withStrace) {
    const traced = await smallFiles(diskBase, true);
    log(`c/strace: fsync+fdatasync per file: send ${traced.fsyncs_per_file_send}, serve ${traced.fsyncs_per_file_serve} (untimed run)`);
    line.fsyncs_per_file_send = traced.fsyncs_per_file_send;
    line.fsyncs_per_file_serve = traced.fsyncs_per_file_serve;
    summary.fsyncs_per_file_send = traced.fsyncs_per_file_send;
    summary.fsyncs_per_file_serve = traced.fsyncs_per_file_serve;
  }
  summary.files_per_s = disk.files_per_s;
  summary.session_files_per_s = disk.session_files_per_s;
  summary.queued_files_per_s = queued.files_per_s;
  summary.tmpfs_files_per_s = tmpfs.files_per_s;
  console.log(JSON.stringify(line));
}

async function caseLatency(): Promise<void> {
  const dir = registry.tempDir(mkdtempSync(join(diskBase, 'oftp2-bench-')));
  const pair = await createPair(registry, oftp, dir);
  const serve = await startServe(registry, oftp, pair);
  const ready: number[] = [];
  const total: number[] = [];
  try {
    await timeSessionSetup(pair.port); // warm-up, not counted
    for (let i = 0; i < SETUP_SESSIONS; i++) {
      const r = await timeSessionSetup(pair.port);
      ready.push(r.readyMs);
      total.push(r.totalMs);
    }
  } finally {
    await stopServe(serve);
  }
  const empty: number[] = [];
  for (let i = 0; i < 5; i++) {
    const serve2 = await startServe(registry, oftp, pair);
    const send = spawnSend(registry, oftp, pair, []);
    const e = await send.success(60_000);
    empty.push(e.at - send.startedAt);
    await stopServe(serve2);
  }
  registry.removeDir(dir);
  const line = {
    case: 'latency',
    sessions: SETUP_SESSIONS,
    setup_ms: round(median(ready), 2),
    setup_min_ms: round(Math.min(...ready), 2),
    setup_max_ms: round(Math.max(...ready), 2),
    session_total_ms: round(median(total), 2),
    empty_send_ms: round(median(empty)),
  };
  log(`d: connect → sessionReady median ${line.setup_ms} ms (min ${line.setup_min_ms}, max ${line.setup_max_ms}); whole empty session ${line.session_total_ms} ms; oftp2 send with nothing queued ${line.empty_send_ms} ms (node start included)`);
  console.log(JSON.stringify(line));
  summary.setup_ms = line.setup_ms;
  summary.empty_send_ms = line.empty_send_ms;
}

async function main(): Promise<void> {
  const m = machine();
  log(`bench-session: ${m.nproc} × ${m.cpu}, ${m.node}; disk ${m.disk_dir} (${m.disk_fs}), tmpfs ${m.tmpfs_dir}; ${runs} run(s)${quick ? ', quick' : ''}`);
  console.log(JSON.stringify({ case: 'machine', ...m }));
  const throughputs: Throughput[] = [];
  if (only.has('a') || only.has('b')) {
    for (const [medium, base] of [['disk', diskBase], ['tmpfs', TMPFS]] as const) {
      const t = await caseThroughput(medium, base);
      throughputs.push(t);
      const prefix = medium === 'disk' ? '' : 'tmpfs_';
      summary[`${prefix}ratio`] = round(t.ratio, 3);
      summary[`${prefix}mbps`] = mbps(t.octets, t.sendMs);
      summary[`${prefix}ideal_mbps`] = mbps(t.octets, t.idealMs);
      summary[`${prefix}queued_ratio`] = round(t.queuedRatio, 3);
      summary[`${prefix}ratio_to_reused_read_pipe`] = round(t.reusedRatio, 3);
      summary[`${prefix}queued_ratio_to_reused_read_pipe`] = round(t.queuedReusedRatio, 3);
      summary[`${prefix}ideal_reused_read_mbps`] = mbps(t.octets, t.idealReusedMs);
      summary[`${prefix}queued_mbps`] = mbps(t.octets, t.queuedMs);
    }
  }
  if (only.has('b')) await caseMemory(throughputs);
  if (only.has('c')) await caseSmallFiles();
  if (only.has('d')) await caseLatency();
  Object.assign(summary, { mib: BIG / MiB, runs, nproc: m.nproc, cpu: m.cpu, loadavg_1m_start: m.loadavg_1m, loadavg_1m_end: round(loadavg()[0]!, 2) });
  console.log(JSON.stringify(summary));
}

main().then(
  () => {
    cleanUp();
  },
  (err) => {
    console.error(`bench-session: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    cleanUp();
    process.exitCode = 1;
  },
);
