// Cipher suite (RFC 5024 §10.2) to CMS algorithms, and the algorithms accepted on receipt. We send
// exactly what the agreed suite says; on receipt we also accept what a partner may reasonably send
// (SHA-384, AES-128/192, sha*WithRSAEncryption as signature algorithm) and report it.

import { LocalUsageError } from '../../errors.ts';
import { type CipherSuite, cipherSuite } from '../cipher-suites.ts';
import { OID } from './oids.ts';

/** node:crypto digest names we hash with. */
export type DigestName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export const DIGEST_OID: Readonly<Record<DigestName, string>> = {
  sha1: OID.sha1,
  sha256: OID.sha256,
  sha384: OID.sha384,
  sha512: OID.sha512,
};

const DIGEST_BY_OID = new Map<string, DigestName>(
  Object.entries(DIGEST_OID).map(([name, oid]) => [oid, name as DigestName]),
);

export function digestByOid(oid: string): DigestName | undefined {
  return DIGEST_BY_OID.get(oid);
}

/** Signature algorithm OIDs of RSASSA-PKCS1-v1_5: rsaEncryption (any digest) or one bound to a digest. */
const RSA_SIGNATURE: ReadonlyMap<string, DigestName | 'any'> = new Map<string, DigestName | 'any'>([
  [OID.rsaEncryption, 'any'],
  [OID.sha1WithRSAEncryption, 'sha1'],
  [OID.sha256WithRSAEncryption, 'sha256'],
  [OID.sha384WithRSAEncryption, 'sha384'],
  [OID.sha512WithRSAEncryption, 'sha512'],
]);

export function rsaSignatureDigest(oid: string): DigestName | 'any' | undefined {
  return RSA_SIGNATURE.get(oid);
}

export interface ContentCipher {
  /** node:crypto name. */
  name: 'des-ede3-cbc' | 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';
  oid: string;
  keyLength: number;
  ivLength: number;
}

const CONTENT_CIPHERS: readonly ContentCipher[] = [
  { name: 'des-ede3-cbc', oid: OID.desEde3Cbc, keyLength: 24, ivLength: 8 },
  { name: 'aes-128-cbc', oid: OID.aes128Cbc, keyLength: 16, ivLength: 16 },
  { name: 'aes-192-cbc', oid: OID.aes192Cbc, keyLength: 24, ivLength: 16 },
  { name: 'aes-256-cbc', oid: OID.aes256Cbc, keyLength: 32, ivLength: 16 },
];

export function contentCipherByOid(oid: string): ContentCipher | undefined {
  return CONTENT_CIPHERS.find((c) => c.oid === oid);
}

export function contentCipherByName(name: ContentCipher['name']): ContentCipher {
  return CONTENT_CIPHERS.find((c) => c.name === name)!;
}

/** The suite for a code or a suite object; an unknown code is our own misuse (SFIDCIPH is checked before). */
export function resolveSuite(suite: CipherSuite | number): CipherSuite {
  const resolved = typeof suite === 'number' ? cipherSuite(suite) : suite;
  if (resolved === undefined) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `unknown cipher suite ${String(suite)}`);
  }
  return resolved;
}
