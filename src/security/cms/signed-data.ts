// SignedData (RFC 5652 §5) for file signing (RFC 5024 §6.2) and receipts (§5.3.13–14): the content
// is encapsulated (id-data), one SignerInfo per key (several during a certificate changeover, §6.2),
// signed attributes contentType, signingTime and messageDigest, RSASSA-PKCS1-v1_5 with the suite's
// digest through a PrivateKeyHandle. Certificates are left out unless asked for (§6.2 recommends so).
//
// Streaming: encodeSignedData writes the outer structure with indefinite lengths and the content as
// OCTET STRING segments, hashing as it goes; the SignerInfos follow the content. decodeSignedData
// hands the content on as it arrives, hashing it with every announced digest, and checks the
// signatures at the end: the content it has handed on is not verified until its transform completes
// without error (write it to a temporary file and keep it only then).

import { constants, createHash, type KeyObject, publicDecrypt, verify } from 'node:crypto';
import { LocalUsageError } from '../../errors.ts';
import type { PrivateKeyHandle } from '../../keystore/key-store.ts';
import type { CipherSuite } from '../cipher-suites.ts';
import { DIGEST_OID, type DigestName, digestByOid, resolveSuite, rsaSignatureDigest } from './algorithms.ts';
import { BerReader, type ReaderLimits } from './ber-reader.ts';
import { CLOSE_CONTENT_INFO, EOC, openContentInfo, openIndefinite, segments } from './ber-writer.ts';
import {
  type CertificateInfo,
  certificateIdOf,
  certificateInfo,
  describeId,
  issuerAndSerialNumber,
  matchesCertificate,
} from './cert-info.ts';
import {
  algorithm,
  algorithmOf,
  children,
  concat,
  decode,
  equalBytes,
  explicit,
  integer,
  isContext,
  isUniversal,
  NULL,
  type Node,
  octetString,
  octetsValue,
  oid,
  oidValue,
  raw,
  sequence,
  sequenceOf,
  setItems,
  setOf,
  smallInteger,
  time,
  timeValue,
} from './der.ts';
import { type Fail, failer } from './errors.ts';
import { OID } from './oids.ts';
import { createDigester, type Digester } from './digester.ts';
import { type CmsTransform, collect, fromBytes } from './stream-util.ts';

export interface SignOptions {
  /** SFIDCIPH: its hash is the digest of the signatures. */
  suite: CipherSuite | number;
  /** One key, or several during a certificate changeover (§6.2); each must carry its certificate. */
  signers: readonly PrivateKeyHandle[];
  /** Put the signers' certificates in the message (default false, §6.2). */
  includeCertificates?: boolean;
  /** signingTime attribute; the current time by default. */
  signingTime?: Date;
  /** Digest on a worker thread, beside the main thread's work (large files; see digester.ts). */
  parallelDigest?: boolean;
}

interface Prepared {
  suite: CipherSuite;
  signers: { handle: PrivateKeyHandle; cert: CertificateInfo }[];
  digestAlgorithm: Uint8Array;
  /** digestAlgorithms SET. */
  digestAlgorithms: Uint8Array;
  /** [0] IMPLICIT CertificateSet, or empty. */
  certificates: Uint8Array;
  signingTime: Date | undefined;
  parallelDigest: boolean;
}

function prepare(options: SignOptions): Prepared {
  const suite = resolveSuite(options.suite);
  if (options.signers.length === 0) throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', 'no signing key given');
  const signers = options.signers.map((handle) => {
    if (handle.certificate === undefined) {
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `signing key ${handle.id} has no certificate`);
    }
    return { handle, cert: certificateInfo(handle.certificate, `signing key ${handle.id}`) };
  });
  const digestAlgorithm = algorithm(DIGEST_OID[suite.hash]);
  return {
    suite,
    signers,
    digestAlgorithm,
    digestAlgorithms: setOf([digestAlgorithm]),
    certificates: options.includeCertificates ? setOf(signers.map((s) => s.cert.der), 0xa0) : new Uint8Array(0),
    signingTime: options.signingTime,
    parallelDigest: options.parallelDigest ?? false,
  };
}

