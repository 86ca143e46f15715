// Every way the station refuses, seen from the wire and from the station's records: the protocol answer
// (ESID, SFNA, EFNA with the RFC 5024 reason), and that nothing is lost: the sender keeps a file queued
// where the RFC says retry, marks it failed where it says not to, and the history says why.
// Session-level refusals use the real station B; SFIDs a station would never send come from a real
// initiator engine driven by hand (harness.runScriptedInitiator) against the real responder A.
import assert from 'node:assert/strict';
import { statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { decodeCommand, encodeCommand } from '../../src/protocol/command-codec.ts';
import type { OdetteCommand } from '../../src/protocol/command-types.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import {
  allFiles,
  commandsIn,
  fixed,
  type LocalFile,
  runScriptedInitiator,
  type ScriptLogEntry,
  sfidFor,
  sha256,
  sha256Of,
  StationPair,
  unstructured,
  variable,
  visibleFiles,
  writeLocal,
} from './harness.ts';

const refusals = (log: ScriptLogEntry[]) => log.filter((e) => e.event === 'startFileRefused').map((e) => e.detail as { reason: number; retry: boolean; text: string });
const events = (log: ScriptLogEntry[], type: string) => log.filter((e) => e.event === type);

// ---- session refusals (ESID) ----

async function refusedSession(t: import('node:test').TestContext, options: Parameters<typeof StationPair.create>[1], esid: number): Promise<StationPair> {
  const pair = await StationPair.create(t, options);
  const source = await writeLocal(pair.root, 'queued.bin', unstructured(3000));
  await pair.b.enqueue('a', { path: source });
  const { a, b } = await pair.sendFromB();
  assert.equal(b.ended.normal, false);
  assert.equal(b.ended.origin, 'remote', 'A ended it');
  assert.equal(b.ended.reason, esid, `ESID ${esid}: ${b.ended.reasonText}`);
  assert.equal(a.ended.origin, 'local');
  assert.equal(a.ended.reason, esid);
  // The file waits for the next session, still 'queued'.
  const queued = await pair.b.services.spool.list('a');
  assert.equal(queued.length, 1, 'B keeps the file queued');
  assert.equal(pair.b.services.history.list({ direction: 'out' })[0]?.state, 'queued');
  assert.deepEqual(await allFiles(pair.inboxA()), [], 'nothing reached A');
  return pair;
}

/** What A said on the wire: it must say nothing about itself (no SSID) before refusing. */
function assertResponderSilent(pair: StationPair): void {
  const fromA = commandsIn(pair.proxy.connections.at(-1)!.toB).map((c) => c.cmd);
  assert.deepEqual(fromA, ['SSRM', 'ESID'], 'A sent its ready message and the ESID, never its SSID');
}

test('unknown initiator code: ESID 03, the responder never sends its SSID, the file stays queued', async (t) => {
  const pair = await refusedSession(t, { aPartner: { odetteId: 'O0013000000SOMEONEELSE' } }, 3);
  assertResponderSilent(pair);
});

test('wrong password: ESID 04, the responder never sends its SSID, the file stays queued', async (t) => {
  const pair = await refusedSession(t, { bPartner: { passwordToSend: 'WRONG' } }, 4);
  assertResponderSilent(pair);
  // Nothing was recorded at A: no transfer began.
  assert.equal(pair.a.services.history.size, 0);
});

test('both sides send only: ESID 10 and the file stays queued', async (t) => {
  const pair = await refusedSession(t, { aPartner: { sendReceive: 'S' }, bPartner: { sendReceive: 'S' } }, 10);
  assertResponderSilent(pair);
});

// ---- SFID refusals (SFNA) from crafted SFIDs ----

/** A file services agreement (partners[].fileServices) under which A takes no file service from B. */
const REFUSE_FILE_SERVICES = {
  receive: { cipherSuites: [], encryption: 'refused', signature: 'refused', compression: 'refused', signedReceipts: 'refused', certificateExchange: 'refused' },
};

