// Typed failures of the CMS file services (RFC 5024 §6) and of the CMS pieces of receipts and secure
// authentication. Each failure names the layer that detected it, so the receiver answers with the
// right reason: a bad signature is EFNA 21 / NERP 31, a broken compression EFNA 23 / NERP 32, a failed
// decryption EFNA 22 / NERP 33 (§5.3.10, §5.3.14). Errors of the input stream itself (an I/O error)
// are passed through unchanged by every layer; our own misuse is a LocalUsageError, not a CmsError.

import { OftpError } from '../../errors.ts';
import { FileReason, NerpReason } from '../../protocol/reason-codes.ts';

export type CmsFailure =
  /** SignedData: malformed, content or signature tampered, no trusted signer (EFNA 21, NERP 31). */
  | 'signature'
  /** CompressedData: malformed, unknown algorithm, broken zlib stream, output limit (EFNA 23, NERP 32). */
  | 'decompression'
  /** EnvelopedData: malformed, no RecipientInfo for our key, key or content decryption (EFNA 22, NERP 33). */
  | 'decryption'
  /** EERP/NERP signature (§5.3.13–14) that does not verify or does not sign the receipt's fields. */
  | 'receipt'
  /** AUCH challenge (§5.3.17) that cannot be decrypted or is not 20 octets. */
  | 'challenge';

const REASONS: Record<CmsFailure, { efna: number; nerp: number } | undefined> = {
  signature: { efna: FileReason.invalidSignature, nerp: NerpReason.signatureNotValid },
  decompression: { efna: FileReason.decompressionFailure, nerp: NerpReason.decompressionFailed },
  decryption: { efna: FileReason.decryptionFailure, nerp: NerpReason.decryptionFailed },
  receipt: undefined,
  challenge: undefined,
};

export class CmsError extends OftpError {
  readonly failure: CmsFailure;
  /** EFNA reason (§5.3.10) for a file that fails this way; undefined for a receipt or a challenge. */
  readonly efnaReason: number | undefined;
  /** NERP reason (§5.3.14) for a file that fails this way; undefined for a receipt or a challenge. */
  readonly nerpReason: number | undefined;
  constructor(failure: CmsFailure, message: string, options?: { cause?: unknown }) {
    super('OFTP_ERR_CMS', message, options);
    this.failure = failure;
    this.efnaReason = REASONS[failure]?.efna;
    this.nerpReason = REASONS[failure]?.nerp;
  }
}

/** A thrower for one layer: `fail('no eContent')` throws CmsError(failure, `${what}: no eContent`). */
export type Fail = (message: string, cause?: unknown) => never;

export function failer(failure: CmsFailure, what: string): Fail {
  return (message, cause) => {
    throw new CmsError(failure, `${what}: ${message}`, cause === undefined ? undefined : { cause });
  };
}
