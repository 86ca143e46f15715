// Issue 6, evidence "Faults": two real `oftp2 serve` gateways, SIGKILLed again and again while they
// work through a share full of files.
//
// S (sender) watches three outbox folders for partner r: `r/out` with the 'stable' rule (a PLC writes
// the file, the gateway takes it once it stops changing), `r/out-rename` with the 'rename' rule (the
// writer writes `.NAME` and renames it) and `r/out-sealed` with the 'marker' rule (NAME, then
// NAME.ready) and file services (signed, compressed and encrypted as it is spooled; R verifies and
// decrypts it after its EFPA). R (receiver) delivers into its inbox folder `s/in`. Each station dials
// the other (both have the other's address): S when files are queued, R when it owes S receipts.
// 200 files of mixed sizes (empty, around 1 KiB, tens of KiB, some MiB so kills land in the middle of
// a transfer) are dropped, half before the first kill, the rest in batches while the kills go on.
// S or R (or both) is SIGKILLed at seeded random moments (some while it is still starting up and
// recovering), at least 10 times, and restarted each time. Afterwards both run undisturbed until the
// work is done and are stopped with SIGTERM (exit 0). Asserted:
//   - R's inbox holds every file exactly once (no second copy under any name: NAME~1, another stamp),
//     each with the SHA-256 of the file dropped, and nothing else;
//   - S's history has every file 'delivered' (its EERP recorded; a plain file with its SHA-256) and
//     no other outgoing transfer; R's history has every file once, its receipt acknowledged;
//   - nothing is in limbo on either side: every file left in both data directories is accounted for
//     (the config, history, the timestamp and status files, the delivered files): no file in an
//     outbox, claim folder (.oftp-pickup), .oftp-rejected, spool entry or spool temp, partial file,
//     delivery journal entry, pending or held receipt, processing job, envelope being sealed, lock or
//     temp file.
// OFTP_FAULT_SEED=<n> replays a run's choices (the seed is printed; what a kill at "n ms" hits still
// depends on timing). OFTP_FAULT_KILLS=<n> kills more often; OFTP_FAULT_LOGS=<dir> keeps every process's log. Child processes are SIGKILLed and the
// temp directory removed whatever happens; a failure prints the timeline and each process's log tail.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { datasetNameForDrop } from '../../src/gateway/share-naming.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { type TransferRecord, TransferHistory } from '../../src/store/transfer-history.ts';
import { ownKeysConfig, partnerCertificatesConfig, stationPki } from '../station/secure-helpers.ts';
import { TestPki } from '../tls/pki.ts';
import { describeExit, listNames, Oftp2Process, seededRandom } from './crash-harness.ts';
import { freePort } from '../free-port.ts';
import { owedReceipts } from '../receipts-owed.ts';

const SEED = Number(process.env.OFTP_FAULT_SEED ?? 61122);
/** OFTP_FAULT_LOGS=<dir>: every process's whole output is written there (the data directories still go). */
const LOG_DIR = process.env.OFTP_FAULT_LOGS || undefined;
const KILLS = Math.max(10, Number(process.env.OFTP_FAULT_KILLS ?? 16));
const FILES = 200;
const ID_S = 'O0013000000SENDER';
const ID_R = 'O0013000000RECEIVER';
/** The whole test, hard (the runner's limit is above it so our own clean-up still runs). */
const TEST_TIMEOUT_MS = 105_000;
/** After the last kill: both stations must finish the work within this. */
const SETTLE_MS = 55_000;

/** The outboxes: 'stable' rule, 'rename' rule, and 'marker' with file services (signed, compressed, encrypted). */
const FOLDERS = ['out', 'out-rename', 'out-sealed'] as const;
type Folder = (typeof FOLDERS)[number];

interface Dropped {
  name: string;
  folder: Folder;
  data: Buffer;
  sha256: string;
  dsn: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** 200 sizes: empty, around the 1 KiB block, small, tens to hundreds of KiB, and a few of several MiB. */
function sizes(rng: ReturnType<typeof seededRandom>): number[] {
  const out = [0, 0, 1, 1023, 1024, 1025, 4096, 65_536];
  for (let i = 0; i < 6; i++) out.push(rng.int(2, 6) * 1024 * 1024 + rng.int(0, 4096));
  for (let i = 0; i < 16; i++) out.push(rng.int(128 * 1024, 1024 * 1024));
  while (out.length < FILES) out.push(rng.next() < 0.5 ? rng.int(0, 4096) : rng.int(4097, 96 * 1024));
  // Shuffled, so the big ones are spread over the run.
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Every file (not folder) below `dir`, as paths relative to it. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out.push(relative(dir, p));
    }
  };
  await walk(dir);
  return out.sort();
}