test('SFID refusals: destination, originator, names escaping the inbox, file services; each with its SFNA reason', async (t) => {
  // B's agreement with A allows no file service: each one is refused with its own reason.
  const pair = await StationPair.create(t, {
    aPartner: { fileServices: REFUSE_FILE_SERVICES },
    aExtraPartners: [{ name: 'c', odetteId: 'O0013000000STATIONC', passwordToSend: 'X', passwordExpected: 'Y' }],
  });
  const file = unstructured(2000);
  const cases: { what: string; overrides: Parameters<typeof sfidFor>[1]; reason: number }[] = [
    { what: 'destination not this station', overrides: { destination: 'O0013000000ELSEWHERE' }, reason: 2 },
    { what: 'unknown originator', overrides: { originator: 'O0013000000STRANGER' }, reason: 3 },
    { what: "'..'", overrides: { datasetName: '..' }, reason: 1 },
    { what: "'.'", overrides: { datasetName: '.' }, reason: 1 },
    { what: "'../../ETC'", overrides: { datasetName: '../../ETC' }, reason: 1 },
    { what: "'/ETC'", overrides: { datasetName: '/ETC' }, reason: 1 },
    { what: "'A/../../B'", overrides: { datasetName: 'A/../../B' }, reason: 1 },
    { what: "'.HIDDEN'", overrides: { datasetName: '.HIDDEN' }, reason: 1 },
    { what: "'.OFTP-PARTIAL'", overrides: { datasetName: '.OFTP-PARTIAL' }, reason: 1 },
    { what: "'ORDERS/2024' (a path, though in the RFC set)", overrides: { datasetName: 'ORDERS/2024' }, reason: 1 },
    { what: "'CON' (a device name over SMB)", overrides: { datasetName: 'CON' }, reason: 1 },
    { what: "'NAME.' (trailing dot)", overrides: { datasetName: 'NAME.' }, reason: 1 },
    { what: 'SFIDSEC 1 (encrypted)', overrides: { securityLevel: 1 }, reason: 16 },
    { what: 'SFIDSEC 3 (encrypted and signed)', overrides: { securityLevel: 3 }, reason: 16 },
    { what: 'SFIDSEC 2 (signed)', overrides: { securityLevel: 2 }, reason: 19 },
    { what: 'SFIDCIPH 1', overrides: { cipherSuite: 1 }, reason: 15 },
    { what: 'SFIDCOMP 1', overrides: { compression: 1 }, reason: 18 },
    { what: 'SFIDENV 1', overrides: { envelope: 1 }, reason: 99 },
    { what: 'SFIDSIGN Y', overrides: { signedReceipt: true }, reason: 99 },
    { what: 'V without a record length', overrides: { format: 'V', maxRecordSize: 0 }, reason: 5 },
  ];
  const offers = cases.map((c, i) => ({ sfid: sfidFor(file, { time: `12030400${String(i).padStart(2, '0')}`, ...c.overrides }), file }));
  const run = await runScriptedInitiator({ port: pair.proxy.port, offers });
  await pair.waitForSessionsA(1);
  assert.equal(run.ended.normal, true, `the session goes on after each refusal and ends normally: ${run.ended.reasonText}`);
  const got = refusals(run.log);
  assert.equal(got.length, cases.length);
  for (const [i, c] of cases.entries()) {
    assert.equal(got[i]!.reason, c.reason, `${c.what}: SFNA ${c.reason} (${got[i]!.text})`);
    assert.equal(got[i]!.retry, false, `${c.what}: no retry`);
  }
  assert.equal(events(run.log, 'startFileAccepted').length, 0);
  // Nothing was written anywhere: no inbox file, no partial, nothing outside the inbox either.
  assert.deepEqual(await allFiles(join(pair.dirA, 'inbox')), []);
  assert.deepEqual(await visibleFiles(pair.root), ['a', 'b']);
  const everywhere = (await allFiles(pair.root)).map((f) => basename(f));
  for (const name of ['ETC', 'B', '2024', '.HIDDEN', '.OFTP-PARTIAL', 'CON', 'NAME.', 'CRAFTED.DAT']) {
    assert.ok(!everywhere.includes(name), `no file named ${name} anywhere under the stations`);
  }
  // History: each refusal with its reason (the identity names the record, so names that clash are one).
  const failed = pair.a.services.history.list({ direction: 'in' });
  assert.ok(failed.length > 0);
  for (const r of failed) {
    assert.equal(r.state, 'failed');
    assert.match(r.reason ?? '', /^SFNA \d+$/);
    assert.ok(r.reasonText, `${r.datasetName}: a reason text`);
  }
  const byTime = new Map(failed.map((r) => [r.time, r]));
  assert.match(byTime.get('1203040000')?.reason ?? '', /^SFNA 0?2$/);
  assert.match(byTime.get('1203040001')?.reason ?? '', /^SFNA 0?3$/);
});

