// Two real stations using OFTP2's security end to end (RFC 5024): over TLS, secure authentication
// (SECD/AUCH/AURP both ways, §4.2.3), files signed + compressed + encrypted with CMS both ways (§6,
// enveloped at enqueue, opened after EFPA), and signed EERPs verified by the sender (§5.3.13). Then
// every refusal on the way: a challenge that cannot be answered and a wrong AURP (ESID 11),
// SSIDAUTH that does not match (ESID 12), no file before authentication, a tampered transmitted file
// (signed NERP), a tampered receipt (never a delivery), a cipher suite the partner does not accept
// (SFNA 15); a §10.4 certificate file, a plain file with a signed EERP, and a restart of the
// processing after a stop.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { decodeCommand, encodeCommand } from '../../src/protocol/command-codec.ts';
import type { Eerp, OdetteCommand } from '../../src/protocol/command-types.ts';
import { encodeStb, STB_HEADER_LENGTH, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';
import { PendingCertificates, pendingDir } from '../../src/security/certificates-store.ts';
import { OftpSession } from '../../src/session/engine.ts';
import type { SessionEnded, SessionEvent } from '../../src/session/types.ts';
import { type SessionResult, Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { type DriverIo, SessionDriver, type SessionHandler } from '../../src/transports/session-driver.ts';
import { type Issued, openssl, TestPki } from '../tls/pki.ts';
import { CapturingLog, commandsIn, ID_A, ID_B, PASSWORD_A, PASSWORD_B, sha256, sha256Of, StationPair, unstructured, variable, visibleFiles, writeLocal } from './harness.ts';
import { FULL_AGREEMENT, ownKeysConfig, partnerCertificatesConfig, type StationPki, stationPki } from './secure-helpers.ts';

const SETTINGS = { responseTimeoutSeconds: 10, diskReserveBytes: 0, checkpointIntervalBytes: 4096 };

let pki: TestPki;
let pkiA: StationPki;
let pkiB: StationPki;
let stranger: Issued;

before(() => {
  pki = new TestPki('oftp-secure-');
  pkiA = stationPki(pki, 'a', ID_A);
  pkiB = stationPki(pki, 'b', ID_B);
  stranger = pki.issue('stranger', pkiB.ca, { cn: 'someone else', keyUsage: 'critical,keyEncipherment,digitalSignature' });
});
after(() => pki.remove());

/** A log that also keeps the engine's command traces ('Inbound: SFID' …, at debug level). */
class TraceLog extends CapturingLog {
  readonly traces: { direction: 'in' | 'out'; cmd: string; fields: Record<string, unknown> }[] = [];
  debug(obj: object, msg: string): void {
    const m = /^(Inbound|Outbound): (\w+)$/.exec(msg);
    if (m) this.traces.push({ direction: m[1] === 'Inbound' ? 'in' : 'out', cmd: m[2]!, fields: obj as Record<string, unknown> });
  }
  isLevelEnabled(): boolean {
    return true;
  }
  commands(): string[] {
    return this.traces.map((t) => `${t.direction === 'in' ? '<' : '>'}${t.cmd}`);
  }
}

interface TlsPair {
  a: Station;
  b: Station;
  logA: TraceLog;
  logB: TraceLog;
  dirA: string;
  dirB: string;
  root: string;
  sessionsA: SessionResult[];
  waitA(n: number): Promise<void>;
}

/** A serves TLS; B dials it (`tls: true`); both with every role's key and the other's certificates. */
async function tlsPair(t: TestContext, o: { aPartner?: object; bPartner?: object } = {}): Promise<TlsPair> {
  const root = await mkdtemp(join(tmpdir(), 'oftp-secure-tls-'));
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const storeA = await StationStore.init(dirA, { odetteId: ID_A, ...SETTINGS, ...ownKeysConfig(pkiA) });
  await storeA.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: PASSWORD_A, passwordExpected: PASSWORD_B, tls: true, ...partnerCertificatesConfig(pkiB), ...FULL_AGREEMENT, ...o.aPartner });
  const logA = new TraceLog();
  const logB = new TraceLog();
  const a = await Station.open(dirA, logA);
  const sessionsA: SessionResult[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = await a.serveTls(
    (r) => {
      sessionsA.push(r);
      for (const w of [...waiters]) if (sessionsA.length >= w.n) w.resolve();
    },
    { host: '127.0.0.1', port: 0 },
  );
  const port = (server.address() as { port: number }).port;
  const storeB = await StationStore.init(dirB, { odetteId: ID_B, ...SETTINGS, ...ownKeysConfig(pkiB) });
  await storeB.addPartner({ name: 'a', odetteId: ID_A, host: '127.0.0.1', port, passwordToSend: PASSWORD_B, passwordExpected: PASSWORD_A, tls: true, ...partnerCertificatesConfig(pkiA), ...FULL_AGREEMENT, ...o.bPartner });
  const b = await Station.open(dirB, logB);
  t.after(async () => {
    await a.close().catch(() => {});
    await b.close().catch(() => {});
    await new Promise<void>((r) => server.close(() => r()));
    await rm(root, { recursive: true, force: true });
  });
  const waitA = (n: number) =>
    sessionsA.length >= n
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`A finished ${sessionsA.length} sessions, waited for ${n}`)), 20_000);
          waiters.push({
            n,
            resolve: () => {
              clearTimeout(timer);
              resolve();
            },
          });
        });
  return { a, b, logA, logB, dirA, dirB, root, sessionsA, waitA };
}

