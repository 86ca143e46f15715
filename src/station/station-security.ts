// The station's security side for OFTP (RFC 5024 §4.2.3 secure authentication, §5.3.13–14 signed
// receipts, §6 file services): our private keys per role through a KeyStore (key files, or a PKCS#11
// token named in `station.pkcs11`), each handle carrying our certificate for that role, and the
// partners' certificates per role (current and next, §11 rollover) checked against their trust
// (dates, key usage; src/security/certificates-tls.ts checkAgainstPartner).
//
// Roles: we decrypt AUCH challenges with our `authentication` key and files with our `encryption` key,
// sign files and receipts with our `signing` key; a partner's `authentication` certificate encrypts
// our challenge to it, its `encryption` certificate the files we send it, and its `signing`
// certificates verify its files and receipts.
import type { KeyObject } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import { FileKeyStore } from '../keystore/file-key-store.ts';
import type { KeyStore, PrivateKeyHandle } from '../keystore/key-store.ts';
import type { Eerp, Nerp } from '../protocol/command-types.ts';
import { type CertificateInfo, type CertificatePurpose, checkDates, parseCertificates } from '../security/certificates.ts';
import { partnerCertificates, resolveIn } from '../security/certificates-store.ts';
import { checkAgainstPartner, loadPartnerTrust } from '../security/certificates-tls.ts';
import { answerChallenge, type Challenge, eerpSignedContent, makeChallenge, nerpSignedContent, signReceipt, verifyReceipt } from '../security/cms/index.ts';
import { readFile } from 'node:fs/promises';
import {
  type CertificateRoleName,
  fileServicesOf,
  type PartnerConfig,
  type StationConfig,
  secureAuthenticationOf,
} from '../store/station-config.ts';

/** Roles whose keys OFTP uses (TLS has its own, in station-tls.ts). */
export type OftpRole = 'authentication' | 'signing' | 'encryption';

const PURPOSE: Record<OftpRole, CertificatePurpose> = { authentication: 'authentication', signing: 'signing', encryption: 'encryption' };

/** A partner's certificates for one role, as usable now. */
export interface PartnerRoleCertificates {
  /** The certificate to encrypt for (current while valid, else next); undefined: none usable. */
  use: Uint8Array | undefined;
  /** Certificates accepted now when verifying (current and next, valid and trusted). */
  accepted: Uint8Array[];
  /** Why configured certificates are not usable, one line each. */
  problems: string[];
}

/** One of our keys opened with its certificate (the leaf, for its dates). */
interface OpenedKey {
  handle: PrivateKeyHandle;
  leaf: CertificateInfo;
}

/**
 * Our keys per role, opened at first use and kept until close(). During our own signing rollover
 * (`station.certificates.next.signing`) the next key signs beside the current one (signers()).
 */
export class OwnKeys {
  readonly #config: StationConfig;
  readonly #dataDir: string;
  readonly #files: FileKeyStore;
  #token: Promise<KeyStore> | undefined;
  readonly #handles = new Map<string, Promise<OpenedKey>>();

  constructor(config: StationConfig, dataDir: string) {
    this.#config = config;
    this.#dataDir = dataDir;
    this.#files = new FileKeyStore(config.station.keys ?? {}, { baseDir: dataDir });
  }

  /** Whether our certificate (and key) for `role` is configured (for signing: a current or a next one). */
  has(role: OftpRole): boolean {
    return this.#config.station.certificates?.[role] !== undefined || (role === 'signing' && this.hasNextSigning());
  }

  /** Whether our next signing certificate (our own rollover) is configured. */
  hasNextSigning(): boolean {
    return this.#config.station.certificates?.next?.signing !== undefined;
  }