test('SFID refusals under the default agreement: what the station cannot do or the agreement does not allow, each with its SFNA reason', async (t) => {
  // A has no keys and no certificates of B: the defaults allow every service, but A can neither
  // decrypt, nor verify B's signature, nor sign a receipt; and B must sign and encrypt under `required`.
  const pair = await StationPair.create(t, { aPartner: { fileServices: { receive: { cipherSuites: [2, 4] } } } });
  const file = unstructured(2000);
  const cases: { what: string; overrides: Parameters<typeof sfidFor>[1]; reason: number; text: RegExp }[] = [
    { what: 'suite 06 not in the agreement', overrides: { securityLevel: 1, cipherSuite: 6, envelope: 1 }, reason: 15, text: /not accepted from this partner \(accepted: 02, 04\)/ },
    { what: 'suite 07 unknown', overrides: { cipherSuite: 7, envelope: 1 }, reason: 15, text: /not supported/ },
    { what: 'encrypted, no decryption key', overrides: { securityLevel: 1, cipherSuite: 4, envelope: 1 }, reason: 16, text: /no decryption key/ },
    { what: 'signed, no signing certificate of B', overrides: { securityLevel: 2, cipherSuite: 4, envelope: 1 }, reason: 19, text: /no signing certificate/ },
    { what: 'signed without a suite', overrides: { securityLevel: 2, envelope: 1 }, reason: 19, text: /./ },
    { what: 'compressed, not enveloped', overrides: { compression: 1 }, reason: 99, text: /must be enveloped/ },
    { what: 'signed EERP, no suite', overrides: { signedReceipt: true }, reason: 15, text: /needs a cipher suite/ },
    { what: 'signed EERP, no signing key', overrides: { signedReceipt: true, cipherSuite: 2 }, reason: 99, text: /no signing key/ },
  ];
  const offers = cases.map((c, i) => ({ sfid: sfidFor(file, { time: `12030500${String(i).padStart(2, '0')}`, ...c.overrides }), file }));
  const run = await runScriptedInitiator({ port: pair.proxy.port, offers });
  await pair.waitForSessionsA(1);
  const got = refusals(run.log);
  assert.equal(got.length, cases.length);
  for (const [i, c] of cases.entries()) {
    assert.equal(got[i]!.reason, c.reason, `${c.what}: SFNA ${c.reason} (${got[i]!.text})`);
    assert.match(got[i]!.text, c.text, c.what);
    assert.equal(got[i]!.retry, false);
  }
  assert.deepEqual(await allFiles(join(pair.dirA, 'inbox')), []);
});

