// Token administration for `oftp2 keys`: list tokens and objects, generate an RSA key pair on the
// token, store a certificate next to its key (same CKA_ID). Uses one read/write session, logged in
// once when a PIN is given; the PIN is read from a file or a variable, never taken as an argument.
import { randomBytes, X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ConfigError } from '../errors.ts';
import { describePinSource, describeToken, type Pkcs11StoreConfig, readPin } from './pkcs11-config.ts';
import { PIN_ERRORS } from './pkcs11-errors.ts';
import { findObjects } from './pkcs11-key-store.ts';
import { ckrOf, describeNativeError, type Handle, type Pkcs11Api, Pkcs11Module, pkcs11js, unpad } from './pkcs11-module.ts';

export interface TokenSummary {
  slot: string;
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
  loginRequired: boolean;
  pinLocked: boolean;
}

export interface ObjectSummary {
  class: 'private-key' | 'public-key' | 'certificate';
  label: string;
  /** CKA_ID, hex. */
  id: string;
  /** RSA modulus bits, for keys. */
  bits?: number;
  /** Certificate subject and expiry. */
  subject?: string;
  notAfter?: string;
}

export class Pkcs11Admin {
  private readonly module: Pkcs11Module;
  private readonly api: Pkcs11Api;
  private session: Handle | undefined;
  private tokenName = '';
  loggedIn = false;

  private constructor(module: Pkcs11Module) {
    this.module = module;
    this.api = module.api;
  }

  /** Loads the module (ConfigError when missing). */
  static open(modulePath: string): Pkcs11Admin {
    const module = Pkcs11Module.acquire(modulePath);
    try {
      module.ensureInitialized();
    } catch (error) {
      module.release();
      throw new ConfigError('OFTP_ERR_CONFIG', `PKCS#11 module ${modulePath}: C_Initialize failed: ${describeNativeError(error)}`, { cause: error });
    }
    return new Pkcs11Admin(module);
  }