const MARKER = 'CONFIDENTIAL-ORDER-DATA';

function markedFile(size: number): Buffer {
  const bytes = Buffer.from(unstructured(size, 3).bytes);
  for (let at = 0; at + MARKER.length < size; at += 4096) bytes.write(MARKER, at, 'ascii');
  return bytes;
}

test('over TLS: secure authentication both ways, signed + compressed + encrypted files both ways, signed EERPs verified by each sender', async (t) => {
  const p = await tlsPair(t);
  // A → B: a U file; B → A: a V file (its record lengths are the §6.5 form, checked on both sides).
  const fromA = markedFile(300_000);
  const fromB = variable(2000, 300);
  const entryA = await p.a.enqueue('b', { path: await writeLocal(p.root, 'orders.bin', { format: 'U', bytes: fromA, records: 0, units: fromA.length }), datasetName: 'ORDERS.A2B' });
  const entryB = await p.b.enqueue('a', { path: await writeLocal(p.root, 'records.v', fromB), datasetName: 'RECORDS.B2A', format: 'V' });
  for (const entry of [entryA, entryB]) {
    const m = entry.meta;
    assert.deepEqual([m.securityLevel, m.cipherSuite, m.compression, m.envelope, m.signedReceipt, m.transmissionFormat], [3, 4, 1, 1, true, 'U'], 'SFIDSEC 03, SFIDCIPH 04, SFIDCOMP 1, SFIDENV 1, SFIDSIGN Y, sent as U');
    assert.match(m.receiptHash ?? '', /^[0-9a-f]{64}$/, 'the SHA-256 of the enveloped file is kept for the EERP');
  }
  assert.equal(entryA.meta.originalFileSize, Math.ceil(fromA.length / 1024), 'SFIDOSIZ: the original size');
  assert.equal(entryB.meta.format, 'V');
  assert.equal(entryB.meta.maxRecordSize, 300, 'SFIDLRECL: the longest record');
  assert.ok(!(await readFile(entryA.dataPath)).includes(MARKER), 'the spool holds only the envelope: nothing in clear');

  const b = await p.b.send('a');
  await p.waitA(1);
  const a = p.sessionsA[0]!;
  assert.equal(b.ended.normal, true, `B: ${b.ended.reasonText}`);
  assert.equal(a.ended.normal, true, `A: ${a.ended.reasonText}`);

  // Secure authentication first, both ways, before any file (§4.2.4).
  assert.deepEqual(p.logB.commands().slice(0, 9), ['<SSRM', '>SSID', '<SSID', '>SECD', '<AUCH', '>AURP', '<SECD', '>AUCH', '<AURP']);
  assert.deepEqual(p.logA.commands().slice(0, 8), ['>SSRM', '<SSID', '>SSID', '<SECD', '>AUCH', '<AURP', '>SECD', '<AUCH']);
  const sfids = p.logA.traces.filter((x) => x.cmd === 'SFID');
  assert.equal(sfids.length, 2);
  for (const s of sfids) assert.deepEqual([s.fields.securityLevel, s.fields.cipherSuite, s.fields.compression, s.fields.envelope, s.fields.signedReceipt], [3, 4, 1, 1, true]);

  // The files arrived, opened, byte for byte.
  const inboxA = join(p.dirA, 'inbox', 'b');
  const inboxB = join(p.dirB, 'inbox', 'a');
  assert.deepEqual(await visibleFiles(inboxA), ['RECORDS.B2A']);
  assert.deepEqual(await visibleFiles(inboxB), ['ORDERS.A2B']);
  assert.equal(await sha256Of(join(inboxA, 'RECORDS.B2A')), sha256(fromB.bytes));
  assert.equal(await sha256Of(join(inboxB, 'ORDERS.A2B')), sha256(fromA));
  // Nothing left in the processing areas, nothing failed.
  for (const dir of [p.dirA, p.dirB]) {
    assert.deepEqual(await visibleFiles(join(dir, 'state', 'processing', dir === p.dirA ? 'b' : 'a')), []);
    assert.deepEqual(await visibleFiles(join(dir, 'state', 'failed')), []);
  }

  // Signed EERPs, each verified by the sender against the other's signing certificate and its hash.
  for (const [log, who] of [[p.logA, 'A'], [p.logB, 'B']] as const) {
    const eerps = log.traces.filter((x) => x.cmd === 'EERP' && x.direction === 'in');
    assert.equal(eerps.length, 1, `${who} got one EERP`);
    assert.match(String(eerps[0]!.fields.signature), /^<\d{3,} octets>$/, `${who}: EERPSIG present`);
    assert.equal(eerps[0]!.fields.fileHash, '<32 octets>', `${who}: EERPHSH is a SHA-256 (suite 04)`);
    assert.equal(log.find('Inbound: EERP signature verified').length, 1, `${who} verified it`);
  }
  const out = (s: Station) => s.services.history.list({ direction: 'out' })[0]!;
  const inn = (s: Station) => s.services.history.list({ direction: 'in' })[0]!;
  assert.equal(out(p.a).state, 'delivered');
  assert.equal(out(p.b).state, 'delivered');
  assert.equal(inn(p.a).state, 'acknowledged', 'A sent its EERP and got the RTR');
  assert.equal(inn(p.b).state, 'acknowledged');
  assert.equal(inn(p.a).receiptHash, out(p.b).receiptHash, 'both sides hashed the same transmitted file');
  assert.equal(out(p.a).reason, undefined);
});