/** History lines written so far (a line being written is skipped). */
async function historyLines(dataDir: string): Promise<{ id: string; state: string; datasetName: string }[]> {
  const dir = join(dataDir, 'state', 'history');
  const out: { id: string; state: string; datasetName: string }[] = [];
  for (const name of await listNames(dir)) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      try {
        out.push(JSON.parse(line));
      } catch {
        // empty or torn
      }
    }
  }
  return out;
}

/** The dataset name part of an inbox name '<DSN>_<date>_<HHMMSS>_<cccc>[~n]' (a DSN never holds '_'). */
const dsnOfInboxName = (name: string) => name.split('_')[0]!;

test('gateway faults: 200 files through two gateways SIGKILLed at random at least 10 times arrive exactly once, EERPs recorded, nothing in limbo', { timeout: TEST_TIMEOUT_MS + 10_000 /* 115 s: our own hard stop comes first */ }, async (t) => {
  const started = performance.now();
  const timeline: string[] = [];
  const say = (text: string) => {
    timeline.push(`[${((performance.now() - started) / 1000).toFixed(2).padStart(6)}s] ${text}`);
  };
  say(`seed ${SEED} (replay with OFTP_FAULT_SEED=${SEED}), ${KILLS} kills`);
  const rng = seededRandom(SEED);
  // The drops' pauses draw from their own sequence: they run beside the kills.
  const dropRng = seededRandom(SEED ^ 0x5eed);
  const root = await mkdtemp(join(tmpdir(), 'oftp2-faults-'));
  const live = new Set<Oftp2Process>();
  const all: Oftp2Process[] = [];
  let passed = false;
  const hardStop = setTimeout(() => {
    say('hard timeout: killing every process');
    for (const p of live) p.kill();
  }, TEST_TIMEOUT_MS);
  t.after(async () => {
    clearTimeout(hardStop);
    for (const p of live) p.kill();
    await Promise.all([...live].map((p) => p.exited));
    if (!passed) {
      const tails = all.slice(-4).map((p) => p.tail(25));
      process.stderr.write(`gateway-faults: seed ${SEED}\n${timeline.join('\n')}\n${tails.join('\n')}\n`);
    }
    await rm(root, { recursive: true, force: true });
  });

  // ---- two stations: S sends from its outboxes, R receives into its inbox ----
  const dirS = join(root, 'S');
  const dirR = join(root, 'R');
  const [portS, portR] = [await freePort(), await freePort()];
  // Fast retries (a killed partner is back within a second or two), short stability, quick rescans.
  const station = {
    diskReserveBytes: 0,
    checkpointIntervalBytes: 256 * 1024,
    responseTimeoutSeconds: 10,
    daemon: { stopTimeoutSeconds: 10 },
    scheduler: { debounceMs: 50, maxDebounceMs: 200, retry: { baseSeconds: 0.2, factor: 1.5, maxSeconds: 1, jitter: 0, laterSeconds: 0.5 } },
  };
  // Keys and certificates for the sealed outbox: S signs and encrypts for R; R verifies and decrypts.
  const pki = new TestPki('oftp2-faults-pki-');
  t.after(() => pki.remove());
  const [pkiS, pkiR] = [stationPki(pki, 's', ID_S), stationPki(pki, 'r', ID_R)];
  const roles = ['authentication', 'signing', 'encryption'] as const;
  const storeS = await StationStore.init(dirS, { odetteId: ID_S, listen: { host: '127.0.0.1', port: portS }, ...station, ...ownKeysConfig(pkiS, roles) });
  await storeS.update((c) => {
    c.gateway = {
      rescanIntervalMs: 300,
      retryMs: 200,
      outboxPerPartner: false,
      outboxes: [
        { folder: 'r/out', partner: 'r', pickup: 'stable', stableMs: 150 },
        { folder: 'r/out-rename', partner: 'r', pickup: 'rename' },
        { folder: 'r/out-sealed', partner: 'r', pickup: 'marker', security: { sign: true, encrypt: true, compress: true } },
      ],
    } as never;
  });
  await storeS.addPartner({ name: 'r', odetteId: ID_R, host: '127.0.0.1', port: portR, passwordToSend: 'PWS', passwordExpected: 'PWR', ...partnerCertificatesConfig(pkiR) });
  const storeR = await StationStore.init(dirR, { odetteId: ID_R, listen: { host: '127.0.0.1', port: portR }, ...station, ...ownKeysConfig(pkiR, roles) });
  await storeR.update((c) => {
    c.gateway = { rescanIntervalMs: 300, retryMs: 200 } as never;
  });
  await storeR.addPartner({ name: 's', odetteId: ID_S, host: '127.0.0.1', port: portS, passwordToSend: 'PWR', passwordExpected: 'PWS', ...partnerCertificatesConfig(pkiS) });

  // ---- the files ----
  const files: Dropped[] = sizes(rng).map((size, i) => {
    const kind = rng.pick(['ORDERS', 'delfor', 'ASN', 'Invoice', 'label']);
    const name = `${kind}-${String(i).padStart(3, '0')}.${rng.pick(['edi', 'xml', 'DAT', 'txt'])}`;
    const data = randomBytes(size);
    const roll = rng.next();
    const folder: Folder = roll < 0.4 ? 'out' : roll < 0.8 ? 'out-rename' : 'out-sealed';
    return { name, folder, data, sha256: sha256(data), dsn: datasetNameForDrop(name) };
  });
  assert.equal(new Set(files.map((f) => f.dsn)).size, FILES, 'every file has its own dataset name');
  const totalMiB = files.reduce((n, f) => n + f.data.length, 0) / 1048576;
  say(`${FILES} files, ${totalMiB.toFixed(1)} MiB, largest ${(Math.max(...files.map((f) => f.data.length)) / 1048576).toFixed(1)} MiB`);
  const outboxS = (f: Dropped) => join(dirS, 'share', 'r', f.folder);

  /** As a PLC drops a file: 'stable' written in two writes with a pause; 'rename' written as .NAME and renamed; 'marker' then NAME.ready. */
  const drop = async (f: Dropped) => {
    const dir = outboxS(f);
    if (f.folder === 'out') {
      const half = Math.floor(f.data.length / 2);
      await writeFile(join(dir, f.name), f.data.subarray(0, half));
      await sleep(dropRng.int(0, 40));
      await writeFile(join(dir, f.name), f.data.subarray(half), { flag: 'a' });
    } else if (f.folder === 'out-rename') {
      await writeFile(join(dir, `.${f.name}`), f.data);
      await rename(join(dir, `.${f.name}`), join(dir, f.name));
    } else {
      await writeFile(join(dir, f.name), f.data);
      await writeFile(join(dir, `${f.name}.ready`), '');
    }
  };

  // ---- the processes ----
  type Side = 'S' | 'R';
  const dirs: Record<Side, string> = { S: dirS, R: dirR };
  const runs: Record<Side, number> = { S: 0, R: 0 };
  const proc: Partial<Record<Side, Oftp2Process>> = {};
  const startServe = (side: Side): Oftp2Process => {
    const p = new Oftp2Process(`serve ${side} #${++runs[side]}`, ['serve', '-d', dirs[side]], live, LOG_DIR);
    p.child.stdout!.on('data', () => {});
    all.push(p);
    proc[side] = p;
    return p;
  };
  const unexpectedExit = (side: Side) => {
    const p = proc[side]!;
    return p.exit && p.exit.signal !== 'SIGKILL' ? `${p.label} exited by itself (${describeExit(p.exit)})\n${p.tail(30)}` : undefined;
  };
  for (const side of ['S', 'R'] as const) startServe(side);
  await Promise.all([proc.S!.waitFor(/"msg":"listening"/, 20_000), proc.R!.waitFor(/"msg":"listening"/, 20_000)]);
  // The outbox folders exist once S watches them.
  await proc.S!.waitFor(/"msg":"Share: watching"/, 20_000);
  say('both stations listening');

  // ---- drop: half now, the rest in batches while the kills go on (a PLC keeps dropping while the
  // gateway crashes; a drop into the outbox of a station that is down is taken when it is back) ----
  const firstHalf = files.slice(0, FILES / 2);
  for (const f of firstHalf) await drop(f);
  say(`dropped ${firstHalf.length} files`);
  const rest = files.slice(FILES / 2);
  const batches: Dropped[][] = Array.from({ length: KILLS - 2 }, (_, k) => rest.filter((_f, i) => i % (KILLS - 2) === k));
  let dropping: Promise<void> = Promise.resolve();

  // ---- kills ----
  const inboxDir = join(dirR, 'share', 's', 'in');
  const delivered = async () => (await listNames(inboxDir)).filter((n) => !n.startsWith('.')).length;
  const partials = async () => (await listNames(join(inboxDir, '.oftp-partial'))).filter((n) => n.endsWith('.part')).length;
  const lastMsg = (p: Oftp2Process) => /"msg":"([^"]*)"[^\n]*\n?$/.exec(p.stdout)?.[1] ?? '';
  const kills: string[] = [];
  let midTransfer = 0;
  for (let k = 0; k < KILLS; k++) {
    const batch = batches[k] ?? [];
    dropping = dropping.then(async () => {
      for (const f of batch) await drop(f);
    });
    const roll = rng.next();
    const victims: Side[] = roll < 0.45 ? ['S'] : roll < 0.9 ? ['R'] : ['S', 'R'];
    // Mostly while working; one kill in five while the victim is still starting up (recovering).
    const duringStartUp = rng.next() < 0.2;
    const delayMs = duringStartUp ? rng.int(50, 600) : rng.int(150, 1500);
    for (const side of victims) {
      const problem = unexpectedExit(side);
      assert.equal(problem, undefined, problem);
      if (!duringStartUp) await proc[side]!.waitFor(/"msg":"listening"/, 20_000).catch(() => {});
    }
    await sleep(delayMs);
    const [inbox, parts] = [await delivered(), await partials()];
    const last = victims.map((side) => `${side}: ${lastMsg(proc[side]!)}`).join('; ');
    for (const side of victims) proc[side]!.kill();
    for (const side of victims) await proc[side]!.exited;
    if (parts > 0) midTransfer++;
    const what = `kill ${kills.length + 1}: ${victims.join('+')} ${delayMs} ms after ${duringStartUp ? 'its start' : 'listening'} (${inbox} files in R's inbox, ${parts} partial; last log ${last})`;
    kills.push(what);
    say(what);
    for (const side of victims) startServe(side);
  }
  await dropping;
  say(`${kills.length} kills done (${midTransfer} with a partial file at R); all ${FILES} files dropped; letting both finish`);

  // ---- undisturbed until the work is done ----
  const outboxesEmpty = async () => {
    for (const folder of FOLDERS) {
      const dir = join(dirS, 'share', 'r', folder);
      if ((await listNames(dir)).some((n) => n !== '.oftp-pickup')) return false;
      if ((await listNames(join(dir, '.oftp-pickup'))).length > 0) return false;
    }
    return true;
  };
  const deliveredIds = async () => {
    const latest = new Map<string, string>();
    for (const l of await historyLines(dirS)) if (l.id.startsWith('out')) latest.set(l.id, l.state);
    return [...latest.values()].filter((s) => s === 'delivered').length;
  };
  const settleEnd = performance.now() + SETTLE_MS;
  let lastReport = 0;
  for (;;) {
    for (const side of ['S', 'R'] as const) {
      const problem = unexpectedExit(side);
      assert.equal(problem, undefined, problem);
    }
    const [inbox, eerps, empty, spooled, owed] = await Promise.all([
      delivered(),
      deliveredIds(),
      outboxesEmpty(),
      listNames(join(dirS, 'spool', 'r')),
      owedReceipts(join(dirR, 'state', 'receipts'), 's'),
    ]);
    // Both up (a process restarted by the last kill has finished its start-up recovery), all done.
    const up = proc.S!.stdout.includes('"msg":"listening"') && proc.R!.stdout.includes('"msg":"listening"');
    if (up && inbox >= FILES && eerps >= FILES && empty && spooled.length === 0 && owed.length === 0) break;
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now();
      say(`waiting: ${inbox} in R's inbox, ${eerps} EERPs at S, outboxes ${empty ? 'empty' : 'not empty'}, ${spooled.length} spooled, ${owed.length} receipts owed by R`);
    }
    assert.ok(performance.now() < settleEnd, `not done ${SETTLE_MS / 1000} s after the last kill: ${inbox} files in R's inbox, ${eerps} EERPs recorded at S, outboxes ${empty ? 'empty' : 'not empty'}, ${spooled.length} in S's spool, ${owed.length} receipts owed by R`);
    await sleep(200);
  }
  say('work done; stopping both');
  for (const side of ['S', 'R'] as const) proc[side]!.child.kill('SIGTERM');
  for (const side of ['S', 'R'] as const) {
    const exit = await proc[side]!.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `${proc[side]!.label} did not stop cleanly\n${proc[side]!.tail()}`);
  }

  // ---- every file exactly once, byte-identical ----
  const inboxNames = (await listNames(inboxDir)).filter((n) => !n.startsWith('.'));
  const byDsn = new Map<string, string[]>();
  for (const n of inboxNames) byDsn.set(dsnOfInboxName(n), [...(byDsn.get(dsnOfInboxName(n)) ?? []), n]);
  const expected = new Set(files.map((f) => f.dsn));
  assert.deepEqual(inboxNames.filter((n) => !expected.has(dsnOfInboxName(n))), [], "nothing in R's inbox that was not dropped");
  assert.deepEqual(
    files.filter((f) => (byDsn.get(f.dsn) ?? []).length !== 1).map((f) => `${f.name}: ${(byDsn.get(f.dsn) ?? []).join(', ') || 'missing'}`),
    [],
    "R's inbox holds every file exactly once",
  );
  for (const f of files) {
    const got = sha256(await readFile(join(inboxDir, byDsn.get(f.dsn)![0]!)));
    assert.equal(got, f.sha256, `${f.name} arrived with another SHA-256`);
  }

  // ---- every EERP recorded at S; R received each once and had its receipt acknowledged ----
  const historyOf = async (dir: string) => {
    const h = await TransferHistory.open({ dir: join(dir, 'state', 'history') });
    try {
      return h.list({ limit: 100_000 });
    } finally {
      await h.close();
    }
  };
  const [histS, histR] = [await historyOf(dirS), await historyOf(dirR)];
  const outS = histS.filter((r) => r.direction === 'out');
  const byName = (rows: TransferRecord[]) => new Map(rows.map((r) => [r.datasetName, r]));
  const outByDsn = byName(outS);
  assert.equal(outS.length, FILES, `S has one outgoing transfer per file (${outS.length})`);
  assert.deepEqual(
    files.filter((f) => outByDsn.get(f.dsn)?.state !== 'delivered').map((f) => `${f.name} ${outByDsn.get(f.dsn)?.state ?? 'missing'}`),
    [],
    'S recorded an EERP for every file',
  );
  // A sealed file went as its envelope (CMS adds octets even to what compression cannot shrink); a plain one as it is.
  assert.deepEqual(files.filter((f) => f.folder !== 'out-sealed' && outByDsn.get(f.dsn)?.size !== f.data.length).map((f) => f.name), [], "S's history has each plain file's size");
  assert.deepEqual(files.filter((f) => f.folder === 'out-sealed' && outByDsn.get(f.dsn)?.size === f.data.length).map((f) => f.name), [], 'each file of the sealed outbox went as an envelope');
  const inR = histR.filter((r) => r.direction === 'in');
  const inByDsn = byName(inR);
  assert.equal(inR.length, FILES, `R has one incoming transfer per file (${inR.length})`);
  assert.deepEqual(
    files.filter((f) => inByDsn.get(f.dsn)?.state !== 'acknowledged').map((f) => `${f.name} ${inByDsn.get(f.dsn)?.state ?? 'missing'}`),
    [],
    "R's receipt for every file was acknowledged",
  );
  assert.equal(histS.length + histR.length, 2 * FILES, 'no transfers beyond the files dropped');

  // ---- nothing in limbo: every file left in either data directory is accounted for ----
  const inboxRel = relative(dirR, inboxDir);
  const accounted = (path: string) =>
    path === 'station.json' ||
    path === join('state', 'timestamp.json') ||
    path === join('state', 'daemon-status.json') ||
    /^state\/history\/[^/]+\.jsonl$/.test(path) ||
    (path.startsWith(`${inboxRel}/`) && !path.slice(inboxRel.length + 1).includes('/') && !path.slice(inboxRel.length + 1).startsWith('.'));
  for (const [side, dir] of [
    ['S', dirS],
    ['R', dirR],
  ] as const) {
    const left = (await allFiles(dir)).filter((p) => !accounted(p));
    assert.deepEqual(left, [], `${side}: files in limbo`);
  }
  const inboxFiles = (await allFiles(dirR)).filter((p) => p.startsWith(`${inboxRel}/`));
  assert.equal(inboxFiles.length, FILES);
  for (const f of FOLDERS) assert.deepEqual((await listNames(join(dirS, 'share', 'r', f))).filter((n) => n !== '.oftp-pickup'), [], `S: ${f} empty`);

  // Kills fell on work in progress: at least one during a transfer of R's inbox filling up.
  say(`done: ${kills.length} kills; S ran ${runs.S} times, R ${runs.R} times`);
  for (const line of timeline) t.diagnostic(line);
  passed = true;
});
