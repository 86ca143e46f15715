// Two real stations over TLS on 127.0.0.1 (RFC 5024 §2.3): A serves TLS (serveTls), B dials it because
// its partner "a" is configured `tls: true`. A trusts B through B's CA; B trusts A through A's pinned
// certificate; each station's key is read by the file KeyStore (A's encrypted, passphrase in a file).
// Files go both ways in one session with receipts. Then the binding of the TLS certificate to the
// partner: an SSID naming another partner is refused with ESID 03, so is a TLS partner on plain TCP;
// a certificate the peer does not accept is reported with its cause on both sides.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { type SessionResult, Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import type { TlsError } from '../../src/transports/tls.ts';
import { CapturingLog } from '../station/harness.ts';
import { type Issued, TestPki } from './pki.ts';

const ID_A = 'O0013000000STATIONA';
const ID_B = 'O0013000000STATIONB';
const ID_C = 'O0013000000STATIONC';
const SETTINGS = { responseTimeoutSeconds: 10, diskReserveBytes: 0, checkpointIntervalBytes: 4096 };

let pki: TestPki;
let caA: Issued;
let caB: Issued;
let certA: Issued;
let certB: Issued;
let certC: Issued;
let keyAEncrypted: string;

before(() => {
  pki = new TestPki('oftp-tls-station-');
  caA = pki.rootCa('ca-a', 'Station A CA');
  caB = pki.rootCa('ca-b', 'Station B CA');
  certA = pki.issue('a', caA, { cn: ID_A, extendedKeyUsage: 'serverAuth,clientAuth' });
  certB = pki.issue('b', caB, { cn: ID_B });
  certC = pki.issue('c', caB, { cn: ID_C, keyOf: certB });
  keyAEncrypted = pki.encryptedKey('a', certA, 'station a secret');
});
after(() => pki.remove());

interface TlsPair {
  root: string;
  a: Station;
  b: Station;
  server: Server;
  logA: CapturingLog;
  logB: CapturingLog;
  sessionsA: SessionResult[];
  refusedA: TlsError[];
  /** Resolves once A has finished n sessions or refused n connections in all. */
  waitA(n: number): Promise<void>;
}

async function createPair(t: TestContext, options: { bTrust?: object; bPartnerOfA?: object; extraPartnersOfA?: object[] } = {}): Promise<TlsPair> {
  const root = await mkdtemp(join(tmpdir(), 'oftp-tls-pair-'));
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  await writeFile(join(root, 'a-pass'), 'station a secret\n');
  const storeA = await StationStore.init(dirA, {
    odetteId: ID_A,
    ...SETTINGS,
    keys: { 'tls-key': { file: keyAEncrypted, passphraseFile: join(root, 'a-pass') } },
    certificates: { tls: { certificate: certA.certPath, key: 'tls-key' } },
  });
  await storeA.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: 'PWFROMA', passwordExpected: 'PWFROMB', tls: true, trust: { caFiles: [caB.certPath] }, ...options.bPartnerOfA });
  for (const p of options.extraPartnersOfA ?? []) await storeA.addPartner(p as Record<string, unknown>);
  const logA = new CapturingLog();
  const logB = new CapturingLog();
  const a = await Station.open(dirA, logA);
  const sessionsA: SessionResult[] = [];
  const refusedA: TlsError[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const settle = () => {
    for (const w of [...waiters]) {
      if (sessionsA.length + refusedA.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  const server = await a.serveTls(
    (r) => {
      sessionsA.push(r);
      settle();
    },
    { host: '127.0.0.1', port: 0 },
    (err) => {
      refusedA.push(err);
      settle();
    },
  );
  const port = (server.address() as { port: number }).port;
  const storeB = await StationStore.init(dirB, {
    odetteId: ID_B,
    ...SETTINGS,
    keys: { tls: { file: certB.keyPath } },
    certificates: { tls: { certificate: certB.certPath, key: 'tls' } },
  });
  await storeB.addPartner({
    name: 'a',
    odetteId: ID_A,
    host: '127.0.0.1',
    port,
    passwordToSend: 'PWFROMB',
    passwordExpected: 'PWFROMA',
    tls: true,
    trust: options.bTrust ?? { pinnedSha256: [certA.sha256.replace(/:/g, '').toLowerCase()] },
  });
  const b = await Station.open(dirB, logB);
  const pair: TlsPair = {
    root,
    a,
    b,
    server,
    logA,
    logB,
    sessionsA,
    refusedA,
    waitA: (n) =>
      sessionsA.length + refusedA.length >= n
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`A: ${sessionsA.length} sessions, ${refusedA.length} refusals; waited for ${n}`)), 10_000);
            waiters.push({
              n,
              resolve: () => {
                clearTimeout(timer);
                resolve();
              },
            });
          }),
  };
  t.after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await a.close().catch(() => {});
    await b.close().catch(() => {});
    await rm(root, { recursive: true, force: true });
  });
  return pair;
}