  /** Our key for `role` with our certificate for it; ConfigError when missing or not matching. */
  async key(role: OftpRole): Promise<PrivateKeyHandle> {
    return (await this.#opened(role, false)).handle;
  }

  /**
   * The keys that sign our files and receipts now (RFC 5024 §6.2: "signed more than once to ease the
   * changeover"): the current signing key, and while a next one is configured and valid, the next one
   * too, current first. A current certificate out of its dates is left out once the next one is valid
   * (a partner could not accept it); with no valid certificate at all the current key signs, as it
   * would without a rollover, and the partner's verification says why.
   */
  async signers(now = new Date()): Promise<PrivateKeyHandle[]> {
    const next = this.hasNextSigning() ? await this.#opened('signing', true) : undefined;
    const nextValid = next !== undefined && !checkDates(next.leaf, now);
    if (this.#config.station.certificates?.signing === undefined && nextValid) return [next.handle];
    const current = await this.#opened('signing', false);
    if (!nextValid) return [current.handle];
    return checkDates(current.leaf, now) ? [next.handle] : [current.handle, next.handle];
  }

  /**
   * A key by its configured name, from the file store (`station.keys`) or the token (`station.pkcs11`),
   * without any certificate: for `oftp2 cert` to check a certificate against it.
   */
  async keyByName(name: string): Promise<PrivateKeyHandle> {
    const store = this.#config.station.keys && Object.hasOwn(this.#config.station.keys, name) ? this.#files : await this.#tokenStore();
    return store.key(name);
  }

  #opened(role: OftpRole, next: boolean): Promise<OpenedKey> {
    const slot = next ? `${role}-next` : role;
    let opened = this.#handles.get(slot);
    if (!opened) {
      opened = this.#open(role, next);
      this.#handles.set(slot, opened);
      opened.catch(() => this.#handles.delete(slot));
    }
    return opened;
  }

  async #open(role: OftpRole, next: boolean): Promise<OpenedKey> {
    const own = next ? (role === 'signing' ? this.#config.station.certificates?.next?.signing : undefined) : this.#config.station.certificates?.[role];
    const what = `${next ? 'next ' : ''}${role}`;
    if (!own) {
      throw new ConfigError('OFTP_ERR_CONFIG', `we have no ${what} certificate and key (oftp2 cert create-key --role ${role}, then oftp2 cert import --own${next ? ' --next' : ''} --role ${role})`);
    }
    const certPath = resolveIn(this.#dataDir, own.certificate);
    const bytes = await readFile(certPath).catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError('OFTP_ERR_CONFIG', `our ${what} certificate ${certPath}: cannot read: ${err.code ?? err.message}`);
    });
    const [leaf] = parseCertificates(bytes, certPath);
    const handle = await this.keyByName(own.key);
    const publicKey = (handle as PrivateKeyHandle & { publicKey?: KeyObject }).publicKey;
    if (publicKey && !spki(publicKey).equals(spki(leaf!.x509.publicKey))) {
      throw new ConfigError('OFTP_ERR_CONFIG', `our ${what} certificate ${certPath} does not belong to key "${own.key}" (${handle.id}): public keys differ`);
    }
    return { handle: withCertificate(handle, new Uint8Array(leaf!.der)), leaf: leaf! };
  }

  #tokenStore(): Promise<KeyStore> {
    if (!this.#token) {
      const raw = this.#config.station.pkcs11;
      if (!raw) return Promise.reject(new ConfigError('OFTP_ERR_CONFIG', 'no station.pkcs11 token is configured'));
      this.#token = (async () => {
        const { Pkcs11KeyStore, parsePkcs11Config } = await import('../keystore/pkcs11-key-store.ts');
        const config = parsePkcs11Config(raw, 'station.pkcs11');
        if (config.pin.file !== undefined) config.pin.file = resolveIn(this.#dataDir, config.pin.file);
        for (const k of Object.values(config.keys ?? {})) if (k.certificateFile !== undefined) k.certificateFile = resolveIn(this.#dataDir, k.certificateFile);
        return Pkcs11KeyStore.open(config);
      })();
      this.#token.catch(() => {
        this.#token = undefined;
      });
    }
    return this.#token;
  }

  async close(): Promise<void> {
    this.#handles.clear();
    await this.#files.close();
    const token = this.#token;
    this.#token = undefined;
    if (token) await (await token.catch(() => undefined))?.close();
  }
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** The handle with our configured certificate for the role (a token key may have none of its own). */
function withCertificate(handle: PrivateKeyHandle, certificate: Uint8Array): PrivateKeyHandle {
  return {
    id: handle.id,
    certificate,
    modulusBits: handle.modulusBits,
    sign: (hash, data) => handle.sign(hash, data),
    decrypt: (ciphertext) => handle.decrypt(ciphertext),
  };
}

/** Outcome of checking a signed receipt. */
export type ReceiptCheck = { ok: true; signer: string } | { ok: false; why: string };

export class StationSecurity {
  readonly keys: OwnKeys;
  readonly #dataDir: string;

  constructor(config: StationConfig, dataDir: string) {
    this.#dataDir = dataDir;
    this.keys = new OwnKeys(config, dataDir);
  }

  /** Whether the partner's certificate for `role` is configured (current or next; usability is checked at use). */
  partnerHas(partner: PartnerConfig, role: CertificateRoleName): boolean {
    return partner.certificates?.[role] !== undefined || partner.certificates?.next?.[role] !== undefined;
  }

