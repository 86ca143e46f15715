// The file KeyStore: private keys in PEM (PKCS#8 or PKCS#1, optionally encrypted) or DER PKCS#8, or in
// PKCS#12 (.p12/.pfx, read with node-forge). A passphrase comes from a file (its first line) or an
// environment variable, never from the configuration itself. Once read, a key lives only inside a
// node:crypto KeyObject held in a private field: it is never returned, logged or put in an error message.
// For TLS the store builds the SecureContext itself (node:tls takes PEM text, not a KeyObject), so even
// then the key does not leave this module.
import { constants, createPrivateKey, createPublicKey, type KeyObject, privateDecrypt, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import forge from 'node-forge';
import { ConfigError } from '../errors.ts';
import type { HashAlgorithm, KeyStore, PrivateKeyHandle } from './key-store.ts';

/** One key in the station's configuration (`station.keys.<name>`). */
export interface FileKeyEntry {
  /** PEM (PKCS#8 / PKCS#1, plain or encrypted), DER PKCS#8, or PKCS#12 (.p12 / .pfx). */
  file: string;
  /** A file whose first line is the passphrase (mode 0600, owned by the service user). */
  passphraseFile?: string;
  /** An environment variable holding the passphrase. */
  passphraseEnv?: string;
  /** The certificate (PEM or DER) that goes with the key; a PKCS#12 file brings its own. */
  certificate?: string;
}

export interface FileKeyStoreOptions {
  /** Relative paths are taken from here (the station's data directory); default: the working directory. */
  baseDir?: string;
  /** Where passphraseEnv is looked up; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

export class FileKeyStore implements KeyStore {
  readonly #entries: Readonly<Record<string, FileKeyEntry>>;
  readonly #baseDir: string;
  readonly #env: Readonly<Record<string, string | undefined>>;
  readonly #open = new Map<string, Promise<FileKeyHandle>>();

  constructor(entries: Readonly<Record<string, FileKeyEntry>>, options: FileKeyStoreOptions = {}) {
    this.#entries = entries;
    this.#baseDir = options.baseDir ?? process.cwd();
    this.#env = options.env ?? process.env;
  }

  /** The names configured (for `oftp2 cert list`). */
  get names(): string[] {
    return Object.keys(this.#entries);
  }

  key(name: string): Promise<FileKeyHandle> {
    let handle = this.#open.get(name);
    if (!handle) {
      handle = this.#load(name);
      this.#open.set(name, handle);
      handle.catch(() => this.#open.delete(name));
    }
    return handle;
  }

  /**
   * A TLS context with key `name` and the certificate chain (PEM, leaf first). `options` adds the
   * protocol settings (versions, ciphers, CA). The key's PEM text exists only inside this call.
   */
  async secureContext(name: string, certificateChainPem: string, options: SecureContextOptions = {}): Promise<SecureContext> {
    const handle = await this.key(name);
    const key = handle[keyObjectOf]();
    try {
      return createSecureContext({ ...options, cert: certificateChainPem, key: key.export({ type: 'pkcs8', format: 'pem' }) as string });
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' ? 'the certificate does not match the key' : (err as Error).message;
      throw new ConfigError('OFTP_ERR_CONFIG', `key "${name}" (${handle.id}): cannot be used for TLS: ${reason}`);
    }
  }

  async close(): Promise<void> {
    this.#open.clear();
  }

  #path(p: string): string {
    return isAbsolute(p) ? p : resolve(this.#baseDir, p);
  }

  async #load(name: string): Promise<FileKeyHandle> {
    const entry = Object.hasOwn(this.#entries, name) ? this.#entries[name] : undefined;
    if (!entry) {
      const known = Object.keys(this.#entries);
      throw new ConfigError('OFTP_ERR_CONFIG', `no key named "${name}" in the station's keys (${known.length ? `configured: ${known.join(', ')}` : 'none configured'}; see oftp2 cert create-key)`);
    }
    const path = this.#path(entry.file);
    const label = `key "${name}" (${path})`;
    const data = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError('OFTP_ERR_CONFIG', `${label}: cannot read: ${err.code ?? err.message}`);
    });
    const passphrase = await this.#passphrase(entry, label);
    const loaded = isPkcs12(path, data) ? readPkcs12(data, passphrase, label) : readKey(data, passphrase, label);
    let certificate = loaded.certificate;
    if (entry.certificate) {
      const certPath = this.#path(entry.certificate);
      const bytes = await readFile(certPath).catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError('OFTP_ERR_CONFIG', `${label}: cannot read its certificate ${certPath}: ${err.code ?? err.message}`);
      });
      certificate = firstCertificateDer(bytes, `${label}: certificate ${certPath}`);
    }
    if (certificate && !new X509Certificate(certificate).checkPrivateKey(loaded.key)) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${label}: its certificate does not belong to this key (public keys differ)`);
    }
    return new FileKeyHandle(`file:${path}`, loaded.key, certificate, loaded.chain);
  }

  async #passphrase(entry: FileKeyEntry, label: string): Promise<{ value: string; from: string } | undefined> {
    if (entry.passphraseFile) {
      const path = this.#path(entry.passphraseFile);
      const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError('OFTP_ERR_CONFIG', `${label}: cannot read its passphrase file ${path}: ${err.code ?? err.message}`);
      });
      return { value: text.split(/\r?\n/)[0] ?? '', from: `passphrase file ${path}` };
    }
    if (entry.passphraseEnv) {
      const value = this.#env[entry.passphraseEnv];
      if (value === undefined) throw new ConfigError('OFTP_ERR_CONFIG', `${label}: its passphrase variable $${entry.passphraseEnv} is not set`);
      return { value, from: `$${entry.passphraseEnv}` };
    }
    return undefined;
  }
}

const keyObjectOf = Symbol('keyObject');

/** A key read from a file. The KeyObject is private; only operations and public facts are exposed. */
export class FileKeyHandle implements PrivateKeyHandle {
  readonly id: string;
  readonly certificate: Uint8Array | undefined;
  /** Other certificates found beside the key (a PKCS#12's CA chain), DER. */
  readonly chain: readonly Uint8Array[];
  readonly modulusBits: number;
  /** 'rsa', 'ec', … */
  readonly keyType: string;
  readonly publicKey: KeyObject;
  readonly #key: KeyObject;

  constructor(id: string, key: KeyObject, certificate: Uint8Array | undefined, chain: readonly Uint8Array[]) {
    this.id = id;
    this.#key = key;
    this.certificate = certificate;
    this.chain = chain;
    this.keyType = key.asymmetricKeyType ?? 'unknown';
    this.modulusBits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    this.publicKey = createPublicKey(key);
  }

  async sign(hash: HashAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    if (this.keyType !== 'rsa') return sign(hash, data, this.#key);
    return sign(hash, data, { key: this.#key, padding: constants.RSA_PKCS1_PADDING });
  }

  async decrypt(ciphertext: Uint8Array): Promise<Uint8Array> {
    if (this.keyType !== 'rsa') throw new ConfigError('OFTP_ERR_CONFIG', `${this.id}: a ${this.keyType} key cannot decrypt (RSA key transport needs an RSA key)`);
    return privateDecrypt({ key: this.#key, padding: constants.RSA_PKCS1_PADDING }, ciphertext);
  }

  /** For FileKeyStore.secureContext only (module-private symbol). */
  [keyObjectOf](): KeyObject {
    return this.#key;
  }

  toJSON(): object {
    return { id: this.id, keyType: this.keyType, modulusBits: this.modulusBits };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `FileKeyHandle <${this.id}, ${this.keyType}${this.modulusBits ? ` ${this.modulusBits}` : ''}>`;
  }
}

interface LoadedKey {
  key: KeyObject;
  certificate: Uint8Array | undefined;
  chain: Uint8Array[];
}

function isPkcs12(path: string, data: Buffer): boolean {
  if (/\.(p12|pfx)$/i.test(path)) return true;
  if (data.includes('-----BEGIN')) return false;
  // PFX: SEQUENCE { INTEGER 3, ContentInfo … }; a PKCS#8 starts SEQUENCE { INTEGER 0, … }.
  const at = data[1]! & 0x80 ? 2 + (data[1]! & 0x7f) : 2;
  return data[0] === 0x30 && data[at] === 0x02 && data[at + 1] === 0x01 && data[at + 2] === 0x03;
}

function readKey(data: Buffer, passphrase: { value: string; from: string } | undefined, label: string): LoadedKey {
  const pem = data.includes('-----BEGIN');
  const encrypted = pem && /ENCRYPTED/.test(data.subarray(0, 256).toString('latin1'));
  if (encrypted && !passphrase) {
    throw new ConfigError('OFTP_ERR_CONFIG', `${label}: the key is encrypted; set passphraseFile or passphraseEnv for it`);
  }
  try {
    const key = pem
      ? createPrivateKey({ key: data, format: 'pem', passphrase: passphrase?.value })
      : createPrivateKey({ key: data, format: 'der', type: 'pkcs8', passphrase: passphrase?.value });
    return { key, certificate: undefined, chain: [] };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (encrypted || /DECRYPT|BAD_PASSWORD|PASSPHRASE/i.test(code)) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${label}: wrong passphrase${passphrase ? ` (from ${passphrase.from})` : ''}, or the file is damaged`);
    }
    throw new ConfigError('OFTP_ERR_CONFIG', `${label}: not a private key in PEM (PKCS#8/PKCS#1), DER PKCS#8 or PKCS#12 (${code || 'unreadable'})`);
  }
}

