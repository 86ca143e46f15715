// Signed EERP/NERP (§5.3.13–14): a DER SignedData over the receipt fields as on the wire, checked by
// openssl and asn1crypto; the file hash per suite; and the AUCH challenge (§5.3.17).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { answerChallenge, CHALLENGE_LENGTH, challengeAnswered, makeChallenge } from '../../src/security/cms/challenge.ts';
import { encryptData } from '../../src/security/cms/enveloped-data.ts';
import { CmsError } from '../../src/security/cms/errors.ts';
import {
  eerpSignedContent,
  hashFile,
  nerpSignedContent,
  signReceipt,
  verifyReceipt,
} from '../../src/security/cms/receipts.ts';
import { flip, identity, opensslNames, pseudoRandom, removeWorkDir, SUITES, workDir } from './helpers/cms-fixtures.ts';
import { openssl, python } from './helpers/identity.ts';

after(removeWorkDir);

const eerp = {
  datasetName: 'PAYLOAD.EDI',
  date: '20260122',
  time: '1430150001',
  destination: 'O0013000000ORIGIN',
  originator: 'O0013000000RECIPIENT',
  fileHash: pseudoRandom(32, 9),
};

async function rejectsWith(promise: Promise<unknown>, failure: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CmsError, String(e));
    assert.equal(e.failure, failure);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('signed receipts', () => {
  it('lays out the signed fields as on the wire, padding included', () => {
    const fields = eerpSignedContent(eerp);
    assert.equal(fields.length, 26 + 8 + 10 + 25 + 25 + 32);
    const text = Buffer.from(fields.subarray(0, 94)).toString('latin1');
    assert.equal(text, `${'PAYLOAD.EDI'.padEnd(26)}20260122${'1430150001'}${'O0013000000ORIGIN'.padEnd(25)}${'O0013000000RECIPIENT'.padEnd(25)}`);
    assert.deepEqual(fields.subarray(94), eerp.fileHash);
    const nerp = nerpSignedContent({ ...eerp, creator: 'O0013000000RECIPIENT' });
    assert.equal(nerp.length, 26 + 8 + 10 + 25 + 25 + 25 + 32);
    assert.throws(() => eerpSignedContent({ ...eerp, date: '2026-1-2' }), /EERPDATE is not 8 digits/);
    assert.throws(() => eerpSignedContent({ ...eerp, datasetName: 'X'.repeat(27) }), /EERPDSN does not fit X\(26\)/);
  });

  it('is a DER SignedData with the fields inside, verified by openssl and read by asn1crypto (suites 01–06)', async () => {
    const bob = identity('bob');
    const fields = eerpSignedContent(eerp);
    for (const suite of SUITES) {
      const signature = await signReceipt(fields, bob.handle, suite);
      assert.equal(signature[1], 0x82, 'definite length, DER');
      const file = join(workDir(), `eerp-${suite}.p7s`);
      writeFileSync(file, signature);
      const v = openssl(['cms', '-verify', '-inform', 'DER', '-in', file, '-binary', '-certfile', bob.certPath, '-CAfile', bob.certPath]);
      assert.equal(v.status, 0, v.stderr);
      assert.ok(v.stdout.equals(fields));
      const py = python(
        [
          'import sys',
          'from asn1crypto import cms',
          "ci = cms.ContentInfo.load(open(sys.argv[1], 'rb').read(), strict=True)",
          "sd = ci['content']",
          "assert sd['encap_content_info']['content_type'].native == 'data'",
          "sys.stdout.buffer.write(sd['encap_content_info']['content'].native)",
          "sys.stderr.write(sd['signer_infos'][0]['digest_algorithm']['algorithm'].native)",
        ].join('\n'),
        [file],
      );
      assert.equal(py.status, 0, py.stderr);
      assert.ok(py.stdout.equals(fields));
      assert.equal(py.stderr, opensslNames(suite).md);
      const report = await verifyReceipt(signature, fields, [bob.certDer]);
      assert.match(report.verified.signer, /CN=bob/);
    }
  });

  it("verifies openssl's receipt signatures, and refuses other fields, other signers, tampering", async () => {
    const bob = identity('bob');
    const mallory = identity('mallory');
    const fields = nerpSignedContent({ ...eerp, creator: 'O0013000000RECIPIENT' });
    const s = openssl(['cms', '-sign', '-binary', '-nodetach', '-outform', 'DER', '-md', 'sha256', '-signer', bob.certPath, '-inkey', bob.keyPath], fields);
    assert.equal(s.status, 0, s.stderr);
    await verifyReceipt(new Uint8Array(s.stdout), fields, [bob.certDer]);
    const signature = await signReceipt(fields, [bob.handle], 4, { includeCertificates: true });
    await rejectsWith(verifyReceipt(signature, flip(fields, 3, 0x01), [bob.certDer]), 'receipt', /not the fields of this receipt/);
    await rejectsWith(verifyReceipt(signature, fields, [mallory.certDer]), 'receipt', /no signer is one of/);
    await rejectsWith(verifyReceipt(flip(signature, -1), fields, [bob.certDer]), 'receipt', /is not valid/);
    await rejectsWith(verifyReceipt(signature.subarray(0, 100), fields, [bob.certDer]), 'receipt', /truncated/);
  });

  it('hashes the transmitted file with the suite digest', async () => {
    const file = join(workDir(), 'transmitted.bin');
    writeFileSync(file, pseudoRandom(3_000_000, 4));
    for (const suite of SUITES) {
      const ours = Buffer.from(await hashFile(file, suite)).toString('hex');
      const theirs = openssl(['dgst', `-${opensslNames(suite).md}`, '-r', file]).stdout.toString().split(' ')[0];
      assert.equal(ours, theirs, `suite ${suite}`);
    }
  });
});

