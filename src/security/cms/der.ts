// The small DER structures around the streamed content (algorithm identifiers, RecipientInfos,
// SignerInfos, signed attributes) and the BER decoding of the ones received.
//
// Encoding composes definite-length TLVs; leaf values (OIDs, times) are encoded by asn1js. We compose
// the TLVs ourselves because the structures embed received or certificate bytes verbatim (an issuer
// Name, a certificate) and because signed attributes must be a DER SET OF, sorted (X.690 §11.6):
// OpenSSL re-encodes the attributes before checking a signature, so an unsorted SET would not verify.
// Decoding uses asn1js (BER, indefinite lengths included) and keeps each element's raw octets.

import * as asn1js from 'asn1js';
import type { Fail } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Encoding

/** Length octets (X.690 §8.1.3), definite form. */
export function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One TLV with a single-octet tag and a definite length. */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array {
  const value = concat(contents);
  return concat([Uint8Array.of(tag), encodeLength(value.length), value]);
}

export const TAG = {
  integer: 0x02,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  set: 0x31,
  constructedOctetString: 0x24,
  /** [n] constructed (EXPLICIT, or IMPLICIT of a constructed type). */
  context: (n: number): number => 0xa0 | n,
  /** [n] primitive (IMPLICIT of a primitive type). */
  contextPrimitive: (n: number): number => 0x80 | n,
} as const;

export const sequence = (...items: Uint8Array[]): Uint8Array => tlv(TAG.sequence, ...items);
export const octetString = (value: Uint8Array): Uint8Array => tlv(TAG.octetString, value);
export const explicit = (n: number, ...items: Uint8Array[]): Uint8Array => tlv(TAG.context(n), ...items);
export const NULL = Uint8Array.of(TAG.null, 0);

/** DER SET OF: the element encodings in ascending order (X.690 §11.6). */
export function setOf(elements: readonly Uint8Array[], tag: number = TAG.set): Uint8Array {
  return tlv(tag, ...[...elements].sort(compareOctets));
}

/** X.690 §11.6 order: as octet strings, a shorter one padded at its end with 0-octets. */
export function compareOctets(a: Uint8Array, b: Uint8Array): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function integer(value: number): Uint8Array {
  return new Uint8Array(new asn1js.Integer({ value }).toBER());
}

const oidCache = new Map<string, Uint8Array>();
export function oid(dotted: string): Uint8Array {
  let encoded = oidCache.get(dotted);
  if (encoded === undefined) {
    encoded = new Uint8Array(new asn1js.ObjectIdentifier({ value: dotted }).toBER());
    oidCache.set(dotted, encoded);
  }
  return encoded;
}

/** AlgorithmIdentifier with absent parameters, or with the given DER parameters. */
export function algorithm(dotted: string, parameters?: Uint8Array): Uint8Array {
  return parameters === undefined ? sequence(oid(dotted)) : sequence(oid(dotted), parameters);
}

/** RFC 5652 §11.3 Time: UTCTime for 1950–2049, GeneralizedTime otherwise; whole seconds, 'Z'. */
export function time(date: Date): Uint8Array {
  const d = new Date(Math.floor(date.getTime() / 1000) * 1000);
  const year = d.getUTCFullYear();
  if (year >= 1950 && year < 2050) return new Uint8Array(new asn1js.UTCTime({ valueDate: d }).toBER());
  return new Uint8Array(new asn1js.GeneralizedTime({ valueDate: d }).toBER());
}

// ---------------------------------------------------------------------------------------------
// Decoding

export type Node = asn1js.AsnType;

/** Decodes one complete BER element; anything else (an error, trailing octets) is `fail`. */
export function decode(bytes: Uint8Array, what: string, fail: Fail): Node {
  const { offset, result } = asn1js.fromBER(bytes);
  if (offset === -1 || result.error) fail(`${what} is not valid BER (${result.error || 'undecodable'})`);
  if (offset !== bytes.length) fail(`${what} has ${bytes.length - offset} octets after its end`);
  return result;
}

export function isUniversal(node: Node, tagNumber: number): boolean {
  return node.idBlock.tagClass === 1 && node.idBlock.tagNumber === tagNumber;
}

export function isContext(node: Node, tagNumber: number): boolean {
  return node.idBlock.tagClass === 3 && node.idBlock.tagNumber === tagNumber;
}

/** The raw octets of the element as received (tag, length and value). */
export function raw(node: Node): Uint8Array {
  return node.valueBeforeDecodeView;
}

export function children(node: Node, what: string, fail: Fail): Node[] {
  const value = (node.valueBlock as { value?: unknown }).value;
  if (!node.idBlock.isConstructed || !Array.isArray(value)) fail(`${what} is not constructed`);
  return value as Node[];
}

export function sequenceOf(node: Node, what: string, fail: Fail): Node[] {
  if (!isUniversal(node, 16)) fail(`${what} is not a SEQUENCE`);
  return children(node, what, fail);
}

export function setItems(node: Node, what: string, fail: Fail): Node[] {
  if (!isUniversal(node, 17)) fail(`${what} is not a SET`);
  return children(node, what, fail);
}

export function oidValue(node: Node | undefined, what: string, fail: Fail): string {
  if (node === undefined || !(node instanceof asn1js.ObjectIdentifier)) fail(`${what} is not an OBJECT IDENTIFIER`);
  return node.getValue();
}

/** Value octets of a primitive element (an INTEGER's two's complement, an IMPLICIT primitive). */
export function primitiveValue(node: Node | undefined, what: string, fail: Fail): Uint8Array {
  if (node === undefined || node.idBlock.isConstructed) fail(`${what} is missing or not primitive`);
  return (node.valueBlock as { valueHexView?: Uint8Array }).valueHexView ?? fail(`${what} has no value`);
}

/** An OCTET STRING's value, concatenating the segments of a constructed one (any nesting). */
export function octetsValue(node: Node | undefined, what: string, fail: Fail, depth = 0): Uint8Array {
  if (node === undefined || !isUniversal(node, 4)) fail(`${what} is not an OCTET STRING`);
  if (!node.idBlock.isConstructed) return primitiveValue(node, what, fail);
  if (depth > 16) fail(`${what} is nested too deeply`);
  return concat(children(node, what, fail).map((segment) => octetsValue(segment, what, fail, depth + 1)));
}

export function smallInteger(node: Node | undefined, what: string, fail: Fail): number {
  if (node === undefined || !(node instanceof asn1js.Integer)) fail(`${what} is not an INTEGER`);
  const value = node.valueBlock.valueDec;
  if (!Number.isSafeInteger(value)) fail(`${what} is out of range`);
  return value;
}

/** AlgorithmIdentifier: the OID and the parameters element, if any. */
export function algorithmOf(node: Node | undefined, what: string, fail: Fail): { oid: string; parameters: Node | undefined } {
  if (node === undefined) return fail(`${what} is missing`);
  const [id, parameters, extra] = sequenceOf(node, what, fail);
  if (extra !== undefined) fail(`${what} has extra elements`);
  return { oid: oidValue(id, `${what} algorithm`, fail), parameters };
}

export function timeValue(node: Node | undefined): Date | undefined {
  if (node instanceof asn1js.UTCTime || node instanceof asn1js.GeneralizedTime) return node.toDate();
  return undefined;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
