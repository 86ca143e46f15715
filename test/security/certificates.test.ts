// Certificate parsing and validation (src/security/certificates.ts) and the configured certificates
// (src/security/certificates-store.ts): chains through intermediates, CA flags, CRLs (revoked, out of
// date, signed by the wrong key), fingerprints, role choice during a rollover, the status list with its
// expiry warnings at a chosen date, and pending certificates. PKI from openssl (test/tls/pki.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CertificateInfo, normalizeFingerprint, parseCertificates, parseRevocationList, validateChain } from '../../src/security/certificates.ts';
import { certificateStatus, certificateWarnings, chooseForRole, loadCertificate, PendingCertificates } from '../../src/security/certificates-store.ts';
import { checkAgainstPartner, loadPartnerTrust } from '../../src/security/certificates-tls.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { readFileSync } from 'node:fs';
import { type Issued, openssl, TestPki } from '../tls/pki.ts';

let pki: TestPki;
let root: Issued;
let intermediate: Issued;
let leaf: Issued;
let notCa: Issued;
let issuedByLeaf: Issued;
let impostorRoot: Issued;

const info = (i: Issued): CertificateInfo => parseCertificates(i.certPem)[0]!;

before(() => {
  pki = new TestPki('oftp-certs-');
  root = pki.rootCa('root', 'Test Root');
  intermediate = pki.issue('inter', root, { cn: 'Test Issuing CA', ca: true });
  leaf = pki.issue('leaf', intermediate, { cn: 'O0013000000ACME', extendedKeyUsage: 'clientAuth' });
  notCa = pki.issue('notca', root, { cn: 'Not a CA' });
  issuedByLeaf = pki.issue('byleaf', notCa, { cn: 'O0013000000EVIL', keyOf: leaf });
  impostorRoot = pki.rootCa('impostor', 'Test Root');
});
after(() => pki.remove());