// ---- plain TCP pairs (the harness's proxy can see and change the commands) ----

/** A StationPair whose stations hold every role's key and each other's certificates. */
function securePair(t: TestContext, o: { aPartner?: object; bPartner?: object; aRoles?: ('tls' | 'authentication' | 'signing' | 'encryption')[] } = {}): Promise<StationPair> {
  return StationPair.create(t, {
    a: ownKeysConfig(pkiA, o.aRoles ?? ['authentication', 'signing', 'encryption']),
    b: ownKeysConfig(pkiB, ['authentication', 'signing', 'encryption']),
    aPartner: { ...partnerCertificatesConfig(pkiB), ...FULL_AGREEMENT, ...o.aPartner },
    bPartner: { ...partnerCertificatesConfig(pkiA), ...FULL_AGREEMENT, ...o.bPartner },
  });
}

async function queueFromB(pair: StationPair, name: string, size = 20_000, extra: object = {}) {
  const bytes = markedFile(size);
  const path = await writeLocal(pair.root, name, { format: 'U', bytes, records: 0, units: bytes.length });
  const entry = await pair.b.enqueue('a', { path, datasetName: name.toUpperCase(), ...extra });
  return { bytes, entry };
}

test('a challenge our key cannot decrypt: ESID 11 before any file; the file stays queued', async (t) => {
  // A holds, as B's authentication certificate, one whose key B does not have.
  const pair = await securePair(t, { aPartner: { certificates: { ...partnerCertificatesConfig(pkiB).certificates, authentication: stranger.certPath } } });
  await queueFromB(pair, 'first.bin');
  const { a, b } = await pair.sendFromB();
  assert.equal(b.ended.reason, 11, b.ended.reasonText);
  assert.equal(b.ended.origin, 'local', 'B cannot answer A\'s challenge');
  assert.equal(a.ended.reason, 11);
  assert.match(b.ended.reasonText, /secure authentication/);
  assert.equal((await pair.b.services.spool.list('a')).length, 1);
  assert.deepEqual(await visibleFiles(pair.inboxA()), []);
});

