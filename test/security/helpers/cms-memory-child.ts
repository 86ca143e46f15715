// Child process of test/security/cms-memory.test.ts: runs `MiB` mebibytes through sign → compress →
// encrypt and back, sampling the resident set, and prints one JSON line. It runs outside node:test
// because the test runner tracks every promise (async hooks), which itself inflates the heap.
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { envelopeFile, openEnvelopeFile } from '../../../src/security/cms/pipeline.ts';
import { identity, removeWorkDir, textLike, workDir } from './cms-fixtures.ts';

const MiB = 1 << 20;
const total = Number(process.argv[2] ?? 64) * MiB;
const block = textLike(MiB, 21);

/** `size` octets of text-like data in 16 KiB chunks (views of one read-only block). */
function source(size: number): Readable {
  return Readable.from(
    (function* () {
      for (let at = 0; at < size; at += 1 << 14) {
        const from = at % MiB;
        yield block.subarray(from, from + Math.min(1 << 14, size - at));
      }
    })(),
  );
}

function hashingSink(hash: ReturnType<typeof createHash>): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback();
    },
  });
}

const alice = identity('alice');
const bob = identity('bob');
const file = `${workDir()}/big.cms`;
const parallelDigest = process.argv[3] !== 'inline';
const options = { suite: 4, sign: { signers: [alice.handle] }, compress: { level: 1 }, encrypt: { recipients: [bob.certDer] }, parallelDigest };
const open = { decrypt: { key: bob.handle }, decompress: true, verify: { certificates: [alice.certDer] }, parallelDigest };

async function roundTrip(size: number): Promise<{ digest: string; envelopedBytes: number }> {
  const sent = await envelopeFile(source(size), file, options);
  const hash = createHash('sha256');
  const got = await openEnvelopeFile(file, hashingSink(hash), open);
  if (got.contentBytes !== size || got.signature === undefined) throw new Error('incomplete round trip');
  return { digest: hash.digest('hex'), envelopedBytes: sent.envelopedBytes };
}

await roundTrip(4 * MiB); // warm up: code, JIT, zlib and crypto state
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);
const result = await roundTrip(total);
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
const expected = createHash('sha256');
for await (const chunk of source(total)) expected.update(chunk as Buffer);
removeWorkDir();
console.log(
  JSON.stringify({
    bytes: total,
    envelopedBytes: result.envelopedBytes,
    same: result.digest === expected.digest('hex'),
    baselineMb: baseline / 1e6,
    peakMb: peak / 1e6,
    growthMb: (peak - baseline) / 1e6,
  }),
);
