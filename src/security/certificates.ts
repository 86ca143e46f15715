// X.509 certificates (RFC 5024 §1.7, §10.2, §11): parsing PEM/DER, fingerprints, key usage, and
// chain validation against a partner's own trust anchors, with CRLs where configured. The chain is
// walked with node:crypto (X509Certificate.verify / checkIssued), extensions are read with pkijs.
// Every refusal is a `CertificateProblem` whose message an operator can act on
// ("certificate "CN=acme" expired on 2026-01-01", "unknown CA: … issued by "CN=Other CA" …").
// RFC 5024 §11 (from RFC 3850): no chain to a trusted CA, an unreadable, invalid or out-of-date CRL,
// an expired or revoked certificate each fail validation.
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { OftpError } from '../errors.ts';

/** What a certificate is used for in OFTP2. A partner may use a different certificate for each. */
export type CertificateRole = 'tls' | 'authentication' | 'signing' | 'encryption';
export const CERTIFICATE_ROLES: readonly CertificateRole[] = ['tls', 'authentication', 'signing', 'encryption'];

/**
 * What the leaf is checked for:
 * - tls-client / tls-server: keyUsage digitalSignature (every suite we offer is ECDHE/DHE, so the key
 *   signs the handshake; keyEncipherment alone is not enough), and clientAuth / serverAuth when an
 *   extendedKeyUsage is present;
 * - signing: digitalSignature or nonRepudiation (CMS SignedData, signed receipts, §6.2);
 * - encryption and authentication: keyEncipherment (CMS key transport §6.3; the AUCH challenge is
 *   enveloped to the peer's key, §3.2.4);
 * - any: dates and chain only.
 * Each key usage check applies only when the certificate has the extension (RFC 5280 §4.2.1.3).
 */
export type CertificatePurpose = 'tls-client' | 'tls-server' | 'signing' | 'encryption' | 'authentication' | 'any';

export type ProblemKind =
  | 'unreadable'
  | 'expired'
  | 'not-yet-valid'
  | 'unknown-ca'
  | 'bad-signature'
  | 'not-a-ca'
  | 'key-usage'
  | 'extended-key-usage'
  | 'revoked'
  | 'crl'
  | 'pin-mismatch'
  | 'no-certificate'
  | 'no-trust';

export interface CertificateProblem {
  kind: ProblemKind;
  /** One line for the operator, without the partner's name (callers prefix it). */
  message: string;
}

export interface CertificateInfo {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  /** One line: `CN=acme, O=ACME, C=DE`. */
  readonly subject: string;
  readonly issuer: string;
  /** Upper-case hex with colons, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly sha256: string;
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly isCA: boolean;
  /** KeyUsage bit names present, or undefined when the certificate has no KeyUsage extension. */
  readonly keyUsage: ReadonlySet<KeyUsageName> | undefined;
  /** ExtendedKeyUsage OIDs, or undefined without the extension. */
  readonly extendedKeyUsage: readonly string[] | undefined;
  /** e.g. 'rsa 2048', 'ec prime256v1'. */
  readonly publicKeyDescription: string;
}

const KEY_USAGE_BITS = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsageName = (typeof KEY_USAGE_BITS)[number];

export const EKU = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  any: '2.5.29.37.0',
} as const;
const EKU_NAMES: Record<string, string> = Object.fromEntries(Object.entries(EKU).map(([k, v]) => [v, k]));

