// `oftp2 keys` on a real SoftHSM2 token, cross-checked with the independent tools: pkcs11-tool lists
// what `keys generate` made; `openssl req -verify` accepts the CSR the token signed; pkcs11-tool lists
// the imported certificate with the key's id, and the key store then hands it out with the key.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pkcs11KeyStore } from '../../src/keystore/pkcs11-key-store.ts';
import { createSoftHsm, type SoftHsm, softHsmMissing, USER_PIN } from './helpers/softhsm.ts';

const skip = softHsmMissing();
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

describe('oftp2 keys on SoftHSM', { skip }, () => {
  let hsm: SoftHsm;
  let pinFile: string;
  let base: string[];

  before(() => {
    hsm = createSoftHsm();
    hsm.initToken('oftp');
    hsm.initToken('spare');
    pinFile = hsm.pinFile(USER_PIN);
    base = ['--module', hsm.module, '--token', 'oftp'];
  });
  after(() => hsm?.cleanup());

  function oftp2(args: string[], env: NodeJS.ProcessEnv = {}) {
    const r = spawnSync(process.execPath, [MAIN, 'keys', ...args], { encoding: 'utf8', env: { ...hsm.env, OFTP2_PKCS11_PIN: undefined, ...env } });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  it('generate makes a key pair that pkcs11-tool lists, with our label and id', () => {
    const made = oftp2(['generate', ...base, '--pin-file', pinFile, '--label', 'station', '--id', '0a1b']);
    assert.equal(made.code, 0, made.err);
    assert.match(made.out, /generated RSA-2048 key pair "station" with id 0a1b/);
    // The PIN from the environment works too; no --id gives a random one.
    const second = oftp2(['generate', ...base, '--label', 'spare-key', '--bits', '3072'], { OFTP2_PKCS11_PIN: USER_PIN });
    assert.equal(second.code, 0, second.err);

    const objects = hsm.tool(['--token-label', 'oftp', '--login', '--pin', USER_PIN, '--list-objects']);
    assert.match(objects, /Private Key Object; RSA\s*\n\s+label:\s+station\n\s+ID:\s+0a1b\n\s+Usage:\s+decrypt, sign, unwrap/);
    assert.match(objects, /Public Key Object; RSA 2048 bits\s*\n\s+label:\s+station\n\s+ID:\s+0a1b/);
    assert.match(objects, /Public Key Object; RSA 3072 bits\s*\n\s+label:\s+spare-key/);
    assert.match(objects, /Access:\s+sensitive, always sensitive, never extractable/);

    const again = oftp2(['generate', ...base, '--pin-file', pinFile, '--label', 'station']);
    assert.equal(again.code, 1);
    assert.match(again.err, /a private key labelled "station" is already on token "oftp"/);
  });

  it('list shows tokens, and keys when logged in', () => {
    const anonymous = oftp2(['list', '--module', hsm.module]);
    assert.equal(anonymous.code, 0, anonymous.err);
    assert.match(anonymous.out, /^TOKEN\s+SERIAL/m);
    assert.match(anonymous.out, /^oftp\s+\S+\s+SoftHSM project/m);
    assert.match(anonymous.out, /^spare\s+/m);
    const listed = oftp2(['list', ...base, '--pin-file', pinFile]);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /^private-key\s+station\s+0a1b\s+RSA-2048/m);
    assert.match(listed.out, /^public-key\s+spare-key\s+[0-9a-f]{16}\s+RSA-3072/m);
    assert.doesNotMatch(listed.out, /not logged in/);
  });

  it('csr: signed by the token key, verified by openssl req -verify; import-cert: listed by pkcs11-tool with the key id', () => {
    const csrFile = join(hsm.dir, 'station.csr');
    const made = oftp2(['csr', ...base, '--pin-file', pinFile, '--label', 'station', '--subject', 'CN=station.example,O=ACME\\, Inc.,C=DE', '--out', csrFile]);
    assert.equal(made.code, 0, made.err);
    const verified = spawnSync('openssl', ['req', '-in', csrFile, '-verify', '-noout', '-subject'], { encoding: 'utf8' });
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout + verified.stderr, /verify OK/);
    assert.match(verified.stdout, /subject=C = DE, O = "ACME, Inc\.", CN = station\.example/);
    // The CSR's public key is the token key's (pkcs11-tool reads it from the token).
    const pubFile = join(hsm.dir, 'station-pub.der');
    hsm.tool(['--token-label', 'oftp', '--read-object', '--type', 'pubkey', '--id', '0a1b', '--output-file', pubFile]);
    const pubFromCsr = execFileSync('openssl', ['req', '-in', csrFile, '-pubkey', '-noout', '-outform', 'PEM']);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: pubFromCsr });
    assert.deepEqual(readFileSync(pubFile), der);

    // A CA (a file key, as in testing) signs it; the certificate goes onto the token.
    const caKey = join(hsm.dir, 'ca.key');
    const caCert = join(hsm.dir, 'ca.pem');
    const certFile = join(hsm.dir, 'station.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=Test CA', '-days', '2', '-keyout', caKey, '-out', caCert], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', csrFile, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-out', certFile], { stdio: 'ignore' });
    const imported = oftp2(['import-cert', ...base, '--pin-file', pinFile, '--label', 'station', certFile]);
    assert.equal(imported.code, 0, imported.err);
    assert.match(imported.out, /stored with id 0a1b beside key "station"/);
    const certs = hsm.tool(['--token-label', 'oftp', '--list-objects', '--type', 'cert']);
    assert.match(certs, /Certificate Object; type = X\.509 cert\s*\n\s+label:\s+station\n\s+subject:\s+DN: C=DE, O=ACME, Inc\., CN=station\.example\n(\s+serial:\s+\S+\n)?\s+ID:\s+0a1b/);

    const twice = oftp2(['import-cert', ...base, '--pin-file', pinFile, '--label', 'station', certFile]);
    assert.equal(twice.code, 1);
    assert.match(twice.err, /already on token "oftp" \(--replace/);
    assert.equal(oftp2(['import-cert', ...base, '--pin-file', pinFile, '--label', 'station', '--replace', certFile]).code, 0);
    // A certificate for another key is refused.
    const wrong = oftp2(['import-cert', ...base, '--pin-file', pinFile, '--label', 'spare-key', certFile]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /is not for the key "spare-key"/);
    writeFileSync(join(hsm.dir, 'station.der'), new X509Certificate(readFileSync(certFile)).raw);
  });

  it('the key store hands out the certificate stored on the token with the key', async () => {
    const store = await Pkcs11KeyStore.open({ module: hsm.module, token: { label: 'oftp' }, pin: { file: pinFile } });
    try {
      const key = await store.key('station');
      assert.ok(key.certificate !== undefined);
      assert.deepEqual(Buffer.from(key.certificate), readFileSync(join(hsm.dir, 'station.der')));
      assert.match(new X509Certificate(key.certificate).subject, /CN=station\.example/);
    } finally {
      await store.close();
    }
  });

  it('usage errors: no --pin option, missing label, bad bits, missing module or token', async () => {
    // Through the dispatcher once (exit code and one line), the rest in process (the same errors).
    const r = oftp2(['generate', ...base, '--pin', USER_PIN, '--label', 'x']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^oftp2 keys: unknown option "--pin" \(see oftp2 keys --help\)\n$/);
    const { command } = await import('../../src/cli/keys.ts');
    const cases: [string[], string, RegExp][] = [
      [['generate', ...base, '--pin-file', pinFile], 'OFTP_ERR_USAGE', /--label L is required/],
      [['generate', ...base, '--pin-file', pinFile, '--label', 'x', '--bits', '1024'], 'OFTP_ERR_USAGE', /--bits is 2048, 3072 or 4096/],
      [['generate', ...base, '--label', 'x'], 'OFTP_ERR_USAGE', /the user PIN is needed/],
      [['generate', '--module', hsm.module, '--pin-file', pinFile, '--label', 'x'], 'OFTP_ERR_USAGE', /--token LABEL .* is required/],
      [['csr', ...base, '--pin-file', pinFile, '--label', 'station', '--subject', 'CN=a,X=b'], 'OFTP_ERR_USAGE', /subject attribute "X" unknown/],
      [['list', '--module', '/nonexistent/lib.so'], 'OFTP_ERR_CONFIG', /PKCS#11 module not found: \/nonexistent\/lib\.so/],
      [['list', '--module', hsm.module, '--token', 'nosuch'], 'OFTP_ERR_CONFIG', /token "nosuch" not present/],
      [['frobnicate'], 'OFTP_ERR_USAGE', /unknown action "frobnicate"/],
    ];
    const saved = process.env.OFTP2_PKCS11_PIN;
    delete process.env.OFTP2_PKCS11_PIN;
    try {
      for (const [args, code, pattern] of cases) {
        await assert.rejects(command.run(args), (e: unknown) => {
          const error = e as { code?: string; message?: string };
          assert.equal(error.code, code, `${args.join(' ')}: ${error.message}`);
          assert.match(error.message ?? '', pattern);
          return true;
        });
      }
    } finally {
      if (saved !== undefined) process.env.OFTP2_PKCS11_PIN = saved;
    }
  });
});
