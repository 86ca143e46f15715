// FileKeyStore (src/keystore/file-key-store.ts) against keys made by openssl: sign and decrypt round trips
// checked with node:crypto's public operations, for PKCS#8, PKCS#1, encrypted PEM (passphrase from a file
// and from the environment) and PKCS#12; a wrong or missing passphrase is one clear line; the key never
// shows in errors, inspect() or JSON.
import assert from 'node:assert/strict';
import { constants, createPrivateKey, publicEncrypt, randomBytes, verify } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createServer as createNetServer } from 'node:net';
import { connect, TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import { FileKeyStore } from '../../src/keystore/file-key-store.ts';
import { type Issued, TestPki } from '../tls/pki.ts';

let pki: TestPki;
let ca: Issued;
let leaf: Issued;
/** Base64 body lines of the private key: none may appear in any message. */
let secretLines: string[];

before(() => {
  pki = new TestPki('oftp-keystore-');
  ca = pki.rootCa('ca');
  leaf = pki.issue('leaf', ca, { cn: 'O0013000000STATION' });
  const der = createPrivateKey(readFileSync(leaf.keyPath)).export({ type: 'pkcs8', format: 'der' });
  secretLines = der.toString('base64').match(/.{1,40}/g)!.slice(1, -1);
  writeFileSync(pki.path('pass.txt'), 'correct horse\n');
  writeFileSync(pki.path('wrong.txt'), 'battery staple\n');
});
after(() => pki.remove());

function assertNoSecret(text: string): void {
  for (const line of secretLines) assert.ok(!text.includes(line), 'private key material appears in output');
  assert.ok(!text.includes('correct horse'), 'the passphrase appears in output');
  assert.ok(!/BEGIN (RSA |ENCRYPTED )?PRIVATE KEY/.test(text), 'a PEM key appears in output');
}

async function assertRoundTrips(store: FileKeyStore, name: string): Promise<void> {
  const handle = await store.key(name);
  assert.equal(handle.modulusBits, 2048);
  const data = randomBytes(1000);
  for (const hash of ['sha1', 'sha256', 'sha512'] as const) {
    const signature = await handle.sign(hash, data);
    assert.ok(verify(hash, data, { key: handle.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature), `${hash} signature verifies`);
    assert.ok(verify(hash, data, leaf.certPem, signature), `${hash} signature verifies with the certificate`);
  }
  const secret = randomBytes(32);
  const ciphertext = publicEncrypt({ key: leaf.certPem, padding: constants.RSA_PKCS1_PADDING }, secret);
  assert.deepEqual(Buffer.from(await handle.decrypt(ciphertext)), secret);
  assertNoSecret(inspect(handle, { depth: 10, showHidden: true }));
  assertNoSecret(JSON.stringify(handle));
}

async function assertRefused(store: FileKeyStore, name: string, pattern: RegExp): Promise<void> {
  const err = await store.key(name).then(
    () => assert.fail('the key was opened'),
    (e: unknown) => e as Error & { code: string },
  );
  assert.equal(err.code, 'OFTP_ERR_CONFIG');
  assert.match(err.message, pattern);
  assert.ok(!err.message.includes('\n'), 'one line');
  assertNoSecret(err.message);
  assertNoSecret(inspect(err, { depth: 10 }));
}

test('PKCS#8 PEM, with its certificate: sign (SHA-1/256/512) and decrypt round trips', async () => {
  const store = new FileKeyStore({ tls: { file: leaf.keyPath, certificate: leaf.certPath } });
  await assertRoundTrips(store, 'tls');
  const handle = await store.key('tls');
  assert.deepEqual(Buffer.from(handle.certificate!), leaf.der);
  assert.equal(handle.id, `file:${leaf.keyPath}`);
});

test('PKCS#1 PEM, plain and encrypted; relative paths from baseDir', async () => {
  const plain = pki.pkcs1Key('plain', leaf);
  const enc = pki.pkcs1Key('enc', leaf, 'correct horse');
  const store = new FileKeyStore(
    { plain: { file: plain.slice(pki.dir.length + 1) }, enc: { file: enc, passphraseFile: 'pass.txt' } },
    { baseDir: pki.dir },
  );
  await assertRoundTrips(store, 'plain');
  await assertRoundTrips(store, 'enc');
});

test('encrypted PKCS#8: passphrase from a file and from an environment variable', async () => {
  const enc = pki.encryptedKey('p8', leaf, 'correct horse');
  const store = new FileKeyStore(
    { fromFile: { file: enc, passphraseFile: pki.path('pass.txt') }, fromEnv: { file: enc, passphraseEnv: 'OFTP2_TEST_KEY_PASS' } },
    { env: { OFTP2_TEST_KEY_PASS: 'correct horse' } },
  );
  await assertRoundTrips(store, 'fromFile');
  await assertRoundTrips(store, 'fromEnv');
});

test('PKCS#12 (OpenSSL 3 defaults: AES-256, PBKDF2, SHA-256 MAC): key, its certificate and the CA chain', async () => {
  const p12 = pki.pkcs12('bundle', leaf, 'correct horse', ca);
  const store = new FileKeyStore({ p12: { file: p12, passphraseFile: pki.path('pass.txt') } });
  await assertRoundTrips(store, 'p12');
  const handle = await store.key('p12');
  assert.deepEqual(Buffer.from(handle.certificate!), leaf.der, 'the certificate matching the key');
  assert.deepEqual(handle.chain.map((c) => Buffer.from(c)), [ca.der], 'the CA beside it');
});

test('a wrong passphrase is one clear line naming the key and where the passphrase came from', async () => {
  const enc = pki.encryptedKey('wrong', leaf, 'correct horse');
  const p12 = pki.pkcs12('wrong', leaf, 'correct horse');
  const store = new FileKeyStore(
    {
      pem: { file: enc, passphraseFile: pki.path('wrong.txt') },
      env: { file: enc, passphraseEnv: 'PASS' },
      p12: { file: p12, passphraseFile: pki.path('wrong.txt') },
    },
    { env: { PASS: 'nope' } },
  );
  await assertRefused(store, 'pem', /^key "pem" \(.*wrong\.enc\.key\): wrong passphrase \(from passphrase file .*wrong\.txt\), or the file is damaged$/);
  await assertRefused(store, 'env', /wrong passphrase \(from \$PASS\)/);
  await assertRefused(store, 'p12', /^key "p12" .*: wrong passphrase/);
});

test('missing passphrase, missing variable, unknown name, unreadable file, foreign certificate', async () => {
  const enc = pki.encryptedKey('nopass', leaf, 'correct horse');
  const other = pki.issue('other', ca, { cn: 'someone else' });
  writeFileSync(pki.path('garbage.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  const store = new FileKeyStore({
    nopass: { file: enc },
    novar: { file: enc, passphraseEnv: 'OFTP2_UNSET_VARIABLE_FOR_TEST' },
    missing: { file: pki.path('does-not-exist.key') },
    garbage: { file: pki.path('garbage.key') },
    foreign: { file: leaf.keyPath, certificate: other.certPath },
  }, { env: {} });
  await assertRefused(store, 'nopass', /the key is encrypted; set passphraseFile or passphraseEnv/);
  await assertRefused(store, 'novar', /passphrase variable \$OFTP2_UNSET_VARIABLE_FOR_TEST is not set/);
  await assertRefused(store, 'nosuch', /no key named "nosuch" .*configured: nopass, novar/);
  await assertRefused(store, 'missing', /cannot read: ENOENT/);
  await assertRefused(store, 'garbage', /not a private key/);
  await assertRefused(store, 'foreign', /its certificate does not belong to this key/);
});

test('secureContext: a TLS server runs on the stored key without the key leaving the store', async (t) => {
  const store = new FileKeyStore({ tls: { file: pki.encryptedKey('tlsctx', leaf, 'correct horse'), passphraseFile: pki.path('pass.txt') } });
  const context = await store.secureContext('tls', leaf.certPem, { minVersion: 'TLSv1.2' });
  // node:tls's Server ignores a ready-made secureContext, so the transport wraps each socket itself.
  const server = createNetServer((raw) => new TLSSocket(raw, { isServer: true, secureContext: context }).on('secure', function (this: TLSSocket) {
    this.end('hello');
  }));
  t.after(() => server.close());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost', checkServerIdentity: () => undefined });
  t.after(() => socket.destroy());
  const text = await new Promise<string>((resolve, reject) => {
    let got = '';
    socket.on('data', (d) => (got += d));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
  assert.equal(text, 'hello');
  assert.equal(socket.authorized, true, 'the server presented the stored certificate, trusted through the CA');
  await assert.rejects(store.secureContext('tls', pki.issue('mismatch', ca, { cn: 'x' }).certPem), /cannot be used for TLS: the certificate does not match the key/);
});