describe('AUCH challenge', () => {
  it('is 20 random octets in an EnvelopedData that openssl decrypts; the partner answers with them', async () => {
    const bob = identity('bob');
    for (const suite of [1, 2]) {
      const challenge = makeChallenge(bob.certDer, suite);
      assert.equal(challenge.expected.length, CHALLENGE_LENGTH);
      assert.ok(challenge.auch.length < 0xffff);
      const file = join(workDir(), `auch-${suite}.p7m`);
      writeFileSync(file, challenge.auch);
      const d = openssl(['cms', '-decrypt', '-inform', 'DER', '-in', file, '-inkey', bob.keyPath, '-binary']);
      assert.equal(d.status, 0, d.stderr);
      assert.deepEqual(new Uint8Array(d.stdout), challenge.expected);
      const answer = await answerChallenge(challenge.auch, bob.handle);
      assert.ok(challengeAnswered(challenge, answer));
      assert.ok(!challengeAnswered(challenge, flip(answer, 0)));
      assert.ok(!challengeAnswered(challenge, answer.subarray(1)));
    }
    assert.notDeepEqual(makeChallenge(bob.certDer, 2).expected, makeChallenge(bob.certDer, 2).expected);
  });

  it('answers challenges made by openssl, and refuses one for another key or of another length', async () => {
    const alice = identity('alice');
    const bob = identity('bob');
    const random = pseudoRandom(20, 77);
    const e = openssl(['cms', '-encrypt', '-binary', '-outform', 'DER', '-aes256', bob.certPath], random);
    assert.deepEqual(await answerChallenge(new Uint8Array(e.stdout), bob.handle), random);
    await rejectsWith(answerChallenge(makeChallenge(bob.certDer, 2).auch, alice.handle), 'challenge', /no RecipientInfo/);
    await rejectsWith(answerChallenge(encryptData(pseudoRandom(19), { suite: 2, recipients: [bob.certDer] }), bob.handle), 'challenge', /19 octets, not 20/);
    await rejectsWith(answerChallenge(pseudoRandom(50), bob.handle), 'challenge', /AUCH/);
  });
});
