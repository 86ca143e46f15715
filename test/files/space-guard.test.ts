import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkIncomingSpace, decideIncomingSpace, spaceFigures } from '../../src/files/space-guard.ts';
import { FileReason } from '../../src/protocol/reason-codes.ts';
import { tempDir } from './helpers.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

test('enough space: accepted', () => {
  assert.deepEqual(decideIncomingSpace(1024, { availableBytes: 10 * MiB, totalBytes: GiB }, { reserveBytes: 5 * MiB }), {
    accept: true,
  });
});

test('disk (nearly) full: SFNA 06, retry Y, "insufficient space"', () => {
  const decision = decideIncomingSpace(6 * 1024, { availableBytes: 10 * MiB, totalBytes: GiB }, { reserveBytes: 5 * MiB });
  assert.deepEqual(decision, { accept: false, reason: FileReason.fileTooBig, retry: true, text: 'insufficient space' });
  assert.equal(FileReason.fileTooBig, 6);
});

test('a resumed partial only needs the rest', () => {
  const figures = { availableBytes: 10 * MiB, totalBytes: GiB };
  assert.deepEqual(decideIncomingSpace(10 * 1024, figures, { reserveBytes: 5 * MiB }, 6 * MiB), { accept: true });
});

test('over the partner limit, or bigger than the whole disk: SFNA 06, retry N', () => {
  const figures = { availableBytes: 100 * GiB, totalBytes: 200 * GiB };
  const limit = decideIncomingSpace(2049, figures, { reserveBytes: 0, maxFileSizeBlocks: 2048 });
  assert.equal(limit.accept, false);
  assert.ok(!limit.accept && limit.reason === 6 && limit.retry === false && /limit of 2048K/.test(limit.text));
  const huge = decideIncomingSpace(300 * 1024 * 1024, figures, { reserveBytes: GiB });
  assert.ok(!huge.accept && huge.reason === 6 && huge.retry === false && /storage capacity/.test(huge.text));
});

test('simulated statfs figures drive the check', async () => {
  const statfs = async () => ({ bavail: 100n, blocks: 1_000_000n, bsize: 4096n }); // 400 KiB free
  const refused = await checkIncomingSpace('/inbox', 500, { reserveBytes: 0 }, { statfs });
  assert.deepEqual(refused, { accept: false, reason: 6, retry: true, text: 'insufficient space' });
  assert.deepEqual(await checkIncomingSpace('/inbox', 300, { reserveBytes: 0 }, { statfs }), { accept: true });
  await assert.rejects(
    checkIncomingSpace('/inbox', 1, { reserveBytes: 0 }, { statfs: async () => Promise.reject(new Error('EIO')) }),
    { code: 'OFTP_ERR_IO' },
  );
});

test('real statfs on a temp directory', async (t) => {
  const dir = await tempDir(t);
  const figures = await spaceFigures(dir);
  assert.ok(figures.totalBytes > 0 && figures.availableBytes >= 0 && figures.availableBytes <= figures.totalBytes);
  if (figures.availableBytes >= 1024 * 1024) {
    assert.deepEqual(await checkIncomingSpace(dir, 1, { reserveBytes: 0 }), { accept: true });
  }
  const decision = await checkIncomingSpace(dir, Math.ceil(figures.availableBytes / 1024) + 1, { reserveBytes: 0 });
  assert.equal(decision.accept, false);
});