test('parse: PEM with several certificates, DER, and garbage named by its source', () => {
  const both = parseCertificates(leaf.certPem + intermediate.certPem, 'chain.pem');
  assert.deepEqual(both.map((c) => c.subject), ['CN=O0013000000ACME, O=OFTP2 Test', 'CN=Test Issuing CA, O=OFTP2 Test']);
  const der = parseCertificates(leaf.der);
  assert.equal(der[0]!.sha256, leaf.sha256);
  assert.deepEqual([...der[0]!.keyUsage!], ['digitalSignature', 'keyEncipherment']);
  assert.deepEqual(der[0]!.extendedKeyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(der[0]!.publicKeyDescription, 'rsa 2048');
  assert.throws(() => parseCertificates(Buffer.from('hello'), 'junk.der'), /^OftpError: junk\.der: not an X\.509 certificate/);
  assert.throws(() => parseCertificates('-----BEGIN PRIVATE KEY-----\n', 'k.pem'), /k\.pem: no "BEGIN CERTIFICATE" block/);
});

test('fingerprints in any spelling', () => {
  const colons = leaf.sha256;
  assert.equal(normalizeFingerprint(colons.replace(/:/g, '').toLowerCase()), colons);
  assert.equal(normalizeFingerprint(`sha256=${colons.replace(/:/g, ' ')}`), colons);
  assert.equal(normalizeFingerprint('AB:CD'), undefined);
});

test('a chain through an intermediate the peer sent; without it the CA is unknown', () => {
  const ok = validateChain(info(leaf), { anchors: [info(root)], intermediates: [info(intermediate)], purpose: 'tls-client' });
  assert.ok(ok.ok);
  assert.deepEqual(ok.path.map((c) => c.subject.split(',')[0]), ['CN=O0013000000ACME', 'CN=Test Issuing CA', 'CN=Test Root']);
  const missing = validateChain(info(leaf), { anchors: [info(root)], purpose: 'tls-client' });
  assert.ok(!missing.ok);
  assert.equal(missing.problem.kind, 'unknown-ca');
  assert.match(missing.problem.message, /issued by "CN=Test Issuing CA, O=OFTP2 Test", which is not a trusted CA/);
  // An intermediate may itself be the trust anchor.
  assert.ok(validateChain(info(leaf), { anchors: [info(intermediate)], purpose: 'any' }).ok);
});

test('a root with the same name but another key does not validate the chain', () => {
  const r = validateChain(info(intermediate), { anchors: [info(impostorRoot)], purpose: 'any' });
  assert.ok(!r.ok);
  assert.ok(['bad-signature', 'unknown-ca'].includes(r.problem.kind), r.problem.message);
});

test('a certificate issued by a non-CA is refused even when its issuer is trusted', () => {
  const r = validateChain(info(issuedByLeaf), { anchors: [info(notCa)], purpose: 'any' });
  assert.ok(!r.ok);
  assert.equal(r.problem.kind, 'not-a-ca');
  assert.match(r.problem.message, /"CN=Not a CA" issued "CN=O0013000000EVIL" but is not a CA \(basicConstraints\)/);
});

test('purposes: signing, encryption, TLS server', () => {
  const signOnly = info(pki.issue('signonly', root, { cn: 'S', keyUsage: 'critical,nonRepudiation' }));
  assert.ok(validateChain(signOnly, { anchors: [info(root)], purpose: 'signing' }).ok);
  const enc = validateChain(signOnly, { anchors: [info(root)], purpose: 'encryption' });
  assert.ok(!enc.ok);
  assert.match(enc.problem.message, /lacks key usage keyEncipherment needed for encryption/);
  const server = validateChain(info(leaf), { anchors: [info(root)], intermediates: [info(intermediate)], purpose: 'tls-server' });
  assert.ok(!server.ok);
  assert.match(server.problem.message, /is not for serverAuth \(extended key usage: clientAuth\)/);
});

test('CRLs: a revoked intermediate, an out-of-date CRL, a CRL signed by another key', () => {
  const anchors = [info(root)];
  const intermediates = [info(intermediate)];
  const crl = (path: string) => parseRevocationList(readFileSync(path), path);
  const revoking = crl(pki.crl('revoke-inter', root, [intermediate]));
  const r1 = validateChain(info(leaf), { anchors, intermediates, crls: [revoking], purpose: 'any' });
  assert.ok(!r1.ok);
  assert.equal(r1.problem.kind, 'revoked');
  assert.match(r1.problem.message, /"CN=Test Issuing CA" \(serial \w+\) was revoked on/);
  const fresh = crl(pki.crl('fresh', root, [notCa]));
  assert.ok(validateChain(info(leaf), { anchors, intermediates, crls: [fresh], purpose: 'any' }).ok, 'a fresh CRL that does not list the chain');
  const stale = crl(pki.crl('stale', root, [], -3));
  const r2 = validateChain(info(leaf), { anchors, intermediates, crls: [stale], purpose: 'any' });
  assert.ok(!r2.ok);
  assert.equal(r2.problem.kind, 'crl');
  assert.match(r2.problem.message, /the CRL of "CN=Test Root, O=OFTP2 Test" .* is out of date: its next update was due on/);
  const forged = crl(pki.crl('forged', impostorRoot, []));
  const r3 = validateChain(info(leaf), { anchors, intermediates, crls: [forged], purpose: 'any' });
  assert.ok(!r3.ok);
  assert.match(r3.problem.message, /names "CN=Test Root, O=OFTP2 Test" as issuer but its signature does not verify/);
});

test('rollover: the current certificate while valid (next also accepted), then the next one', async () => {
  const current = pki.issue('current', root, { cn: 'O0013000000ACME', notAfter: new Date(Date.now() + 20 * 86_400_000) });
  const next = pki.issue('next', root, { cn: 'O0013000000ACME', notBefore: new Date(Date.now() + 10 * 86_400_000), days: 400 });
  const c = await loadCertificate(pki.dir, current.certPath);
  const n = await loadCertificate(pki.dir, next.certPath);
  const day = (d: number) => new Date(Date.now() + d * 86_400_000);
  const now = chooseForRole('encryption', c, n, day(0));
  assert.equal(now.which, 'current');
  assert.deepEqual(now.accepted.map((x) => x.sha256), [current.sha256]);
  const both = chooseForRole('signing', c, n, day(15));
  assert.equal(both.which, 'current');
  assert.deepEqual(both.accepted.map((x) => x.sha256), [current.sha256, next.sha256]);
  assert.match(both.note, /next "CN=O0013000000ACME" also accepted/);
  const later = chooseForRole('encryption', c, n, day(25));
  assert.equal(later.which, 'next');
  assert.match(later.note, /^next \(current: certificate "CN=O0013000000ACME" expired on/);
  const none = chooseForRole('tls', c, undefined, day(25));
  assert.equal(none.which, 'none');
  assert.equal(none.use, undefined);
  const unreadable = chooseForRole('tls', await loadCertificate(pki.dir, 'missing.pem'), undefined, day(0));
  assert.match(unreadable.note, /current: cannot read certificate file .*missing\.pem: ENOENT/);
});

test('status: expiry warnings ahead of time (configurable), expired, unreadable, pending', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'oftp-cert-status-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ours = pki.issue('ours', root, { cn: 'O0013000000PLANT', days: 45 });
  const theirs = pki.issue('theirs', root, { cn: 'O0013000000ACME', days: 400 });
  const store = await StationStore.init(dir, {
    odetteId: 'O0013000000PLANT',
    keys: { tls: { file: ours.keyPath } },
    certificates: { tls: { certificate: ours.certPath, key: 'tls' } },
  });
  await store.addPartner({
    name: 'acme',
    odetteId: 'O0013000000ACME',
    passwordToSend: 'A',
    passwordExpected: 'B',
    certificates: { signing: theirs.certPath, encryption: join(dir, 'nope.pem') },
    trust: { caFiles: [root.certPath] },
  });
  const today = await certificateStatus(store.config, dir);
  assert.deepEqual(today.map((e) => [e.owner, e.kind, e.role, e.state]), [
    ['station', 'own', 'tls', 'valid'],
    ['acme', 'partner', 'signing', 'valid'],
    ['acme', 'partner', 'encryption', 'unreadable'],
    ['acme', 'ca', undefined, 'valid'],
  ]);
  assert.deepEqual(certificateWarnings(today), [`partner acme: encryption certificate is unreadable: cannot read certificate file ${join(dir, 'nope.pem')}: ENOENT`]);
  const in20 = await certificateStatus(store.config, dir, { now: new Date(Date.now() + 20 * 86_400_000) });
  assert.equal(in20[0]!.state, 'expiring');
  assert.match(in20[0]!.warning!, /^our tls certificate "CN=O0013000000PLANT" expires in 2[45] days \(\d{4}-\d\d-\d\d\)$/);
  const narrow = await certificateStatus(store.config, dir, { now: new Date(Date.now() + 20 * 86_400_000), warningDays: 7 });
  assert.equal(narrow[0]!.state, 'valid', 'a 7-day window does not warn 25 days ahead');
  const in50 = await certificateStatus(store.config, dir, { now: new Date(Date.now() + 50 * 86_400_000) });
  assert.equal(in50[0]!.state, 'expired');
  assert.match(in50[0]!.warning!, /^our tls certificate "CN=O0013000000PLANT" expired on \d{4}-\d\d-\d\d$/);

  const pending = new PendingCertificates(join(dir, 'certs', 'pending'));
  await assert.rejects(pending.store('../escape', theirs.der), /not a partner name/);
  await pending.store('acme', theirs.der, 'CMS file X');
  const withPending = await certificateStatus(store.config, dir);
  assert.equal(withPending.at(-1)!.kind, 'pending');
  assert.match(withPending.at(-1)!.warning!, /partner acme: certificate "CN=O0013000000ACME, O=OFTP2 Test" received .* waits for approval \(oftp2 cert approve acme [0-9A-F]{16} --role ROLE\)/);
});

test('the test PKI itself: openssl agrees the chain verifies', () => {
  const out = openssl(['verify', '-CAfile', root.certPath, '-untrusted', intermediate.certPath, leaf.certPath]).toString();
  assert.match(out, /: OK/);
});

test('partner trust for the CMS layer: a configured signing certificate is accepted for signing only; CAs for every role', async () => {
  const signer = pki.issue('partner-signer', root, { cn: 'O0013000000ACME', keyUsage: 'critical,digitalSignature,nonRepudiation' });
  const partner = { name: 'acme', odetteId: 'O0013000000ACME', port: 3305, passwordToSend: 'A', passwordExpected: 'B', level: 5, sendReceive: 'B', tls: false, certificates: { signing: signer.certPath } } as const;
  const trust = await loadPartnerTrust({ ...partner }, pki.dir);
  const chain = [info(signer)];
  assert.deepEqual(checkAgainstPartner(trust, chain, 'signing'), { ok: true, how: 'pinned' });
  const asTls = checkAgainstPartner(trust, chain, 'tls-client');
  assert.ok(!asTls.ok);
  assert.equal(asTls.problem.kind, 'no-trust');
  const withCa = await loadPartnerTrust({ ...partner, certificates: {}, trust: { caFiles: [root.certPath] } }, pki.dir);
  assert.deepEqual(checkAgainstPartner(withCa, chain, 'signing'), { ok: true, how: 'ca' });
  const forEncryption = checkAgainstPartner(withCa, chain, 'encryption');
  assert.ok(!forEncryption.ok);
  assert.match(forEncryption.problem.message, /lacks key usage keyEncipherment needed for encryption/);
});
