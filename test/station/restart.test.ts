// Restart (RFC 5024 §4.3.3, §5.3.3 SFIDREST, §5.3.4 SFPAACNT) between two real stations: a proxy
// between B and A cuts the TCP connection after N octets from B, for N spread over the file and one N
// right after the EFID (the EFPA is lost). The receiver keeps what it has (a clean socket break lets it
// checkpoint: IncomingTransfer.abandon), the sender keeps the file queued. The next session must resume
// where the receiver's durable data ends (SFPA answer count > 0 when the receiver had a checkpoint),
// send fewer octets than a whole transfer, and deliver the file exactly once, byte-identical.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFile } from 'node:fs/promises';
import { type IncomingCheckpoint, identityKey, identityOfSfid, sfidFor as sfidOfMeta, type VirtualFileIdentity } from '../../src/files/index.ts';
import { fixed, type LocalFile, sha256, sha256Of, StationPair, text, unstructured, variable, visibleFiles, writeLocal } from './harness.ts';

const CASES: Record<string, LocalFile> = {
  U: unstructured(48_000, 3),
  T: text(40_000),
  F: fixed(500, 80),
  V: variable(400, 250),
};
const CUTS = 8;

/** The restart position A's checkpoint for `identity` proves durable (0 without one). */
async function durableRestartPosition(inbox: string, identity: VirtualFileIdentity): Promise<number> {
  const path = join(inbox, '.oftp-partial', `${identityKey(identity)}.ckpt.json`);
  const saved = JSON.parse(await readFile(path, 'utf8').catch(() => 'null')) as IncomingCheckpoint | null;
  if (!saved) return 0;
  return saved.transmissionFormat === 'F' || saved.transmissionFormat === 'V' ? saved.records : Math.floor(saved.octets / 1024);
}

for (const [format, file] of Object.entries(CASES)) {
  test(`restart after a cut connection, ${format} format, ${CUTS} offsets and a lost EFPA`, async (t) => {
    // Buffer compression on for U and V, off for T and F: restart must not depend on it.
    const settings = { exchangeBufferSize: 512, credit: 4, bufferCompression: format === 'U' || format === 'V' };
    const pair = await StationPair.create(t, { a: settings, b: settings });
    const source = await writeLocal(pair.root, `source-${format}`, file);
    const expected = sha256(file.bytes);
    const enqueue = (datasetName: string) => pair.b.enqueue('a', { path: source, datasetName, format: file.format, recordLength: file.recordLength });

    // A whole transfer, for the byte count to beat and the offsets to cut at.
    await enqueue('REF');
    const ref = await pair.sendFromB();
    assert.equal(ref.b.ended.normal, true, ref.b.ended.reasonText);
    const whole = pair.proxy.connections.at(-1)!.bytesToA;
    const offsets: (number | 'EFID' | 'restart, then EFID')[] = Array.from({ length: CUTS }, (_, i) => Math.floor((whole * (i + 0.5)) / CUTS));
    offsets.push('EFID', 'restart, then EFID');

    const delivered = ['REF'];
    for (const [i, cutAt] of offsets.entries()) {
      const dataset = `CUT${i}`;
      const entry = await enqueue(dataset);
      const identity = identityOfSfid(sfidOfMeta(entry.meta, 0));
      const lostEfpa = typeof cutAt !== 'number';
      if (cutAt === 'restart, then EFID') {
        // First a cut in the middle, so the sender's checkpoint holds an accepted restart position > 0.
        pair.proxy.cutNextAfter(Math.floor(whole / 2));
        await pair.sendFromB();
        pair.logA.clear();
      }
      if (lostEfpa) pair.proxy.cutNextAfterCommand('T');
      else pair.proxy.cutNextAfter(cutAt);
      const cut = await pair.sendFromB();
      assert.equal(cut.b.ended.normal, false, `cut at ${cutAt}: the session broke`);
      assert.equal(pair.proxy.connections.at(-1)!.cut, true);
      if (cutAt === 'restart, then EFID') {
        const resumed = pair.logA.find('Inbound: receiving file')[0]?.obj.restartPosition as number;
        assert.ok(resumed > 0, 'the session whose EFPA is lost had resumed the file');
      }
      if (!lostEfpa) {
        assert.equal((await pair.b.services.spool.list('a')).length, 1, `cut at ${cutAt}: B keeps the file queued`);
        assert.deepEqual(await visibleFiles(pair.inboxA()), delivered, `cut at ${cutAt}: nothing new in A's inbox yet`);
      }
      const durable = await durableRestartPosition(pair.inboxA(), identity);

      pair.logA.clear();
      pair.logB.clear();
      const again = await pair.sendFromB();
      assert.equal(again.b.ended.normal, true, `after the cut at ${cutAt}: ${again.b.ended.reasonText}`);
      assert.equal(again.b.summary.failed, 0, `after the cut at ${cutAt}: nothing failed`);
      assert.deepEqual(await pair.b.services.spool.list('a'), [], `after the cut at ${cutAt}: B's spool is empty`);
      const answered = pair.logA.find('Inbound: receiving file')[0]?.obj;
      const resumedAt = pair.logB.find('Outbound: sending file')[0]?.obj.restartPosition as number | undefined;
      if (!lostEfpa && durable > 0) {
        assert.ok(answered && (answered.restartPosition as number) > 0, `cut at ${cutAt}: A held restart position ${durable} durably, so SFPA answers > 0 (got ${JSON.stringify(answered)})`);
        assert.equal(answered.restartPosition, durable, 'A answers what it holds durably');
        assert.equal(resumedAt, answered.restartPosition, 'B resumes where A answered');
        assert.ok(pair.proxy.connections.at(-1)!.bytesToA < whole, `cut at ${cutAt}: the resumed session sent fewer octets than a whole transfer`);
      }
      if (lostEfpa) {
        // Delivered in the cut session; the resend is taken as a duplicate and discarded (§4.3.3).
        assert.equal(answered?.duplicate, true, 'the resend after a lost EFPA is recognised as a duplicate');
        assert.equal(again.b.summary.sent, 1, 'B counts it sent (EFPA)');
        if (cutAt === 'restart, then EFID' && format !== 'V') assert.ok((answered.restartPosition as number) > 0, 'the duplicate resumes where B offers');
        assert.equal(again.b.summary.receiptsReceived, 1, 'A sends the EERP again');
      }
      delivered.push(dataset);
      delivered.sort();
      assert.deepEqual(await visibleFiles(pair.inboxA()), delivered, `after the cut at ${cutAt}: delivered exactly once`);
      assert.equal(await sha256Of(join(pair.inboxA(), dataset)), expected, `${dataset} is byte-identical`);
      assert.deepEqual(await visibleFiles(join(pair.inboxA(), '.oftp-partial')), [], 'no partial left');
    }
    for (const r of pair.b.services.history.list({ direction: 'out' })) assert.equal(r.state, 'delivered', `B: ${r.datasetName} delivered`);
    for (const r of pair.a.services.history.list({ direction: 'in' })) assert.equal(r.state, 'acknowledged', `A: ${r.datasetName} acknowledged`);
  });
}
