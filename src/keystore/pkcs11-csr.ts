// A PKCS #10 certificate signing request (RFC 2986) whose signature comes from a PrivateKeyHandle —
// for a token key, made by the token: CertificationRequestInfo is encoded here (asn1js) and its DER
// is what the key signs (RSASSA-PKCS1-v1_5 with SHA-256).
import type { KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ConfigError } from '../errors.ts';
import type { HashAlgorithm, PrivateKeyHandle } from './key-store.ts';

const ATTRIBUTE_OIDS: Readonly<Record<string, { oid: string; kind: 'utf8' | 'printable' | 'ia5' }>> = {
  CN: { oid: '2.5.4.3', kind: 'utf8' },
  SERIALNUMBER: { oid: '2.5.4.5', kind: 'printable' },
  C: { oid: '2.5.4.6', kind: 'printable' },
  L: { oid: '2.5.4.7', kind: 'utf8' },
  ST: { oid: '2.5.4.8', kind: 'utf8' },
  STREET: { oid: '2.5.4.9', kind: 'utf8' },
  O: { oid: '2.5.4.10', kind: 'utf8' },
  OU: { oid: '2.5.4.11', kind: 'utf8' },
  DC: { oid: '0.9.2342.19200300.100.1.25', kind: 'ia5' },
  EMAILADDRESS: { oid: '1.2.840.113549.1.9.1', kind: 'ia5' },
  E: { oid: '1.2.840.113549.1.9.1', kind: 'ia5' },
};

const SIGNATURE_OIDS: Readonly<Record<HashAlgorithm, string>> = {
  sha1: '1.2.840.113549.1.1.5',
  sha256: '1.2.840.113549.1.1.11',
  sha512: '1.2.840.113549.1.1.13',
};

export interface SubjectAttribute {
  type: string;
  value: string;
}

/**
 * "CN=station,O=ACME,C=DE" (RFC 4514: the first attribute is the most specific) → attributes in
 * encoding order (C, O, CN). Backslash escapes a comma, plus, equals sign or backslash.
 */
export function parseSubject(subject: string): SubjectAttribute[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < subject.length; i++) {
    const ch = subject[i]!;
    if (ch === '\\' && i + 1 < subject.length) {
      current += subject[++i];
    } else if (ch === ',') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  const attributes = parts.map((part) => {
    const eq = part.indexOf('=');
    const type = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (eq < 1 || value === '') throw new ConfigError('OFTP_ERR_USAGE', `subject part "${part.trim()}" is not TYPE=value`);
    if (ATTRIBUTE_OIDS[type.toUpperCase()] === undefined) {
      throw new ConfigError('OFTP_ERR_USAGE', `subject attribute "${type}" unknown (use ${Object.keys(ATTRIBUTE_OIDS).join(', ')})`);
    }
    if (type.toUpperCase() === 'C' && !/^[A-Za-z]{2}$/.test(value)) throw new ConfigError('OFTP_ERR_USAGE', `C=${value}: a country is two letters`);
    return { type: type.toUpperCase(), value };
  });
  return attributes.reverse();
}

/** DER of a Name: SEQUENCE OF SET OF AttributeTypeAndValue, one attribute per RDN. */
export function encodeName(attributes: SubjectAttribute[]): asn1js.Sequence {
  return new asn1js.Sequence({
    value: attributes.map(({ type, value }) => {
      const spec = ATTRIBUTE_OIDS[type]!;
      const text =
        spec.kind === 'printable'
          ? new asn1js.PrintableString({ value })
          : spec.kind === 'ia5'
            ? new asn1js.IA5String({ value })
            : new asn1js.Utf8String({ value });
      return new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: spec.oid }), text] })] });
    }),
  });
}

/**
 * A CSR for `key` (whose public key is `publicKey`) with `subject`, signed by the key itself.
 * Returns DER.
 */
export async function createCsr(key: PrivateKeyHandle, publicKey: KeyObject, subject: string, hash: HashAlgorithm = 'sha256'): Promise<Buffer> {
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const info = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 0 }),
      encodeName(parseSubject(subject)),
      asn1js.fromBER(spki).result,
      // attributes [0] IMPLICIT SET OF Attribute: none
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [] }),
    ],
  });
  const tbs = Buffer.from(info.toBER(false));
  const signature = await key.sign(hash, tbs);
  const request = new asn1js.Sequence({
    value: [
      asn1js.fromBER(tbs).result,
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: SIGNATURE_OIDS[hash] }), new asn1js.Null()] }),
      new asn1js.BitString({ valueHex: new Uint8Array(signature).buffer }),
    ],
  });
  return Buffer.from(request.toBER(false));
}

/** PEM armour for DER. */
export function pem(label: string, der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}
