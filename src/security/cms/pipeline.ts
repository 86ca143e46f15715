// The file services of RFC 5024 §6 as one streaming pipeline: sign → compress → encrypt before
// sending (§6.1; V-format record lengths of §6.5 are already in the input), and decrypt → decompress
// → verify on receipt. Each layer is a complete CMS ContentInfo carried as id-data in the next one
// (§6.1: "the encapsulated content type is id-data"), as `openssl cms -sign | openssl cms -encrypt`
// writes it. Memory stays bounded whatever the file size: each stage holds one chunk at a time.
//
// On receipt the content is written before the signature can be checked (it comes last): the output
// is trustworthy only when openEnvelope resolves. When `output` is a path, it is removed on failure.

import { createHash, type Hash } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PrivateKeyHandle } from '../../keystore/key-store.ts';
import type { CipherSuite } from '../cipher-suites.ts';
import { resolveSuite } from './algorithms.ts';
import type { ReaderLimits } from './ber-reader.ts';
import {
  type CompressOptions,
  type DecompressOptions,
  type DecompressReport,
  decodeCompressedData,
  encodeCompressedData,
} from './compressed-data.ts';
import { type DecryptReport, decodeEnvelopedData, encodeEnvelopedData } from './enveloped-data.ts';
import { readFileChunks, writeChunksToFile } from './file-io.ts';
import { decodeSignedData, encodeSignedData, type VerifyReport } from './signed-data.ts';
import { type CmsTransform, chain, tap } from './stream-util.ts';

export interface EnvelopeOptions {
  /** SFIDCIPH: one suite for the signature and the encryption. */
  suite: CipherSuite | number;
  sign?: { signers: readonly PrivateKeyHandle[]; includeCertificates?: boolean; signingTime?: Date };
  compress?: boolean | CompressOptions;
  encrypt?: { recipients: readonly Uint8Array[] };
  /**
   * Hash on a worker thread, in parallel with encryption and I/O (as openssl's two processes do; costs
   * a thread and ~15 MB). 'auto' (the default): for an input file of 8 MiB or more.
   */
  parallelDigest?: boolean | 'auto';
}

/** SFID fields (§5.3.3) that describe an envelope made with these options. */
export interface SecurityFields {
  /** SFIDSEC: 00 none, 01 encrypted, 02 signed, 03 encrypted and signed. */
  sfidsec: 0 | 1 | 2 | 3;
  /** SFIDCIPH: the suite when signed or encrypted, else 0 (set it anyway when a signed EERP is requested). */
  sfidciph: number;
  /** SFIDCOMP: 1 zlib. */
  sfidcomp: 0 | 1;
  /** SFIDENV: 1 CMS. */
  sfidenv: 0 | 1;
}

export function securityFields(options: EnvelopeOptions): SecurityFields {
  const encrypted = options.encrypt !== undefined;
  const signed = options.sign !== undefined;
  const compressed = options.compress !== undefined && options.compress !== false;
  return {
    sfidsec: ((encrypted ? 1 : 0) + (signed ? 2 : 0)) as SecurityFields['sfidsec'],
    sfidciph: encrypted || signed ? resolveSuite(options.suite).code : 0,
    sfidcomp: compressed ? 1 : 0,
    sfidenv: encrypted || signed || compressed ? 1 : 0,
  };
}

/** The sending stages in the order of §6.1 (none when no service is asked for). */
export function envelopeTransforms(options: EnvelopeOptions): CmsTransform[] {
  const suite = resolveSuite(options.suite);
  const stages: CmsTransform[] = [];
  if (options.sign !== undefined) {
    stages.push(encodeSignedData({ suite, parallelDigest: options.parallelDigest === true, ...options.sign }));
  }
  if (options.compress !== undefined && options.compress !== false) {
    stages.push(encodeCompressedData(options.compress === true ? {} : options.compress));
  }
  if (options.encrypt !== undefined) stages.push(encodeEnvelopedData({ suite, ...options.encrypt }));
  return stages;
}

export interface EnvelopeResult {
  fields: SecurityFields;
  /** Octets read (the original file, SFIDOSIZ). */
  originalBytes: number;
  /** Octets written (the virtual file transmitted, SFIDFSIZ). */
  envelopedBytes: number;
  /** Hash of the enveloped file with the suite's digest (EERPHSH, §5.3.13), when asked for. */
  envelopedHash: Uint8Array | undefined;
}

type Observe = (chunk: Uint8Array) => void;

const PARALLEL_DIGEST_MIN = 8 << 20;

async function digestInParallel(input: string | Readable, option: boolean | 'auto' | undefined): Promise<boolean> {
  if (typeof option === 'boolean') return option;
  if (typeof input !== 'string') return false;
  try {
    return (await stat(input)).size >= PARALLEL_DIGEST_MIN;
  } catch {
    return false; // the source reports it
  }
}

