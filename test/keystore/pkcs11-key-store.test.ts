// Pkcs11KeyStore against a real SoftHSM2 token: sign/verify and encrypt/decrypt round trips checked
// with node:crypto's public-key operations, both signing paths, concurrency, and the configuration
// errors (missing module, token, key; weak key).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, publicEncrypt, randomBytes, verify } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import type { HashAlgorithm } from '../../src/keystore/key-store.ts';
import { parsePkcs11Config } from '../../src/keystore/pkcs11-config.ts';
import {
  checkKeyStrength,
  type Pkcs11Key,
  Pkcs11KeyStore,
  Pkcs11OperationError,
  type Pkcs11StoreConfig,
} from '../../src/keystore/pkcs11-key-store.ts';
import { createSoftHsm, type SoftHsm, softHsmMissing, USER_PIN } from './helpers/softhsm.ts';

const skip = softHsmMissing();
const HASHES: HashAlgorithm[] = ['sha1', 'sha256', 'sha512'];

describe('Pkcs11KeyStore on SoftHSM', { skip }, () => {
  let hsm: SoftHsm;
  let serial: string;
  let config: Pkcs11StoreConfig;

  before(() => {
    hsm = createSoftHsm();
    serial = hsm.initToken('oftp');
    hsm.keyPair('oftp', { label: 'sign', id: '01' });
    hsm.keyPair('oftp', { label: 'weak', id: '02', bits: 1024 });
    config = {
      module: hsm.module,
      token: { label: 'oftp' },
      pin: { file: hsm.pinFile(USER_PIN) },
      keys: { signing: { label: 'sign' }, byId: { id: '01' }, weak: { label: 'weak' } },
    };
  });
  after(() => hsm?.cleanup());

  async function withStore<T>(overrides: Partial<Pkcs11StoreConfig>, fn: (store: Pkcs11KeyStore) => Promise<T>): Promise<T> {
    const store = await Pkcs11KeyStore.open({ ...config, ...overrides });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  function verifies(key: Pkcs11Key, hash: HashAlgorithm, data: Buffer, signature: Uint8Array): boolean {
    return verify(hash, data, { key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
  }

  it('signs with the combined mechanisms, all three hashes, verified by node:crypto', async () => {
    await withStore({}, async (store) => {
      assert.equal(store.status().state, 'ready');
      const key = await store.key('signing');
      assert.equal(key.modulusBits, 2048);
      assert.equal(key.keyId, '01');
      assert.equal(key.id, 'pkcs11:token=oftp;object=sign;id=%01');
      assert.equal(key.certificate, undefined);
      for (const hash of HASHES) {
        assert.equal(store.signMechanism(hash), `CKM_${hash.toUpperCase()}_RSA_PKCS`);
        const data = randomBytes(1000);
        const signature = await key.sign(hash, data);
        assert.equal(signature.length, 256);
        assert.ok(verifies(key, hash, data, signature), hash);
        assert.ok(!verifies(key, hash, Buffer.concat([data, Buffer.from([0])]), signature));
      }
    });
  });

  it('signs with CKM_RSA_PKCS over a DigestInfo when told to, all three hashes', async () => {
    await withStore({ signMechanism: 'rsa-pkcs' }, async (store) => {
      const key = await store.key('signing');
      for (const hash of HASHES) {
        assert.equal(store.signMechanism(hash), 'CKM_RSA_PKCS');
        const data = randomBytes(333);
        const signature = await key.sign(hash, data);
        assert.ok(verifies(key, hash, data, signature), hash);
      }
    });
  });

  it('both paths give the same signature (PKCS#1 v1.5 is deterministic)', async () => {
    const data = Buffer.from('the same bytes');
    const a = await withStore({}, async (s) => (await s.key('signing')).sign('sha256', data));
    const b = await withStore({ signMechanism: 'rsa-pkcs' }, async (s) => (await s.key('signing')).sign('sha256', data));
    assert.deepEqual(Buffer.from(a), Buffer.from(b));
  });

  it('decrypts what node:crypto encrypted with the public key (RSAES-PKCS1-v1_5)', async () => {
    await withStore({}, async (store) => {
      const key = await store.key('byId');
      for (const length of [1, 32, 245]) {
        const plain = randomBytes(length);
        const ciphertext = publicEncrypt({ key: key.publicKey, padding: constants.RSA_PKCS1_PADDING }, plain);
        assert.deepEqual(Buffer.from(await key.decrypt(ciphertext)), plain);
      }
      await assert.rejects(key.decrypt(randomBytes(100)), (e: unknown) => e instanceof Pkcs11OperationError && /100 octets/.test(e.message));
      assert.equal(store.status().state, 'ready');
    });
  });

  it('runs 100 concurrent signatures correctly', async () => {
    await withStore({ sessions: 4 }, async (store) => {
      const key = await store.key('signing');
      const inputs = Array.from({ length: 100 }, (_, i) => Buffer.from(`message ${i}`));
      const signatures = await Promise.all(inputs.map((data, i) => key.sign(HASHES[i % 3]!, data)));
      for (const [i, signature] of signatures.entries()) assert.ok(verifies(key, HASHES[i % 3]!, inputs[i]!, signature), `#${i}`);
    });
  });

  it('finds the token by serial; refuses a certificate file whose key is another one', async () => {
    await withStore({ token: { serial } }, async (store) => {
      assert.equal(store.status().state, 'ready');
      assert.equal((await store.key('signing')).modulusBits, 2048);
    });
    const certificateFile = join(hsm.dir, 'other.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=other', '-days', '1',
      '-keyout', join(hsm.dir, 'other.key'), '-out', certificateFile], { stdio: 'ignore' });
    await withStore({ keys: { signing: { label: 'sign', certificateFile } } }, async (store) => {
      await assert.rejects(store.key('signing'), (e: unknown) => e instanceof ConfigError && /does not match PKCS#11 key "signing"/.test(e.message));
    });
  });

  it('a key weaker than 2048 bits opens but fails when used, with a clear error', async () => {
    await withStore({}, async (store) => {
      const weak = await store.key('weak');
      assert.equal(weak.modulusBits, 1024);
      const tooWeak = (e: unknown) => e instanceof ConfigError && /"weak".*RSA-1024; at least 2048 bits/.test(e.message);
      await assert.rejects(weak.sign('sha256', Buffer.from('x')), tooWeak);
      await assert.rejects(weak.decrypt(randomBytes(128)), tooWeak);
      assert.throws(() => checkKeyStrength(weak, 2048), /RSA-1024; at least 2048/);
      assert.throws(() => weak.requireModulusBits(3072), /at least 3072/);
      const strong = await store.key('signing');
      checkKeyStrength(strong, 2048);
    });
    // Allowed when the configuration lowers the minimum.
    await withStore({ minModulusBits: 1024 }, async (store) => {
      const weak = await store.key('weak');
      const data = Buffer.from('legacy partner');
      assert.ok(verifies(weak, 'sha1', data, await weak.sign('sha1', data)));
    });
  });

  it('a missing module path is a ConfigError naming it', async () => {
    await assert.rejects(
      Pkcs11KeyStore.open({ ...config, module: '/nonexistent/libvendor-pkcs11.so' }),
      (e: unknown) => e instanceof ConfigError && /PKCS#11 module not found: \/nonexistent\/libvendor-pkcs11\.so/.test(e.message),
    );
    await assert.rejects(
      Pkcs11KeyStore.open({ ...config, module: config.pin.file! }),
      (e: unknown) => e instanceof ConfigError && /cannot be loaded/.test(e.message),
    );
  });

  it('a missing token label is a ConfigError naming it and the tokens present', async () => {
    await assert.rejects(
      Pkcs11KeyStore.open({ ...config, token: { label: 'nosuch' } }),
      (e: unknown) => e instanceof ConfigError && /token "nosuch" not present .*tokens present: "oftp" \(serial/.test(e.message),
    );
  });

  it('a missing key label is a ConfigError naming it', async () => {
    await withStore({}, async (store) => {
      await assert.rejects(store.key('nosuch'), (e: unknown) => e instanceof ConfigError && /no PKCS#11 key "nosuch" in the configuration/.test(e.message));
    });
    await withStore({ keys: { signing: { label: 'gone' } } }, async (store) => {
      await assert.rejects(
        store.key('signing'),
        (e: unknown) => e instanceof ConfigError && /PKCS#11 key "signing" \(label "gone"\) not found on token "oftp"/.test(e.message),
      );
    });
    // Without a keys map the name is the label.
    const { keys: _, ...noMap } = config;
    const store = await Pkcs11KeyStore.open(noMap);
    try {
      assert.equal((await store.key('sign')).keyId, '01');
      await assert.rejects(store.key('absent-label'), /label "absent-label"\) not found/);
    } finally {
      await store.close();
    }
  });

  it('a missing PIN source is a ConfigError naming it, without a PIN in any message', async () => {
    await assert.rejects(
      Pkcs11KeyStore.open({ ...config, pin: { env: 'OFTP2_TEST_NO_SUCH_PIN' } }),
      /PIN variable OFTP2_TEST_NO_SUCH_PIN is not set/,
    );
    const store = await Pkcs11KeyStore.open({ ...config, pin: { env: 'PIN_FOR_TEST' } }, { env: { PIN_FOR_TEST: USER_PIN } });
    assert.equal(store.status().state, 'ready');
    assert.ok(!JSON.stringify(store.status()).includes(USER_PIN));
    await store.close();
    assert.equal(store.status().state, 'closed');
  });

  it('parsePkcs11Config checks the shape and names the setting at fault', () => {
    const ok = parsePkcs11Config({ module: '/x.so', token: { label: 'oftp' }, pin: { env: 'P' }, keys: { sign: { id: '0A:1B' } }, sessions: 2 });
    assert.deepEqual(ok.keys, { sign: { id: '0a1b' } });
    assert.throws(() => parsePkcs11Config({ module: '/x.so', token: {}, pin: { env: 'P' } }), /pkcs11.token needs "label" or "serial"/);
    assert.throws(() => parsePkcs11Config({ module: '/x.so', token: { label: 'a' }, pin: { env: 'P', file: 'f' } }), /pkcs11.pin needs exactly one/);
    assert.throws(() => parsePkcs11Config({ module: '/x.so', token: { label: 'a' }, pin: { value: '1234' } }), /pkcs11.pin.value is not a setting/);
    assert.throws(() => parsePkcs11Config({ module: '/x.so', token: { label: 'a' }, pin: { env: 'P' }, keys: { k: { id: 'xyz' } } }), /not a hex key id/);
  });
});
