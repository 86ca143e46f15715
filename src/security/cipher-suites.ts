// Cipher suites (RFC 5024 §10.2; 03–06 from ODETTE's extended list, §10.3). SFIDCIPH names one; it
// chooses the content encryption, the key transport and the hash for signatures and receipts.

import type { HashAlgorithm } from '../keystore/key-store.ts';

export interface CipherSuite {
  /** SFIDCIPH value. */
  code: number;
  /** node:crypto cipher name for the content encryption. */
  cipher: 'des-ede3-cbc' | 'aes-256-cbc' | 'aes-256-gcm';
  /** RSA key transport padding. */
  keyTransport: 'rsa-pkcs1-v1_5' | 'rsa-oaep';
  hash: HashAlgorithm;
}

export const CIPHER_SUITES: Readonly<Record<number, CipherSuite>> = {
  1: { code: 1, cipher: 'des-ede3-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha1' },
  2: { code: 2, cipher: 'aes-256-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha1' },
  3: { code: 3, cipher: 'aes-256-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha256' },
  4: { code: 4, cipher: 'aes-256-cbc', keyTransport: 'rsa-pkcs1-v1_5', hash: 'sha512' },
  5: { code: 5, cipher: 'aes-256-gcm', keyTransport: 'rsa-oaep', hash: 'sha256' },
  6: { code: 6, cipher: 'aes-256-gcm', keyTransport: 'rsa-oaep', hash: 'sha512' },
};

export function cipherSuite(code: number): CipherSuite | undefined {
  return CIPHER_SUITES[code];
}
