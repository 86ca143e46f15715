// CMS for OFTP2 (RFC 5024 §6 file services, §5.3.13–14 signed receipts, §5.3.17 secure
// authentication): streaming encoders and decoders with bounded memory.

export { type Challenge, CHALLENGE_LENGTH, answerChallenge, challengeAnswered, makeChallenge } from './challenge.ts';
export {
  type CompressedDataDecoder,
  type CompressOptions,
  compressData,
  type DecompressOptions,
  type DecompressReport,
  decodeCompressedData,
  decompressData,
  encodeCompressedData,
} from './compressed-data.ts';
export {
  type DecryptOptions,
  type DecryptReport,
  decodeEnvelopedData,
  decryptData,
  type EncryptOptions,
  type EnvelopedDataDecoder,
  encodeEnvelopedData,
  encryptData,
} from './enveloped-data.ts';
export { CmsError, type CmsFailure } from './errors.ts';
export {
  type EnvelopeOptions,
  type EnvelopeResult,
  envelopeFile,
  envelopeTransforms,
  type OpenOptions,
  type OpenResult,
  openEnvelopeFile,
  type SecurityFields,
  securityFields,
} from './pipeline.ts';
export {
  type EerpSignedFields,
  eerpSignedContent,
  hashFile,
  hashStream,
  type NerpSignedFields,
  nerpSignedContent,
  signReceipt,
  verifyReceipt,
} from './receipts.ts';
export {
  decodeSignedData,
  encodeSignedData,
  type SignedDataDecoder,
  type SignerResult,
  type SignOptions,
  signData,
  type VerifyOptions,
  type VerifyReport,
  verifySignedData,
} from './signed-data.ts';
export { type CmsTransform, chain, collect, fromBytes } from './stream-util.ts';
