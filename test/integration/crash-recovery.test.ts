// Crash recovery with real processes: nothing is lost or duplicated when a station is SIGKILLed in the
// middle of a session (RFC 5024 §1.5.4 and §4.3.3 restart, §4.3.6 EERP).
//
// Two stations in temp directories: A runs `oftp2 serve`, B runs `oftp2 send a` through a protocol-aware
// proxy (crash-harness.ts) that SIGKILLs A or B at a chosen command: a scripted list of the dangerous
// moments (EFPA lost, EFPA received but spool not yet updated, EFID while the receiver commits, EERP
// sent but RTR lost, restart of a file past the sender's saved progress, a crash during start-up), then
// seeded random ones (any command, the n-th occurrence, either victim, the command forwarded or
// dropped, a random delay). Killed processes are restarted and the loop goes on; clean sessions then
// run until nothing is queued. Afterwards every file must be in the other inbox exactly once and
// byte-identical, every receipt delivered and acknowledged, and no partial, journal entry, spool entry
// or pending receipt left behind.
//
// OFTP_CRASH_SEED=<n> replays a run's choices (the seed is printed; the default seed makes runs
// comparable; what a kill "after n ms" hits still depends on timing). OFTP_CRASH_RANDOM=<n> runs more
// random kills, OFTP_CRASH_BUFFER=<octets> another exchange buffer size, OFTP_CRASH_KEEP=1 keeps the
// data directory (kept anyway on failure), with every process's output and the timeline in logs/.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandName } from '../../src/protocol/command-types.ts';
import {
  describeExit,
  listNames,
  Oftp2Process,
  OftpProxy,
  runOftp2,
  type SeenCommand,
  type StationName,
  seededRandom,
} from './crash-harness.ts';
import { freePort } from '../free-port.ts';

const SEED = Number(process.env.OFTP_CRASH_SEED ?? 20261122);
const ID_A = 'OCRASHTESTA';
const ID_B = 'OCRASHTESTB';
/**
 * Above the sender's 16 MiB progress-save interval (outgoing-transfer.ts): a sender killed past it
 * still offers a restart. Under it, only a sender that lives to release the transfer saves its progress.
 */
const BIG_SIZE = 17 * 1024 * 1024 + 512 * 1024;
const BIG = 'B2A-BIG.DAT';
/** A file for a restart after the receiver dies (the sender saves its progress when the session breaks). */
const MID_SIZE = 3 * 1024 * 1024 + 5;
const MID = 'B2A-MID.DAT';
const BUFFER_SIZE = Number(process.env.OFTP_CRASH_BUFFER ?? 16384);
/** User data octets in one DATA buffer: the command octet, then subrecords of a header and up to 63 octets (§7.3). */
const DATA_PER_BUFFER = Math.floor(((BUFFER_SIZE - 1) * 63) / 64);
/** The DATA buffer that carries octet `offset` of a file. */
const bufferAt = (offset: number) => Math.ceil(offset / DATA_PER_BUFFER);
/** Seeded random kills after the scripted ones; OFTP_CRASH_RANDOM=<n> runs more (exploration). */
const RANDOM_SCENARIOS = Number(process.env.OFTP_CRASH_RANDOM ?? 4);

interface SourceFile {
  name: string;
  format: 'U' | 'F' | 'V';
  path: string;
  sha256: string;
  size: number;
}