/** A scripted initiator (real engine and driver) that answers every challenge with `response`. */
async function scriptedAuthInitiator(port: number, response: (challenge: Uint8Array) => Uint8Array, onSpeak?: (s: OftpSession, io: DriverIo) => void): Promise<{ ended: SessionEnded; events: string[] }> {
  const socket = createConnection({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const session = new OftpSession({
    role: 'initiator',
    local: { identificationCode: ID_B, password: PASSWORD_B, secureAuthentication: true },
    timers: { response: { durationMs: 10_000, onExpiry: 'esid' } },
  });
  const events: string[] = [];
  const handler: SessionHandler = {
    handle(event: SessionEvent, io: DriverIo) {
      events.push(event.type);
      if (event.type === 'authChallengeReceived') session.answerChallenge(response(event.challenge), io.now());
      else if (event.type === 'authChallengeRequired') session.abort(99, 'scripted: no challenge', io.now());
      else if (event.type === 'turnToSpeak') (onSpeak ?? ((s, i) => s.nothingToSend(i.now())))(session, io);
    },
  };
  const ended = await new SessionDriver(socket, session, handler, { closeGraceMs: 2000 }).run();
  return { ended, events };
}

test('a wrong AURP: the responder compares it with its challenge and ends with ESID 11', async (t) => {
  const pair = await securePair(t);
  const run = await scriptedAuthInitiator(pair.portA, () => randomBytes(20));
  await pair.waitForSessionsA(1);
  assert.equal(run.ended.reason, 11, run.ended.reasonText);
  assert.equal(run.ended.origin, 'remote', 'A found the response wrong');
  assert.equal(pair.sessionsA[0]!.ended.reason, 11);
  assert.ok(!run.events.includes('turnToSpeak'), 'never got to send a file');
  assert.equal(pair.a.services.history.size, 0);
});

test('SSIDAUTH that does not match: ESID 12 (required against off), and optional follows the initiator', async (t) => {
  const pair = await securePair(t, { aPartner: { secureAuthentication: 'required' }, bPartner: { secureAuthentication: 'off' } });
  await queueFromB(pair, 'first.bin');
  let run = await pair.sendFromB();
  assert.equal(run.b.ended.reason, 12, run.b.ended.reasonText);
  assert.equal(run.b.ended.origin, 'remote');
  const fromA = run.b.ended.reasonText;
  assert.match(fromA, /secure authentication/);
  assert.equal((await pair.b.services.spool.list('a')).length, 1, 'still queued');
  // A 'optional' answers what B asks: N → no authentication, Y → authentication; the files go.
  await pair.a.store.update((c) => {
    c.partners[0]!.secureAuthentication = 'optional';
  });
  run = await pair.sendFromB();
  assert.equal(run.b.ended.normal, true, run.b.ended.reasonText);
  assert.ok(!commandsIn(pair.proxy.connections.at(-1)!.toA).some((c) => c.cmd === 'SECD'), 'B said N: no authentication');
  assert.equal(pair.b.services.history.list({ direction: 'out' })[0]?.state, 'delivered');
  await pair.b.store.update((c) => {
    c.partners[0]!.secureAuthentication = 'required';
  });
  await queueFromB(pair, 'second.bin');
  run = await pair.sendFromB();
  assert.equal(run.b.ended.normal, true, run.b.ended.reasonText);
  assert.deepEqual(commandsIn(pair.proxy.connections.at(-1)!.toA).map((c) => c.cmd).slice(0, 3), ['SSID', 'SECD', 'AURP'], 'B said Y: authenticated');
  assert.ok(pair.b.services.history.list({ direction: 'out' }).every((r) => r.state === 'delivered'));
});

test('no file before both sides are authenticated: an SFID instead of SECD is a protocol violation (ESID 02), nothing written', async (t) => {
  const pair = await securePair(t);
  const socket = createConnection({ host: '127.0.0.1', port: pair.portA });
  socket.on('error', () => {});
  const deframer = new StbDeframer({ maxExchangeBufferSize: 99999 });
  const received: OdetteCommand[] = [];
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    for (const buffer of deframer.push(chunk)) received.push(decodeCommand(buffer, 5));
    wake?.();
  });
  const next = async (cmd: string) => {
    while (!received.some((c) => c.cmd === cmd)) await new Promise<void>((r) => (wake = r));
  };
  const send = (c: OdetteCommand) => socket.write(encodeStb(encodeCommand(c, 5)));
  await next('SSRM');
  send({ cmd: 'SSID', level: 5, identificationCode: ID_B, password: PASSWORD_B, exchangeBufferSize: 4096, sendReceive: 'B', bufferCompression: false, restart: false, specialLogic: false, credit: 4, secureAuthentication: true, userData: '' });
  await next('SSID');
  assert.equal((received.find((c) => c.cmd === 'SSID') as { secureAuthentication: boolean }).secureAuthentication, true);
  const file = unstructured(100);
  send({
    cmd: 'SFID', datasetName: 'EARLY.BIN', date: '20250102', time: '1203040001', userData: '', destination: ID_A, originator: ID_B, format: 'U', maxRecordSize: 0,
    fileSize: 1, originalFileSize: 1, restartPosition: 0, securityLevel: 0, cipherSuite: 0, compression: 0, envelope: 0, signedReceipt: false, description: '',
  });
  await next('ESID');
  const esid = received.find((c) => c.cmd === 'ESID') as { reason: number; reasonText: string };
  assert.equal(esid.reason, 2, esid.reasonText);
  assert.ok(file);
  socket.destroy();
  await pair.waitForSessionsA(1);
  assert.equal(pair.a.services.history.size, 0);
  assert.deepEqual(await readdir(join(pair.dirA, 'inbox')), []);
});