test('SFID refusals under a required agreement: unencrypted SFNA 17, unsigned SFNA 20', async (t) => {
  const pair = await StationPair.create(t, { aPartner: { fileServices: { receive: { encryption: 'required' } } } });
  const file = unstructured(500);
  let run = await runScriptedInitiator({ port: pair.proxy.port, offers: [{ sfid: sfidFor(file, { time: '1203060001' }), file }] });
  assert.equal(refusals(run.log)[0]?.reason, 17);
  await pair.close();
  const pair2 = await StationPair.create(t, { aPartner: { fileServices: { receive: { signature: 'required' } } } });
  run = await runScriptedInitiator({ port: pair2.proxy.port, offers: [{ sfid: sfidFor(file, { time: '1203060002' }), file }] });
  assert.equal(refusals(run.log)[0]?.reason, 20);
  assert.match(refusals(run.log)[0]!.text, /must sign/);
});

test('a dataset name with NUL cannot get past the codec: ESID 06, nothing written', async (t) => {
  const pair = await StationPair.create(t);
  const file = unstructured(2000);
  // A codec that writes a NUL into SFIDDSN after encoding (the real encoder refuses to).
  const codec = {
    decode: decodeCommand,
    encode(command: OdetteCommand, level: 1 | 2 | 4 | 5): Uint8Array {
      const bytes = encodeCommand(command, level);
      if (command.cmd === 'SFID') bytes[3] = 0;
      return bytes;
    },
  };
  const run = await runScriptedInitiator({ port: pair.portA, offers: [{ sfid: sfidFor(file, { datasetName: 'ABC' }), file }], codec });
  await pair.waitForSessionsA(1);
  assert.equal(run.ended.origin, 'remote');
  assert.equal(run.ended.reason, 6, run.ended.reasonText);
  assert.deepEqual(await allFiles(join(pair.dirA, 'inbox')), []);
});

// ---- space ----

test('not enough disk space: SFNA 06 with retry, B keeps the file queued and says why', async (t) => {
  const s = await statfs(tmpdir());
  const free = Number(s.bavail) * Number(s.bsize);
  const pair = await StationPair.create(t, { a: { diskReserveBytes: free + 64 * 1024 * 1024 } });
  const source = await writeLocal(pair.root, 'big.bin', unstructured(20_000));
  await pair.b.enqueue('a', { path: source });
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  const answer = commandsIn(pair.proxy.connections[0]!.toB).find((c) => c.cmd === 'SFNA');
  assert.ok(answer?.cmd === 'SFNA');
  assert.equal(answer.reason, 6);
  assert.equal(answer.retry, true);
  assert.equal((await pair.b.services.spool.list('a')).length, 1, 'B keeps it queued for the next session');
  const out = pair.b.services.history.list({ direction: 'out' })[0]!;
  assert.equal(out.state, 'queued');
  assert.match(out.reason ?? '', /^SFNA 0?6$/);
  assert.match(out.reasonText ?? '', /insufficient space/);
  assert.deepEqual(await allFiles(pair.inboxA()), []);
});

test("a file larger than the partner's maximum: SFNA 06 without retry, B marks it failed", async (t) => {
  const pair = await StationPair.create(t, { aPartner: { maxFileSizeBytes: 8 * 1024 } });
  const small = await writeLocal(pair.root, 'small.bin', unstructured(3000));
  const big = await writeLocal(pair.root, 'big.bin', unstructured(20_000));
  await pair.b.enqueue('a', { path: big });
  await pair.b.enqueue('a', { path: small });
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.equal(b.summary.failed, 1);
  assert.equal(b.summary.sent, 1, 'the next file goes through');
  const answer = commandsIn(pair.proxy.connections[0]!.toB).find((c) => c.cmd === 'SFNA');
  assert.ok(answer?.cmd === 'SFNA');
  assert.equal(answer.reason, 6);
  assert.equal(answer.retry, false);
  assert.deepEqual(await pair.b.services.spool.list('a'), []);
  const failed = pair.b.services.history.list({ direction: 'out', state: 'failed' });
  assert.equal(failed.length, 1);
  assert.equal(failed[0]!.datasetName, 'BIG.BIN');
  assert.match(failed[0]!.reason ?? '', /^SFNA 0?6$/);
  assert.match(failed[0]!.reasonText ?? '', /exceeds the limit/);
  assert.deepEqual(await visibleFiles(pair.inboxA()), ['SMALL.BIN']);
});

