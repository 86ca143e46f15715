// The §6 pipeline: sign → compress → encrypt and back, for every suite; cross-checked with openssl
// both ways (sign+encrypt; openssl cannot compress here) and, for the full pipeline, openssl decrypt
// → asn1crypto decompress → openssl verify. Tampering is reported by the layer that detects it.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { decodeVRecords, encodeVRecords } from '../../src/protocol/v-format.ts';
import { CmsError } from '../../src/security/cms/errors.ts';
import { envelopeFile, openEnvelopeFile, securityFields } from '../../src/security/cms/pipeline.ts';
import { hashFile } from '../../src/security/cms/receipts.ts';
import { flip, identity, opensslNames, pseudoRandom, removeWorkDir, SUITES, textLike, workDir } from './helpers/cms-fixtures.ts';
import { openssl, python } from './helpers/identity.ts';

after(removeWorkDir);

/** A V-format file with §6.5 record length prefixes (src/protocol/v-format.ts), as the pipeline gets it. */
function vFormat(records: number): Uint8Array {
  const text = textLike(records * 120);
  const list: Uint8Array[] = [];
  for (let i = 0, at = 0; i < records; i++) {
    const length = 1 + ((i * 37) % 119);
    list.push(text.subarray(at, at + length));
    at += length;
  }
  return encodeVRecords(list);
}