test('a tampered transmitted file: A keeps it in failed/ and answers with a signed NERP, which B verifies and records', async (t) => {
  // No compression, so the damage reaches the signature check (or the decryption).
  const agreement = { fileServices: { send: { securityLevel: 3, cipherSuite: 4, compression: false, signedReceipt: true } } };
  const pair = await securePair(t, { bPartner: agreement });
  const { entry } = await queueFromB(pair, 'tampered.bin', 50_000);
  const data = await readFile(entry.dataPath);
  data[Math.floor(data.length / 2)]! ^= 0x5a;
  await writeFile(entry.dataPath, data);
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  const out = pair.b.services.history.list({ direction: 'out' })[0]!;
  assert.equal(out.state, 'failed');
  assert.match(out.reason ?? '', /^NERP (31|33)$/, `${out.reason}: ${out.reasonText}`);
  assert.equal(pair.logB.find('Inbound: NERP signature verified').length, 1, 'the NERP was signed by A and verified');
  const inA = pair.a.services.history.list({ direction: 'in' })[0]!;
  assert.equal(inA.state, 'failed');
  assert.equal(inA.reason, out.reason);
  assert.deepEqual(await visibleFiles(pair.inboxA()), [], 'nothing delivered');
  const failedDir = join(pair.dirA, 'state', 'failed', 'b');
  const kept = (await readdir(failedDir)).sort();
  assert.equal(kept.length, 2, `the transmitted file and why: ${kept}`);
  assert.deepEqual(await readFile(join(failedDir, kept.find((n) => n.endsWith('.cms'))!)), data, 'the file as received, for the operator');
  // A resend of it (a lost EFPA) is no new file: the NERP again.
  assert.equal((await pair.a.services.receipts.list('b')).length, 0, 'the NERP was acknowledged');
});

