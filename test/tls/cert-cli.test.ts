// `oftp2 cert` end to end (in-process through runCert and the dispatcher's error rule; one run through
// the real `oftp2` process checks the wiring): a key and request made by create-key and signed
// by an openssl CA, our certificate imported against its key (and refused against another), partner
// certificates per role and for rollover, trust, list with expiry warnings, show, PKCS#12, and a
// certificate received in a CMS file kept pending until approved. Every refusal is one line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { storePendingCertificate } from '../../src/security/certificates-store.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { runCertIn } from './cert-run.ts';
import { type Issued, openssl, TestPki } from './pki.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const PLANT = 'O0013000000PLANT';
const ACME = 'O0013000000ACME';

let pki: TestPki;
let ca: Issued;
let root: string;
let dir: string;

/** The real process, for the wiring (command table, main, exit codes). */
function spawned(...args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args, '-d', dir], { encoding: 'utf8', env: { ...process.env, OFTP2_DATA_DIR: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** `oftp2 cert …` in this process: output captured, a thrown error printed as the dispatcher does. */
function oftp2(command: 'cert', ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  assert.equal(command, 'cert');
  return runCertIn(dir, args);
}

async function ok(command: 'cert', ...args: string[]): Promise<string> {
  const r = await oftp2(command, ...args);
  assert.equal(r.code, 0, `oftp2 ${args.join(' ')}: ${r.err}`);
  return r.out;
}

async function refused(code: number, pattern: RegExp, command: 'cert', ...args: string[]): Promise<void> {
  const r = await oftp2(command, ...args);
  assert.equal(r.code, code, `oftp2 ${args.join(' ')} should fail: ${r.out}`);
  assert.match(r.err, pattern);
  assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
  assert.doesNotMatch(r.err, /\n\s+at /);
}

function config() {
  return JSON.parse(readFileSync(join(dir, 'station.json'), 'utf8'));
}

before(async () => {
  pki = new TestPki('oftp-cert-cli-');
  ca = pki.rootCa('ca', 'Plant CA');
  root = await mkdtemp(join(tmpdir(), 'oftp-cert-cli-st-'));
  dir = join(root, 'station');
  process.env.OFTP2_TEST_PASS = 'a long passphrase';
  const store = await StationStore.init(dir, { odetteId: PLANT });
  await store.addPartner({ name: 'acme', odetteId: ACME, passwordToSend: 'PWOUT', passwordExpected: 'PWIN', host: '127.0.0.1', tls: true });
});
after(async () => {
  pki.remove();
  await rm(root, { recursive: true, force: true });
});

test('create-key: an encrypted RSA key and a request with our Odette ID; import --own checks it belongs to the key', async () => {
  const out = await ok('cert', 'create-key', '--role', 'tls', '--passphrase-env', 'OFTP2_TEST_PASS', '--org', 'Plant GmbH', '--country', 'DE');
  assert.match(out, /key "tls" written to .*keys\/tls\.key \(RSA 2048, PKCS#8, encrypted\)/);
  const keyPath = join(dir, 'keys', 'tls.key');
  assert.equal(statSync(keyPath).mode & 0o777, 0o600);
  assert.match(readFileSync(keyPath, 'utf8'), /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
  const csr = join(dir, 'keys', 'tls.csr');
  const text = openssl(['req', '-in', csr, '-noout', '-text', '-verify']).toString();
  assert.match(text, new RegExp(`Subject: CN ?= ?${PLANT}, O ?= ?Plant GmbH, C ?= ?DE`));
  assert.match(text, /Digital Signature, Key Encipherment/);
  assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
  assert.deepEqual(config().station.keys.tls, { file: 'keys/tls.key', passphraseEnv: 'OFTP2_TEST_PASS' });
  await refused(1, /a key named "tls" is already configured; choose another --name/, 'cert', 'create-key', '--role', 'tls');
  await refused(2, /--bits is 2048, 3072 or 4096/, 'cert', 'create-key', '--role', 'signing', '--bits', '1024');
  await refused(2, /--role is one of tls, authentication, signing, encryption, got "web"/, 'cert', 'create-key', '--role', 'web');

  // Our CA signs the request (10 days: inside the 30-day warning window).
  const signed = pki.path('own-tls.pem');
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial', '-days', '10', '-copy_extensions', 'copy', '-out', signed]);
  const foreign = pki.issue('foreign', ca, { cn: PLANT });
  await refused(1, /its certificate does not belong to this key \(public keys differ\)/, 'cert', 'import', '--own', '--role', 'tls', '--key', 'tls', foreign.certPath);
  assert.equal(config().station.certificates, undefined, 'nothing written after a refusal');
  assert.match(await ok('cert', 'import', '--own', '--role', 'tls', '--key', 'tls', signed), new RegExp(`our tls certificate "CN=${PLANT}" \\(expires \\d{4}-\\d\\d-\\d\\d\\) now uses key "tls"`));
  assert.deepEqual(config().station.certificates.tls, { certificate: 'certs/own/tls.pem', key: 'tls' });
});

test('import --own from PKCS#12 (key copied with mode 0600, certificate extracted)', async () => {
  const signer = pki.issue('signer', ca, { cn: PLANT, keyUsage: 'critical,digitalSignature,nonRepudiation' });
  const p12 = pki.pkcs12('signer', signer, 'p12 passphrase', ca);
  await writeFile(pki.path('p12pass'), 'p12 passphrase\n');
  await ok('cert', 'import', '--own', '--role', 'signing', '--passphrase-file', pki.path('p12pass'), p12);
  const c = config();
  assert.deepEqual(c.station.certificates.signing, { certificate: 'certs/own/signing.pem', key: 'signing' });
  assert.equal(c.station.keys.signing.file, 'keys/signing.p12');
  assert.equal(statSync(join(dir, 'keys', 'signing.p12')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(dir, 'certs/own/signing.pem'), 'utf8'), /BEGIN CERTIFICATE[\s\S]*BEGIN CERTIFICATE/, 'leaf and CA');
  const noSign = pki.issue('nosign', ca, { cn: PLANT, keyUsage: 'critical,keyEncipherment' });
  await refused(1, /lacks key usage digitalSignature or nonRepudiation needed for signing .* not imported as our signing certificate/, 'cert', 'import', '--own', '--role', 'signing', '--key', noSign.keyPath, noSign.certPath);
});

test('import --partner per role and for rollover; expired and unfit certificates are refused', async () => {
  const acme = pki.issue('acme', ca, { cn: ACME });
  const acmeNext = pki.issue('acme-next', ca, { cn: ACME, notBefore: new Date(Date.now() + 5 * 86_400_000), days: 800 });
  const expired = pki.issue('acme-old', ca, { cn: ACME, keyOf: acme, notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2026-01-01T00:00:00Z') });
  const signOnly = pki.issue('acme-signonly', ca, { cn: ACME, keyOf: acme, keyUsage: 'critical,digitalSignature' });
  await refused(1, /partner acme: certificate "CN=O0013000000ACME" expired on 2026-01-01; not imported/, 'cert', 'import', '--partner', 'acme', '--role', 'tls', expired.certPath);
  await refused(1, /partner acme: certificate "CN=O0013000000ACME" lacks key usage keyEncipherment needed for encryption .*not imported for encryption/, 'cert', 'import', '--partner', 'acme', '--role', 'encryption', signOnly.certPath);
  await refused(1, /no partner named "nobody"/, 'cert', 'import', '--partner', 'nobody', '--role', 'tls', acme.certPath);
  await refused(2, /say --own or --partner P/, 'cert', 'import', '--role', 'tls', acme.certPath);

  const out = await ok('cert', 'import', '--partner', 'acme', '--role', 'all', acme.certPath);
  assert.match(out, /for tls, authentication, signing, encryption/);
  assert.match(out, /note: as its TLS certificate it is trusted as it is \(pinned\)/);
  await ok('cert', 'import', '--partner', 'acme', '--role', 'encryption,tls', '--next', acmeNext.certPath);
  const certs = config().partners[0].certificates;
  assert.equal(certs.tls, 'certs/partners/acme/tls.pem');
  assert.equal(certs.encryption, 'certs/partners/acme/encryption.pem');
  assert.deepEqual(certs.next, { encryption: 'certs/partners/acme/encryption-next.pem', tls: 'certs/partners/acme/tls-next.pem' });

  const show = await ok('cert', 'show', 'acme');
  assert.match(show, /^partner acme \(O0013000000ACME\), dialled at 127\.0\.0\.1:6619, TLS: yes/);
  assert.match(show, /\ntls\s+current\s+CN=O0013000000ACME, O=OFTP2 Test\s+[0-9A-F:]+…\s+\d{4}-\d\d-\d\d\s+current\n/);
  assert.match(show, /\nencryption\s+current\s+.*current\n/, 'the next certificate is not valid yet: encryption stays on the current one');
  assert.match(show, /TLS trust: CAs: none; pinned: [0-9A-F:]+…, [0-9A-F:]+…; CRLs: 0; client certificate: required/);
});

test('trust: CA, pin, client certificate requirement; bad input is one line', async () => {
  const out = await ok('cert', 'trust', '--partner', 'acme', '--ca', ca.certPath, '--pin', 'ab'.repeat(32), '--client-certificate', 'required');
  assert.match(out, /partner acme: trusts CA "CN=Plant CA"/);
  assert.match(out, /trusts the certificate with SHA-256 AB:AB:/);
  const trust = config().partners[0].trust;
  assert.equal(trust.caFiles.length, 1);
  assert.match(trust.caFiles[0], /^certs\/partners\/acme\/ca-[0-9a-f]{16}\.pem$/);
  assert.deepEqual(trust.pinnedSha256, [Array(32).fill('AB').join(':')]);
  assert.equal(trust.requireClientCertificate, true);
  await refused(2, /--pin xyz: not a SHA-256 fingerprint/, 'cert', 'trust', '--partner', 'acme', '--pin', 'xyz');
  await refused(1, /is not a CA certificate; to trust it as it is, use --pin/, 'cert', 'trust', '--partner', 'acme', '--ca', pki.issue('leafy', ca, { cn: 'leaf' }).certPath);
  await refused(2, /give --ca, --pin, --crl or --client-certificate/, 'cert', 'trust', '--partner', 'acme');
  await refused(2, /unknown action "frob"/, 'cert', 'frob');
});

test('list: every certificate with its expiry, and a warning for ours expiring within 30 days', async () => {
  const out = await ok('cert', 'list');
  assert.match(out, /^OWNER\s+KIND\s+ROLE\s+SUBJECT\s+EXPIRES\s+DAYS\s+STATE\n/);
  assert.match(out, new RegExp(`station\\s+own\\s+tls\\s+CN=${PLANT}.*\\s+(9|10)\\s+expiring`));
  assert.match(out, /acme\s+partner-next\s+tls\s+.*not-yet-valid/);
  assert.match(out, /acme\s+ca\s+-\s+CN=Plant CA/);
  assert.match(out, new RegExp(`warning: our tls certificate "CN=${PLANT}" expires in (9|10) days \\(\\d{4}-\\d\\d-\\d\\d\\)`));
  assert.doesNotMatch(out, /warning: partner acme: next/, 'a next certificate waiting for its start is no cause for alarm');
});

test('a certificate received from a partner waits for approval; approve installs it, reject drops it', async () => {
  const rolled = pki.issue('acme-rolled', ca, { cn: ACME });
  const other = pki.issue('acme-other', ca, { cn: ACME });
  const entry = await storePendingCertificate(dir, 'acme', rolled.der, 'CMS file CERTS.P7C');
  assert.equal(entry.sha256, rolled.sha256);
  assert.deepEqual(await storePendingCertificate(dir, 'acme', rolled.der, 'again'), entry, 'storing the same certificate again is a no-op');
  await storePendingCertificate(dir, 'acme', other.der, 'CMS file OTHER.P7C');
  await assert.rejects(storePendingCertificate(dir, 'acme', Buffer.from('not a certificate')), /not an X\.509 certificate/);

  const pending = await ok('cert', 'pending');
  assert.match(pending, new RegExp(`acme\\s+${entry.id.slice(0, 16)}\\s+.*CN=${ACME}.*CMS file CERTS\\.P7C`));
  assert.match(await ok('cert', 'list'), /warning: partner acme: certificate "CN=O0013000000ACME, O=OFTP2 Test" received \d{4}-\d\d-\d\d waits for approval/);
  assert.match(await ok('cert', 'show', 'acme'), /2 certificates from this partner wait for approval/);

  assert.match(await ok('cert', 'approve', 'acme', entry.id.slice(0, 12).toLowerCase(), '--role', 'signing', '--next'), /approved next certificate .* for signing/);
  assert.equal(config().partners[0].certificates.next.signing, 'certs/partners/acme/signing-next.pem');
  await ok('cert', 'reject', 'acme', other.sha256.slice(0, 11));
  assert.equal(await ok('cert', 'pending'), 'no certificates wait for approval\n');
  await refused(1, /no pending certificate of partner acme starts with ABCDEF/, 'cert', 'approve', 'acme', 'abcdef', '--role', 'tls');
});

test('through the real oftp2 process: cert list prints the table, a refusal is one line with exit 1', () => {
  const list = spawned('cert', 'list');
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, /^OWNER\s+KIND/);
  const show = spawned('cert', 'show', 'nobody');
  assert.equal(show.code, 1);
  assert.equal(show.err, 'oftp2: no partner named "nobody" (see oftp2 partner list) [OFTP_ERR_CONFIG]\n');
  const usage = spawned('cert', 'import', '--own', 'cert.pem');
  assert.equal(usage.code, 2);
  assert.match(usage.err, /^oftp2 cert: --role is required \(see oftp2 cert --help\)\n$/);
});
