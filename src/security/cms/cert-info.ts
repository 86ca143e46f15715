// What CMS needs from an X.509 certificate: the issuer Name and serial number as encoded (for
// IssuerAndSerialNumber, RFC 5652 §10.2.4), the subject key identifier (for a SignerIdentifier or
// RecipientIdentifier in its [0] form), and the RSA public key. Parsed with pkijs; the key comes from
// node:crypto's X509Certificate.

import { type KeyObject, X509Certificate } from 'node:crypto';
import * as pkijs from 'pkijs';
import { LocalUsageError } from '../../errors.ts';
import {
  decode,
  equalBytes,
  isContext,
  isUniversal,
  type Node,
  octetsValue,
  primitiveValue,
  raw,
  sequence,
  sequenceOf,
  TAG,
  tlv,
} from './der.ts';
import type { Fail } from './errors.ts';
import { OID } from './oids.ts';

export interface CertificateInfo {
  der: Uint8Array;
  /** Issuer Name, DER as in the certificate. */
  issuer: Uint8Array;
  /** serialNumber INTEGER value octets (two's complement) as in the certificate. */
  serial: Uint8Array;
  subjectKeyIdentifier: Uint8Array | undefined;
  publicKey: KeyObject;
  /** Subject and serial, for reports and logs. */
  label: string;
}

const cache = new WeakMap<Uint8Array, CertificateInfo>();

/** Parses a DER certificate; a certificate we cannot use is our own configuration error. */
export function certificateInfo(der: Uint8Array, role: string): CertificateInfo {
  const cached = cache.get(der);
  if (cached !== undefined) return cached;
  let info: CertificateInfo;
  try {
    const cert = pkijs.Certificate.fromBER(der);
    const x509 = new X509Certificate(der);
    if (x509.publicKey.asymmetricKeyType !== 'rsa') throw new Error(`${x509.publicKey.asymmetricKeyType} key, RSA needed`);
    const ski = cert.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
    const fail: Fail = (m) => {
      throw new Error(m);
    };
    info = {
      der,
      issuer: new Uint8Array(cert.issuer.valueBeforeDecode),
      serial: new Uint8Array(cert.serialNumber.valueBlock.valueHexView),
      subjectKeyIdentifier:
        ski === undefined
          ? undefined
          : octetsValue(decode(ski.extnValue.valueBlock.valueHexView, 'subjectKeyIdentifier', fail), 'SKI', fail),
      publicKey: x509.publicKey,
      label: `${x509.subject.replaceAll('\n', ', ')} (serial ${x509.serialNumber})`,
    };
  } catch (cause) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `${role} certificate is not usable: ${String(cause)}`, {
      cause,
    });
  }
  cache.set(der, info);
  return info;
}

/** IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }. */
export function issuerAndSerialNumber(info: CertificateInfo): Uint8Array {
  return sequence(info.issuer, tlv(TAG.integer, info.serial));
}

/** A SignerIdentifier / RecipientIdentifier as received. */
export type CertificateId =
  | { kind: 'issuerAndSerialNumber'; issuer: Uint8Array; serial: Uint8Array }
  | { kind: 'subjectKeyIdentifier'; keyIdentifier: Uint8Array };

/** Reads a SignerIdentifier / RecipientIdentifier: IssuerAndSerialNumber or [0] SubjectKeyIdentifier. */
export function certificateIdOf(node: Node | undefined, what: string, fail: Fail): CertificateId {
  if (node !== undefined && isUniversal(node, 16)) {
    const [issuer, serial, extra] = sequenceOf(node, what, fail);
    if (issuer === undefined || !isUniversal(issuer, 16) || extra !== undefined) fail(`${what} is malformed`);
    if (serial === undefined || !isUniversal(serial, 2)) fail(`${what} has no serial number`);
    return { kind: 'issuerAndSerialNumber', issuer: raw(issuer), serial: primitiveValue(serial, what, fail) };
  }
  if (node !== undefined && isContext(node, 0) && !node.idBlock.isConstructed) {
    return { kind: 'subjectKeyIdentifier', keyIdentifier: primitiveValue(node, what, fail) };
  }
  return fail(`${what} is neither IssuerAndSerialNumber nor SubjectKeyIdentifier`);
}

export function matchesCertificate(id: CertificateId, info: CertificateInfo): boolean {
  if (id.kind === 'subjectKeyIdentifier') {
    return info.subjectKeyIdentifier !== undefined && equalBytes(id.keyIdentifier, info.subjectKeyIdentifier);
  }
  if (!equalBytes(stripLeadingZeros(id.serial), stripLeadingZeros(info.serial))) return false;
  if (equalBytes(id.issuer, info.issuer)) return true;
  // Same Name encoded differently (e.g. re-encoded by the sender): compare as pkijs does.
  try {
    const a = pkijs.RelativeDistinguishedNames.fromBER(id.issuer);
    const b = pkijs.RelativeDistinguishedNames.fromBER(info.issuer);
    return a.isEqual(b);
  } catch {
    return false;
  }
}

function stripLeadingZeros(b: Uint8Array): Uint8Array {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && (b[i + 1]! & 0x80) === 0) i++;
  return b.subarray(i);
}

export function describeId(id: CertificateId): string {
  if (id.kind === 'subjectKeyIdentifier') return `subject key identifier ${Buffer.from(id.keyIdentifier).toString('hex')}`;
  return `serial ${Buffer.from(id.serial).toString('hex')}`;
}
