// Our own signing rollover (RFC 5024 §6.2: "a file may be signed more than once to ease the changeover
// between old and new certificates"): with station.certificates.next.signing configured, the files we
// envelope and the receipts we sign carry two SignerInfos, current and next. Checked here:
// - which keys sign when (OwnKeys.signers: dates of current and next);
// - a two-signer file of ours verifies with `openssl cms -verify` (both certificates; and, as a partner
//   that knows one certificate alone, each signer with that certificate alone: openssl insists on every
//   signer's certificate, so the message is cut down to that signer's SignerInfo by asn1crypto first);
// - real stations: B rolls over and calls three stations, one knowing B's old signing certificate only,
//   one the new one only, one neither; the first two verify B's files and EERPs, the third refuses them
//   (NERP 31, EERP unverified); after `promote` (and a restart) B signs with the new key alone.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { promoteOwnSigning } from '../../src/cli/cert-rollover.ts';
import type { Eerp } from '../../src/protocol/command-types.ts';
import { verifySignedData } from '../../src/security/cms/signed-data.ts';
import { sealFile } from '../../src/station/outgoing-envelope.ts';
import { OwnKeys } from '../../src/station/station-security.ts';
import { type SessionResult, Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { openssl as opensslTool, python } from '../security/helpers/identity.ts';
import { type Issued, TestPki } from '../tls/pki.ts';
import { CapturingLog, CuttingProxy, commandsIn, ID_A, ID_B, PASSWORD_A, PASSWORD_B, sha256, sha256Of, unstructured, visibleFiles, writeLocal } from './harness.ts';
import { FULL_AGREEMENT, ownKeysConfig, partnerCertificatesConfig, type StationPki, stationPki } from './secure-helpers.ts';

const SIGNING = 'critical,digitalSignature,nonRepudiation';
const DAY = 86_400_000;

let pki: TestPki;
let pkiA: StationPki;
let pkiB: StationPki;
let bNext: Issued;
let bNextLater: Issued;
let bOldExpired: Issued;
let stranger: Issued;

before(() => {
  pki = new TestPki('oftp-own-rollover-');
  pkiA = stationPki(pki, 'a', ID_A);
  pkiB = stationPki(pki, 'b', ID_B);
  bNext = pki.issue('b-signing-next', pkiB.ca, { cn: `${ID_B} signing`, keyUsage: SIGNING, days: 730 });
  bNextLater = pki.issue('b-signing-later', pkiB.ca, { cn: `${ID_B} signing`, keyUsage: SIGNING, keyOf: bNext, notBefore: new Date(Date.now() + 5 * DAY), days: 730 });
  bOldExpired = pki.issue('b-signing-expired', pkiB.ca, { cn: `${ID_B} signing`, keyUsage: SIGNING, keyOf: pkiB.certs.signing, notBefore: new Date(Date.now() - 40 * DAY), notAfter: new Date(Date.now() - DAY) });
  stranger = pki.issue('stranger', pkiB.ca, { cn: 'someone else', keyUsage: SIGNING });
});
after(() => pki.remove());

/** B's own keys with a next signing certificate (and key) beside the current ones. */
function rollingKeys(next: Issued = bNext, current: Issued = pkiB.certs.signing) {
  const own = ownKeysConfig(pkiB, ['authentication', 'signing', 'encryption']);
  return {
    keys: { ...own.keys, 'signing-next': { file: next.keyPath } },
    certificates: { ...own.certificates, signing: { certificate: current.certPath, key: 'signing-key' }, next: { signing: { certificate: next.certPath, key: 'signing-next' } } },
  };
}

async function tempStore(t: TestContext, config: object): Promise<StationStore> {
  const root = await mkdtemp(join(tmpdir(), 'oftp-own-rollover-st-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return StationStore.init(join(root, 'station'), { odetteId: ID_B, ...config });
}

function subjects(handles: { certificate: Uint8Array | undefined }[]): string[] {
  return handles.map((h) => Buffer.from(h.certificate!).toString('base64').slice(-24));
}
const tail = (issued: Issued) => issued.der.toString('base64').slice(-24);

test('signers: current and next while both are valid; a next one not yet valid or expired does not sign; an expired current one stops signing', async (t) => {
  const cases: { name: string; keys: ReturnType<typeof rollingKeys>; want: Issued[] }[] = [
    { name: 'both valid', keys: rollingKeys(), want: [pkiB.certs.signing, bNext] },
    { name: 'next not yet valid', keys: rollingKeys(bNextLater), want: [pkiB.certs.signing] },
    { name: 'current expired', keys: rollingKeys(bNext, bOldExpired), want: [bNext] },
  ];
  for (const c of cases) {
    const store = await tempStore(t, c.keys);
    const keys = new OwnKeys(store.config, store.paths.dataDir);
    assert.deepEqual(subjects(await keys.signers()), c.want.map(tail), c.name);
    await keys.close();
  }
  // No next one: the current key alone, as before.
  const plain = await tempStore(t, ownKeysConfig(pkiB, ['signing']));
  const keys = new OwnKeys(plain.config, plain.paths.dataDir);
  assert.deepEqual(subjects(await keys.signers()), [tail(pkiB.certs.signing)]);
  // Only a next one (no current certificate yet): it signs alone, and receipts can be signed.
  const onlyNext = rollingKeys();
  const { signing: _current, ...others } = onlyNext.certificates;
  const lone = await tempStore(t, { keys: onlyNext.keys, certificates: others });
  const loneKeys = new OwnKeys(lone.config, lone.paths.dataDir);
  assert.equal(loneKeys.has('signing'), true);
  assert.deepEqual(subjects(await loneKeys.signers()), [tail(bNext)]);
  await loneKeys.close();
  // A next certificate whose key is another one: refused when signing, never a silent single signature.
  const wrong = rollingKeys();
  wrong.certificates.next.signing.certificate = stranger.certPath;
  const bad = await tempStore(t, wrong);
  await assert.rejects(new OwnKeys(bad.config, bad.paths.dataDir).signers(), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'OFTP_ERR_CONFIG');
    assert.match(err.message, /our next signing certificate .* does not belong to key "signing-next"/);
    return true;
  });
});

test('a two-signer file of ours: openssl cms -verify with both certificates, and each signer with its certificate alone', async (t) => {
  const store = await tempStore(t, rollingKeys());
  const keys = new OwnKeys(store.config, store.paths.dataDir);
  t.after(() => keys.close());
  const work = await mkdtemp(join(tmpdir(), 'oftp-own-rollover-seal-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const content = unstructured(200_000, 7).bytes;
  const input = join(work, 'orders.bin');
  writeFileSync(input, content);
  const sealed = await sealFile({ path: input, format: 'U', cipherSuite: 4, sign: await keys.signers(), compress: false, hashForReceipt: true }, work);
  assert.equal(sealed.securityLevel, 2, 'SFIDSEC 02: signed');
  const message = await readFile(sealed.path);

  // Our own verifier: two SignerInfos; either certificate alone verifies.
  for (const known of [pkiB.certs.signing, bNext]) {
    const { content: got, report } = await verifySignedData(message, { certificates: [known.der] });
    assert.deepEqual(Buffer.from(got), content);
    assert.equal(report.signers.length, 2);
    assert.deepEqual(report.signers.map((s) => s.status).sort(), ['unknown-certificate', 'verified']);
    assert.deepEqual(Buffer.from(report.verified.certificate!), known.der);
  }

  // openssl with both certificates (as a partner that has both), against the CA and each as the trust.
  const both = join(work, 'both.pem');
  writeFileSync(both, pkiB.certs.signing.certPem + bNext.certPem);
  for (const trust of [['-CAfile', pkiB.ca.certPath], ['-CAfile', both, '-partial_chain']]) {
    const v = opensslTool(['cms', '-verify', '-inform', 'DER', '-in', sealed.path, '-binary', '-certfile', both, ...trust]);
    assert.equal(v.status, 0, v.stderr);
    assert.deepEqual(v.stdout, content);
  }
  // openssl insists on the certificate of every signer: with one alone it refuses the whole message.
  const alone = opensslTool(['cms', '-verify', '-inform', 'DER', '-in', sealed.path, '-binary', '-certfile', bNext.certPath, '-CAfile', bNext.certPath, '-partial_chain', '-out', '/dev/null']);
  assert.notEqual(alone.status, 0);
  assert.match(alone.stderr, /signer certificate not found/);
  // A partner that knows one certificate: that signer's SignerInfo alone (the others removed, nothing
  // re-signed: a SignerInfo signs only the content) verifies with that certificate as the only trust.
  const split = `
import sys
from asn1crypto import cms
info = cms.ContentInfo.load(open(sys.argv[1], 'rb').read())
sd = info['content']
keep = int(sys.argv[2])
sd['signer_infos'] = cms.SignerInfos([sd['signer_infos'][keep]])
open(sys.argv[3], 'wb').write(info.dump(force=True))
`;
  for (const [index, cert] of [pkiB.certs.signing, bNext].entries()) {
    const one = join(work, `signer-${index}.p7m`);
    const r = python(split, [sealed.path, String(index), one]);
    assert.equal(r.status, 0, r.stderr);
    const v = opensslTool(['cms', '-verify', '-inform', 'DER', '-in', one, '-binary', '-certfile', cert.certPath, '-CAfile', cert.certPath, '-partial_chain']);
    assert.equal(v.status, 0, `signer ${index} with its certificate alone: ${v.stderr}`);
    assert.deepEqual(v.stdout, content);
    const other = [pkiB.certs.signing, bNext][1 - index]!;
    const wrong = opensslTool(['cms', '-verify', '-inform', 'DER', '-in', one, '-binary', '-certfile', other.certPath, '-CAfile', other.certPath, '-partial_chain', '-out', '/dev/null']);
    assert.notEqual(wrong.status, 0, `signer ${index} does not verify with the other certificate`);
  }
});

// ---- stations: B rolls over; three stations receive from it ----

const SETTINGS = { responseTimeoutSeconds: 10, diskReserveBytes: 0, checkpointIntervalBytes: 4096 };

/** A station B calls, which knows `knows` as B's signing certificate (from its start: no reconfiguration). */
interface Receiver {
  name: string;
  station: Station;
  dir: string;
  proxy: CuttingProxy;
  sessions: SessionResult[];
}

async function receiver(t: TestContext, root: string, name: string, odetteId: string, knows: Issued): Promise<Receiver> {
  const dir = join(root, name);
  const store = await StationStore.init(dir, { odetteId, ...SETTINGS, ...ownKeysConfig(pkiA, ['authentication', 'signing', 'encryption']) });
  const partner = partnerCertificatesConfig(pkiB);
  await store.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: PASSWORD_A, passwordExpected: PASSWORD_B, ...FULL_AGREEMENT, trust: partner.trust, certificates: { ...partner.certificates, signing: knows.certPath } });
  const station = await Station.open(dir, new CapturingLog());
  const sessions: SessionResult[] = [];
  const server = await station.serve((r) => sessions.push(r), { host: '127.0.0.1', port: 0 });
  const proxy = await CuttingProxy.start({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
  t.after(async () => {
    await proxy.close().catch(() => {});
    await station.close().catch(() => {});
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { name, station, dir, proxy, sessions };
}

async function until(what: string, done: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(done(), `waited for ${what}`);
}

let fileNo = 0;

/** One file each way (B → receiver, receiver → B) in one session B dials; what each side made of it. */
async function exchange(b: Station, to: Receiver) {
  fileNo++;
  const fromB = unstructured(30_000, fileNo).bytes;
  const fromA = unstructured(20_000, fileNo + 100).bytes;
  const nameB = `B2A.${fileNo}`;
  const nameA = `A2B.${fileNo}`;
  const root = join(to.dir, '..');
  await b.enqueue(to.name, { path: await writeLocal(root, `b${fileNo}.bin`, { format: 'U', bytes: fromB, records: 0, units: fromB.length }), datasetName: nameB });
  await to.station.enqueue('b', { path: await writeLocal(root, `a${fileNo}.bin`, { format: 'U', bytes: fromA, records: 0, units: fromA.length }), datasetName: nameA });
  const sessions = to.sessions.length;
  const result = await b.send(to.name);
  assert.equal(result.ended.normal, true, result.ended.reasonText);
  await until(`${to.name} to end its session`, () => to.sessions.length > sessions);
  assert.equal(to.sessions.at(-1)!.ended.normal, true);
  const eerps = commandsIn(to.proxy.connections.at(-1)!.toA).filter((c): c is Eerp => c.cmd === 'EERP');
  assert.equal(eerps.length, 1, `B answered ${to.name}'s file with one EERP`);
  const bRecord = b.services.history.list({ direction: 'out' }).find((r) => r.datasetName === nameB)!;
  const aRecord = to.station.services.history.list({ direction: 'out' }).find((r) => r.datasetName === nameA)!;
  return { fromB, fromA, nameB, nameA, bRecord, aRecord, eerp: eerps[0]! };
}

/** The SignerInfos of B's EERP: how many, and which of B's certificates verify it. */
async function eerpSigners(eerp: Eerp): Promise<{ count: number; verifiedBy: string[] }> {
  const verifiedBy: string[] = [];
  let count = 0;
  for (const [name, cert] of [['old', pkiB.certs.signing], ['new', bNext]] as const) {
    try {
      const { report } = await verifySignedData(eerp.signature, { certificates: [cert.der] });
      count = report.signers.length;
      verifiedBy.push(name);
    } catch {
      // not signed by this one
    }
  }
  return { count, verifiedBy };
}

test('B rolls over: its files and EERPs carry both signers, verified by a station that knows only the old certificate and by one that knows only the new; a station that knows neither refuses (NERP 31, EERP unverified); after promote only the new key signs', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'oftp-own-rollover-pair-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const knowsOld = await receiver(t, root, 'knows-old', ID_A, pkiB.certs.signing);
  const knowsNew = await receiver(t, root, 'knows-new', 'O0013000000STATIONC', bNext);
  const knowsNone = await receiver(t, root, 'knows-none', 'O0013000000STATIOND', stranger);
  const dirB = join(root, 'b');
  const storeB = await StationStore.init(dirB, { odetteId: ID_B, ...SETTINGS, ...rollingKeys() });
  for (const [r, id] of [[knowsOld, ID_A], [knowsNew, 'O0013000000STATIONC'], [knowsNone, 'O0013000000STATIOND']] as const) {
    await storeB.addPartner({ name: r.name, odetteId: id, host: '127.0.0.1', port: r.proxy.port, passwordToSend: PASSWORD_B, passwordExpected: PASSWORD_A, ...partnerCertificatesConfig(pkiA), ...FULL_AGREEMENT });
  }
  let b = await Station.open(dirB, new CapturingLog());
  t.after(() => b.close().catch(() => {}));

  for (const to of [knowsOld, knowsNew]) {
    const r = await exchange(b, to);
    assert.equal(r.bRecord.state, 'delivered', `B's file at ${to.name}: ${r.bRecord.reason} ${r.bRecord.reasonText}`);
    assert.equal(r.aRecord.state, 'delivered', `B's EERP at ${to.name}: ${r.aRecord.reason} ${r.aRecord.reasonText}`);
    assert.equal(await sha256Of(join(to.dir, 'inbox', 'b', r.nameB)), sha256(r.fromB));
    assert.equal(await sha256Of(join(dirB, 'inbox', to.name, r.nameA)), sha256(r.fromA));
    assert.deepEqual(await eerpSigners(r.eerp), { count: 2, verifiedBy: ['old', 'new'] });
  }

  // Neither of B's certificates: B's file is refused with NERP 31, B's EERP is never a delivery.
  const refused = await exchange(b, knowsNone);
  assert.equal(refused.bRecord.state, 'failed');
  assert.equal(refused.bRecord.reason, 'NERP 31', refused.bRecord.reasonText);
  assert.equal(refused.aRecord.state, 'failed');
  assert.equal(refused.aRecord.reason, 'EERP unverified');
  assert.match(refused.aRecord.reasonText ?? '', /no signer is one of the 1 partner certificate/);
  assert.deepEqual(await visibleFiles(join(knowsNone.dir, 'inbox', 'b')), []);

  // B promotes its next certificate and restarts: the new key signs alone.
  const promoted = await promoteOwnSigning(b.store);
  assert.equal(promoted.keyName, 'signing-next');
  await b.close();
  b = await Station.open(dirB, new CapturingLog());
  assert.equal(b.store.config.station.certificates?.next, undefined);

  const old = await exchange(b, knowsOld);
  assert.equal(old.bRecord.reason, 'NERP 31', 'the old certificate no longer verifies B\'s files');
  assert.equal(old.aRecord.reason, 'EERP unverified');
  assert.deepEqual(await eerpSigners(old.eerp), { count: 1, verifiedBy: ['new'] });

  const fresh = await exchange(b, knowsNew);
  assert.equal(fresh.bRecord.state, 'delivered', `${fresh.bRecord.reason} ${fresh.bRecord.reasonText}`);
  assert.equal(fresh.aRecord.state, 'delivered', `${fresh.aRecord.reason} ${fresh.aRecord.reasonText}`);
  assert.deepEqual(await eerpSigners(fresh.eerp), { count: 1, verifiedBy: ['new'] });
});
