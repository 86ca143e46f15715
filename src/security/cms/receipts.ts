// Signed receipts (RFC 5024 §5.3.13 EERPSIG, §5.3.14 NERPSIG): a CMS SignedData whose encapsulated
// content (id-data) is the concatenation of the receipt's fields as on the wire, padding included:
//   EERP: EERPDSN EERPDATE EERPTIME EERPDEST EERPORIG EERPHSH
//   NERP: NERPDSN NERPDATE NERPTIME NERPDEST NERPORIG NERPCREA NERPHSH
// The content is in the envelope ("the original data, not just the signature"), DER-encoded. The
// suite is the file's SFIDCIPH. The hash (EERPHSH/NERPHSH) is of the transmitted virtual file.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { LocalUsageError } from '../../errors.ts';
import type { PrivateKeyHandle } from '../../keystore/key-store.ts';
import { writeAlphanumeric } from '../../protocol/fields.ts';
import type { CipherSuite } from '../cipher-suites.ts';
import { resolveSuite } from './algorithms.ts';
import { concat, equalBytes } from './der.ts';
import { CmsError } from './errors.ts';
import { signData, type VerifyReport, verifySignedData } from './signed-data.ts';

export interface EerpSignedFields {
  datasetName: string;
  /** 'CCYYMMDD' */
  date: string;
  /** 'HHMMSScccc' */
  time: string;
  destination: string;
  originator: string;
  fileHash: Uint8Array;
}

export interface NerpSignedFields extends EerpSignedFields {
  creator: string;
}

function alphanumeric(value: string, size: number, name: string): Uint8Array {
  if (value.length > size || !/^[\x20-\x7e]*$/.test(value)) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `${name} does not fit X(${size})`);
  }
  const out = new Uint8Array(size);
  writeAlphanumeric(out, 0, size, value);
  return out;
}

function numeric(value: string, size: number, name: string): Uint8Array {
  if (!new RegExp(`^[0-9]{${size}}$`).test(value)) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `${name} is not ${size} digits`);
  }
  return new TextEncoder().encode(value);
}

/** The octets an EERP signature signs (§5.3.13). */
export function eerpSignedContent(f: EerpSignedFields): Uint8Array {
  return concat([
    alphanumeric(f.datasetName, 26, 'EERPDSN'),
    numeric(f.date, 8, 'EERPDATE'),
    numeric(f.time, 10, 'EERPTIME'),
    alphanumeric(f.destination, 25, 'EERPDEST'),
    alphanumeric(f.originator, 25, 'EERPORIG'),
    f.fileHash,
  ]);
}

/** The octets a NERP signature signs (§5.3.14). */
export function nerpSignedContent(f: NerpSignedFields): Uint8Array {
  return concat([
    alphanumeric(f.datasetName, 26, 'NERPDSN'),
    numeric(f.date, 8, 'NERPDATE'),
    numeric(f.time, 10, 'NERPTIME'),
    alphanumeric(f.destination, 25, 'NERPDEST'),
    alphanumeric(f.originator, 25, 'NERPORIG'),
    alphanumeric(f.creator, 25, 'NERPCREA'),
    f.fileHash,
  ]);
}

/** EERPSIG / NERPSIG: DER SignedData over `fields` (from eerpSignedContent / nerpSignedContent). */
export async function signReceipt(
  fields: Uint8Array,
  signer: PrivateKeyHandle | readonly PrivateKeyHandle[],
  suite: CipherSuite | number,
  options: { includeCertificates?: boolean; signingTime?: Date } = {},
): Promise<Uint8Array> {
  const signers = Array.isArray(signer) ? (signer as readonly PrivateKeyHandle[]) : [signer as PrivateKeyHandle];
  const signature = await signData(fields, { suite, signers, ...options });
  if (signature.length > 0xffff) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `receipt signature of ${signature.length} octets does not fit U(2)`);
  }
  return signature;
}

/**
 * Checks EERPSIG / NERPSIG: a SignedData by one of `certificates` whose content is exactly
 * `expectedFields` (the fields of the receipt as received). CmsError('receipt') otherwise.
 */
export async function verifyReceipt(
  signature: Uint8Array,
  expectedFields: Uint8Array,
  certificates: readonly Uint8Array[],
): Promise<VerifyReport> {
  let result: Awaited<ReturnType<typeof verifySignedData>>;
  try {
    result = await verifySignedData(signature, { certificates });
  } catch (error) {
    if (error instanceof CmsError) throw new CmsError('receipt', `receipt signature: ${error.message}`, { cause: error });
    throw error;
  }
  if (!equalBytes(result.content, expectedFields)) {
    throw new CmsError('receipt', 'receipt signature: the signed content is not the fields of this receipt');
  }
  return result.report;
}

/** Incremental hash of a virtual file with the suite's digest (EERPHSH/NERPHSH). */
export async function hashStream(source: AsyncIterable<Uint8Array>, suite: CipherSuite | number): Promise<Uint8Array> {
  const hash = createHash(resolveSuite(suite).hash);
  for await (const chunk of source) hash.update(chunk);
  return new Uint8Array(hash.digest());
}

export function hashFile(path: string, suite: CipherSuite | number): Promise<Uint8Array> {
  return hashStream(createReadStream(path, { highWaterMark: 1 << 20 }), suite);
}
