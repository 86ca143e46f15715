// Streaming BER output: the outer structures of a large CMS message are written with indefinite
// lengths (X.690 §8.1.3.6), and the content as a constructed OCTET STRING whose segments are the
// chunks as they come (RFC 5652 §5.2, §6.1: eContent and encryptedContent need not be DER). The
// inner DER pieces (algorithm identifiers, RecipientInfos, SignerInfos) are written whole.

import { concat, encodeLength, oid } from './der.ts';

/** End-of-contents octets closing an indefinite length. */
export const EOC = Uint8Array.of(0, 0);

/** Identifier octet and the indefinite length form. */
export function openIndefinite(tag: number): Uint8Array {
  return Uint8Array.of(tag, 0x80);
}

/** Header of one primitive OCTET STRING segment of `length` octets (the octets follow separately). */
export function segmentHeader(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(0x04, length);
  if (length < 0x100) return Uint8Array.of(0x04, 0x81, length);
  if (length < 0x10000) return Uint8Array.of(0x04, 0x82, length >>> 8, length & 0xff);
  if (length < 0x1000000) return Uint8Array.of(0x04, 0x83, length >>> 16, (length >>> 8) & 0xff, length & 0xff);
  return concat([Uint8Array.of(0x04), encodeLength(length)]);
}

/**
 * The opening of `ContentInfo { contentType, [0] EXPLICIT <SEQUENCE ...` with indefinite lengths:
 * three EOCs close it (the content SEQUENCE, the [0], the ContentInfo).
 */
export function openContentInfo(contentType: string): Uint8Array {
  return concat([openIndefinite(0x30), oid(contentType), openIndefinite(0xa0), openIndefinite(0x30)]);
}

export const CLOSE_CONTENT_INFO = concat([EOC, EOC, EOC]);

/**
 * Frames chunks as OCTET STRING segments: for each non-empty chunk, its header then the chunk itself
 * (not copied). Segments are as large as the chunks; nothing is buffered here.
 */
export function* segments(chunk: Uint8Array): Generator<Uint8Array> {
  if (chunk.length === 0) return;
  yield segmentHeader(chunk.length);
  yield chunk;
}
