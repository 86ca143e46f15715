// EnvelopedData: what we encrypt decrypts with `openssl cms -decrypt` for every suite, what openssl
// encrypts (3DES, AES-256, DER and -stream) decrypts with ours, several recipients, and tampering or
// the wrong key fails with EFNA 22 / NERP 33. AES-GCM (AuthEnvelopedData) and OAEP are refused by name.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  decodeEnvelopedData,
  decryptData,
  encodeEnvelopedData,
  encryptData,
} from '../../src/security/cms/enveloped-data.ts';
import { CmsError } from '../../src/security/cms/errors.ts';
import { collect } from '../../src/security/cms/stream-util.ts';
import { flip, identity, indexOf, opensslNames, pieces, pseudoRandom, removeWorkDir, SUITES, workDir } from './helpers/cms-fixtures.ts';
import { openssl, testKeyHandle } from './helpers/identity.ts';

after(removeWorkDir);

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CmsError, String(e));
    assert.equal(e.failure, 'decryption');
    assert.equal(e.efnaReason, 22);
    assert.equal(e.nerpReason, 33);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('EnvelopedData', () => {
  const content = pseudoRandom(40_000, 5);

  it('decrypts with openssl cms for suites 01–06 (streamed BER and DER), with the suite cipher and RSA PKCS#1 v1.5', async () => {
    const bob = identity('bob');
    for (const suite of SUITES) {
      const streamed = await collect(encodeEnvelopedData({ suite, recipients: [bob.certDer] })(pieces(content, [999, 1, 5000])));
      for (const [form, message] of [
        ['BER', streamed],
        ['DER', encryptData(content, { suite, recipients: [bob.certDer] })],
      ] as const) {
        const file = join(workDir(), `enveloped-${suite}-${form}.p7m`);
        writeFileSync(file, message);
        const d = openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file, '-inkey', bob.keyPath, '-recip', bob.certPath, '-binary']);
        assert.equal(d.status, 0, `suite ${suite} ${form}: ${d.stderr}`);
        assert.ok(d.stdout.equals(content), `suite ${suite} ${form}`);
        const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file]).stdout.toString();
        const cipher = suite % 2 === 1 ? 'des-ede3-cbc' : 'aes-256-cbc';
        assert.match(printed, new RegExp(`contentEncryptionAlgorithm:\\s+algorithm: ${cipher} `));
        assert.match(printed, /keyEncryptionAlgorithm:\s+algorithm: rsaEncryption/);
      }
    }
  });

  it("decrypts openssl's messages: 3DES and AES-256, DER and -stream, through the handle", async () => {
    const bob = identity('bob');
    const input = join(workDir(), 'plain.bin');
    writeFileSync(input, content);
    for (const suite of [1, 2]) {
      for (const stream of [[], ['-stream']]) {
        const e = openssl(['cms', '-encrypt', '-binary', '-outform', 'DER', '-in', input, opensslNames(suite).cipher, ...stream, bob.certPath]);
        assert.equal(e.status, 0, e.stderr);
        const handle = testKeyHandle(bob.key, bob.certDer);
        const decoder = decodeEnvelopedData({ key: handle });
        const out = await collect(decoder.transform(pieces(new Uint8Array(e.stdout), [1, 64, 4096])));
        assert.deepEqual(out, content);
        assert.equal(handle.decrypts, 1);
        assert.equal(decoder.report?.contentEncryption, suite === 1 ? 'des-ede3-cbc' : 'aes-256-cbc');
        assert.match(decoder.report?.recipient ?? '', /CN=bob/);
      }
    }
  });

  it('encrypts to several recipients; each decrypts, also a key without its certificate', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const message = encryptData(content, { suite: 2, recipients: [alice.certDer, bob.certDer] });
    for (const who of [alice, bob]) {
      assert.deepEqual(await decryptData(message, { key: who.handle }), content);
      const file = join(workDir(), 'two.p7m');
      writeFileSync(file, message);
      const d = openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file, '-inkey', who.keyPath, '-recip', who.certPath, '-binary']);
      assert.ok(d.stdout.equals(content), d.stderr);
    }
    // without its certificate, a key tries each RSA RecipientInfo (one here: a wrong one may yield a
    // random key of the right length under implicit rejection, so the certificate is the reliable way)
    const bare = testKeyHandle(bob.key, undefined, 'test:bob-without-certificate');
    const toBob = encryptData(content, { suite: 2, recipients: [bob.certDer] });
    assert.deepEqual(await decryptData(toBob, { key: bare }), content);
  });

  it('fails with EFNA 22 / NERP 33: wrong key, tampered key or content, truncation', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const message = encryptData(content, { suite: 2, recipients: [bob.certDer] });
    await rejectsWith(decryptData(message, { key: alice.handle }), /no RecipientInfo for .*CN=alice/);
    // the encrypted key: the OCTET STRING of 256 octets (RSA-2048) after the rsaEncryption identifier
    const keyAt = indexOf(message, Uint8Array.of(0x04, 0x82, 0x01, 0x00)) + 4;
    assert.ok(keyAt > 4);
    await rejectsWith(decryptData(flip(message, keyAt + 100, 0x01), { key: bob.handle }), /does not decrypt/);
    // the content: the last octet of the next-to-last block turns the padding octet invalid
    await rejectsWith(decryptData(flip(message, -17, 0xff), { key: bob.handle }), /content does not decrypt/);
    for (const cut of [5, keyAt + 10, message.length - 1]) {
      await rejectsWith(decryptData(message.subarray(0, cut), { key: bob.handle }), /truncated|does not decrypt/);
    }
    const other = openssl(['cms', '-data_create', '-binary', '-outform', 'DER'], content);
    await rejectsWith(decryptData(new Uint8Array(other.stdout), { key: bob.handle }), /is not EnvelopedData/);
  });

  it('names what suites 01–06 do not use: AES-GCM AuthEnvelopedData, RSA-OAEP', async () => {
    const bob = identity('bob');
    const input = join(workDir(), 'plain.bin');
    writeFileSync(input, content);
    const gcm = openssl(['cms', '-encrypt', '-binary', '-outform', 'DER', '-in', input, '-aes-256-gcm', bob.certPath]);
    assert.equal(gcm.status, 0, gcm.stderr);
    await rejectsWith(decryptData(new Uint8Array(gcm.stdout), { key: bob.handle }), /AuthEnvelopedData \(AES-GCM\) is not supported/);
    const oaep = openssl([
      'cms', '-encrypt', '-binary', '-outform', 'DER', '-in', input, '-aes256', '-recip', bob.certPath, '-keyopt', 'rsa_padding_mode:oaep',
    ]);
    assert.equal(oaep.status, 0, oaep.stderr);
    await rejectsWith(decryptData(new Uint8Array(oaep.stdout), { key: bob.handle }), /key transport 1\.2\.840\.113549\.1\.1\.7 is not RSAES-PKCS1-v1_5/);
  });

  it('uses a fresh key and IV for every message', () => {
    const bob = identity('bob');
    const a = encryptData(content, { suite: 2, recipients: [bob.certDer] });
    const b = encryptData(content, { suite: 2, recipients: [bob.certDer] });
    assert.notDeepEqual(a.subarray(-64), b.subarray(-64));
  });
});