describe('§6 pipeline', () => {
  const content = vFormat(3000);

  it('signs, compresses and encrypts, then decrypts, decompresses and verifies, for suites 01–06', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const input = join(workDir(), 'v-file.bin');
    writeFileSync(input, content);
    for (const suite of SUITES) {
      const enveloped = join(workDir(), `full-${suite}.cms`);
      const options = { suite, sign: { signers: [alice.handle] }, compress: true, encrypt: { recipients: [bob.certDer] } };
      const sent = await envelopeFile(input, enveloped, { ...options, hashEnvelope: true });
      assert.deepEqual(sent.fields, { sfidsec: 3, sfidciph: suite, sfidcomp: 1, sfidenv: 1 });
      assert.equal(sent.originalBytes, content.length);
      assert.equal(sent.envelopedBytes, readFileSync(enveloped).length);
      assert.deepEqual(sent.envelopedHash, await hashFile(enveloped, suite));
      const output = join(workDir(), `full-${suite}.out`);
      const got = await openEnvelopeFile(enveloped, output, {
        decrypt: { key: bob.handle },
        decompress: true,
        verify: { certificates: [alice.certDer] },
        hashSuite: suite,
      });
      assert.deepEqual(readFileSync(output), Buffer.from(content));
      assert.equal(decodeVRecords(readFileSync(output)).length, 3000, 'the records come back');
      assert.equal(got.contentBytes, content.length);
      assert.deepEqual(got.envelopedHash, sent.envelopedHash);
      assert.equal(got.decryption?.contentEncryption, suite % 2 === 1 ? 'des-ede3-cbc' : 'aes-256-cbc');
      assert.match(got.signature?.verified.signer ?? '', /CN=alice/);
      assert.equal(got.signature?.verified.digestAlgorithm, opensslNames(suite).md);
      assert.ok(got.decompression!.compressedLength < content.length);
    }
  });

  it('what we sign and encrypt, openssl decrypts and verifies (suites 01–06)', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const input = join(workDir(), 'v-file.bin');
    writeFileSync(input, content);
    for (const suite of SUITES) {
      const enveloped = join(workDir(), `se-${suite}.cms`);
      await envelopeFile(input, enveloped, { suite, sign: { signers: [alice.handle] }, encrypt: { recipients: [bob.certDer] } });
      const signed = join(workDir(), `se-${suite}.signed`);
      const d = openssl(['cms', '-decrypt', '-inform', 'DER', '-in', enveloped, '-inkey', bob.keyPath, '-recip', bob.certPath, '-binary', '-out', signed]);
      assert.equal(d.status, 0, `suite ${suite}: ${d.stderr}`);
      const v = openssl(['cms', '-verify', '-inform', 'DER', '-in', signed, '-binary', '-certfile', alice.certPath, '-CAfile', alice.certPath]);
      assert.equal(v.status, 0, `suite ${suite}: ${v.stderr}`);
      assert.ok(v.stdout.equals(content), `suite ${suite}`);
    }
  });

  it('what openssl signs and encrypts (-sign | -encrypt), we decrypt and verify (suites 01–06)', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const input = join(workDir(), 'v-file.bin');
    writeFileSync(input, content);
    for (const suite of SUITES) {
      const { md, cipher } = opensslNames(suite);
      const stream = suite > 3 ? ['-stream'] : [];
      const s = openssl(['cms', '-sign', '-binary', '-nodetach', '-outform', 'DER', '-md', md, '-in', input, '-signer', alice.certPath, '-inkey', alice.keyPath, ...stream]);
      assert.equal(s.status, 0, s.stderr);
      const e = openssl(['cms', '-encrypt', '-binary', '-outform', 'DER', cipher, ...stream, bob.certPath], s.stdout);
      assert.equal(e.status, 0, e.stderr);
      const enveloped = join(workDir(), `openssl-${suite}.cms`);
      writeFileSync(enveloped, e.stdout);
      const output = join(workDir(), `openssl-${suite}.out`);
      const got = await openEnvelopeFile(enveloped, output, { decrypt: { key: bob.handle }, verify: { certificates: [alice.certDer] } });
      assert.deepEqual(readFileSync(output), Buffer.from(content), `suite ${suite}`);
      assert.equal(got.signature?.verified.digestAlgorithm, md);
      assert.equal(got.decryption?.contentEncryption, suite % 2 === 1 ? 'des-ede3-cbc' : 'aes-256-cbc');
    }
  });

  it('the full pipeline is read by openssl (decrypt), asn1crypto (decompress) and openssl (verify)', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const input = join(workDir(), 'v-file.bin');
    writeFileSync(input, content);
    for (const suite of [1, 4]) {
      const enveloped = join(workDir(), `sce-${suite}.cms`);
      await envelopeFile(input, enveloped, { suite, sign: { signers: [alice.handle] }, compress: true, encrypt: { recipients: [bob.certDer] } });
      const d = openssl(['cms', '-decrypt', '-inform', 'DER', '-in', enveloped, '-inkey', bob.keyPath, '-binary']);
      assert.equal(d.status, 0, d.stderr);
      const inflated = python(
        "import sys\nfrom asn1crypto import cms\nsys.stdout.buffer.write(cms.ContentInfo.load(sys.stdin.buffer.read())['content'].decompressed)",
        [],
        d.stdout,
      );
      assert.equal(inflated.status, 0, inflated.stderr);
      const v = openssl(['cms', '-verify', '-inform', 'DER', '-binary', '-noverify', '-certfile', alice.certPath], inflated.stdout);
      assert.equal(v.status, 0, v.stderr);
      assert.ok(v.stdout.equals(content));
    }
  });

  it('reports the failing layer: signature 31/21, decompression 32/23, decryption 33/22; removes the output', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const input = join(workDir(), 'random.bin');
    const data = pseudoRandom(200_000, 11);
    writeFileSync(input, data);
    const cases = [
      { name: 'signed+encrypted', compress: false, failure: 'signature', efna: 21, nerp: 31 },
      { name: 'signed+compressed+encrypted', compress: true, failure: 'decompression', efna: 23, nerp: 32 },
    ];
    for (const c of cases) {
      const enveloped = join(workDir(), `tamper-${c.compress}.cms`);
      await envelopeFile(input, enveloped, { suite: 2, sign: { signers: [alice.handle] }, compress: c.compress, encrypt: { recipients: [bob.certDer] } });
      const bytes = readFileSync(enveloped);
      writeFileSync(enveloped, flip(bytes, Math.floor(bytes.length / 2), 0x10)); // CBC: garbles a block of the inner layer
      const output = join(workDir(), 'tamper.out');
      await assert.rejects(
        openEnvelopeFile(enveloped, output, { decrypt: { key: bob.handle }, decompress: c.compress, verify: { certificates: [alice.certDer] } }),
        (e: unknown) => e instanceof CmsError && e.failure === c.failure && e.efnaReason === c.efna && e.nerpReason === c.nerp,
        c.name,
      );
      assert.equal(existsSync(output), false, 'unverified output removed');
    }
    const enveloped = join(workDir(), 'to-bob.cms');
    await envelopeFile(input, enveloped, { suite: 2, encrypt: { recipients: [bob.certDer] } });
    await assert.rejects(
      openEnvelopeFile(enveloped, join(workDir(), 'x.out'), { decrypt: { key: alice.handle } }),
      (e: unknown) => e instanceof CmsError && e.failure === 'decryption' && e.nerpReason === 33,
    );
    // a layer that is not there: signed only, opened as encrypted
    const signedOnly = join(workDir(), 'signed-only.cms');
    const sent = await envelopeFile(input, signedOnly, { suite: 2, sign: { signers: [alice.handle] } });
    assert.deepEqual(sent.fields, { sfidsec: 2, sfidciph: 2, sfidcomp: 0, sfidenv: 1 });
    await assert.rejects(
      openEnvelopeFile(signedOnly, join(workDir(), 'y.out'), { decrypt: { key: bob.handle } }),
      (e: unknown) => e instanceof CmsError && e.failure === 'decryption' && /is not EnvelopedData/.test(e.message),
    );
  });

  it('hashes files of 8 MiB or more on the worker thread, with the same result', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const input = join(workDir(), 'nine-mib.bin');
    const data = pseudoRandom(9 * 1024 * 1024 + 7, 12);
    writeFileSync(input, data);
    const enveloped = join(workDir(), 'nine-mib.cms');
    await envelopeFile(input, enveloped, { suite: 6, sign: { signers: [alice.handle] }, encrypt: { recipients: [bob.certDer] } });
    const d = openssl(['cms', '-decrypt', '-inform', 'DER', '-in', enveloped, '-inkey', bob.keyPath, '-binary']);
    assert.equal(d.status, 0, d.stderr);
    const v = openssl(['cms', '-verify', '-inform', 'DER', '-binary', '-noverify', '-certfile', alice.certPath], d.stdout);
    assert.equal(v.status, 0, v.stderr);
    assert.equal(Buffer.compare(v.stdout, data), 0);
    const output = join(workDir(), 'nine-mib.out');
    const got = await openEnvelopeFile(enveloped, output, { decrypt: { key: bob.handle }, verify: { certificates: [alice.certDer] } });
    assert.equal(got.signature?.verified.digestAlgorithm, 'sha512');
    assert.equal(Buffer.compare(readFileSync(output), data), 0);
  });

  it('passes stream errors through as they are, and works on streams', async () => {
    const alice = identity('alice');
    const boom = new Error('read failed');
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(boom);
      },
    });
    await assert.rejects(
      envelopeFile(failing, join(workDir(), 'z.cms'), { suite: 2, sign: { signers: [alice.handle] }, compress: true }),
      (e) => e === boom,
    );
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const result = await envelopeFile(Readable.from([Buffer.from(content)]), sink, { suite: 4, compress: { level: 9 } });
    assert.deepEqual(result.fields, { sfidsec: 0, sfidciph: 0, sfidcomp: 1, sfidenv: 1 });
    assert.deepEqual(securityFields({ suite: 4 }), { sfidsec: 0, sfidciph: 0, sfidcomp: 0, sfidenv: 0 });
    const back: Buffer[] = [];
    await openEnvelopeFile(
      Readable.from(chunks),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          back.push(chunk);
          cb();
        },
      }),
      { decompress: true },
    );
    assert.deepEqual(Buffer.concat(back), Buffer.from(content));
  });
});