// ---- duplicates ----

test('a resend of a delivered file (lost EFPA): accepted, data discarded, EFPA, no second file, EERP again', async (t) => {
  const pair = await StationPair.create(t);
  const file = fixed(100, 80);
  const sfid = sfidFor(file, { datasetName: 'ONCE.DAT' });
  const first = await runScriptedInitiator({ port: pair.portA, offers: [{ sfid, file }] });
  await pair.waitForSessionsA(1);
  assert.equal(first.ended.normal, true, first.ended.reasonText);
  assert.equal(events(first.log, 'endFileAccepted').length, 1);
  assert.equal(events(first.log, 'receiptReceived').length, 1);
  // The same identity again, as a sender that never saw the EFPA would, with different content.
  const other = fixed(100, 80);
  other.bytes.fill(0x58);
  const again = await runScriptedInitiator({ port: pair.portA, offers: [{ sfid, file: other }] });
  await pair.waitForSessionsA(2);
  assert.equal(again.ended.normal, true, again.ended.reasonText);
  assert.equal(events(again.log, 'startFileAccepted').length, 1);
  assert.equal(events(again.log, 'endFileAccepted').length, 1, 'EFPA for the duplicate');
  const receipts = events(again.log, 'receiptReceived');
  assert.equal(receipts.length, 1, 'the EERP is sent again');
  assert.equal((receipts[0]!.detail as { datasetName: string }).datasetName, 'ONCE.DAT');
  assert.deepEqual(await visibleFiles(pair.inboxA()), ['ONCE.DAT'], 'no second file');
  assert.equal(await sha256Of(join(pair.inboxA(), 'ONCE.DAT')), sha256(file.bytes), 'the first delivery stands');
  assert.deepEqual(await allFiles(join(pair.inboxA(), '.oftp-partial')), []);
  assert.equal(pair.a.services.history.list({ direction: 'in' })[0]?.state, 'acknowledged');
});

// ---- EFID refusals (EFNA) ----

test('EFID counts that differ from the data: EFNA 10 / 11, nothing delivered, the partial discarded', async (t) => {
  const pair = await StationPair.create(t);
  const f = fixed(60, 80);
  const u = unstructured(5000);
  const v = variable(30, 100);
  const offers = [
    { sfid: sfidFor(f, { datasetName: 'RECORDS.DAT', time: '1203040001' }), file: f, efid: { recordCount: 61, unitCount: f.units } },
    { sfid: sfidFor(u, { datasetName: 'OCTETS.BIN', time: '1203040002' }), file: u, efid: { recordCount: 0, unitCount: u.units - 1 } },
    { sfid: sfidFor(v, { datasetName: 'VRECORDS.DAT', time: '1203040003' }), file: v, efid: { recordCount: v.records - 1, unitCount: v.units } },
    { sfid: sfidFor(v, { datasetName: 'VOCTETS.DAT', time: '1203040004' }), file: v, efid: { recordCount: v.records, unitCount: v.units + 5 } },
  ];
  const run = await runScriptedInitiator({ port: pair.portA, offers });
  await pair.waitForSessionsA(1);
  assert.equal(run.ended.normal, true, run.ended.reasonText);
  const got = events(run.log, 'endFileRefused').map((e) => (e.detail as { reason: number }).reason);
  assert.deepEqual(got, [10, 11, 10, 11]);
  assert.deepEqual(await allFiles(pair.inboxA()), [], 'nothing delivered, no partial or checkpoint kept');
  for (const r of pair.a.services.history.list({ direction: 'in' })) {
    assert.equal(r.state, 'failed');
    assert.match(r.reason ?? '', /^EFNA 1[01]$/);
  }
});