/** A proxy B → A that changes EERPs on their way from A to B (`mode`), and forwards everything else. */
class ReceiptTamperer {
  readonly server: Server;
  mode: 'hash' | 'signature' | 'none' = 'none';
  tampered = 0;
  readonly #sockets = new Set<Socket>();
  constructor(target: number) {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: target });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => this.#sockets.delete(s));
      }
      client.on('data', (d) => upstream.write(d));
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      let pending = Buffer.alloc(0);
      upstream.on('data', (d: Buffer) => {
        pending = Buffer.concat([pending, d]);
        while (pending.length >= STB_HEADER_LENGTH) {
          const total = (pending[1]! << 16) | (pending[2]! << 8) | pending[3]!;
          if (pending.length < total) break;
          let frame: Uint8Array = pending.subarray(0, total);
          pending = pending.subarray(total);
          if (frame[STB_HEADER_LENGTH] === 0x45 && this.mode !== 'none') frame = this.#tamper(frame);
          client.write(frame);
        }
      });
    });
  }
  #tamper(frame: Uint8Array): Uint8Array {
    const eerp = decodeCommand(frame.subarray(STB_HEADER_LENGTH), 5) as Eerp;
    const field = this.mode === 'hash' ? Uint8Array.from(eerp.fileHash) : Uint8Array.from(eerp.signature);
    field[Math.floor(field.length / 2)]! ^= 0x01;
    this.tampered++;
    return encodeStb(encodeCommand(this.mode === 'hash' ? { ...eerp, fileHash: field } : { ...eerp, signature: field }, 5));
  }
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }
  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

test('a tampered EERP (its hash, then its signature): never recorded as a delivery, the RTR still goes out', async (t) => {
  const pair = await securePair(t);
  const proxy = new ReceiptTamperer(pair.portA);
  await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', r));
  t.after(() => proxy.close());
  await pair.b.store.update((c) => {
    c.partners[0]!.port = proxy.port;
  });
  for (const mode of ['hash', 'signature'] as const) {
    proxy.mode = mode;
    const { bytes } = await queueFromB(pair, `${mode}.bin`);
    const before = proxy.tampered;
    const sessions = pair.sessionsA.length;
    const b = await pair.b.send('a');
    await pair.waitForSessionsA(sessions + 1);
    assert.equal(b.ended.normal, true, b.ended.reasonText);
    assert.equal(proxy.tampered, before + 1, `${mode}: one EERP changed on the way`);
    const record = pair.b.services.history.list({ direction: 'out' }).find((r) => r.datasetName === `${mode.toUpperCase()}.BIN`)!;
    assert.equal(record.state, 'failed', `${mode}: not delivered`);
    assert.equal(record.reason, 'EERP unverified');
    assert.match(record.reasonText ?? '', mode === 'hash' ? /file hash .* is not the hash of the file we sent/ : /signature/);
    // A got its RTR: the EERP is no longer owed; its file is there.
    assert.equal((await pair.a.services.receipts.list('b')).length, 0, `${mode}: RTR received by A`);
    assert.equal(pair.a.services.history.list({ direction: 'in' }).find((r) => r.datasetName === `${mode.toUpperCase()}.BIN`)?.state, 'acknowledged');
    assert.equal(await sha256Of(join(pair.inboxA(), `${mode.toUpperCase()}.BIN`)), sha256(bytes));
  }
});

test('a cipher suite the partner does not accept: SFNA 15, B marks the file failed', async (t) => {
  const pair = await securePair(t, {
    aPartner: { fileServices: { receive: { cipherSuites: [2, 4] } } },
    bPartner: { fileServices: { send: { securityLevel: 3, cipherSuite: 6, compression: true, signedReceipt: true } } },
  });
  await queueFromB(pair, 'suite6.bin');
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  const out = pair.b.services.history.list({ direction: 'out' })[0]!;
  assert.equal(out.state, 'failed');
  assert.equal(out.reason, 'SFNA 15');
  assert.match(out.reasonText ?? '', /cipher suite 06 is not accepted from this partner \(accepted: 02, 04\)/);
  assert.equal((await pair.b.services.spool.list('a')).length, 0);
});

