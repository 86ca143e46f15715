// `npm run bench:pkcs11`: RSA-2048 signatures/s and decryptions/s through Pkcs11KeyStore beside raw
// pkcs11js calls (same library, same token, same number of sessions and the same concurrency) in
// the same run, on a fresh SoftHSM2 token; and the event loop's worst delay while 100 signatures run
// at once through the store. Targets: store ≥ 90 % of raw; loop lag < 20 ms.
// The last line is one JSON object: ratio (store/raw operations per second, sign and decrypt
// together; sign_ratio and decrypt_ratio apart), loop_lag_ms (max) and the rest — with the idle
// loop delay and the load average, since on a shared 2-core machine other processes move both.
//
// Options: --seconds N (per side, operation and round, default 2), --sessions N (default: the store's
// default, 2), --rounds N (default 3). Raw and store alternate in 0.25 s slices so both
// see the same machine; each rate is total operations over total time.
import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DEFAULT_SESSIONS } from '../src/keystore/pkcs11-config.ts';
import { Pkcs11KeyStore } from '../src/keystore/pkcs11-key-store.ts';
import { type Handle, type Pkcs11Api, Pkcs11Module, pkcs11js } from '../src/keystore/pkcs11-module.ts';
import { createSoftHsm, softHsmMissing, USER_PIN } from '../test/keystore/helpers/softhsm.ts';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '2' }, sessions: { type: 'string', default: String(DEFAULT_SESSIONS) }, rounds: { type: 'string', default: '3' } },
  strict: true,
});
const seconds = Number(values.seconds);
const sessions = Number(values.sessions);
const rounds = Number(values.rounds);

const missing = softHsmMissing();
if (missing !== undefined) {
  console.error(`bench-pkcs11: ${missing}`);
  process.exit(1);
}

async function main(): Promise<void> {
  const store = await Pkcs11KeyStore.open({
    module: hsm.module,
    token: { label: 'bench' },
    pin: { file: hsm.pinFile(USER_PIN) },
    sessions,
  });
  const key = await store.key('sign');
  const module = Pkcs11Module.acquire(hsm.module);
  const api = module.api;
  const raw = openRaw(api);
  const data = randomBytes(256);
  const ciphertexts = Array.from({ length: 64 }, () => publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, randomBytes(32)));

  // Warm up both paths (sessions opened, caches filled).
  await runFor(0.3, sessions, (w) => rawSign(api, raw.sessions[w]!, raw.key, data));
  await runFor(0.3, sessions, () => key.sign('sha256', data));

  // Raw and store alternate in short slices, so both see the same machine (other processes, CPU
  // frequency); each side's rate is its total operations over its total time.
  const totals = { rawSign: new Rate(), storeSign: new Rate(), rawDecrypt: new Rate(), storeDecrypt: new Rate() };
  const slices = Math.max(1, Math.round(seconds / SLICE_SECONDS));
  let i = 0;
  for (let round = 0; round < rounds; round++) {
    // Which side goes first alternates from slice to slice.
    for (let slice = 0; slice < slices; slice++) {
      const pair = [
        async () => totals.rawSign.add(await runFor(SLICE_SECONDS, sessions, (w) => rawSign(api, raw.sessions[w]!, raw.key, data))),
        async () => totals.storeSign.add(await runFor(SLICE_SECONDS, sessions, () => key.sign('sha256', data))),
      ];
      for (const step of slice % 2 === 0 ? pair : pair.reverse()) await step();
    }
    for (let slice = 0; slice < slices; slice++) {
      const pair = [
        async () => totals.rawDecrypt.add(await runFor(SLICE_SECONDS, sessions, (w) => rawDecrypt(api, raw.sessions[w]!, raw.key, ciphertexts[i++ % 64]!))),
        async () => totals.storeDecrypt.add(await runFor(SLICE_SECONDS, sessions, () => key.decrypt(ciphertexts[i++ % 64]!))),
      ];
      for (const step of slice % 2 === 0 ? pair : pair.reverse()) await step();
    }
    console.log(
      `round ${round + 1}: sign raw ${totals.rawSign.perSecond().toFixed(0)}/s store ${totals.storeSign.perSecond().toFixed(0)}/s; ` +
        `decrypt raw ${totals.rawDecrypt.perSecond().toFixed(0)}/s store ${totals.storeDecrypt.perSecond().toFixed(0)}/s (cumulative)`,
    );
  }
  const best = {
    rawSign: totals.rawSign.perSecond(),
    storeSign: totals.storeSign.perSecond(),
    rawDecrypt: totals.rawDecrypt.perSecond(),
    storeDecrypt: totals.storeDecrypt.perSecond(),
  };

  // Per-operation cost, one at a time on one session (min over rounds: the least disturbed by other
  // processes): what the store adds to each call, in microseconds.
  let rawLatency = Number.POSITIVE_INFINITY;
  let storeLatency = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 6; round++) {
    rawLatency = Math.min(rawLatency, await sequential(200, () => rawSign(api, raw.sessions[0]!, raw.key, data)));
    storeLatency = Math.min(storeLatency, await sequential(200, () => key.sign('sha256', data)));
  }

  // Synchronous raw signing on one session, for reference (it blocks the event loop).
  const syncStart = performance.now();
  let syncCount = 0;
  while (performance.now() - syncStart < 1000) {
    api.C_SignInit(raw.sessions[0]!, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, raw.key);
    api.C_Sign(raw.sessions[0]!, data, Buffer.alloc(256));
    syncCount++;
  }
  const syncRate = syncCount / ((performance.now() - syncStart) / 1000);

  // Event-loop delay while 100 signatures run at once through the store (5 bursts, worst of all),
  // beside the same measurement with nothing running (what the machine itself costs: other
  // processes, GC).
  const ticker = setInterval(() => {}, 1); // keeps the loop turning for the monitor to sample
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, 400));
  idle.disable();
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  let burstMs = 0;
  histogram.enable();
  for (let burst = 0; burst < 5; burst++) {
    const started = performance.now();
    await Promise.all(Array.from({ length: 100 }, (_, n) => key.sign('sha256', Buffer.from(`burst ${burst} #${n}`))));
    burstMs = Math.max(burstMs, performance.now() - started);
  }
  histogram.disable();
  clearInterval(ticker);
  const loopLagMs = histogram.max / 1e6;

  for (const session of raw.sessions) api.C_CloseSession(session);
  module.release();
  await store.close();

  const signRatio = best.storeSign / best.rawSign;
  const decryptRatio = best.storeDecrypt / best.rawDecrypt;
  // Both operations together: store operations per second over raw operations per second, each
  // side's sign and decrypt slices summed (they ran alternately, so they shared the machine's mood).
  const ratio = Rate.sum(totals.storeSign, totals.storeDecrypt).perSecond() / Rate.sum(totals.rawSign, totals.rawDecrypt).perSecond();
  const result = {
    bench: 'pkcs11',
    token: 'SoftHSM 2 (RSA-2048)',
    sessions,
    seconds_per_round: seconds,
    rounds,
    raw_sign_per_s: round1(best.rawSign),
    store_sign_per_s: round1(best.storeSign),
    raw_decrypt_per_s: round1(best.rawDecrypt),
    store_decrypt_per_s: round1(best.storeDecrypt),
    raw_sync_sign_per_s_one_session: round1(syncRate),
    raw_sign_latency_us: round1(rawLatency * 1000),
    store_sign_latency_us: round1(storeLatency * 1000),
    store_overhead_us: round1((storeLatency - rawLatency) * 1000),
    sign_ratio: round3(signRatio),
    decrypt_ratio: round3(decryptRatio),
    ratio: round3(ratio),
    loop_lag_ms: round3(loopLagMs),
    loop_lag_p99_ms: round3(histogram.percentile(99) / 1e6),
    idle_loop_lag_ms: round3(idle.max / 1e6),
    load_average_1m: round3(loadavg()[0]!),
    burst_100_signatures_ms: round1(burstMs),
    targets: { ratio: 0.9, loop_lag_ms: 20 },
    pass: ratio >= 0.9 && loopLagMs < 20,
  };
  console.log(JSON.stringify(result));
}

