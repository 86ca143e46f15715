// The KeyStore interface: every private-key operation goes through it, so a key on disk (PEM/PKCS#12)
// and a key on an HSM or smart card (PKCS#11) are used the same way. Private keys never leave a store
// and are never logged; a handle carries only an id for logs and the matching certificate.

export type HashAlgorithm = 'sha1' | 'sha256' | 'sha512';

export interface PrivateKeyHandle {
  /** Where the key lives, for logs and status: e.g. 'file:/etc/oftp2/keys/sign.pem' or 'pkcs11:token=oftp;id=01'. */
  readonly id: string;
  /** The X.509 certificate (DER) that goes with the key, when the store has one. */
  readonly certificate: Uint8Array | undefined;
  /** RSA modulus length in bits (a cipher suite may need a minimum). */
  readonly modulusBits: number;
  /** RSASSA-PKCS1-v1_5 signature of `data` (hashed here with `hash`). */
  sign(hash: HashAlgorithm, data: Uint8Array): Promise<Uint8Array>;
  /** RSAES-PKCS1-v1_5 decryption (CMS key transport, RFC 5024 §10.2 RSA_PKCS1_15). */
  decrypt(ciphertext: Uint8Array): Promise<Uint8Array>;
}

export interface KeyStore {
  /** Opens the key named in configuration; a missing key is a ConfigError naming it. */
  key(name: string): Promise<PrivateKeyHandle>;
  /** Releases sessions and handles. */
  close(): Promise<void>;
}