/** The SignerInfos SET for a content digest: each key signs the DER signed attributes. */
async function signerInfos(p: Prepared, digest: Uint8Array): Promise<Uint8Array> {
  const attributes = [
    sequence(oid(OID.contentType), setOf([oid(OID.data)])),
    sequence(oid(OID.signingTime), setOf([time(p.signingTime ?? new Date())])),
    sequence(oid(OID.messageDigest), setOf([octetString(digest)])),
  ];
  const toSign = setOf(attributes); // RFC 5652 §5.4: the DER SET OF, tag 0x31
  const inSignerInfo = setOf(attributes, 0xa0); // [0] IMPLICIT
  const infos: Uint8Array[] = [];
  for (const { handle, cert } of p.signers) {
    // one at a time: a PKCS#11 token may not take concurrent operations
    const signature = await handle.sign(p.suite.hash, toSign);
    infos.push(
      sequence(
        integer(1),
        issuerAndSerialNumber(cert),
        p.digestAlgorithm,
        inSignerInfo,
        algorithm(OID.rsaEncryption, NULL),
        octetString(signature),
      ),
    );
  }
  return setOf(infos);
}

/** Streaming signer: content chunks in, a BER ContentInfo(SignedData) out. One stream per call. */
export function encodeSignedData(options: SignOptions): CmsTransform {
  const p = prepare(options);
  return async function* signedData(source) {
    const digester = createDigester(p.suite.hash, p.parallelDigest);
    try {
      yield concat([
        openContentInfo(OID.signedData),
        integer(1),
        p.digestAlgorithms,
        openIndefinite(0x30), // EncapsulatedContentInfo
        oid(OID.data),
        openIndefinite(0xa0), // eContent [0] EXPLICIT
        openIndefinite(0x24), // OCTET STRING, constructed
      ]);
      for await (const chunk of source) {
        const wait = digester.update(chunk);
        if (wait !== undefined) await wait;
        yield* segments(chunk);
      }
      const infos = await signerInfos(p, await digester.digest());
      yield concat([EOC, EOC, EOC, p.certificates, infos, CLOSE_CONTENT_INFO]);
    } finally {
      digester.close();
    }
  };
}

/** In-memory signer: a DER ContentInfo(SignedData) with the content as one OCTET STRING (receipts). */
export async function signData(content: Uint8Array, options: SignOptions): Promise<Uint8Array> {
  const p = prepare(options);
  const infos = await signerInfos(p, createHash(p.suite.hash).update(content).digest());
  const signed = sequence(
    integer(1),
    p.digestAlgorithms,
    sequence(oid(OID.data), explicit(0, octetString(content))),
    p.certificates,
    infos,
  );
  return sequence(oid(OID.signedData), explicit(0, signed));
}

// ---------------------------------------------------------------------------------------------
// Verification

export interface VerifyOptions {
  /** The partner's signing certificates (DER) we accept; a signer must be one of them. */
  certificates: readonly Uint8Array[];
  limits?: Partial<ReaderLimits>;
  /** Digest on a worker thread, beside the main thread's work (large files; see digester.ts). */
  parallelDigest?: boolean;
}

export interface SignerResult {
  /** Position of the SignerInfo in the message, from 0. */
  index: number;
  /** 'verified', or 'unknown-certificate' when none of the given certificates is this signer's. */
  status: 'verified' | 'unknown-certificate';
  /** The certificate that verified (DER), when verified. */
  certificate: Uint8Array | undefined;
  /** Subject and serial of the certificate, or the identifier in the message. */
  signer: string;
  digestAlgorithm: DigestName;
  signingTime: Date | undefined;
}

export interface VerifyReport {
  /** eContentType (RFC 5024 §6.1: id-data). */
  contentType: string;
  contentLength: number;
  /** The first signer that verified. */
  verified: SignerResult;
  signers: SignerResult[];
  /** Certificates carried in the message (not trusted for verification). */
  embeddedCertificates: Uint8Array[];
}

export interface SignedDataDecoder {
  /** ContentInfo(SignedData) chunks in, the content out; throws CmsError('signature') at the end if it fails. */
  readonly transform: CmsTransform;
  /** Set once the transform has completed and a signer verified. */
  readonly report: VerifyReport | undefined;
}