/** Where and when a station dies. */
interface Scenario {
  label: string;
  /**
   * A command seen by the proxy; 'time' = a delay after the session's first DATA; 'startup' = A, after
   * spawn; 'file' = a file name appearing in `watch` (a folder of a station, watched with inotify).
   */
  on: CommandName | 'time' | 'startup' | 'file';
  watch?: string;
  from?: StationName;
  file?: string;
  nth: number;
  victim: StationName | 'sender' | 'receiver';
  /** drop: the command never arrives and the victim dies at once; forward: it arrives, the victim dies `delayMs` later. */
  mode: 'drop' | 'forward';
  delayMs: number;
  /** Files B queues (and dials with) in this iteration. */
  newFiles?: SourceFile[];
  /** Files A queues when it has to be restarted (it cannot while it serves). */
  newFilesForA?: number;
  /** Files A must have queued for B: if fewer, A is stopped and as many are queued (300 KB to 1 MiB). */
  needsA?: number;
  /** Scripted scenarios are tried again (up to 3 times) when their command did not come. */
  scripted?: boolean;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Local content for a format: U any octets, F 80-octet records, V records with 2-octet length prefixes. */
function content(format: 'U' | 'F' | 'V', size: number, rng: ReturnType<typeof seededRandom>): Buffer {
  if (format === 'U') return randomBytes(size);
  if (format === 'F') return randomBytes(Math.floor(size / 80) * 80);
  const parts: Buffer[] = [];
  let total = 0;
  while (total < size) {
    const length = rng.int(1, 400);
    const record = Buffer.alloc(2 + length);
    record.writeUInt16BE(length, 0);
    randomBytes(length).copy(record, 2);
    parts.push(record);
    total += record.length;
  }
  return Buffer.concat(parts);
}

const SIZES = [0, 1, 1000, 1024, 4096, 65_536, 200_000, 262_144, 700_000, 1_048_576, 1_500_000];

/**
 * `count` files of seeded formats and sizes, named PREFIX-<format><number from `first`>.DAT; with
 * `oneFormat`, all of one format (one `send` process queues them).
 */
async function makeFiles(
  dir: string,
  prefix: string,
  count: number,
  rng: ReturnType<typeof seededRandom>,
  { first = 0, oneFormat = false, sizes = SIZES }: { first?: number; oneFormat?: boolean; sizes?: number[] } = {},
): Promise<SourceFile[]> {
  await mkdir(dir, { recursive: true });
  const out: SourceFile[] = [];
  const batchFormat = rng.pick(['U', 'U', 'F', 'V'] as const);
  for (let i = first; i < first + count; i++) {
    const format = oneFormat ? batchFormat : rng.pick(['U', 'U', 'F', 'V'] as const);
    const size = rng.pick(sizes);
    const name = `${prefix}-${format}${String(i).padStart(2, '0')}.DAT`;
    const data = content(format, size, rng);
    const path = join(dir, name);
    await writeFile(path, data);
    out.push({ name, format, path, sha256: sha256(data), size: data.length });
  }
  return out;
}

/** `send` arguments queueing `files`, grouped by format (one process per group). */
function queueGroups(files: SourceFile[]): { format: 'U' | 'F' | 'V'; paths: string[] }[] {
  return (['U', 'F', 'V'] as const)
    .map((format) => ({ format, paths: files.filter((f) => f.format === format).map((f) => f.path) }))
    .filter((g) => g.paths.length > 0);
}

function formatArgs(format: 'U' | 'F' | 'V'): string[] {
  return format === 'F' ? ['--format', 'F', '--record-length', '80'] : ['--format', format];
}

async function setStation(dataDir: string, changes: Record<string, unknown>): Promise<void> {
  const path = join(dataDir, 'station.json');
  const config = JSON.parse(await readFile(path, 'utf8'));
  Object.assign(config.station, changes);
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
}

test('SIGKILL of either station at any point of a session loses and duplicates nothing', { timeout: 90_000 }, async (t) => {
  const started = performance.now();
  const elapsed = () => `${((performance.now() - started) / 1000).toFixed(2).padStart(6)}s`;
  const timeline: string[] = [];
  const say = (text: string) => {
    timeline.push(`[${elapsed()}] ${text}`);
    t.diagnostic(timeline.at(-1)!);
  };
  say(`seed ${SEED} (replay with OFTP_CRASH_SEED=${SEED})`);
  const rng = seededRandom(SEED);
  const root = await mkdtemp(join(tmpdir(), 'oftp2-crash-'));
  const live = new Set<Oftp2Process>();
  const proxy = await OftpProxy.listen();
  let keep = true; // keep the directory for a post-mortem unless everything passed (or OFTP_CRASH_KEEP is set)
  t.after(async () => {
    await writeFile(join(root, 'logs', 'timeline.txt'), `${timeline.join('\n')}\n`).catch(() => {});
    for (const p of live) p.kill();
    await Promise.all([...live].map((p) => p.exited));
    await proxy.close();
    if (keep || process.env.OFTP_CRASH_KEEP) process.stderr.write(`crash-recovery: data kept in ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  });

  // ---- two stations; B dials A through the proxy ----
  const dirA = join(root, 'A');
  const dirB = join(root, 'B');
  const logs = join(root, 'logs');
  await mkdir(logs);
  const portA = await freePort();
  const setup = [
    ['init', '-d', dirA, '--odette-id', ID_A, '--host', '127.0.0.1', '--port', String(portA), '--buffer-size', String(BUFFER_SIZE), '--credit', '8'],
    ['init', '-d', dirB, '--odette-id', ID_B, '--host', '127.0.0.1', '--port', String(await freePort()), '--buffer-size', String(BUFFER_SIZE), '--credit', '8'],
    ['partner', 'add', 'b', '-d', dirA, '--odette-id', ID_B, '--password-out', 'PWA', '--password-in', 'PWB'],
    ['partner', 'add', 'a', '-d', dirB, '--odette-id', ID_A, '--password-out', 'PWB', '--password-in', 'PWA', '--host', '127.0.0.1', '--port', String(proxy.port)],
  ];
  for (const round of [setup.slice(0, 2), setup.slice(2)]) {
    await Promise.all(
      round.map(async (args) => {
        const run = await runOftp2(args, live);
        assert.equal(run.exit.code, 0, `oftp2 ${args.join(' ')}\n${run.stderr}`);
      }),
    );
  }
  for (const dir of [dirA, dirB]) await setStation(dir, { checkpointIntervalBytes: 256 * 1024, diskReserveBytes: 0 });

  // ---- files: a big and a middle-sized one first at B (restart territory), a mix of formats and sizes both ways ----
  await mkdir(join(root, 'src-b'), { recursive: true });
  const first: SourceFile[] = [];
  for (const [name, size] of [
    [BIG, BIG_SIZE],
    [MID, MID_SIZE],
  ] as const) {
    const data = randomBytes(size);
    await writeFile(join(root, 'src-b', name), data);
    first.push({ name, format: 'U', path: join(root, 'src-b', name), sha256: sha256(data), size });
  }
  const filesB = [...first, ...(await makeFiles(join(root, 'src-b'), 'B2A', 18, rng))];
  const filesA = await makeFiles(join(root, 'src-a'), 'A2B', 8, rng);
  const bytes = (files: SourceFile[]) => files.reduce((n, f) => n + f.size, 0);
  say(`B queues ${filesB.length} files (${(bytes(filesB) / 1048576).toFixed(1)} MiB) for A; A queues ${filesA.length} (${(bytes(filesA) / 1048576).toFixed(1)} MiB) for B`);

  // Queue without a session: A has no address for b; B's dial is refused by the proxy (not accepting yet).
  const queue = async (dir: string, partner: string, files: SourceFile[]) => {
    // One process per format; `first` lead the U group, so they are spooled (and sent) first.
    const groups = queueGroups([...first.filter((f) => files.includes(f)), ...files.filter((f) => !first.includes(f))]);
    for (const group of groups) {
      const run = await runOftp2(['send', partner, '-d', dir, ...formatArgs(group.format), ...group.paths], live);
      assert.equal(run.stdout.match(/^queued /gm)?.length, group.paths.length, `queueing at ${dir}\n${run.stdout}${run.stderr}`);
    }
  };
  await Promise.all([queue(dirB, 'a', filesB), queue(dirA, 'b', filesA)]);

  // ---- A's serve process ----
  let serveA: Oftp2Process | undefined;
  const logsA: Oftp2Process[] = [];
  const startA = async (): Promise<Oftp2Process> => {
    const p = new Oftp2Process(`serve A #${logsA.length + 1}`, ['serve', '-d', dirA], live, logs);
    logsA.push(p);
    serveA = p;
    await p.waitFor(/"msg":"listening"/, 15_000);
    return p;
  };
  const ensureA = async () => {
    if (!serveA?.running) await startA();
  };
  proxy.targetPort = portA;
  proxy.accepting = true;

  // ---- the scenarios ----
  const scripted: Scenario[] = [
    // 1.4 MiB past the save, so the save (a file write and fsync) is done even on a loaded machine
    { label: 'B (sending) dies near the end of the big file, past its 16 MiB progress save', on: 'DATA', from: 'B', file: BIG, nth: bufferAt(BIG_SIZE - 100_000), victim: 'B', mode: 'drop', delayMs: 0 },
    { label: 'B dies before the EFPA of the (resumed) big file reaches it: its resend is a duplicate with a restart offer', on: 'EFPA', from: 'A', file: BIG, nth: 1, victim: 'B', mode: 'drop', delayMs: 0 },
    { label: 'B dies just after an EFPA reached it (before or while it updates its spool)', on: 'EFPA', from: 'A', nth: 1, victim: 'B', mode: 'forward', delayMs: rng.int(0, 4) },
    { label: 'A (receiving) dies in the middle of a 3 MiB file (B saves its progress as the session breaks)', on: 'DATA', from: 'B', file: MID, nth: bufferAt(1_900_000), victim: 'A', mode: 'drop', delayMs: 0 },
    { label: 'A dies just after an EFID (while it commits the file and writes its journal)', on: 'EFID', from: 'B', nth: 2, victim: 'A', mode: 'forward', delayMs: rng.int(0, 12) },
    { label: 'A dies as its journal entry for a received file appears (before the commit)', on: 'file', watch: join(dirA, 'state', 'deliveries'), nth: 1, victim: 'A', mode: 'drop', delayMs: 0 },
    { label: 'A dies as a received file appears in its inbox (committed, not yet recorded: the journal completes it at restart)', on: 'file', watch: join(dirA, 'inbox', 'b'), nth: 1, victim: 'A', mode: 'drop', delayMs: 0 },
    { label: 'A dies again while it starts up (settling leftovers)', on: 'startup', nth: 1, victim: 'A', mode: 'forward', delayMs: rng.int(40, 220) },
    { label: 'A dies after recording a delivery, before its EFPA leaves', on: 'EFPA', from: 'A', nth: 2, victim: 'A', mode: 'drop', delayMs: 0 },
    { label: 'B (sending) dies in the middle of a DATA stream', on: 'DATA', from: 'B', nth: rng.int(2, bufferAt(1_000_000)), victim: 'B', mode: 'forward', delayMs: rng.int(0, 8) },
    { label: 'B dies right after an EERP from A reached it (before its RTR)', on: 'EERP', from: 'A', nth: 3, victim: 'B', mode: 'forward', delayMs: rng.int(0, 4) },
    { label: 'A dies between sending an EERP and receiving its RTR', on: 'RTR', from: 'B', nth: 2, victim: 'A', mode: 'drop', delayMs: 0 },
    { label: 'B dies as a file from A appears in its inbox (committed, not yet recorded)', needsA: 2, on: 'file', watch: join(dirB, 'inbox', 'a'), nth: 1, victim: 'B', mode: 'drop', delayMs: 0 },
    { label: 'B (receiving from A) dies just after an EFID', needsA: 2, on: 'EFID', from: 'A', nth: 1, victim: 'B', mode: 'forward', delayMs: rng.int(0, 12) },
    { label: 'A (sending to B) dies before B’s EFPA reaches it', needsA: 3, on: 'EFPA', from: 'B', nth: 2, victim: 'A', mode: 'drop', delayMs: 0 },
    { label: 'A dies right after an EERP from B reached it', on: 'EERP', from: 'B', nth: 1, victim: 'A', mode: 'forward', delayMs: rng.int(0, 4) },
    // A file from A makes sure B owes an EERP (the scenario before may or may not leave one owed).
    { label: 'B dies between sending an EERP and receiving its RTR', needsA: 1, on: 'RTR', from: 'A', nth: 1, victim: 'B', mode: 'drop', delayMs: 0 },
    { label: 'A (sending to B) dies in the middle of a DATA stream', needsA: 2, on: 'DATA', from: 'A', nth: rng.int(2, bufferAt(500_000)), victim: 'A', mode: 'forward', delayMs: rng.int(0, 8) },
  ].map((s) => ({ ...s, scripted: true }) as Scenario);

  // Each random scenario brings B new files, so B→A traffic is always there: commands are taken from
  // the side that sends them in that direction (A gets new files only when it is restarted).
  const commands: [CommandName, StationName | undefined][] = [
    ['DATA', 'B'],
    ['DATA', 'B'],
    ['DATA', undefined],
    ['SFID', 'B'],
    ['SFPA', 'A'],
    ['CDT', 'A'],
    ['EFID', 'B'],
    ['EFPA', 'A'],
    ['CD', undefined],
    ['EERP', 'A'],
    ['RTR', 'B'],
    ['ESID', undefined],
  ];
  let extra = 0;
  let extraA = 0;
  // A's extra files are made only when A is down (it cannot queue while serving): their own stream,
  // so the scenarios stay the same for a seed whatever the timing did.
  const rngA = seededRandom(SEED ^ 0x5eed);
  const randomScenario = async (): Promise<Scenario> => {
    const [on, from] = rng.next() < 0.25 ? (['time', undefined] as const) : rng.pick(commands);
    const newFiles = await makeFiles(join(root, 'src-b'), 'B2X', rng.int(1, 3), rng, { first: extra, oneFormat: true });
    extra += newFiles.length;
    return {
      newFilesForA: rng.int(1, 2),
      label: on === 'time' ? 'random: a delay after the first DATA' : `random: ${on}`,
      on,
      from,
      nth: on === 'DATA' ? rng.int(1, bufferAt(400_000)) : 1,
      victim: rng.pick(['A', 'B', 'sender', 'receiver'] as const),
      mode: on === 'time' || rng.next() < 0.5 ? 'forward' : 'drop',
      delayMs: on === 'time' ? rng.int(0, 150) : rng.int(0, 15),
      newFiles,
    };
  };

  // ---- the loop ----
  const kills: string[] = [];
  let iteration = 0;
  const runScenario = async (s: Scenario): Promise<boolean> => {
    iteration++;
    const t0 = performance.now();
    const queueAtA = async (count: number, sizes?: number[]) => {
      const files = await makeFiles(join(root, 'src-a'), 'A2X', count, rngA, { first: extraA, oneFormat: true, sizes });
      extraA += files.length;
      await queue(dirA, 'b', files);
      filesA.push(...files);
    };
    if (s.needsA !== undefined && (await listNames(join(dirA, 'spool', 'b'))).length < s.needsA) {
      // A scenario about A sending needs files at A: stop A (it cannot queue while serving) and queue some.
      if (serveA?.running) {
        serveA.child.kill('SIGTERM');
        assert.equal((await serveA.exited).code, 0, `serve A stopped badly\n${serveA.tail()}`);
      }
      await queueAtA(s.needsA, [300_000, 700_000, 1_048_576]);
    } else if (!serveA?.running && s.newFilesForA) {
      await queueAtA(s.newFilesForA);
    }
    await ensureA();
    if (s.on === 'startup') {
      // Kill the running A, start a new one and kill it `delayMs` after spawn, then start it again.
      serveA!.kill();
      await serveA!.exited;
      const p = new Oftp2Process(`serve A #${logsA.length + 1}`, ['serve', '-d', dirA], live, logs);
      logsA.push(p);
      serveA = p;
      await new Promise((r) => setTimeout(r, s.delayMs));
      const listening = /"msg":"listening"/.test(p.stdout);
      p.kill();
      await p.exited;
      kills.push(`#${iteration} A killed ${s.delayMs} ms after spawn (${listening ? 'after' : 'before'} "listening")`);
      say(`#${iteration} ${s.label}: A killed ${s.delayMs} ms after spawn, ${listening ? 'after' : 'before'} it was listening`);
      await startA();
      return true;
    }
    const serving = serveA!;
    const endedBefore = countSessionEnds(serving);
    let fired: string | undefined;
    let victim: Oftp2Process | undefined;
    let count = 0;
    let timer: NodeJS.Timeout | undefined;
    const kill = (name: StationName, why: string) => {
      const p = name === 'A' ? serving : send;
      const killed = p.kill();
      fired = `${name} ${killed ? 'SIGKILLed' : 'had already exited'} ${why}`;
      if (killed) victim = p;
    };
    const victimOf = (c: SeenCommand): StationName =>
      s.victim === 'sender' ? c.from : s.victim === 'receiver' ? (c.from === 'A' ? 'B' : 'A') : s.victim;
    proxy.onCommand = (c) => {
      if (fired !== undefined || timer !== undefined) return 'forward';
      if (s.on === 'time') {
        if (c.cmd !== 'DATA') return 'forward';
        const name = victimOf(c);
        const at = proxy.now();
        timer = setTimeout(() => kill(name, `${(proxy.now() - at).toFixed(0)} ms after the first DATA (${c.from}→, ${c.file})`), s.delayMs);
        return 'forward';
      }
      if (c.cmd !== s.on || (s.from && c.from !== s.from) || (s.file && c.file !== s.file)) return 'forward';
      if (++count < s.nth) return 'forward';
      const name = victimOf(c);
      const what = `${c.cmd} #${count} ${c.from}→${c.from === 'A' ? 'B' : 'A'}${c.file ? ` (${c.file})` : ''}`;
      if (s.mode === 'drop') {
        proxy.freeze();
        kill(name, `at ${what}, dropped`);
        return 'drop';
      }
      timer = setTimeout(() => kill(name, `${s.delayMs} ms after ${what}, forwarded`), s.delayMs);
      return 'forward';
    };
    let watcher: FSWatcher | undefined;
    if (s.on === 'file') {
      // The station is killed the moment a name appears (inotify), before its next steps.
      await mkdir(s.watch!, { recursive: true });
      const name = s.victim as StationName;
      watcher = watch(s.watch!, (_event, file) => {
        if (fired === undefined && file && !file.startsWith('.') && !file.endsWith('.tmp')) {
          kill(name, `as ${file} appeared in ${s.watch!.slice(root.length + 1)}`);
        }
      });
    }
    const args = ['send', 'a', '-d', dirB];
    if (s.newFiles?.length) {
      const groups = queueGroups(s.newFiles);
      // one format per process: queue all but the last group without dialling, then dial with the last
      proxy.accepting = false;
      for (const g of groups.slice(0, -1)) await runOftp2([...args, ...formatArgs(g.format), ...g.paths], live);
      proxy.accepting = true;
      const last = groups.at(-1)!;
      args.push(...formatArgs(last.format), ...last.paths);
      filesB.push(...s.newFiles);
    }
    const t1 = performance.now();
    const send = new Oftp2Process(`send B #${iteration}`, args, live, logs);
    const limit = setTimeout(() => send.kill(), 20_000);
    const exit = await send.exited;
    clearTimeout(limit);
    clearTimeout(timer);
    watcher?.close();
    proxy.onCommand = () => 'forward';
    const sendTimedOut = exit.signal === 'SIGKILL' && victim !== send;
    assert.ok(!sendTimedOut, `send B #${iteration} did not finish within 20 s\n${send.tail()}\n${serving.tail()}`);
    if (victim === serving) await serving.exited;
    else if (serving.running) {
      // A must notice the session's end (the proxy passes B's death on as a close) and free the partner.
      await waitUntil(() => countSessionEnds(serving) > endedBefore || !serving.running, 10_000, `A did not end the session of send B #${iteration}\n${serving.tail()}`);
    }
    assert.ok(victim === serving || serving.running, `A died on its own (${serving.exit && describeExit(serving.exit)})\n${serving.tail()}`);
    const took = `prepared in ${((t1 - t0) / 1000).toFixed(1)} s, session ${((performance.now() - t1) / 1000).toFixed(1)} s`;
    const outcome = `send ${describeExit(exit)}${exit.code ? `: ${send.stderr.trim().split('\n').at(-1)}` : ''} (${took})`;
    if (fired) {
      if (victim) kills.push(`#${iteration} ${fired}`);
      say(`#${iteration} ${s.label}: ${fired}; ${outcome}`);
    } else {
      say(`#${iteration} ${s.label}: not reached (${s.on}${s.from ? ` from ${s.from}` : ''} #${s.nth}); ${outcome}`);
    }
    if (!fired && !s.scripted && exit.code !== 0) {
      // without a kill a session must succeed, except for ESID 08 while A still ends the last one
      assert.match(send.stderr, /ESID 08/, `send B #${iteration} failed without a kill\n${send.tail()}\n${serving.tail()}`);
    }
    return victim !== undefined;
  };

  for (const s of scripted) {
    let done = false;
    for (let attempt = 0; attempt < 3 && !done; attempt++) done = await runScenario(s);
    assert.ok(done, `scripted scenario never happened: ${s.label}`);
  }
  const randomOnes: Scenario[] = [];
  for (let i = 0; i < RANDOM_SCENARIOS; i++) randomOnes.push(await randomScenario());
  for (const s of randomOnes) await runScenario(s);

  // ---- clean sessions until nothing is queued on either side ----
  const quiet = async () =>
    (await listNames(join(dirB, 'spool', 'a'))).length === 0 &&
    (await listNames(join(dirA, 'spool', 'b'))).length === 0 &&
    (await listNames(join(dirA, 'state', 'receipts', 'b'))).length === 0 &&
    (await listNames(join(dirB, 'state', 'receipts', 'a'))).length === 0;
  let clean = 0;
  for (;;) {
    await ensureA();
    proxy.onCommand = () => 'forward';
    const endedBefore = countSessionEnds(serveA!);
    const send = new Oftp2Process(`clean send B #${++clean}`, ['send', 'a', '-d', dirB], live, logs);
    const exit = await send.exited;
    say(`clean session ${clean}: send ${describeExit(exit)} ${send.stdout.trim().split('\n').at(-1) ?? ''}`);
    await waitUntil(() => countSessionEnds(serveA!) > endedBefore, 5000, `A did not end clean session ${clean}\n${serveA!.tail()}`);
    if (exit.code === 0 && (await quiet())) break;
    assert.ok(clean < 4, `still not quiet after ${clean} clean sessions\n${send.tail()}\n${serveA!.tail()}`);
  }
  serveA!.child.kill('SIGTERM');
  const lastExit = await serveA!.exited;
  assert.equal(lastExit.code, 0, `serve A stopped badly\n${serveA!.tail()}`);
  say(`${kills.length} kills in ${iteration} iterations:\n  ${kills.join('\n  ')}`);
  assert.ok(kills.length >= 10, `only ${kills.length} kills`);

  // ---- every file once, byte-identical, receipts both ways, nothing left behind ----
  const checkInbox = async (inbox: string, files: SourceFile[], direction: string) => {
    const names = (await listNames(inbox)).filter((n) => !n.startsWith('.'));
    const expected = files.map((f) => f.name).sort();
    assert.deepEqual(names, expected, `${direction}: inbox holds exactly the files sent, once each (no NAME~n)`);
    for (const f of files) {
      assert.equal(sha256(await readFile(join(inbox, f.name))), f.sha256, `${direction}: ${f.name} is byte-identical`);
    }
    assert.deepEqual(await listNames(join(inbox, '.oftp-partial')), [], `${direction}: no partial files left`);
  };
  await checkInbox(join(dirA, 'inbox', 'b'), filesB, 'B→A');
  await checkInbox(join(dirB, 'inbox', 'a'), filesA, 'A→B');

  const history = async (dir: string) => {
    const run = await runOftp2(['transfers', '-d', dir, '--json', '--limit', '100000'], live);
    assert.equal(run.exit.code, 0, run.stderr);
    return run.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { direction: string; datasetName: string; state: string; sha256?: string });
  };
  const [historyA, historyB] = await Promise.all([history(dirA), history(dirB)]);
  const states = (rows: Awaited<ReturnType<typeof history>>, direction: string, files: SourceFile[]) => {
    const byName = new Map(rows.filter((r) => r.direction === direction).map((r) => [r.datasetName, r]));
    return files.map((f) => `${f.name} ${byName.get(f.name)?.state ?? 'missing'}`);
  };
  assert.deepEqual(states(historyB, 'out', filesB), filesB.map((f) => `${f.name} delivered`), 'B: every file sent has its EERP');
  assert.deepEqual(states(historyA, 'in', filesB), filesB.map((f) => `${f.name} acknowledged`), 'A: every file received had its EERP acknowledged');
  assert.deepEqual(states(historyA, 'out', filesA), filesA.map((f) => `${f.name} delivered`), 'A: every file sent has its EERP');
  assert.deepEqual(states(historyB, 'in', filesA), filesA.map((f) => `${f.name} acknowledged`), 'B: every file received had its EERP acknowledged');
  assert.equal(historyA.length + historyB.length, 2 * (filesA.length + filesB.length), 'no transfers beyond the files sent');

  // No state goes back: a file whose EERP arrived stays 'delivered' (it is not sent again), a file
  // received stays received (a resend is a discarded duplicate, never 'receiving' or 'failed').
  for (const dir of [dirA, dirB]) {
    const changes = new Map<string, string[]>();
    for (const name of await listNames(join(dir, 'state', 'history'))) {
      for (const line of (await readFile(join(dir, 'state', 'history', name), 'utf8')).split('\n').filter(Boolean)) {
        const r = JSON.parse(line) as { id: string; datasetName: string; state: string };
        const key = `${r.id.slice(0, 3)} ${r.datasetName}`;
        changes.set(key, [...(changes.get(key) ?? []), r.state]);
      }
    }
    for (const [key, seq] of changes) {
      const final = key.startsWith('out') ? ['delivered'] : ['received', 'acknowledged'];
      const first = seq.findIndex((x) => final.includes(x));
      assert.ok(first >= 0 && seq.slice(first).every((x) => final.includes(x)), `${dir}: ${key} went ${seq.join(' → ')}`);
    }
  }

  for (const [dir, partner] of [
    [dirA, 'b'],
    [dirB, 'a'],
  ] as const) {
    assert.deepEqual(await listNames(join(dir, 'spool', partner)), [], `${dir}: spool empty`);
    assert.deepEqual(await listNames(join(dir, 'state', 'receipts', partner)), [], `${dir}: no receipt owed`);
    assert.deepEqual(await listNames(join(dir, 'state', 'deliveries')), [], `${dir}: no delivery journal entry left`);
    assert.deepEqual(await listNames(join(dir, 'state')).then((n) => n.filter((x) => x.endsWith('.tmp') || x === 'station.lock')), [], `${dir}: no lock or temp file left`);
  }

  // The run did what it claims: a restart past 16 MiB and duplicates discarded.
  const logLines = logsA.flatMap((p) => p.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
  const receiving = logLines.filter((l) => l.msg === 'Inbound: receiving file');
  assert.ok(receiving.some((l) => l.dataset === BIG && (l.restartPosition as number) >= 16384 && l.duplicate === false), 'the big file was resumed from B’s 16 MiB progress save');
  assert.ok(receiving.some((l) => l.dataset === MID && (l.restartPosition as number) > 0 && l.duplicate === false), 'the middle-sized file was resumed after A died');
  assert.ok(receiving.some((l) => l.dataset === BIG && (l.restartPosition as number) > 0 && l.duplicate === true), 'the big file’s resend with a restart offer was discarded');
  assert.ok(receiving.some((l) => l.duplicate === true), 'a resend of a delivered file was discarded');
  assert.ok(logLines.some((l) => l.msg === 'recovered a delivery interrupted by a crash'), 'A completed a delivery from its journal');
  say(`A logged ${receiving.filter((l) => l.duplicate === true).length} discarded duplicates and ${receiving.filter((l) => (l.restartPosition as number) > 0).length} restarts`);
  keep = false;
});

function countSessionEnds(p: Oftp2Process): number {
  return (p.stdout.match(/"msg":"session (ended|failed)"/g) ?? []).length;
}

async function waitUntil(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) assert.fail(message);
    await new Promise((r) => setTimeout(r, 10));
  }
}

