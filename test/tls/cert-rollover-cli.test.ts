// `oftp2 cert` for our own signing rollover: a next signing key and certificate (create-key under a new
// name, the CA's answer imported with `import --own --next`), shown by `list`, promoted to current by
// `promote --own --role signing` (the old certificate and key retired). Bad input is one line with a
// stable code: a next certificate that is not its key's, an expired one, one not yet valid at promotion,
// --next for another role, promote without a next certificate.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { OwnKeys } from '../../src/station/station-security.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { runCertIn } from './cert-run.ts';
import { type Issued, openssl, TestPki } from './pki.ts';

const PLANT = 'O0013000000PLANT';
const DAY = 86_400_000;

let pki: TestPki;
let ca: Issued;
let root: string;
let dir: string;

const oftp2 = (...args: string[]) => runCertIn(dir, args);

async function ok(...args: string[]): Promise<string> {
  const r = await oftp2(...args);
  assert.equal(r.code, 0, `oftp2 cert ${args.join(' ')}: ${r.err}`);
  return r.out;
}

async function refused(code: number, pattern: RegExp, ...args: string[]): Promise<void> {
  const r = await oftp2(...args);
  assert.equal(r.code, code, `oftp2 cert ${args.join(' ')} should fail: ${r.out}`);
  assert.match(r.err, pattern);
  assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
}

function config() {
  return JSON.parse(readFileSync(join(dir, 'station.json'), 'utf8'));
}

/** Our CA signs the request create-key wrote for key `name`. */
function signRequest(name: string): string {
  const out = pki.path(`own-${name}.pem`);
  openssl(['x509', '-req', '-in', join(dir, 'keys', `${name}.csr`), '-CA', ca.certPath, '-CAkey', ca.keyPath, '-CAcreateserial', '-days', '400', '-copy_extensions', 'copy', '-out', out]);
  return out;
}

/** A certificate for key `name` (made by create-key) with chosen dates, from the test CA. */
function certificateFor(name: string, label: string, dates: { notBefore: Date; notAfter: Date }): string {
  const keyOf = { keyPath: join(dir, 'keys', `${name}.key`) } as Issued;
  return pki.issue(label, ca, { cn: PLANT, keyUsage: 'critical,digitalSignature,nonRepudiation', keyOf, ...dates }).certPath;
}

before(async () => {
  pki = new TestPki('oftp-cert-rollover-');
  ca = pki.rootCa('ca', 'Plant CA');
  root = await mkdtemp(join(tmpdir(), 'oftp-cert-rollover-st-'));
  dir = join(root, 'station');
  await StationStore.init(dir, { odetteId: PLANT });
});
after(async () => {
  pki.remove();
  await rm(root, { recursive: true, force: true });
});