test('§10.4: an unsecured CMS file with certificates is kept pending for approval and answered with an EERP', async (t) => {
  const pair = await securePair(t, { aPartner: { secureAuthentication: 'off' }, bPartner: { secureAuthentication: 'off' } });
  const p7c = join(pair.root, 'certs.p7c');
  openssl(['crl2pkcs7', '-nocrl', '-certfile', pkiB.certs.signing.certPath, '-certfile', pkiB.certs.encryption.certPath, '-outform', 'DER', '-out', p7c]);
  const size = (await readFile(p7c)).length;
  await pair.b.enqueue('a', { path: p7c, datasetName: 'NEWCERTS', secured: { securityLevel: 0, cipherSuite: 0, compression: 0, envelope: 1, originalFileSize: Math.ceil(size / 1024) } });
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.equal(pair.b.services.history.list({ direction: 'out' })[0]?.state, 'delivered', 'EERP received');
  const pending = await new PendingCertificates(pendingDir(pair.dirA)).list('b');
  assert.deepEqual(pending.map((p) => p.sha256).sort(), [pkiB.certs.signing.sha256, pkiB.certs.encryption.sha256].sort());
  assert.match(pending[0]!.source, /NEWCERTS/);
  assert.deepEqual(await visibleFiles(pair.inboxA()), [], 'certificates go to approval, not to the inbox');
});

test('a plain file with a signed EERP requested: the EERP is signed over the hash of the file, B verifies it', async (t) => {
  const pair = await securePair(t, { aPartner: { fileServices: {} }, bPartner: { fileServices: { send: { securityLevel: 0, cipherSuite: 5, signedReceipt: true } } } });
  const { entry } = await queueFromB(pair, 'plain.bin');
  assert.deepEqual([entry.meta.securityLevel, entry.meta.cipherSuite, entry.meta.envelope, entry.meta.signedReceipt], [0, 5, 0, true]);
  assert.match(entry.meta.receiptHash ?? '', /^[0-9a-f]{128}$/, 'suite 05: SHA-512');
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.equal(pair.b.services.history.list({ direction: 'out' })[0]?.state, 'delivered');
  assert.equal(pair.logB.find('Inbound: EERP signature verified').length, 1);
});

test('opening a received file stopped by a local failure (our key unreadable) resumes at the next start: one delivery, the EERP in the next session', async (t) => {
  const pair = await securePair(t);
  const keyPath = pkiA.certs.encryption.keyPath;
  const away = `${keyPath}.away`;
  await rename(keyPath, away);
  t.after(() => rename(away, keyPath).catch(() => {}));
  const { bytes } = await queueFromB(pair, 'later.bin');
  const first = await pair.sendFromB();
  assert.equal(first.b.ended.normal, true, first.b.ended.reasonText);
  assert.equal(pair.b.services.history.list({ direction: 'out' })[0]?.state, 'sent', 'EFPA, but no EERP yet');
  assert.deepEqual(await visibleFiles(pair.inboxA()), []);
  const jobs = (await readdir(join(pair.dirA, 'state', 'processing', 'b'))).filter((n) => n.endsWith('.job.json'));
  assert.equal(jobs.length, 1, 'the job waits');
  assert.ok(pair.logA.find('Inbound: processing a received file stopped by a local failure; it is tried again').length >= 1);
  // Restart A with its key back: the job finishes, once.
  await rename(away, keyPath);
  await pair.a.close();
  pair.a = await Station.open(pair.dirA, pair.logA);
  await waitFor(async () => (await visibleFiles(pair.inboxA())).length === 1);
  assert.equal(await sha256Of(join(pair.inboxA(), 'LATER.BIN')), sha256(bytes));
  await waitFor(async () => (await pair.a.services.receipts.list('b')).length === 1);
  // A serves again (a new server for the new station) and B collects the EERP.
  pair.server.close();
  pair.server = await pair.a.serve((r) => pair.sessionsA.push(r), { host: '127.0.0.1', port: 0 });
  pair.proxy.target = { host: '127.0.0.1', port: (pair.server.address() as { port: number }).port };
  const second = await pair.b.send('a');
  assert.equal(second.ended.normal, true, second.ended.reasonText);
  assert.equal(pair.b.services.history.list({ direction: 'out' })[0]?.state, 'delivered');
  assert.deepEqual(await visibleFiles(pair.inboxA()), ['LATER.BIN'], 'one delivery');
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