/** The raw baseline: its own sessions on the same token (the store's login covers them), one per caller. */
function openRaw(api: Pkcs11Api): { sessions: Handle[]; key: Handle } {
  const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trim() === 'bench')!;
  const opened = Array.from({ length: sessions }, () => api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION));
  api.C_FindObjectsInit(opened[0]!, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: 'sign' }]);
  const key = api.C_FindObjects(opened[0]!)!;
  api.C_FindObjectsFinal(opened[0]!);
  return { sessions: opened, key };
}

function rawSign(api: Pkcs11Api, session: Handle, key: Handle, data: Buffer): Promise<Buffer> {
  api.C_SignInit(session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, key);
  return new Promise((resolve, reject) => {
    api.C_Sign(session, data, Buffer.allocUnsafe(256), (error, out) => (error ? reject(error) : resolve(out)));
  });
}

function rawDecrypt(api: Pkcs11Api, session: Handle, key: Handle, data: Buffer): Promise<Buffer> {
  api.C_DecryptInit(session, { mechanism: pkcs11js.CKM_RSA_PKCS }, key);
  return new Promise((resolve, reject) => {
    api.C_Decrypt(session, data, Buffer.allocUnsafe(256), (error, out) => (error ? reject(error) : resolve(out)));
  });
}

const SLICE_SECONDS = 0.25;

/** Mean milliseconds per call of `op`, `count` calls one after the other. */
async function sequential(count: number, op: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  for (let n = 0; n < count; n++) await op();
  return (performance.now() - started) / count;
}

class Rate {
  count = 0;
  ms = 0;
  static sum(a: Rate, b: Rate): Rate {
    const r = new Rate();
    r.add(a);
    r.add(b);
    return r;
  }
  add(run: { count: number; ms: number }): void {
    this.count += run.count;
    this.ms += run.ms;
  }
  perSecond(): number {
    return this.ms === 0 ? 0 : this.count / (this.ms / 1000);
  }
}

/** Runs `op` with `concurrency` callers (each with its own worker index) for `duration` seconds. */
async function runFor(duration: number, concurrency: number, op: (worker: number) => Promise<unknown>): Promise<{ count: number; ms: number }> {
  const started = performance.now();
  const deadline = started + duration * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        await op(worker);
        count++;
      }
    }),
  );
  return { count, ms: performance.now() - started };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

// Last, so the classes and constants above are initialised.
const hsm = createSoftHsm();
try {
  hsm.initToken('bench');
  hsm.keyPair('bench', { label: 'sign', id: '01' });
  await main();
} finally {
  hsm.cleanup();
}