test('import --own --next: the next signing key and certificate, checked against each other; list shows it', async () => {
  await ok('create-key', '--role', 'signing');
  await ok('import', '--own', '--role', 'signing', '--key', 'signing', signRequest('signing'));
  await ok('create-key', '--role', 'signing', '--name', 'signing-2027');
  const next = signRequest('signing-2027');

  // Bad input first: nothing is written by a refusal.
  await refused(2, /--own --next is for --role signing/, 'import', '--own', '--next', '--role', 'encryption', '--key', 'signing-2027', next);
  const foreign = pki.issue('foreign', ca, { cn: PLANT, keyUsage: 'critical,digitalSignature,nonRepudiation' }).certPath;
  await refused(1, /our next signing certificate "CN=O0013000000PLANT" does not belong to key "signing-2027" .*not imported \[OFTP_ERR_CERTIFICATE\]$/m, 'import', '--own', '--next', '--role', 'signing', '--key', 'signing-2027', foreign);
  const expired = certificateFor('signing-2027', 'expired-next', { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
  await refused(1, /our next signing certificate "CN=O0013000000PLANT" expired on \d{4}-\d\d-\d\d; not imported \[OFTP_ERR_CERTIFICATE\]$/m, 'import', '--own', '--next', '--role', 'signing', '--key', 'signing-2027', expired);
  await refused(1, /is already our current signing certificate; not imported .*\[OFTP_ERR_CERTIFICATE\]$/m, 'import', '--own', '--next', '--role', 'signing', '--key', 'signing', join(dir, 'certs', 'own', 'signing.pem'));
  await refused(1, /--key nothing: neither a configured key name .* nor a readable key file, and no station.pkcs11 token is configured \[OFTP_ERR_CONFIG\]/, 'import', '--own', '--next', '--role', 'signing', '--key', 'nothing', next);
  assert.equal(config().station.certificates.next, undefined);
  assert.ok(!existsSync(join(dir, 'certs', 'own', 'signing-next.pem')));

  const out = await ok('import', '--own', '--next', '--role', 'signing', '--key', 'signing-2027', next);
  assert.match(out, /our next signing certificate "CN=O0013000000PLANT" \(SHA-256 [0-9A-F:]{95}, valid \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d\) uses key "signing-2027"/);
  assert.match(out, /files and signed receipts now carry two signatures/);
  const c = config();
  assert.deepEqual(c.station.certificates.next, { signing: { certificate: 'certs/own/signing-next.pem', key: 'signing-2027' } });
  assert.deepEqual(c.station.certificates.signing, { certificate: 'certs/own/signing.pem', key: 'signing' });

  const list = await ok('list');
  assert.match(list, /station\s+own\s+signing\s+CN=O0013000000PLANT\s/);
  assert.match(list, /station\s+own-next\s+signing\s+CN=O0013000000PLANT\s/);
  assert.match(list, /note: our signing rollover: files and signed receipts carry two signatures/);
});

test('promote --own --role signing: the next certificate becomes current, the old one and its key are retired', async () => {
  // A next certificate not valid yet is taken (both keys sign from its start), but not promoted.
  const later = certificateFor('signing-2027', 'later-next', { notBefore: new Date(Date.now() + 3 * DAY), notAfter: new Date(Date.now() + 400 * DAY) });
  const nowValid = readFileSync(join(dir, 'certs', 'own', 'signing-next.pem'), 'utf8');
  assert.match(await ok('import', '--own', '--next', '--role', 'signing', '--key', 'signing-2027', later), /note: our next signing certificate .* is not valid before \d{4}-\d\d-\d\d: files and receipts get the second signature from then on/);
  await refused(1, /our next signing certificate "CN=O0013000000PLANT" is not valid before \d{4}-\d\d-\d\d; promote it from that date .*\[OFTP_ERR_CERTIFICATE\]$/m, 'promote', '--own', '--role', 'signing');
  await refused(2, /promote --own is for --role signing/, 'promote', '--own', '--role', 'tls');
  await refused(2, /say --own/, 'promote', '--role', 'signing');

  const valid = pki.path('valid-next.pem');
  writeFileSync(valid, nowValid);
  await ok('import', '--own', '--next', '--role', 'signing', '--key', 'signing-2027', valid);
  const oldCert = readFileSync(join(dir, 'certs', 'own', 'signing.pem'), 'utf8');
  const out = await ok('promote', '--own', '--role', 'signing');
  assert.match(out, /our signing certificate is now "CN=O0013000000PLANT" \(expires \d{4}-\d\d-\d\d\), key "signing-2027"; files and receipts carry its signature alone/);
  assert.match(out, /retired: "CN=O0013000000PLANT", kept in certs\/own\/retired\/signing-\d{8}-[0-9a-f]{16}\.pem/);
  assert.match(out, /note: the old key "signing" is no longer used; its file moved to keys\/retired\/signing-\d{8}\.key/);
  const c = config();
  assert.deepEqual(c.station.certificates.signing, { certificate: 'certs/own/signing.pem', key: 'signing-2027' });
  assert.equal(c.station.certificates.next, undefined);
  assert.equal(c.station.keys.signing, undefined, 'the old key left the configuration');
  assert.equal(readFileSync(join(dir, 'certs', 'own', 'signing.pem'), 'utf8'), nowValid);
  assert.ok(!existsSync(join(dir, 'certs', 'own', 'signing-next.pem')));
  const [retired] = readdirSync(join(dir, 'certs', 'own', 'retired'));
  assert.equal(readFileSync(join(dir, 'certs', 'own', 'retired', retired!), 'utf8'), oldCert);
  assert.ok(!existsSync(join(dir, 'keys', 'signing.key')));
  assert.equal(readdirSync(join(dir, 'keys', 'retired')).length, 1);
  assert.doesNotMatch(await ok('list'), /own-next/);

  await refused(1, /we have no next signing certificate to promote \(oftp2 cert import --own --next --role signing --key KEY CERT\) \[OFTP_ERR_CONFIG\]/, 'promote', '--own', '--role', 'signing');
  // The station still loads with the promoted key (the configuration validates, the key matches).
  const store = await StationStore.open(dir);
  const keys = new OwnKeys(store.config, dir);
  assert.equal((await keys.signers()).length, 1);
  await keys.close();
});

test('import --own --next from PKCS#12: the key is copied into keys/ (mode 0600) under a free name', async () => {
  const entity = pki.issue('p12-next', ca, { cn: PLANT, keyUsage: 'critical,digitalSignature,nonRepudiation' });
  const p12 = pki.pkcs12('p12-next', entity, 'p12 passphrase', ca);
  writeFileSync(pki.path('p12pass'), 'p12 passphrase\n');
  const out = await ok('import', '--own', '--next', '--role', 'signing', '--passphrase-file', pki.path('p12pass'), p12);
  assert.match(out, /uses key "signing-next"/);
  const c = config();
  assert.deepEqual(c.station.certificates.next, { signing: { certificate: 'certs/own/signing-next.pem', key: 'signing-next' } });
  assert.equal(c.station.keys['signing-next'].file, 'keys/signing-next.p12');
  assert.equal(statSync(join(dir, 'keys', 'signing-next.p12')).mode & 0o777, 0o600);
  const keys = new OwnKeys((await StationStore.open(dir)).config, dir);
  assert.equal((await keys.signers()).length, 2);
  await keys.close();
  // An expired certificate in a PKCS#12 file is refused, and its copy does not stay behind.
  const old = pki.issue('p12-old', ca, { cn: PLANT, keyUsage: 'critical,digitalSignature,nonRepudiation', notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) });
  const oldP12 = pki.pkcs12('p12-old', old, 'p12 passphrase', ca);
  await refused(1, /expired on .*not imported \[OFTP_ERR_CERTIFICATE\]/, 'import', '--own', '--next', '--role', 'signing', '--passphrase-file', pki.path('p12pass'), oldP12);
  assert.ok(!existsSync(join(dir, 'keys', 'signing-next-2.p12')));
});

test('promote --partner P --role R: the partner\'s next certificate becomes current; one not valid yet or missing is refused', async () => {
  const store = await StationStore.open(dir);
  await store.addPartner({ name: 'acme', odetteId: 'O0013000000ACME', passwordToSend: 'PWOUT', passwordExpected: 'PWIN' });
  const usage = { keyUsage: 'critical,digitalSignature,nonRepudiation,keyEncipherment' };
  const current = pki.issue('acme-current', ca, { cn: 'O0013000000ACME', ...usage });
  const next = pki.issue('acme-next', ca, { cn: 'O0013000000ACME', ...usage, days: 700 });
  const later = pki.issue('acme-later', ca, { cn: 'O0013000000ACME', ...usage, notBefore: new Date(Date.now() + 3 * DAY), days: 700 });
  await ok('import', '--partner', 'acme', '--role', 'signing,encryption', current.certPath);
  await ok('import', '--partner', 'acme', '--role', 'signing', '--next', next.certPath);
  await ok('import', '--partner', 'acme', '--role', 'encryption', '--next', later.certPath);

  await refused(1, /partner acme: next encryption certificate .* is not valid before \d{4}-\d\d-\d\d; promote it from that date .*\[OFTP_ERR_CERTIFICATE\]/, 'promote', '--partner', 'acme', '--role', 'all');
  await refused(1, /partner acme has no next tls certificate to promote \[OFTP_ERR_CONFIG\]/, 'promote', '--partner', 'acme', '--role', 'tls');
  await refused(2, /say --own .* or --partner P/, 'promote', '--own', '--partner', 'acme', '--role', 'signing');
  const out = await ok('promote', '--partner', 'acme', '--role', 'signing');
  assert.match(out, /partner acme: signing certificate is now "CN=O0013000000ACME[^"]*" \(expires \d{4}-\d\d-\d\d\)/);
  assert.match(out, /retired: certs\/partners\/acme\/retired\/signing-\d{8}-[0-9a-f]{16}\.pem/);
  const certs = config().partners.find((p: { name: string }) => p.name === 'acme').certificates;
  assert.equal(certs.signing, 'certs/partners/acme/signing.pem');
  assert.deepEqual(certs.next, { encryption: 'certs/partners/acme/encryption-next.pem' }, 'the encryption rollover is still pending');
  assert.equal(readFileSync(join(dir, certs.signing), 'utf8'), next.certPem);
  assert.ok(!existsSync(join(dir, 'certs/partners/acme/signing-next.pem')));
});
