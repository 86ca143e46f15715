// DigestInfo (PKCS #1 v2.2 §9.2, EMSA-PKCS1-v1_5 step 2) for tokens without the combined
// CKM_SHAxxx_RSA_PKCS mechanisms: hash here, then CKM_RSA_PKCS pads and signs DigestInfo.
import { createHash } from 'node:crypto';
import type { HashAlgorithm } from './key-store.ts';

/** DER of DigestInfo up to the digest octets: SEQUENCE { AlgorithmIdentifier { oid, NULL }, OCTET STRING (n) }. */
const PREFIX: Readonly<Record<HashAlgorithm, Buffer>> = {
  sha1: Buffer.from('3021300906052b0e03021a05000414', 'hex'),
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

/** DER DigestInfo of `data` hashed with `hash`. */
export function digestInfo(hash: HashAlgorithm, data: Uint8Array): Buffer {
  const prefix = PREFIX[hash];
  if (prefix === undefined) throw new TypeError(`unsupported hash ${String(hash)}`);
  return Buffer.concat([prefix, createHash(hash).update(data).digest()]);
}
