// SignedData: our signatures verify with `openssl cms -verify` for every suite, openssl's verify with
// ours (DER and streamed BER, with and without signed attributes), several signers (certificate
// changeover), and tampering fails with EFNA 21 / NERP 31.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CmsError } from '../../src/security/cms/errors.ts';
import { decodeSignedData, encodeSignedData, signData, verifySignedData } from '../../src/security/cms/signed-data.ts';
import { collect } from '../../src/security/cms/stream-util.ts';
import { flip, identity, indexOf, opensslNames, pieces, pseudoRandom, removeWorkDir, SUITES, workDir } from './helpers/cms-fixtures.ts';
import { openssl } from './helpers/identity.ts';

after(removeWorkDir);

async function signStreamed(content: Uint8Array, options: Parameters<typeof encodeSignedData>[0]): Promise<Uint8Array> {
  return collect(encodeSignedData(options)(pieces(content, [1000, 7, 4096])));
}

async function rejectsWith(promise: Promise<unknown>, failure: string, pattern: RegExp): Promise<CmsError> {
  let caught: CmsError | undefined;
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CmsError, String(e));
    assert.equal(e.failure, failure);
    assert.match(e.message, pattern);
    caught = e;
    return true;
  });
  return caught!;
}

describe('SignedData', () => {
  const content = pseudoRandom(50_000, 3);

  it('verifies with openssl cms for suites 01–06, streamed (BER) and in memory (DER), with the suite digest', async () => {
    const alice = identity('alice');
    for (const suite of SUITES) {
      const { md } = opensslNames(suite);
      for (const [form, message] of [
        ['BER', await signStreamed(content, { suite, signers: [alice.handle] })],
        ['DER', await signData(content, { suite, signers: [alice.handle] })],
      ] as const) {
        const file = join(workDir(), `signed-${suite}-${form}.p7m`);
        writeFileSync(file, message);
        // no certificates inside (§6.2): openssl gets the signer's certificate and trusts it as a CA
        const v = openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-binary', '-certfile', alice.certPath, '-CAfile', alice.certPath]);
        assert.equal(v.status, 0, `suite ${suite} ${form}: ${v.stderr}`);
        assert.match(v.stderr, /Verification successful/);
        assert.ok(v.stdout.equals(content), `suite ${suite} ${form}: content`);
        const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file]).stdout.toString();
        assert.match(printed, new RegExp(`digestAlgorithm:\\s+algorithm: ${md} `));
        assert.match(printed, /certificates:\s+<ABSENT>/);
        assert.match(printed, /object: signingTime/);
      }
    }
  });

  it('includes the certificates when asked, so openssl needs no -certfile', async () => {
    const alice = identity('alice');
    const file = join(workDir(), 'signed-certs.p7m');
    writeFileSync(file, await signStreamed(content, { suite: 4, signers: [alice.handle], includeCertificates: true }));
    const v = openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-binary', '-CAfile', alice.certPath]);
    assert.equal(v.status, 0, v.stderr);
    const decoded = await verifySignedData(await signData(content, { suite: 4, signers: [alice.handle], includeCertificates: true }), {
      certificates: [alice.certDer],
    });
    assert.deepEqual(decoded.report.embeddedCertificates, [alice.certDer]);
  });

  it("verifies openssl's signatures: each digest, DER and -stream BER, with and without signed attributes", async () => {
    const alice = identity('alice');
    const input = join(workDir(), 'plain.bin');
    writeFileSync(input, content);
    const cases: [string, string[]][] = [];
    for (const md of ['sha1', 'sha256', 'sha512', 'sha384']) cases.push([`${md} DER`, ['-md', md]]);
    cases.push(['sha256 -stream', ['-md', 'sha256', '-stream']]);
    cases.push(['sha256 -noattr', ['-md', 'sha256', '-noattr']]);
    cases.push(['sha512 -noattr -nocerts -stream', ['-md', 'sha512', '-noattr', '-nocerts', '-stream']]);
    for (const [name, extra] of cases) {
      const s = openssl(['cms', '-sign', '-binary', '-nodetach', '-outform', 'DER', '-in', input, '-signer', alice.certPath, '-inkey', alice.keyPath, ...extra]);
      assert.equal(s.status, 0, `${name}: ${s.stderr}`);
      const decoder = decodeSignedData({ certificates: [alice.certDer] });
      const out = await collect(decoder.transform(pieces(new Uint8Array(s.stdout), [333])));
      assert.deepEqual(out, content, name);
      assert.equal(decoder.report?.verified.status, 'verified');
      assert.equal(decoder.report?.verified.digestAlgorithm, extra[1]);
      assert.equal(decoder.report?.verified.signingTime === undefined, extra.includes('-noattr'), name);
    }
  });

  it('signs with several keys (certificate changeover) and reports which signer verified', async () => {
    const oldKey = identity('alice');
    const newKey = identity('alice-2');
    const message = await signStreamed(content, { suite: 3, signers: [oldKey.handle, newKey.handle] });
    const file = join(workDir(), 'two-signers.p7m');
    writeFileSync(file, message);
    const both = join(workDir(), 'both.pem');
    writeFileSync(both, openssl(['x509', '-in', oldKey.certPath]).stdout.toString() + openssl(['x509', '-in', newKey.certPath]).stdout.toString());
    const v = openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-binary', '-certfile', both, '-CAfile', both]);
    assert.equal(v.status, 0, v.stderr);
    for (const known of [oldKey, newKey]) {
      const { report } = await verifySignedData(message, { certificates: [known.certDer] });
      assert.equal(report.signers.length, 2);
      assert.deepEqual(report.verified.certificate, known.certDer);
      assert.match(report.verified.signer, new RegExp(`CN=${known.name}\\b`));
      const other = report.signers.find((s) => s !== report.verified)!;
      assert.equal(other.status, 'unknown-certificate');
    }
    const { report } = await verifySignedData(message, { certificates: [oldKey.certDer, newKey.certDer] });
    assert.deepEqual(
      report.signers.map((s) => s.status),
      ['verified', 'verified'],
    );
  });

  it('fails with EFNA 21 / NERP 31 on a tampered content, signature or signed attribute', async () => {
    const alice = identity('alice');
    const message = await signData(content, { suite: 4, signers: [alice.handle] });
    const options = { certificates: [alice.certDer] };
    const contentAt = indexOf(message, content.subarray(0, 64));
    const tampered: [string, Uint8Array, RegExp][] = [
      ['content', flip(message, contentAt + 1000, 0x01), /does not match its message digest/],
      ['signature', flip(message, -1, 0x01), /signature of .*CN=alice.* is not valid/],
      ['signingTime', flip(message, indexOf(message, Uint8Array.of(0x17, 0x0d)) + 5, 0x01), /is not valid/],
    ];
    for (const [what, bad, pattern] of tampered) {
      const e = await rejectsWith(verifySignedData(bad, options), 'signature', pattern);
      assert.equal(e.efnaReason, 21, what);
      assert.equal(e.nerpReason, 31, what);
      assert.equal(e.code, 'OFTP_ERR_CMS');
    }
    // streamed form: flip in the content and in the signature (the last octet before the closing EOCs)
    const streamed = await signStreamed(content, { suite: 4, signers: [alice.handle] });
    const at = indexOf(streamed, content.subarray(2000, 2064));
    await rejectsWith(verifySignedData(flip(streamed, at, 0x80), options), 'signature', /message digest/);
    await rejectsWith(verifySignedData(flip(streamed, -7, 0x01), options), 'signature', /is not valid/);
  });

  it('fails when no signer is a known partner, when truncated, or when it is not SignedData', async () => {
    const alice = identity('alice');
    const mallory = identity('mallory');
    const message = await signStreamed(content, { suite: 2, signers: [mallory.handle] });
    await rejectsWith(verifySignedData(message, { certificates: [alice.certDer] }), 'signature', /no signer is one of the 1 partner/);
    for (const cut of [10, 200, message.length - 3]) {
      await rejectsWith(verifySignedData(message.subarray(0, cut), { certificates: [mallory.certDer] }), 'signature', /truncated/);
    }
    const other = openssl(['cms', '-data_create', '-binary', '-outform', 'DER'], content);
    await rejectsWith(verifySignedData(new Uint8Array(other.stdout), { certificates: [mallory.certDer] }), 'signature', /is not SignedData/);
    // a signature by mallory presented as alice's (alice's issuer and serial, mallory's signature)
    const forged = await signData(content, { suite: 2, signers: [{ ...mallory.handle, certificate: alice.certDer }] });
    await rejectsWith(verifySignedData(forged, { certificates: [alice.certDer] }), 'signature', /is not valid/);
  });

  it('hashes on a worker thread (large files) with the same results, across batch boundaries', async () => {
    const alice = identity('alice');
    const big = pseudoRandom(3 * 1024 * 1024 + 12345, 8);
    for (const suite of [2, 3, 6]) {
      const message = await collect(encodeSignedData({ suite, signers: [alice.handle], parallelDigest: true })(pieces(big, [65536, 1, 100_000])));
      const file = join(workDir(), `parallel-${suite}.p7m`);
      writeFileSync(file, message);
      const v = openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-binary', '-noverify', '-certfile', alice.certPath, '-out', '/dev/null']);
      assert.equal(v.status, 0, v.stderr);
      const decoder = decodeSignedData({ certificates: [alice.certDer], parallelDigest: true });
      const out = await collect(decoder.transform(pieces(message, [1 << 20, 17])));
      assert.equal(Buffer.compare(out, big), 0);
      assert.equal(decoder.report?.verified.status, 'verified');
      await rejectsWith(
        collect(decodeSignedData({ certificates: [alice.certDer], parallelDigest: true }).transform(pieces(flip(message, 2_000_000, 0x04), [65536]))),
        'signature',
        /message digest/,
      );
    }
  });

  it('signs empty content', async () => {
    const alice = identity('alice');
    const message = await signStreamed(new Uint8Array(0), { suite: 1, signers: [alice.handle] });
    const { content: out } = await verifySignedData(message, { certificates: [alice.certDer] });
    assert.equal(out.length, 0);
    const file = join(workDir(), 'empty.p7m');
    writeFileSync(file, message);
    assert.equal(openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-binary', '-noverify', '-certfile', alice.certPath]).status, 0);
  });
});