  /** The partner's certificates for `role` now, each checked against its trust for the role's purpose. */
  async partnerCertificates(partner: PartnerConfig, role: OftpRole, now = new Date()): Promise<PartnerRoleCertificates> {
    const choice = (await partnerCertificates(this.#dataDir, partner, now))[role];
    const trust = await loadPartnerTrust(partner, this.#dataDir);
    const problems: string[] = [];
    for (const c of [choice.current, choice.next]) if (c?.error) problems.push(c.error);
    const usable = choice.accepted.filter((cert) => {
      const check = checkAgainstPartner(trust, [cert], PURPOSE[role], now);
      if (!check.ok) problems.push(check.problem.message);
      return check.ok;
    });
    if (choice.accepted.length === 0 && choice.note) problems.push(choice.note);
    const use = choice.use && usable.includes(choice.use) ? choice.use : usable[0];
    return { use: use ? new Uint8Array(use.der) : undefined, accepted: usable.map((c) => new Uint8Array(c.der)), problems };
  }

  // ---- secure authentication (§4.2.3) ----

  /**
   * SSIDAUTH we send as initiator: 'required' → Y; 'optional' → Y when both authentication
   * certificates are configured; 'off' → N.
   */
  initiatorWantsAuthentication(partner: PartnerConfig): boolean {
    const mode = secureAuthenticationOf(partner);
    if (mode === 'required') return true;
    return mode === 'optional' && this.keys.has('authentication') && this.partnerHas(partner, 'authentication');
  }

  /** SSIDAUTH we answer as responder to an SSID that says `asked` (must match: §5.3.2, else ESID 12). */
  responderAuthentication(partner: PartnerConfig, asked: boolean): boolean {
    const mode = secureAuthenticationOf(partner);
    if (mode === 'required') return true;
    if (mode === 'off') return false;
    return asked;
  }

  /** AUCH for the partner: a random challenge encrypted to its authentication certificate. */
  async challengeFor(partner: PartnerConfig): Promise<Challenge> {
    const certs = await this.partnerCertificates(partner, 'authentication');
    if (!certs.use) {
      throw new ConfigError('OFTP_ERR_CONFIG', `partner ${partner.name}: no usable authentication certificate to challenge it (${certs.problems.join('; ') || 'oftp2 cert import --partner NAME --role authentication'})`);
    }
    return makeChallenge(certs.use, fileServicesOf(partner).send.cipherSuite);
  }

  /** AURP: the challenge decrypted with our authentication key (CmsError('challenge') when it cannot be). */
  async answerChallenge(auch: Uint8Array): Promise<Uint8Array> {
    return answerChallenge(auch, await this.keys.key('authentication'));
  }

  // ---- receipts (§5.3.13–14) ----

  /**
   * EERPHSH and, when `sign`, EERPSIG over the receipt's fields with our signing key (and our next one
   * during our rollover, OwnKeys.signers) and the suite's hash.
   */
  async sealEerp(eerp: Eerp, fileHash: Uint8Array, sign: { cipherSuite: number } | undefined): Promise<Eerp> {
    const sealed = { ...eerp, fileHash };
    if (!sign) return sealed;
    const signature = await signReceipt(eerpSignedContent(sealed), await this.keys.signers(), sign.cipherSuite);
    return { ...sealed, signature };
  }

  async sealNerp(nerp: Nerp, fileHash: Uint8Array, sign: { cipherSuite: number } | undefined): Promise<Nerp> {
    const sealed = { ...nerp, fileHash };
    if (!sign) return sealed;
    const signature = await signReceipt(nerpSignedContent(sealed), await this.keys.signers(), sign.cipherSuite);
    return { ...sealed, signature };
  }

  /**
   * Checks a receipt for a file we sent with SFIDSIGN Y: a signature by one of the signing
   * certificates of `partner` (the final recipient) over the receipt's fields, and — for an EERP — the
   * hash equal to `expectedHash` (hex) of the file we transmitted.
   */
  async checkReceipt(receipt: Eerp | Nerp, partner: PartnerConfig | undefined, expectedHash: string | undefined): Promise<ReceiptCheck> {
    if (receipt.signature.length === 0) return { ok: false, why: `the ${receipt.cmd} is not signed, though a signed receipt was requested (SFIDSIGN Y)` };
    if (!partner) return { ok: false, why: `no partner is configured for ${receipt.originator}, whose signature it carries` };
    // An EERP must name the file we sent. A NERP's hash is of what the recipient got, which may differ
    // exactly because the file was damaged on the way: its signature alone makes it authentic.
    if (expectedHash !== undefined && receipt.cmd === 'EERP') {
      const got = Buffer.from(receipt.fileHash).toString('hex');
      if (got !== expectedHash) return { ok: false, why: `its file hash ${got || '(none)'} is not the hash of the file we sent (${expectedHash})` };
    }
    const certs = await this.partnerCertificates(partner, 'signing');
    if (certs.accepted.length === 0) {
      return { ok: false, why: `partner ${partner.name} has no usable signing certificate to check it (${certs.problems.join('; ') || 'oftp2 cert import --partner NAME --role signing'})` };
    }
    const fields = receipt.cmd === 'EERP' ? eerpSignedContent(receipt) : nerpSignedContent(receipt);
    try {
      const report = await verifyReceipt(receipt.signature, fields, certs.accepted);
      return { ok: true, signer: report.verified.signer };
    } catch (err) {
      return { ok: false, why: (err as Error).message };
    }
  }

  close(): Promise<void> {
    return this.keys.close();
  }
}