export function decodeSignedData(options: VerifyOptions): SignedDataDecoder {
  const trusted = options.certificates.map((der) => certificateInfo(der, 'partner signing'));
  const decoder = {
    report: undefined as VerifyReport | undefined,
    transform: async function* verifySignedData(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      const fail: Fail = failer('signature', 'SignedData');
      const r = new BerReader(source, fail, options.limits);
      const digesters = new Map<DigestName, Digester>();
      try {
        const ci = await r.expect(0x30, 'ContentInfo');
        const type = oidValue(decode(await r.element('contentType'), 'contentType', fail), 'contentType', fail);
        if (type !== OID.signedData) fail(`content type ${type} is not SignedData`);
        const explicit0 = await r.expect(0xa0, 'ContentInfo content');
        const sd = await r.expect(0x30, 'SignedData');
        const version = smallInteger(decode(await r.element('version'), 'version', fail), 'version', fail);
        if (version < 1 || version > 5) fail(`version ${version}`);
        const digestAlgorithms = setItems(
          decode(await r.element('digestAlgorithms'), 'digestAlgorithms', fail),
          'digestAlgorithms',
          fail,
        );
        for (const a of digestAlgorithms) {
          const name = digestByOid(algorithmOf(a, 'digestAlgorithm', fail).oid);
          if (name !== undefined && !digesters.has(name)) digesters.set(name, createDigester(name, options.parallelDigest ?? false));
        }
        const encap = await r.expect(0x30, 'EncapsulatedContentInfo');
        const contentType = oidValue(decode(await r.element('eContentType'), 'eContentType', fail), 'eContentType', fail);
        if (await r.atEnd(encap)) fail('no eContent: a detached signature (RFC 5024 §6.2 needs the content inside)');
        const e0 = await r.expect(0xa0, 'eContent');
        const os = await r.header('eContent');
        if (os.tagClass !== 0 || os.tagNumber !== 4) fail('eContent is not an OCTET STRING');
        let contentLength = 0;
        const all = [...digesters.values()];
        for await (const piece of r.octets(os, 'eContent')) {
          for (const d of all) {
            const wait = d.update(piece);
            if (wait !== undefined) await wait;
          }
          contentLength += piece.length;
          yield piece;
        }
        await r.close(e0, 'eContent');
        await r.close(encap, 'EncapsulatedContentInfo');

        let embedded: Node[] = [];
        if ((await r.peek()) === 0xa0) {
          embedded = children(decode(await r.element('certificates'), 'certificates', fail), 'certificates', fail);
        }
        if ((await r.peek()) === 0xa1) await r.element('crls');
        const infos = setItems(decode(await r.element('signerInfos'), 'signerInfos', fail), 'signerInfos', fail);
        await r.close(sd, 'SignedData');
        await r.close(explicit0, 'ContentInfo content');
        await r.close(ci, 'ContentInfo');
        await r.finish('ContentInfo');

        const digests = new Map<DigestName, Uint8Array>();
        for (const [name, d] of digesters) digests.set(name, await d.digest());
        const signers = infos.map((info, index) => checkSigner(info, index, { digests, contentType, trusted }, fail));
        if (signers.length === 0) fail('no SignerInfo');
        const verified = signers.find((s) => s.status === 'verified');
        if (verified === undefined) {
          fail(`no signer is one of the ${trusted.length} partner certificate(s): ${signers.map((s) => s.signer).join('; ')}`);
        }
        decoder.report = {
          contentType,
          contentLength,
          verified,
          signers,
          embeddedCertificates: embedded.filter((c) => isUniversal(c, 16)).map((c) => Uint8Array.from(raw(c))),
        };
      } finally {
        for (const d of digesters.values()) d.close();
        await r.release();
      }
    },
  };
  return decoder;
}

/** In-memory verification (receipts): the content and the report. */
export async function verifySignedData(
  message: Uint8Array,
  options: VerifyOptions,
): Promise<{ content: Uint8Array; report: VerifyReport }> {
  const decoder = decodeSignedData(options);
  const content = await collect(decoder.transform(fromBytes(message)));
  return { content, report: decoder.report! };
}

interface SignerContext {
  digests: Map<DigestName, Uint8Array>;
  contentType: string;
  trusted: CertificateInfo[];
}