  tokens(): TokenSummary[] {
    return this.api.C_GetSlotList(true).flatMap((slot) => {
      const info = this.api.C_GetTokenInfo(slot);
      if ((info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) === 0) return [];
      return [
        {
          slot: `0x${slot.readBigUInt64LE(0).toString(16)}`,
          label: unpad(info.label),
          serial: unpad(info.serialNumber),
          manufacturer: unpad(info.manufacturerID),
          model: unpad(info.model),
          loginRequired: (info.flags & pkcs11js.CKF_LOGIN_REQUIRED) !== 0,
          pinLocked: (info.flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0,
        },
      ];
    });
  }

  /**
   * Opens a read/write session on the token and, when `pin` is given, logs in once (a refused PIN is
   * a ConfigError; it is not tried again).
   */
  useToken(token: Pkcs11StoreConfig['token'], pin?: Pkcs11StoreConfig['pin'], env: NodeJS.ProcessEnv = process.env): void {
    const slot = this.api.C_GetSlotList(true).find((s) => {
      const info = this.api.C_GetTokenInfo(s);
      return (
        (info.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0 &&
        (token.label === undefined || unpad(info.label) === token.label) &&
        (token.serial === undefined || unpad(info.serialNumber) === token.serial)
      );
    });
    this.tokenName = describeToken(token);
    if (slot === undefined) {
      const present = this.tokens().map((t) => `"${t.label}" (serial ${t.serial})`);
      throw new ConfigError('OFTP_ERR_CONFIG', `${this.tokenName} not present in ${this.module.path} (tokens present: ${present.join(', ') || 'none'})`);
    }
    this.session = this.api.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    if (pin === undefined) return;
    const value = readPin(pin, env);
    try {
      this.api.C_Login(this.session, pkcs11js.CKU_USER, value);
    } catch (error) {
      const ckr = ckrOf(error);
      if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') {
        this.loggedIn = true;
        return;
      }
      if (ckr !== undefined && PIN_ERRORS.has(ckr)) {
        throw new ConfigError('OFTP_ERR_CONFIG', `PKCS#11 ${this.tokenName}: PIN refused (${ckr}); check ${describePinSource(pin)}`);
      }
      throw error;
    }
    this.loggedIn = true;
  }

  /** Keys and certificates on the token (private keys only when logged in). */
  objects(): ObjectSummary[] {
    const session = this.requireSession();
    const out: ObjectSummary[] = [];
    const classes: Array<[number, ObjectSummary['class']]> = [
      [pkcs11js.CKO_PRIVATE_KEY, 'private-key'],
      [pkcs11js.CKO_PUBLIC_KEY, 'public-key'],
      [pkcs11js.CKO_CERTIFICATE, 'certificate'],
    ];
    for (const [klass, name] of classes) {
      for (const handle of findObjects(this.api, session, [{ type: pkcs11js.CKA_CLASS, value: klass }], 1000)) {
        const [label, id] = this.api.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_ID }]);
        const row: ObjectSummary = {
          class: name,
          label: (label?.value as Buffer | undefined)?.toString('utf8') ?? '',
          id: (id?.value as Buffer | undefined)?.toString('hex') ?? '',
        };
        if (name === 'certificate') {
          const [value] = this.api.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_VALUE }]);
          try {
            const cert = new X509Certificate(value?.value as Buffer);
            row.subject = cert.subject.replace(/\n/g, ', ');
            row.notAfter = cert.validTo;
          } catch {
            row.subject = '(not an X.509 certificate)';
          }
        } else {
          try {
            const [modulus] = this.api.C_GetAttributeValue(session, handle, [{ type: pkcs11js.CKA_MODULUS }]);
            const m = modulus?.value as Buffer | undefined;
            if (m !== undefined && m.length > 0) row.bits = modulusBits(m);
          } catch {
            // not RSA, or the token hides it
          }
        }
        out.push(row);
      }
    }
    return out;
  }

  /** An RSA key pair on the token (sign/decrypt private key, not extractable). Returns the CKA_ID. */
  async generate(options: { label: string; id?: string; bits: number }): Promise<{ id: string }> {
    const session = this.requireLogin();
    if (findObjects(this.api, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: options.label }], 1).length > 0) {
      throw new ConfigError('OFTP_ERR_CONFIG', `a private key labelled "${options.label}" is already on ${this.tokenName}`);
    }
    const id = options.id !== undefined ? Buffer.from(options.id, 'hex') : randomBytes(8);
    if (findObjects(this.api, session, [{ type: pkcs11js.CKA_ID, value: id }], 1).length > 0) {
      throw new ConfigError('OFTP_ERR_CONFIG', `objects with id ${id.toString('hex')} are already on ${this.tokenName}`);
    }
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: options.label },
      { type: pkcs11js.CKA_ID, value: id },
    ];
    const publicTemplate = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_MODULUS_BITS, value: options.bits },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([0x01, 0x00, 0x01]) },
      { type: pkcs11js.CKA_VERIFY, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: true },
    ];
    const privateTemplate = [
      ...common,
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_RSA },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_SIGN, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
    ];
    // Key generation takes a while on a smart card: on the thread pool, off the event loop.
    await this.module.withShared(
      () =>
        new Promise<void>((resolve, reject) => {
          this.api.C_GenerateKeyPair(session, { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN }, publicTemplate, privateTemplate, (error) => {
            if (error) reject(error);
            else resolve();
          });
        }),
    );
    return { id: id.toString('hex') };
  }

  /**
   * Stores `der` as a CKO_CERTIFICATE with the CKA_ID of the private key labelled `label`, after
   * checking that the certificate's public key is that key's. With `replace`, certificates already
   * there with that id are removed first; without it they are an error.
   */
  importCertificate(options: { label: string; der: Buffer; replace?: boolean }): { id: string; subject: string } {
    const session = this.requireLogin();
    const keys = findObjects(this.api, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: options.label }], 2);
    if (keys.length === 0) throw new ConfigError('OFTP_ERR_CONFIG', `no private key labelled "${options.label}" on ${this.tokenName}`);
    if (keys.length > 1) throw new ConfigError('OFTP_ERR_CONFIG', `more than one private key labelled "${options.label}" on ${this.tokenName}`);
    const [idAttr, modulusAttr] = this.api.C_GetAttributeValue(session, keys[0]!, [{ type: pkcs11js.CKA_ID }, { type: pkcs11js.CKA_MODULUS }]);
    const id = (idAttr?.value as Buffer | undefined) ?? Buffer.alloc(0);
    if (id.length === 0) throw new ConfigError('OFTP_ERR_CONFIG', `the key "${options.label}" has no CKA_ID to tie a certificate to`);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(options.der);
    } catch (error) {
      throw new ConfigError('OFTP_ERR_CONFIG', `not an X.509 certificate: ${(error as Error).message}`, { cause: error });
    }
    const n = Buffer.from(cert.publicKey.export({ format: 'jwk' }).n ?? '', 'base64url');
    if (!stripZeros(n).equals(stripZeros(modulusAttr?.value as Buffer))) {
      throw new ConfigError('OFTP_ERR_CONFIG', `the certificate (${cert.subject.replace(/\n/g, ', ')}) is not for the key "${options.label}"`);
    }
    const existing = findObjects(this.api, session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE }, { type: pkcs11js.CKA_ID, value: id }], 100);
    if (existing.length > 0 && !options.replace) {
      throw new ConfigError('OFTP_ERR_CONFIG', `a certificate with id ${id.toString('hex')} is already on ${this.tokenName} (--replace to replace it)`);
    }
    for (const handle of existing) this.api.C_DestroyObject(session, handle);
    const parts = certificateParts(options.der);
    this.api.C_CreateObject(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_CERTIFICATE },
      { type: pkcs11js.CKA_CERTIFICATE_TYPE, value: pkcs11js.CKC_X_509 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: false },
      { type: pkcs11js.CKA_LABEL, value: options.label },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_SUBJECT, value: parts.subject },
      { type: pkcs11js.CKA_ISSUER, value: parts.issuer },
      { type: pkcs11js.CKA_SERIAL_NUMBER, value: parts.serialNumber },
      { type: pkcs11js.CKA_VALUE, value: options.der },
    ]);
    return { id: id.toString('hex'), subject: cert.subject.replace(/\n/g, ', ') };
  }

  close(): void {
    if (this.session !== undefined) {
      try {
        this.api.C_CloseSession(this.session);
      } catch {
        // gone already
      }
      this.session = undefined;
    }
    this.module.release();
  }

  private requireSession(): Handle {
    if (this.session === undefined) throw new ConfigError('OFTP_ERR_USAGE', 'no token chosen (--token LABEL)');
    return this.session;
  }

  private requireLogin(): Handle {
    const session = this.requireSession();
    if (!this.loggedIn) throw new ConfigError('OFTP_ERR_USAGE', `log in to ${this.tokenName}: --pin-file FILE or OFTP2_PKCS11_PIN`);
    return session;
  }
}

/** DER of the subject, issuer and serial number (as DER INTEGER) of a DER certificate. */
function certificateParts(der: Buffer): { subject: Buffer; issuer: Buffer; serialNumber: Buffer } {
  const parsed = asn1js.fromBER(der);
  const tbs = (parsed.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  const fields = tbs.valueBlock.value;
  // TBSCertificate: [0] version (optional), serialNumber, signature, issuer, validity, subject, …
  const offset = fields[0]!.idBlock.tagClass === 3 ? 1 : 0;
  const encode = (node: asn1js.AsnType) => Buffer.from(node.toBER(false));
  return { serialNumber: encode(fields[offset]!), issuer: encode(fields[offset + 2]!), subject: encode(fields[offset + 4]!) };
}

function stripZeros(buffer: Buffer): Buffer {
  let i = 0;
  while (i < buffer.length - 1 && buffer[i] === 0) i++;
  return buffer.subarray(i);
}

function modulusBits(modulus: Buffer): number {
  const m = stripZeros(modulus);
  return (m.length - 1) * 8 + (32 - Math.clz32(m[0]!));
}
