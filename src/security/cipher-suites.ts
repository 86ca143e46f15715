// Cipher suites (RFC 5024 §10.2; 03–06 from ODETTE's extended list, §10.3). SFIDCIPH names one; it
// chooses the content encryption, the key transport and the hash for signatures and receipts.
//
// 01 and 02 are RFC 5024 §10.2 (mandatory). 03–06 are ODETTE International's "OFTP2: List of Cipher
// suites" (doc ref OP09, version 1.0, January 2015), which lists:
//   01 3DES_EDE_CBC_3KEY RSA_PKCS1_15 SHA-1      02 AES_256_CBC RSA_PKCS1_15 SHA-1
//   03 3DES_EDE_CBC_3KEY RSA_PKCS1_15 SHA-256    04 AES_256_CBC RSA_PKCS1_15 SHA-256
//   05 3DES_EDE_CBC_3KEY RSA_PKCS1_15 SHA-512    06 AES_256_CBC RSA_PKCS1_15 SHA-512
// Two independent OFTP2 implementations carry the same table. None of 01–06 uses GCM or RSA-OAEP.
// Later suites (07 SHA3-512; 08–10 RSA-PSS signatures with RSA-OAEP key transport) are not supported.

import type { HashAlgorithm } from '../keystore/key-store.ts';

export interface CipherSuite {
  /** SFIDCIPH value. */
  code: number;
  /** node:crypto cipher name for the content encryption (CBC, PKCS#7 padding, RFC 5652 §6.3). */
  cipher: 'des-ede3-cbc' | 'aes-256-cbc';
  /** RSA key transport padding: RSAES-PKCS1-v1_5 for every suite of 01–06. */
  keyTransport: 'rsa-pkcs1-v1_5';
  /** Digest of CMS signatures (RSASSA-PKCS1-v1_5) and of EERP/NERP file hashes. */
  hash: HashAlgorithm;
}

export const CIPHER_SUITES: Readonly<Record<number, CipherSuite>> = {
  1: { code: 1, cipher: 'des-ede3-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha1' },
  2: { code: 2, cipher: 'aes-256-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha1' },
  3: { code: 3, cipher: 'des-ede3-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha256' },
  4: { code: 4, cipher: 'aes-256-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha256' },
  5: { code: 5, cipher: 'des-ede3-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha512' },
  6: { code: 6, cipher: 'aes-256-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha512' },
};

export function cipherSuite(code: number): CipherSuite | undefined {
  return CIPHER_SUITES[code];
}