function checkSigner(info: Node, index: number, ctx: SignerContext, fail: Fail): SignerResult {
  const what = `SignerInfo ${index + 1}`;
  const items = sequenceOf(info, what, fail);
  const [versionNode, sidNode, digestNode] = items;
  smallInteger(versionNode, `${what} version`, fail);
  let at = 3;
  let signedAttrs: Node | undefined;
  if (items[at] !== undefined && isContext(items[at]!, 0)) signedAttrs = items[at++];
  const signatureAlgorithm = algorithmOf(items[at++], `${what} signatureAlgorithm`, fail).oid;
  const signature = octetsValue(items[at++], `${what} signature`, fail);

  const sid = certificateIdOf(sidNode, `${what} sid`, fail);
  const digestOid = algorithmOf(digestNode, `${what} digestAlgorithm`, fail).oid;
  const digestName = digestByOid(digestOid) ?? fail(`${what}: unsupported digest algorithm ${digestOid}`);
  const digest = ctx.digests.get(digestName) ?? fail(`${what}: digest ${digestName} is not among digestAlgorithms`);
  const bound = rsaSignatureDigest(signatureAlgorithm);
  if (bound === undefined) fail(`${what}: unsupported signature algorithm ${signatureAlgorithm}`);
  if (bound !== 'any' && bound !== digestName) fail(`${what}: signature algorithm does not use ${digestName}`);

  let signingTime: Date | undefined;
  if (signedAttrs !== undefined) {
    const seen = new Map<string, Node[]>();
    for (const attribute of children(signedAttrs, `${what} signedAttrs`, fail)) {
      const [type, values] = sequenceOf(attribute, `${what} attribute`, fail);
      const id = oidValue(type, `${what} attribute type`, fail);
      if (seen.has(id)) fail(`${what}: attribute ${id} appears twice`);
      seen.set(id, setItems(values ?? fail(`${what}: attribute without values`), `${what} attribute values`, fail));
    }
    const single = (id: string, name: string): Node => {
      const values = seen.get(id);
      if (values === undefined || values.length !== 1) fail(`${what}: needs exactly one ${name} attribute value`);
      return values[0]!;
    };
    const contentType = oidValue(single(OID.contentType, 'contentType'), `${what} contentType`, fail);
    if (contentType !== ctx.contentType) fail(`${what}: contentType attribute differs from eContentType`);
    const messageDigest = octetsValue(single(OID.messageDigest, 'messageDigest'), `${what} messageDigest`, fail);
    if (!equalBytes(messageDigest, digest)) fail(`${what}: the content does not match its message digest`);
    if (seen.has(OID.signingTime)) signingTime = timeValue(single(OID.signingTime, 'signingTime'));
  } else if (ctx.contentType !== OID.data) {
    fail(`${what}: signed attributes are required for content type ${ctx.contentType}`);
  }

  const cert = ctx.trusted.find((c) => matchesCertificate(sid, c));
  if (cert === undefined) {
    return { index, status: 'unknown-certificate', certificate: undefined, signer: describeId(sid), digestAlgorithm: digestName, signingTime };
  }
  let valid: boolean;
  if (signedAttrs !== undefined) {
    const signed = Uint8Array.from(raw(signedAttrs));
    signed[0] = 0x31; // RFC 5652 §5.4: the signature covers the EXPLICIT SET OF tag
    valid = safeVerify(() => verify(digestName, signed, { key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature));
  } else {
    valid = safeVerify(() => verifyDigestInfo(cert.publicKey, digestName, digest, signature));
  }
  if (!valid) fail(`${what}: the signature of ${cert.label} is not valid`);
  return { index, status: 'verified', certificate: cert.der, signer: cert.label, digestAlgorithm: digestName, signingTime };
}

function safeVerify(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}

/** RSASSA-PKCS1-v1_5 over a digest (no signed attributes): recover the DigestInfo and compare. */
function verifyDigestInfo(key: KeyObject, digestName: DigestName, digest: Uint8Array, signature: Uint8Array): boolean {
  const recovered = publicDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, signature);
  const withNull = sequence(algorithm(DIGEST_OID[digestName], NULL), octetString(digest));
  const absent = sequence(algorithm(DIGEST_OID[digestName]), octetString(digest));
  return equalBytes(recovered, withNull) || equalBytes(recovered, absent);
}