async function queue(station: Station, partner: string, dir: string, name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return (await station.enqueue(partner, { path })).meta.datasetName;
}

test('a full session over TLS: files both ways with receipts, station keys from the KeyStore', async (t) => {
  const pair = await createPair(t);
  const toA = Buffer.alloc(300_000, 7).fill(9, 1000, 50_000);
  const toB = Buffer.from('hello from A over TLS\r\n'.repeat(2000));
  const dsToA = await queue(pair.b, 'a', pair.root, 'to-a.bin', toA);
  const dsToB = await queue(pair.a, 'b', pair.root, 'to-b.txt', toB);

  const b = await pair.b.send('a');
  await pair.waitA(1);
  const a = pair.sessionsA[0]!;
  assert.equal(b.ended.normal, true, `B ended normally: ${b.ended.reasonText}`);
  assert.equal(a.ended.normal, true, `A ended normally: ${a.ended.reasonText}`);
  assert.equal(a.partner, 'b');
  assert.deepEqual(b.summary, { sent: 1, received: 1, failed: 0, receiptsSent: 1, receiptsReceived: 1 });
  assert.deepEqual(a.summary, { sent: 1, received: 1, failed: 0, receiptsSent: 1, receiptsReceived: 1 });
  assert.deepEqual(await readFile(join(pair.root, 'a', 'inbox', 'b', dsToA)), toA);
  assert.deepEqual(await readFile(join(pair.root, 'b', 'inbox', 'a', dsToB)), toB);
  for (const [station, side] of [[pair.a, 'A'], [pair.b, 'B']] as const) {
    assert.deepEqual(station.services.history.list({ direction: 'out' }).map((r) => r.state), ['delivered'], `${side}: EERP received for its file`);
    assert.deepEqual(station.services.history.list({ direction: 'in' }).map((r) => r.state), ['acknowledged'], `${side}: its EERP acknowledged`);
  }
  const accepted = pair.logA.find('TLS connection accepted')[0]!.obj;
  assert.equal(accepted.protocol, 'TLSv1.3');
  assert.deepEqual(accepted.partners, ['b']);
  assert.equal(accepted.sha256, certB.sha256);
  const established = pair.logB.find('TLS connection established')[0]!.obj;
  assert.equal(established.partner, 'a');
  assert.match(String(established.peer), /CN=O0013000000STATIONA/);
  // The encrypted key's passphrase and the key itself appear in no log line.
  const logs = JSON.stringify([...pair.logA.entries, ...pair.logB.entries]);
  assert.ok(!logs.includes('station a secret'));
  assert.ok(!/PRIVATE KEY/.test(logs));
});

test('an SSID naming another partner than the TLS certificate is bound to is refused with ESID 03', async (t) => {
  // A knows c (trusted through its pinned certificate). Mallory holds b's certificate and key but claims c's code and password.
  const pair = await createPair(t, { extraPartnersOfA: [{ name: 'c', odetteId: ID_C, passwordToSend: 'PWFROMA', passwordExpected: 'PWFROMC', tls: true, trust: { pinnedSha256: [certC.sha256] } }] });
  const dirM = join(pair.root, 'mallory');
  const storeM = await StationStore.init(dirM, { odetteId: ID_C, ...SETTINGS, keys: { tls: { file: certB.keyPath } }, certificates: { tls: { certificate: certB.certPath, key: 'tls' } } });
  await storeM.addPartner({ name: 'a', odetteId: ID_A, host: '127.0.0.1', port: (pair.server.address() as { port: number }).port, passwordToSend: 'PWFROMC', passwordExpected: 'PWFROMA', tls: true, trust: { pinnedSha256: [certA.sha256] } });
  const mallory = await Station.open(dirM);
  t.after(() => mallory.close());

  const m = await mallory.send('a');
  await pair.waitA(1);
  const a = pair.sessionsA[0]!;
  assert.equal(m.ended.normal, false);
  assert.equal(m.ended.reason, 3, `mallory was told ESID 03: ${m.ended.reasonText}`);
  assert.equal(a.ended.reason, 3);
  assert.equal(a.ended.reasonText, `the TLS certificate is not trusted for ${ID_C}`);
  assert.equal(a.partner, undefined, 'no partner was logged in');
  assert.deepEqual(pair.logA.find('TLS connection accepted')[0]!.obj.partners, ['b'], 'the certificate bound the connection to b only');
});

