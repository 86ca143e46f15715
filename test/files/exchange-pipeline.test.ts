// The file layer wired to the data exchange buffer codec (RFC 5024 §7), as the session will use it:
// spool -> SpoolReader -> ExchangeBufferEncoder -> DATA payloads -> ExchangeBufferDecoder -> IncomingFile,
// with a crash after a checkpoint and a restart from the receiver's answer, for U, T, F and V.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256File } from '../../src/files/file-digest.ts';
import { defaultPartialDir, type IncomingFile, openIncoming } from '../../src/files/incoming.ts';
import { Spool } from '../../src/files/spool.ts';
import { type SpoolEntry, sfidFor } from '../../src/files/spool-entry.ts';
import { openSpoolReader } from '../../src/files/spool-reader.ts';
import type { VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { ExchangeBufferDecoder } from '../../src/protocol/exchange-buffer-decoder.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import { fixedContent, IDENTITY, sha256Hex, tempDir, textContent, variableRecords, writeSource } from './helpers.ts';

const EXCHANGE_BUFFER_SIZE = 4096;

/**
 * One session's transfer from `entry` into `file`, from the file's restart position: checkpoints after
 * `checkpointAfter` DATA buffers, and "crashes" (stops) after `stopAfter`.
 */
async function transfer(
  entry: SpoolEntry,
  file: IncomingFile,
  { checkpointAfter = Number.POSITIVE_INFINITY, stopAfter = Number.POSITIVE_INFINITY } = {},
) {
  const { transmissionFormat: format, maxRecordSize } = entry.meta;
  const records = format === 'F' || format === 'V';
  const reader = await openSpoolReader(entry, file.restartPosition);
  const encoder = new ExchangeBufferEncoder({
    format,
    exchangeBufferSize: EXCHANGE_BUFFER_SIZE,
    bufferCompression: true,
    maxRecordSize: records ? maxRecordSize : 0,
    startUnitCount: reader.start.units,
    startRecordCount: reader.start.records,
  });
  const received = file.progress();
  const decoder = new ExchangeBufferDecoder({
    format,
    exchangeBufferSize: EXCHANGE_BUFFER_SIZE,
    maxRecordSize: records ? maxRecordSize : 0,
    startUnitCount: received.units,
    startRecordCount: received.records,
  });
  const items = reader[Symbol.asyncIterator]();
  let buffers = 0;
  for (;;) {
    const buffer = encoder.pull();
    if (buffer) {
      if (buffers === stopAfter) {
        await items.return?.();
        return { complete: false, encoder, decoder };
      }
      const { data, recordEnds } = decoder.decode(buffer.subarray(1)); // after the 'D'
      await file.writeDecoded(data, recordEnds);
      if (++buffers === checkpointAfter) await file.checkpoint();
    } else if (encoder.done) {
      decoder.end();
      return { complete: true, encoder, decoder };
    } else {
      const next = await items.next();
      if (next.done) encoder.end();
      else encoder.write(next.value, 0, next.value.length, reader.recordMode);
    }
  }
}

/** DATA buffers the whole file takes (buffer compression makes this data dependent). */
async function countBuffers(entry: SpoolEntry): Promise<number> {
  const { transmissionFormat: format, maxRecordSize } = entry.meta;
  const reader = await openSpoolReader(entry, 0);
  const encoder = new ExchangeBufferEncoder({
    format,
    exchangeBufferSize: EXCHANGE_BUFFER_SIZE,
    bufferCompression: true,
    maxRecordSize: reader.recordMode ? maxRecordSize : 0,
  });
  const items = reader[Symbol.asyncIterator]();
  let count = 0;
  for (;;) {
    if (encoder.pull()) count++;
    else if (encoder.done) return count;
    else {
      const next = await items.next();
      if (next.done) encoder.end();
      else encoder.write(next.value, 0, next.value.length, reader.recordMode);
    }
  }
}

const samples: { format: VirtualFileFormat; data: Buffer; maxRecordSize?: number; securityLevel?: number }[] = [
  { format: 'U', data: Buffer.concat([randomBytes(40_000), Buffer.alloc(50_000, 0x20), randomBytes(30_000)]) },
  { format: 'T', data: textContent(2000) },
  { format: 'F', data: fixedContent(3000, 120), maxRecordSize: 120 },
  { format: 'V', data: variableRecords(1500, 600).local, maxRecordSize: 600 },
  { format: 'V', data: Buffer.from('opaque CMS octets '.repeat(10_000)), maxRecordSize: 600, securityLevel: 2 },
];

for (const sample of samples) {
  const label = `${sample.format}${sample.securityLevel ? ' signed (travels as U)' : ''}`;
  test(`${label}: encoder -> decoder -> incoming file, crash, restart, identical file`, async (t) => {
    const dir = await tempDir(t);
    const spool = await Spool.open(join(dir, 'spool'));
    const entry = await spool.enqueue(await writeSource(dir, 'src', sample.data), {
      partner: 'acme',
      ...IDENTITY,
      format: sample.format,
      maxRecordSize: sample.maxRecordSize,
      securityLevel: sample.securityLevel,
    });
    const inbox = join(dir, 'inbox');
    const partials = defaultPartialDir(inbox);

    const first = await openIncoming(partials, entry.meta, sfidFor(entry.meta, 0));
    const buffers = await countBuffers(entry);
    assert.ok(buffers >= 6, `${buffers} buffers`);
    const session1 = await transfer(entry, first, { checkpointAfter: Math.ceil(buffers / 3), stopAfter: Math.ceil(buffers / 2) });
    assert.equal(session1.complete, false);
    const durable = first.progress().durableRestartPosition;
    assert.ok(durable > 0 && first.progress().octets > 0);
    await first.close(); // crash: what came after the checkpoint is not trusted

    const second = await openIncoming(partials, entry.meta, sfidFor(entry.meta, 1e9));
    assert.equal(second.restartPosition, durable);
    const { complete, encoder, decoder } = await transfer(entry, second);
    assert.ok(complete);
    assert.equal(decoder.unitCount, encoder.unitCount);
    assert.equal(encoder.unitCount, entry.meta.unitCount);
    assert.equal(encoder.recordCount, entry.meta.recordCount);
    assert.deepEqual(second.verifyCounts(encoder.recordCount, encoder.unitCount), { ok: true });
    const { path } = await second.commit(inbox, 'RECEIVED');
    assert.equal(Buffer.from(await sha256File(path)).toString('hex'), sha256Hex(sample.data));
  });
}