function readPkcs12(data: Buffer, passphrase: { value: string; from: string } | undefined, label: string): LoadedKey {
  let pfx: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(data.toString('binary')));
    pfx = forge.pkcs12.pkcs12FromAsn1(asn1, false, passphrase?.value ?? '');
  } catch (err) {
    const text = (err as Error).message ?? '';
    if (/MAC could not be verified|Invalid password|decrypt/i.test(text)) {
      throw new ConfigError('OFTP_ERR_CONFIG', passphrase ? `${label}: wrong passphrase (from ${passphrase.from}), or the file is damaged` : `${label}: the PKCS#12 file is protected; set passphraseFile or passphraseEnv for it`);
    }
    // Not the passphrase: name the library's complaint, which never contains key material.
    throw new ConfigError('OFTP_ERR_CONFIG', `${label}: cannot read the PKCS#12 file (${text.split('\n')[0]?.slice(0, 120) ?? 'unknown error'})`);
  }
  const keyBags = [
    ...(pfx.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? []),
    ...(pfx.getBags({ bagType: forge.pki.oids.keyBag! })[forge.pki.oids.keyBag!] ?? []),
  ];
  const keyBag = keyBags.find((b) => b.key);
  if (!keyBag?.key) throw new ConfigError('OFTP_ERR_CONFIG', `${label}: the PKCS#12 file holds no private key`);
  const pkcs8 = forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keyBag.key))).getBytes();
  const key = createPrivateKey({ key: Buffer.from(pkcs8, 'binary'), format: 'der', type: 'pkcs8' });
  const certs = (pfx.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [])
    .filter((b) => b.cert)
    .map((b) => Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(b.cert!)).getBytes(), 'binary'));
  const mine = certs.find((der) => new X509Certificate(der).checkPrivateKey(key));
  return { key, certificate: mine, chain: certs.filter((c) => c !== mine) };
}

function firstCertificateDer(data: Buffer, label: string): Uint8Array {
  const text = data.toString('latin1');
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/.exec(text);
  const der = m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : data;
  try {
    return Buffer.from(new X509Certificate(der).raw);
  } catch {
    throw new ConfigError('OFTP_ERR_CONFIG', `${label}: not an X.509 certificate`);
  }
}