/** Runs input → stages → output; paths use the file source and sink of file-io.ts. */
async function run(
  input: string | Readable,
  output: string | Writable,
  stages: CmsTransform[],
  observeInput: Observe,
  observeOutput: Observe,
): Promise<void> {
  const all = [...(typeof input === 'string' ? [] : [tap(observeInput)]), ...stages];
  if (typeof output !== 'string') all.push(tap(observeOutput));
  const source = typeof input === 'string' ? readFileChunks(input, observeInput) : input;
  try {
    if (typeof output === 'string') {
      await pipeline(source, chain(all), (chunks: AsyncIterable<Uint8Array>) => writeChunksToFile(chunks, output, observeOutput));
    } else {
      await pipeline(source, chain(all), output);
    }
  } catch (error) {
    if (typeof output === 'string') await rm(output, { force: true });
    throw error;
  }
}

/** Signs, compresses and encrypts `input` (a path or a stream) into `output`, per `options`. */
export async function envelopeFile(
  input: string | Readable,
  output: string | Writable,
  options: EnvelopeOptions & { hashEnvelope?: boolean },
): Promise<EnvelopeResult> {
  const suite = resolveSuite(options.suite);
  let originalBytes = 0;
  let envelopedBytes = 0;
  const hash = options.hashEnvelope ? createHash(suite.hash) : undefined;
  const parallelDigest = await digestInParallel(input, options.parallelDigest);
  await run(
    input,
    output,
    envelopeTransforms({ ...options, parallelDigest }),
    (c) => {
      originalBytes += c.length;
    },
    (c) => {
      envelopedBytes += c.length;
      hash?.update(c);
    },
  );
  return { fields: securityFields(options), originalBytes, envelopedBytes, envelopedHash: digestOf(hash) };
}

export interface OpenOptions {
  /** Expect EnvelopedData (SFIDSEC 01/03) and decrypt it with this key. */
  decrypt?: { key: PrivateKeyHandle };
  /** Expect CompressedData (SFIDCOMP 1). */
  decompress?: boolean | DecompressOptions;
  /** Expect SignedData (SFIDSEC 02/03) by one of these partner certificates (DER). */
  verify?: { certificates: readonly Uint8Array[] };
  /** Hash the received virtual file with this suite's digest (EERPHSH). */
  hashSuite?: CipherSuite | number;
  limits?: Partial<ReaderLimits>;
  /** Hash on a worker thread, in parallel with decryption and I/O; 'auto' (default): files of 8 MiB or more. */
  parallelDigest?: boolean | 'auto';
}

export interface OpenResult {
  /** Octets read (the virtual file received). */
  envelopedBytes: number;
  /** Octets written (the original file). */
  contentBytes: number;
  envelopedHash: Uint8Array | undefined;
  decryption: DecryptReport | undefined;
  decompression: DecompressReport | undefined;
  /** Which signer verified, and the others. */
  signature: VerifyReport | undefined;
}

/**
 * Decrypts, decompresses and verifies `input` into `output` (§6.1 in reverse). Throws CmsError with
 * the failing layer's EFNA/NERP reason; errors of the input or output streams come through as they are.
 */
export async function openEnvelopeFile(
  input: string | Readable,
  output: string | Writable,
  options: OpenOptions,
): Promise<OpenResult> {
  let envelopedBytes = 0;
  let contentBytes = 0;
  const hash = options.hashSuite === undefined ? undefined : createHash(resolveSuite(options.hashSuite).hash);
  const stages: CmsTransform[] = [];
  const decrypter = options.decrypt && decodeEnvelopedData({ key: options.decrypt.key, limits: options.limits });
  if (decrypter) stages.push(decrypter.transform);
  const decompressor =
    options.decompress === undefined || options.decompress === false
      ? undefined
      : decodeCompressedData({ limits: options.limits, ...(options.decompress === true ? {} : options.decompress) });
  if (decompressor) stages.push(decompressor.transform);
  const parallelDigest = await digestInParallel(input, options.parallelDigest);
  const verifier =
    options.verify &&
    decodeSignedData({ certificates: options.verify.certificates, limits: options.limits, parallelDigest });
  if (verifier) stages.push(verifier.transform);
  await run(
    input,
    output,
    stages,
    (c) => {
      envelopedBytes += c.length;
      hash?.update(c);
    },
    (c) => {
      contentBytes += c.length;
    },
  );
  return {
    envelopedBytes,
    contentBytes,
    envelopedHash: digestOf(hash),
    decryption: decrypter?.report,
    decompression: decompressor?.report,
    signature: verifier?.report,
  };
}

function digestOf(hash: Hash | undefined): Uint8Array | undefined {
  return hash === undefined ? undefined : new Uint8Array(hash.digest());
}