// ---- parsing ----

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** Parses one DER certificate. Throws OFTP_ERR_CERTIFICATE naming `source`. */
export function parseCertificate(der: Uint8Array, source = 'certificate'): CertificateInfo {
  const bytes = Buffer.from(der);
  let x509: X509Certificate;
  let parsed: pkijs.Certificate;
  try {
    x509 = new X509Certificate(bytes);
    parsed = pkijs.Certificate.fromBER(bytes);
  } catch (err) {
    throw new OftpError('OFTP_ERR_CERTIFICATE', `${source}: not an X.509 certificate (${(err as Error).message})`, { cause: err });
  }
  let keyUsage: Set<KeyUsageName> | undefined;
  let extendedKeyUsage: string[] | undefined;
  for (const ext of parsed.extensions ?? []) {
    if (ext.extnID === '2.5.29.15') {
      const bits = asn1js.fromBER(ext.extnValue.getValue()).result as asn1js.BitString;
      const view = bits.valueBlock.valueHexView;
      keyUsage = new Set();
      KEY_USAGE_BITS.forEach((name, i) => {
        if (((view[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) keyUsage!.add(name);
      });
    } else if (ext.extnID === '2.5.29.37') {
      extendedKeyUsage = [...(ext.parsedValue as pkijs.ExtKeyUsage).keyPurposes];
    }
  }
  const key = x509.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const publicKeyDescription = `${key.asymmetricKeyType ?? 'unknown'} ${details.modulusLength ?? details.namedCurve ?? ''}`.trim();
  return {
    der: bytes,
    x509,
    subject: oneLineName(x509.subject),
    issuer: oneLineName(x509.issuer),
    sha256: x509.fingerprint256,
    serialNumber: normalizeSerial(x509.serialNumber),
    notBefore: x509.validFromDate,
    notAfter: x509.validToDate,
    isCA: x509.ca,
    keyUsage,
    extendedKeyUsage,
    publicKeyDescription,
  };
}

/** Parses every certificate in a PEM text (in order), or one DER certificate. */
export function parseCertificates(data: Uint8Array | string, source = 'certificate'): CertificateInfo[] {
  const text = typeof data === 'string' ? data : looksLikePem(data) ? Buffer.from(data).toString('latin1') : undefined;
  if (text === undefined) return [parseCertificate(data as Uint8Array, source)];
  const found = [...text.matchAll(PEM_CERTIFICATE)].map((m, i) => parseCertificate(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'), `${source} (#${i + 1})`));
  if (found.length === 0) throw new OftpError('OFTP_ERR_CERTIFICATE', `${source}: no "BEGIN CERTIFICATE" block in the file`);
  return found;
}

/** Reads a PEM (one or more certificates) or DER file. */
export async function readCertificateFile(path: string): Promise<CertificateInfo[]> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new OftpError('OFTP_ERR_CERTIFICATE', `cannot read certificate file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return parseCertificates(data, path);
}

export function toPem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

function looksLikePem(data: Uint8Array): boolean {
  return Buffer.from(data.subarray(0, 64 * 1024)).includes('-----BEGIN');
}

/** `AB:CD:…` from any spelling: colons, spaces or none, either case; undefined when not 32 octets. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.replace(/^sha256[:=]/i, '').replace(/[\s:]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^(00)+(?=.)/, '');
}

function oneLineName(name: string): string {
  return name.split('\n').filter(Boolean).join(', ');
}

/** A short label for messages: the subject's CN, else the whole subject. */
export function describeCertificate(cert: CertificateInfo): string {
  const cn = /(?:^|, )CN=([^,]*)/.exec(cert.subject)?.[1];
  return `"${cn ? `CN=${cn}` : cert.subject}"`;
}

export function isoDate(date: Date): string {
  return date.toISOString().slice(0, 10);
}

// ---- revocation lists ----

export interface RevocationList {
  readonly source: string;
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** Revoked serial numbers (normalised hex) → revocation date. */
  readonly revoked: ReadonlyMap<string, Date>;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  readonly issuerName: pkijs.RelativeDistinguishedNames;
}

/** Parses a CRL (PEM "X509 CRL" or DER). */
export function parseRevocationList(data: Uint8Array, source: string): RevocationList {
  let der: Uint8Array = data;
  const text = Buffer.from(data).toString('latin1');
  const pem = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+?)-----END X509 CRL-----/.exec(text);
  if (pem) der = Buffer.from(pem[1]!.replace(/\s+/g, ''), 'base64');
  let crl: pkijs.CertificateRevocationList;
  try {
    crl = pkijs.CertificateRevocationList.fromBER(der);
  } catch (err) {
    throw new OftpError('OFTP_ERR_CERTIFICATE', `${source}: not a certificate revocation list (${(err as Error).message})`, { cause: err });
  }
  const revoked = new Map<string, Date>();
  for (const r of crl.revokedCertificates ?? []) {
    revoked.set(normalizeSerial(Buffer.from(r.userCertificate.valueBlock.valueHexView).toString('hex')), r.revocationDate.value);
  }
  return {
    source,
    issuer: crl.issuer.typesAndValues.map((tv) => `${tv.type}=${tv.value.valueBlock.value}`).join(', '),
    thisUpdate: crl.thisUpdate.value,
    nextUpdate: crl.nextUpdate?.value,
    revoked,
    tbs: crl.tbsView,
    signatureAlgorithm: crl.signatureAlgorithm.algorithmId,
    signature: crl.signatureValue.valueBlock.valueHexView,
    issuerName: crl.issuer,
  };
}

export async function readRevocationListFile(path: string): Promise<RevocationList> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new OftpError('OFTP_ERR_CERTIFICATE', `cannot read CRL file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return parseRevocationList(data, path);
}

const SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

function crlIssuedBy(crl: RevocationList, issuer: CertificateInfo): boolean {
  const subject = pkijs.Certificate.fromBER(issuer.der).subject;
  if (!crl.issuerName.isEqual(subject)) return false;
  const hash = SIGNATURE_HASHES[crl.signatureAlgorithm];
  if (!hash) return false;
  try {
    return cryptoVerify(hash, crl.tbs, issuer.x509.publicKey, crl.signature);
  } catch {
    return false;
  }
}

// ---- validation ----

export interface ValidationOptions {
  /** Trusted CA certificates (or any certificate trusted as it is). */
  anchors: readonly CertificateInfo[];
  /** Certificates the peer sent beside its leaf (or found in a CMS message). */
  intermediates?: readonly CertificateInfo[];
  /** CRLs: a certificate whose issuer has a CRL here is checked against it. */
  crls?: readonly RevocationList[];
  purpose: CertificatePurpose;
  now?: Date;
}

export type ValidationResult = { ok: true; path: CertificateInfo[] } | { ok: false; problem: CertificateProblem };

const MAX_CHAIN = 8;

/** Builds and checks the path leaf → … → anchor: signatures, CA flags, dates, revocation, the leaf's usage. */
export function validateChain(leaf: CertificateInfo, options: ValidationOptions): ValidationResult {
  const now = options.now ?? new Date();
  const anchors = options.anchors;
  const pool = options.intermediates ?? [];
  const path: CertificateInfo[] = [leaf];
  let current = leaf;
  let trusted = anchors.some((a) => a.sha256 === leaf.sha256);
  while (!trusted) {
    if (path.length > MAX_CHAIN) return fail('unknown-ca', `certificate chain of ${describeCertificate(leaf)} is longer than ${MAX_CHAIN}`);
    const named = [...anchors.map((c) => ({ c, anchor: true })), ...pool.map((c) => ({ c, anchor: false }))].filter(
      // By name (X509_check_issued also wants keyCertSign, and a non-CA issuer deserves its own message).
      ({ c }) => c.sha256 !== current.sha256 && (current.issuer === c.subject || current.x509.checkIssued(c.x509)) && !path.some((p) => p.sha256 === c.sha256),
    );
    const next = named.find(({ c }) => current.x509.verify(c.x509.publicKey));
    if (!next) {
      if (named.length > 0) {
        return fail('bad-signature', `the signature on ${describeCertificate(current)} does not verify with the key of its issuer "${current.issuer}"`);
      }
      if (current === leaf && leaf.subject === leaf.issuer) {
        return fail('unknown-ca', `unknown CA: ${describeCertificate(leaf)} is self-signed and not trusted for it (pin its SHA-256 fingerprint to trust it)`);
      }
      return fail(
        'unknown-ca',
        current === leaf
          ? `unknown CA: ${describeCertificate(leaf)} is issued by "${leaf.issuer}", which is not a trusted CA for it`
          : `unknown CA: the chain of ${describeCertificate(leaf)} ends at "${current.issuer}", which is not a trusted CA for it`,
      );
    }
    path.push(next.c);
    current = next.c;
    trusted = next.anchor;
  }
  // Dates: leaf first, so the operator hears about their partner's certificate before its CA's.
  for (const cert of path) {
    const dated = checkDates(cert, now, cert === leaf ? 'certificate' : 'CA certificate');
    if (dated) return { ok: false, problem: dated };
  }
  for (let i = 1; i < path.length; i++) {
    const issuer = path[i]!;
    if (!issuer.isCA) return fail('not-a-ca', `${describeCertificate(issuer)} issued ${describeCertificate(path[i - 1]!)} but is not a CA (basicConstraints)`);
    if (issuer.keyUsage && !issuer.keyUsage.has('keyCertSign')) {
      return fail('not-a-ca', `${describeCertificate(issuer)} issued ${describeCertificate(path[i - 1]!)} but its key usage lacks keyCertSign`);
    }
  }
  for (let i = 0; i + 1 < path.length; i++) {
    const revoked = checkRevocation(path[i]!, path[i + 1]!, options.crls ?? [], now);
    if (revoked) return { ok: false, problem: revoked };
  }
  const usage = checkPurpose(leaf, options.purpose);
  if (usage) return { ok: false, problem: usage };
  return { ok: true, path };
}

/** Validity dates of one certificate. */
export function checkDates(cert: CertificateInfo, now: Date, what = 'certificate'): CertificateProblem | undefined {
  if (now > cert.notAfter) return { kind: 'expired', message: `${what} ${describeCertificate(cert)} expired on ${isoDate(cert.notAfter)}` };
  if (now < cert.notBefore) return { kind: 'not-yet-valid', message: `${what} ${describeCertificate(cert)} is not valid before ${isoDate(cert.notBefore)}` };
  return undefined;
}

const PURPOSE_KEY_USAGE: Record<CertificatePurpose, { any: KeyUsageName[]; for: string; eku?: string } | undefined> = {
  'tls-client': { any: ['digitalSignature'], for: 'TLS', eku: EKU.clientAuth },
  'tls-server': { any: ['digitalSignature'], for: 'TLS', eku: EKU.serverAuth },
  signing: { any: ['digitalSignature', 'nonRepudiation'], for: 'signing' },
  encryption: { any: ['keyEncipherment'], for: 'encryption (RSA key transport)' },
  authentication: { any: ['keyEncipherment'], for: 'secure authentication (the challenge is enveloped to this key)' },
  any: undefined,
};

/** Key usage and extended key usage of the leaf for `purpose`. */
export function checkPurpose(cert: CertificateInfo, purpose: CertificatePurpose): CertificateProblem | undefined {
  const need = PURPOSE_KEY_USAGE[purpose];
  if (!need) return undefined;
  if (cert.keyUsage && !need.any.some((u) => cert.keyUsage!.has(u))) {
    const has = [...cert.keyUsage].join(', ') || 'none';
    return { kind: 'key-usage', message: `certificate ${describeCertificate(cert)} lacks key usage ${need.any.join(' or ')} needed for ${need.for} (it has: ${has})` };
  }
  if (need.eku && cert.extendedKeyUsage && !cert.extendedKeyUsage.includes(need.eku) && !cert.extendedKeyUsage.includes(EKU.any)) {
    const has = cert.extendedKeyUsage.map((o) => EKU_NAMES[o] ?? o).join(', ') || 'none';
    return { kind: 'extended-key-usage', message: `certificate ${describeCertificate(cert)} is not for ${EKU_NAMES[need.eku]} (extended key usage: ${has})` };
  }
  return undefined;
}

function checkRevocation(cert: CertificateInfo, issuer: CertificateInfo, crls: readonly RevocationList[], now: Date): CertificateProblem | undefined {
  const theirs = crls.filter((crl) => crlIssuedBy(crl, issuer));
  if (theirs.length === 0) {
    const subject = pkijs.Certificate.fromBER(issuer.der).subject;
    const claimed = crls.find((crl) => subject.isEqual(crl.issuerName));
    if (claimed) return { kind: 'crl', message: `the CRL ${claimed.source} names "${issuer.subject}" as issuer but its signature does not verify with that CA's key` };
    return undefined;
  }
  for (const crl of theirs) {
    const when = crl.revoked.get(cert.serialNumber);
    if (when) return { kind: 'revoked', message: `certificate ${describeCertificate(cert)} (serial ${cert.serialNumber}) was revoked on ${isoDate(when)} (CRL ${crl.source})` };
  }
  const fresh = theirs.some((crl) => crl.thisUpdate <= now && (!crl.nextUpdate || crl.nextUpdate >= now));
  if (!fresh) {
    const latest = theirs.reduce((a, b) => (a.thisUpdate > b.thisUpdate ? a : b));
    const when = latest.nextUpdate ? `its next update was due on ${isoDate(latest.nextUpdate)}` : `it is dated ${isoDate(latest.thisUpdate)}`;
    return { kind: 'crl', message: `the CRL of "${issuer.subject}" (${latest.source}) is out of date: ${when}` };
  }
  return undefined;
}

function fail(kind: ProblemKind, message: string): ValidationResult {
  return { ok: false, problem: { kind, message } };
}

/** Days from `now` until `date` (negative once passed), rounded down. */
export function daysUntil(date: Date, now: Date): number {
  return Math.floor((date.getTime() - now.getTime()) / 86_400_000);
}
