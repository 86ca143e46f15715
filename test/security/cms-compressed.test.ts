// CompressedData (RFC 3274): Debian's openssl has no zlib, so our output is checked by Debian's
// python3-asn1crypto (parse and decompress) and printed by `openssl cms -cmsout -print`; we
// decompress what asn1crypto builds; a broken zlib stream fails with EFNA 23 / NERP 32.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  compressData,
  decodeCompressedData,
  decompressData,
  encodeCompressedData,
} from '../../src/security/cms/compressed-data.ts';
import { CmsError } from '../../src/security/cms/errors.ts';
import { collect } from '../../src/security/cms/stream-util.ts';
import { flip, indexOf, pieces, pseudoRandom, removeWorkDir, textLike, workDir } from './helpers/cms-fixtures.ts';
import { openssl, python } from './helpers/identity.ts';

after(removeWorkDir);

const ASN1CRYPTO_DECOMPRESS = `
import sys
from asn1crypto import cms
ci = cms.ContentInfo.load(open(sys.argv[1], 'rb').read(), strict=True)
assert ci['content_type'].native == 'compressed_data', ci['content_type'].native
cd = ci['content']
assert cd['version'].native == 'v0'
assert cd['compression_algorithm']['algorithm'].native == 'zlib'
assert cd['encap_content_info']['content_type'].native == 'data'
sys.stdout.buffer.write(cd.decompressed)
`;

const ASN1CRYPTO_BUILD = `
import sys, zlib
from asn1crypto import cms
data = sys.stdin.buffer.read()
ci = cms.ContentInfo({
  'content_type': 'compressed_data',
  'content': cms.CompressedData({
    'version': 'v0',
    'compression_algorithm': {'algorithm': 'zlib'},
    'encap_content_info': {'content_type': 'data', 'content': zlib.compress(data, 9)},
  }),
})
sys.stdout.buffer.write(ci.dump())
`;

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CmsError, String(e));
    assert.equal(e.failure, 'decompression');
    assert.equal(e.efnaReason, 23);
    assert.equal(e.nerpReason, 32);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('CompressedData', () => {
  const text = textLike(300_000);

  it('is parsed and decompressed by asn1crypto, streamed (BER) and in memory (DER), and printed by openssl', async () => {
    const streamed = await collect(encodeCompressedData()(pieces(text, [4096, 3])));
    assert.ok(streamed.length < text.length / 2, `compressed to ${streamed.length}`);
    for (const [form, message] of [
      ['BER', streamed],
      ['DER', await compressData(text)],
    ] as const) {
      const file = join(workDir(), `compressed-${form}.p7z`);
      writeFileSync(file, message);
      const py = python(ASN1CRYPTO_DECOMPRESS, [file]);
      assert.equal(py.status, 0, `${form}: ${py.stderr}`);
      assert.ok(py.stdout.equals(text), form);
      const printed = openssl(['cms', '-cmsout', '-print', '-inform', 'DER', '-in', file]);
      assert.equal(printed.status, 0, printed.stderr);
      const out = printed.stdout.toString();
      assert.match(out, /contentType: id-smime-ct-compressedData \(1\.2\.840\.113549\.1\.9\.16\.1\.9\)/);
      assert.match(out, /algorithm: zlib compression \(1\.2\.840\.113549\.1\.9\.16\.3\.8\)\s+parameter: <ABSENT>/);
      assert.match(out, /eContentType: pkcs7-data/);
      assert.match(out, /0000 - 78 /); // a zlib header (RFC 1950), not raw deflate
    }
  });

  it("decompresses asn1crypto's CompressedData", async () => {
    const built = python(ASN1CRYPTO_BUILD, [], text);
    assert.equal(built.status, 0, built.stderr);
    const decoder = decodeCompressedData();
    const out = await collect(decoder.transform(pieces(new Uint8Array(built.stdout), [17, 1000])));
    assert.deepEqual(out, text);
    assert.equal(decoder.report?.contentLength, text.length);
    assert.ok(decoder.report!.compressedLength > 0 && decoder.report!.compressedLength < text.length / 2);
  });

  it('round-trips incompressible and empty content', async () => {
    for (const content of [pseudoRandom(100_000), new Uint8Array(0)]) {
      const message = await collect(encodeCompressedData({ level: 1 })(pieces(content, [5000])));
      assert.deepEqual(await decompressData(message), content);
    }
  });

  it('fails with EFNA 23 / NERP 32 on a broken or truncated zlib stream, another algorithm, or over the limit', async () => {
    const message = await compressData(text);
    const zlibAt = indexOf(message, Uint8Array.of(0x78, 0x9c));
    await rejectsWith(decompressData(flip(message, zlibAt + 1, 0xff)), /zlib/);
    await rejectsWith(decompressData(flip(message, zlibAt + 200, 0x55)), /zlib/);
    await rejectsWith(decompressData(flip(message, -1, 0x01)), /zlib/); // the Adler-32 check
    await rejectsWith(decompressData(message.subarray(0, message.length - 10)), /truncated|zlib/);
    const oidAt = indexOf(message, Uint8Array.of(0x03, 0x08)); // last arcs of id-alg-zlibCompress
    await rejectsWith(decompressData(flip(message, oidAt + 1, 0x01)), /compression algorithm .* is not zlib/);
    await rejectsWith(decompressData(message, { maxBytes: 1000 }), /larger than the limit of 1000/);
    await rejectsWith(decompressData(pseudoRandom(100)), /expected ContentInfo|contentType|truncated|not/);
  });
});
