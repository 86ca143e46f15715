// File services for a file we queue (RFC 5024 §6): the local file is signed, compressed and encrypted
// in one streaming pass BEFORE it is spooled (§6.3 recommends securing the file before the session),
// so a session only sends an opaque U file and the spool holds nothing in clear when encryption is on.
// Order (§6.1): the V record lengths of §6.5 first — our local V layout is already that form (each
// record preceded by its 2-octet length, src/protocol/v-format.ts), so it is checked, not converted —
// then sign (our signing key, the suite's hash), compress (zlib), encrypt (the partner's encryption
// certificate). The original file's structure (F/V/T) is checked on the way, as the spool would check
// an unsecured one; memory stays bounded (one chunk per stage).
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { PrivateKeyHandle } from '../keystore/key-store.ts';
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { blocksFor } from '../files/index.ts';
import { type ContentSummary, createContentValidator } from '../files/record-formats.ts';
import { envelopeFile } from '../security/cms/index.ts';

export interface SealRequest {
  path: string;
  format: VirtualFileFormat;
  /** F: required; V: the longest record allowed (default: the longest found). */
  recordLength?: number;
  cipherSuite: number;
  /** Our signing key, or our current and next ones during our rollover (two SignerInfos, §6.2). */
  sign?: PrivateKeyHandle | readonly PrivateKeyHandle[];
  /** The partner's encryption certificate (DER). */
  encryptFor?: Uint8Array;
  compress: boolean;
  /** Hash the enveloped file with the suite's digest (for a signed EERP). */
  hashForReceipt: boolean;
}

export interface Sealed {
  /** The enveloped file, in `workDir`: spool it, then remove it. */
  path: string;
  /** SFIDSEC / SFIDCIPH / SFIDCOMP / SFIDENV and SFIDOSIZ (1K blocks). */
  securityLevel: number;
  cipherSuite: number;
  compression: number;
  envelope: number;
  originalFileSize: number;
  /** SFIDLRECL of the original file (V: the longest record when none was given). */
  maxRecordSize: number;
  /** EERPHSH to expect, hex; when asked for. */
  receiptHash: string | undefined;
  originalBytes: number;
  envelopedBytes: number;
}

function signersOf(sign: PrivateKeyHandle | readonly PrivateKeyHandle[]): readonly PrivateKeyHandle[] {
  return 'sign' in sign ? [sign as PrivateKeyHandle] : (sign as readonly PrivateKeyHandle[]);
}

/** Files of this size and more hash on a worker thread, beside encryption and I/O. */
const PARALLEL_DIGEST_MIN = 8 << 20;

/** Envelopes `request.path` into a new file in `workDir` (created there, removed on failure). */
export async function sealFile(request: SealRequest, workDir: string): Promise<Sealed> {
  const out = join(workDir, `${randomBytes(8).toString('hex')}.cms`);
  const maxRecordSize = request.format === 'F' || request.format === 'V' ? (request.recordLength ?? 0) : 0;
  const validator = createContentValidator(request.format, maxRecordSize);
  let summary: ContentSummary | undefined;
  async function* checked(): AsyncGenerator<Uint8Array> {
    for await (const chunk of createReadStream(request.path, { highWaterMark: 256 << 10 })) {
      validator.update(chunk as Buffer);
      yield chunk as Buffer;
    }
    summary = validator.finish();
  }
  const size = (await stat(request.path)).size;
  try {
    const result = await envelopeFile(Readable.from(checked()), out, {
      suite: request.cipherSuite,
      sign: request.sign ? { signers: signersOf(request.sign) } : undefined,
      compress: request.compress,
      encrypt: request.encryptFor ? { recipients: [request.encryptFor] } : undefined,
      hashEnvelope: request.hashForReceipt,
      parallelDigest: size >= PARALLEL_DIGEST_MIN,
    });
    const fh = await open(out, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const f = result.fields;
    const longest = summary?.longestRecord ?? 0;
    return {
      path: out,
      securityLevel: f.sfidsec,
      cipherSuite: request.cipherSuite,
      compression: f.sfidcomp,
      envelope: f.sfidenv,
      originalFileSize: blocksFor(result.originalBytes),
      maxRecordSize: request.format === 'V' && maxRecordSize === 0 ? Math.max(1, longest) : maxRecordSize,
      receiptHash: result.envelopedHash ? Buffer.from(result.envelopedHash).toString('hex') : undefined,
      originalBytes: result.originalBytes,
      envelopedBytes: result.envelopedBytes,
    };
  } catch (err) {
    await rm(out, { force: true });
    throw err;
  }
}