test('a file ending inside a record at EFID: EFNA 10, not a session abort', async (t) => {
  const pair = await StationPair.create(t);
  const v: LocalFile = { format: 'V', bytes: Buffer.alloc(0), recordLength: 100, records: 2, units: 8 };
  // Record 1: five octets with End of Record; record 2: three octets, and its End of Record never comes.
  const buffers = [Uint8Array.of(0x44, 0x85, 1, 2, 3, 4, 5, 0x03, 6, 7, 8)];
  const run = await runScriptedInitiator({ port: pair.portA, offers: [{ sfid: sfidFor(v, { datasetName: 'OPEN.DAT' }), rawBuffers: buffers, efid: { recordCount: v.records, unitCount: v.units } }] });
  await pair.waitForSessionsA(1);
  assert.equal(run.ended.normal, true, run.ended.reasonText);
  assert.deepEqual(events(run.log, 'endFileRefused').map((e) => (e.detail as { reason: number }).reason), [10]);
  assert.deepEqual(await allFiles(pair.inboxA()), []);
});

// ---- malformed data ----

test('a malformed DATA buffer ends the session with ESID 06; the partial stays for the restart, even with the EFID right behind', async (t) => {
  const pair = await StationPair.create(t);
  const u = unstructured(30_000);
  const sfid = sfidFor(u, { datasetName: 'BROKEN.BIN' });
  // Good buffers for the first 20 000 octets, then one whose subrecord counts past its end.
  const encoder = new ExchangeBufferEncoder({ format: 'U', exchangeBufferSize: 4096, bufferCompression: false });
  encoder.write(u.bytes, 0, 20_000);
  const good: Uint8Array[] = [];
  for (let b = encoder.pull(); b; b = encoder.pull()) good.push(Uint8Array.from(b));
  const bad = Uint8Array.of(0x44, 0x3f, 1, 2, 3);
  // Coalesced, the last good buffer, the bad one and the EFID reach A in one chunk: the EFID event is
  // already taken when the bad buffer aborts the session (it once discarded the partial).
  const run = await runScriptedInitiator({ port: pair.portA, local: { exchangeBufferSize: 4096 }, offers: [{ sfid, rawBuffers: [...good, bad] }], coalesce: true });
  await pair.waitForSessionsA(1);
  assert.equal(run.ended.origin, 'remote');
  assert.equal(run.ended.reason, 6, `ESID 06 Command contained invalid data: ${run.ended.reasonText}`);
  assert.equal(pair.sessionsA[0]!.ended.reason, 6);
  assert.deepEqual(await visibleFiles(pair.inboxA()), [], 'nothing delivered');
  const partial = await allFiles(join(pair.inboxA(), '.oftp-partial'));
  assert.equal(partial.filter((n) => n.endsWith('.part')).length, 1, 'the partial stays');
  assert.equal(partial.filter((n) => n.endsWith('.ckpt.json')).length, 1, 'with its checkpoint');
  assert.equal(pair.a.services.history.list({ direction: 'in' })[0]?.state, 'receiving');
  // The sender comes back with a restart offer: A resumes from what it holds, the file arrives whole.
  const resumed = await runScriptedInitiator({ port: pair.portA, offers: [{ sfid: { ...sfid, restartPosition: 29 }, file: u }] });
  await pair.waitForSessionsA(2);
  assert.equal(resumed.ended.normal, true, resumed.ended.reasonText);
  const at = events(resumed.log, 'startFileAccepted')[0]?.detail as number;
  assert.ok(at > 0 && at <= Math.floor(20_000 / 1024), `resumed at block ${at}`);
  assert.equal(await sha256Of(join(pair.inboxA(), 'BROKEN.BIN')), sha256(u.bytes));
});