test('a partner configured for TLS that logs in over plain TCP is refused with ESID 03', async (t) => {
  const pair = await createPair(t);
  const tcp = await pair.a.serve((r) => pair.sessionsA.push(r), { host: '127.0.0.1', port: 0 });
  t.after(() => new Promise<void>((r) => tcp.close(() => r())));
  await pair.b.store.update((c) => {
    const a = c.partners.find((p) => p.name === 'a')!;
    a.tls = false;
    a.port = (tcp.address() as { port: number }).port;
  });
  const b = await pair.b.send('a');
  assert.equal(b.ended.reason, 3);
  assert.equal(b.ended.reasonText, `${ID_B} must connect over TLS`);
});

test('the server refuses our certificate: its log names the cause, we are told it closed before its Ready Message', async (t) => {
  const pair = await createPair(t, { bPartnerOfA: { trust: { caFiles: [caA.certPath] } } });
  const b = await pair.b.send('a');
  await pair.waitA(1);
  assert.equal(b.ended.normal, false);
  assert.match(b.ended.reasonText, /closed the TLS connection before its Ready Message: it may not accept our certificate/);
  assert.equal(pair.refusedA.length, 1);
  assert.match(pair.refusedA[0]!.message, /refused: partner b: unknown CA: "CN=O0013000000STATIONB" is issued by "CN=Station B CA, O=OFTP2 Test"/);
  assert.ok(pair.logA.entries.some((e) => e.level === 'warn' && /partner b: unknown CA/.test(e.msg)), 'A logged the refusal with its cause');
});

test('we refuse the server\'s certificate: send rejects with OFTP_ERR_TLS naming the partner and the cause', async (t) => {
  const pair = await createPair(t, { bTrust: { caFiles: [caB.certPath] } });
  await assert.rejects(pair.b.send('a'), (err: TlsError) => {
    assert.equal(err.code, 'OFTP_ERR_TLS');
    assert.match(err.message, /^partner a: unknown CA: "CN=O0013000000STATIONA" is issued by "CN=Station A CA, O=OFTP2 Test", which is not a trusted CA for it$/);
    return true;
  });
});

test('a wrong passphrase for our TLS key stops serveTls with one clear line', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'oftp-tls-badkey-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await writeFile(join(root, 'pass'), 'not it\n');
  const dir = join(root, 'a');
  await StationStore.init(dir, { odetteId: ID_A, keys: { k: { file: keyAEncrypted, passphraseFile: join(root, 'pass') } }, certificates: { tls: { certificate: certA.certPath, key: 'k' } } });
  const station = await Station.open(dir);
  t.after(() => station.close());
  await assert.rejects(station.serveTls(undefined, { host: '127.0.0.1', port: 0 }), /^ConfigError: key "k" \(.*\): wrong passphrase \(from passphrase file .*pass\), or the file is damaged$/);
});

test('regression: a long send over TLS leaves no listeners behind (each wait for drain leaked a close and an error listener)', async (t) => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const pair = await createPair(t);
  // 4 MB in 99999-octet exchange buffers: each write is larger than the socket's 16 KiB high-water
  // mark, so each of the ~40 writes waits for 'drain'.
  const bytes = Buffer.alloc(4_000_000, 0x5a);
  const dataset = await queue(pair.b, 'a', pair.root, 'long.bin', bytes);
  const b = await pair.b.send('a');
  await pair.waitA(1);
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.deepEqual(await readFile(join(pair.root, 'a', 'inbox', 'b', dataset)), bytes);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
});
