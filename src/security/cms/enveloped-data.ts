// EnvelopedData (RFC 5652 §6) for file encryption (RFC 5024 §6.3) and the AUCH challenge (§5.3.17):
// a fresh content-encryption key per message, sent to each recipient certificate in a
// KeyTransRecipientInfo (IssuerAndSerialNumber, rsaEncryption = RSAES-PKCS1-v1_5, RFC 3370 §4.2.1),
// and the content encrypted with the suite's cipher in CBC mode with PKCS#7 padding (3DES: RFC 3370
// §5.1; AES-256: RFC 3565). Suites 01–06 all use these; none uses AES-GCM (AuthEnvelopedData) or OAEP.
// node:crypto does the cryptography (WebCrypto has neither PKCS#1 v1.5 encryption nor 3DES); the
// private-key step goes through the PrivateKeyHandle.

import { constants, createCipheriv, createDecipheriv, publicEncrypt, randomBytes } from 'node:crypto';
import { LocalUsageError } from '../../errors.ts';
import type { PrivateKeyHandle } from '../../keystore/key-store.ts';
import type { CipherSuite } from '../cipher-suites.ts';
import { type ContentCipher, contentCipherByName, contentCipherByOid, resolveSuite } from './algorithms.ts';
import { BerReader, type ReaderLimits } from './ber-reader.ts';
import { CLOSE_CONTENT_INFO, EOC, openContentInfo, openIndefinite, segments } from './ber-writer.ts';
import {
  type CertificateInfo,
  type CertificateId,
  certificateIdOf,
  certificateInfo,
  describeId,
  issuerAndSerialNumber,
  matchesCertificate,
} from './cert-info.ts';
import {
  algorithm,
  algorithmOf,
  concat,
  decode,
  explicit,
  integer,
  isUniversal,
  NULL,
  type Node,
  octetString,
  octetsValue,
  oid,
  oidValue,
  sequence,
  sequenceOf,
  setItems,
  setOf,
  smallInteger,
  tlv,
} from './der.ts';
import { type Fail, failer } from './errors.ts';
import { OID } from './oids.ts';
import { type CmsTransform, collect, fromBytes } from './stream-util.ts';

export interface EncryptOptions {
  /** SFIDCIPH: its cipher encrypts the content. */
  suite: CipherSuite | number;
  /** Recipient certificates (DER, RSA keys); each can decrypt. */
  recipients: readonly Uint8Array[];
}

interface PreparedEncryption {
  cipher: ContentCipher;
  recipients: CertificateInfo[];
}

function prepare(options: EncryptOptions): PreparedEncryption {
  const suite = resolveSuite(options.suite);
  if (options.recipients.length === 0) throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', 'no recipient certificate given');
  return {
    cipher: contentCipherByName(suite.cipher),
    recipients: options.recipients.map((der, i) => certificateInfo(der, `recipient ${i + 1}`)),
  };
}

/** A content-encryption key; 3DES keys get odd parity, as DES keys are defined (FIPS 46-3). */
function newContentKey(cipher: ContentCipher): Buffer {
  const key = randomBytes(cipher.keyLength);
  if (cipher.name === 'des-ede3-cbc') {
    for (let i = 0; i < key.length; i++) {
      let b = key[i]! & 0xfe;
      let ones = 0;
      for (let v = b; v !== 0; v >>>= 1) ones += v & 1;
      if (ones % 2 === 0) b |= 1;
      key[i] = b;
    }
  }
  return key;
}

function recipientInfos(p: PreparedEncryption, key: Uint8Array): Uint8Array {
  return setOf(
    p.recipients.map((cert) =>
      sequence(
        integer(0),
        issuerAndSerialNumber(cert),
        algorithm(OID.rsaEncryption, NULL),
        octetString(publicEncrypt({ key: cert.publicKey, padding: constants.RSA_PKCS1_PADDING }, key)),
      ),
    ),
  );
}

/** Streaming encrypter: content chunks in, a BER ContentInfo(EnvelopedData) out. A new key per stream. */
export function encodeEnvelopedData(options: EncryptOptions): CmsTransform {
  const p = prepare(options);
  return async function* envelopedData(source) {
    const key = newContentKey(p.cipher);
    const iv = randomBytes(p.cipher.ivLength);
    const cipher = createCipheriv(p.cipher.name, key, iv);
    try {
      yield concat([
        openContentInfo(OID.envelopedData),
        integer(0),
        recipientInfos(p, key),
        openIndefinite(0x30), // EncryptedContentInfo
        oid(OID.data),
        algorithm(p.cipher.oid, octetString(iv)),
        openIndefinite(0xa0), // encryptedContent [0] IMPLICIT OCTET STRING, constructed
      ]);
      for await (const chunk of source) yield* segments(cipher.update(chunk));
      yield* segments(cipher.final());
      yield concat([EOC, EOC, CLOSE_CONTENT_INFO]);
    } finally {
      key.fill(0);
    }
  };
}

/** In-memory encryption (DER, encryptedContent one primitive [0]): the AUCH challenge. */
export function encryptData(content: Uint8Array, options: EncryptOptions): Uint8Array {
  const p = prepare(options);
  const key = newContentKey(p.cipher);
  try {
    const iv = randomBytes(p.cipher.ivLength);
    const cipher = createCipheriv(p.cipher.name, key, iv);
    const encrypted = concat([cipher.update(content), cipher.final()]);
    const eci = sequence(oid(OID.data), algorithm(p.cipher.oid, octetString(iv)), tlv(0x80, encrypted));
    return sequence(oid(OID.envelopedData), explicit(0, sequence(integer(0), recipientInfos(p, key), eci)));
  } finally {
    key.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Decryption

export interface DecryptOptions {
  /** Our decryption key; its certificate picks our RecipientInfo (else each RSA one is tried). */
  key: PrivateKeyHandle;
  limits?: Partial<ReaderLimits>;
}

export interface DecryptReport {
  /** The RecipientInfo that was ours. */
  recipient: string;
  contentEncryption: ContentCipher['name'];
  contentType: string;
  contentLength: number;
}

export interface EnvelopedDataDecoder {
  /** ContentInfo(EnvelopedData) chunks in, the content out; CmsError('decryption') on failure. */
  readonly transform: CmsTransform;
  readonly report: DecryptReport | undefined;
}

export function decodeEnvelopedData(options: DecryptOptions): EnvelopedDataDecoder {
  const handle = options.key;
  const ours = handle.certificate === undefined ? undefined : certificateInfo(handle.certificate, `decryption key ${handle.id}`);
  const decoder = {
    report: undefined as DecryptReport | undefined,
    transform: async function* decryptEnvelopedData(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      const fail: Fail = failer('decryption', 'EnvelopedData');
      const r = new BerReader(source, fail, options.limits);
      try {
        const ci = await r.expect(0x30, 'ContentInfo');
        const type = oidValue(decode(await r.element('contentType'), 'contentType', fail), 'contentType', fail);
        if (type === OID.authEnvelopedData) fail('AuthEnvelopedData (AES-GCM) is not supported: cipher suites 01–06 use CBC');
        if (type !== OID.envelopedData) fail(`content type ${type} is not EnvelopedData`);
        const explicit0 = await r.expect(0xa0, 'ContentInfo content');
        const ed = await r.expect(0x30, 'EnvelopedData');
        const version = smallInteger(decode(await r.element('version'), 'version', fail), 'version', fail);
        if (version < 0 || version > 4) fail(`version ${version}`);
        if ((await r.peek()) === 0xa0) await r.element('originatorInfo');
        const ris = setItems(decode(await r.element('recipientInfos'), 'recipientInfos', fail), 'recipientInfos', fail);
        const eci = await r.expect(0x30, 'EncryptedContentInfo');
        const contentType = oidValue(decode(await r.element('contentType'), 'contentType', fail), 'contentType', fail);
        const alg = algorithmOf(
          decode(await r.element('contentEncryptionAlgorithm'), 'contentEncryptionAlgorithm', fail),
          'contentEncryptionAlgorithm',
          fail,
        );
        const cipher = contentCipherByOid(alg.oid) ?? fail(`unsupported content encryption ${alg.oid}`);
        const iv = octetsValue(alg.parameters, 'IV', fail);
        if (iv.length !== cipher.ivLength) fail(`IV of ${iv.length} octets for ${cipher.name}`);
        const { key, recipient } = await contentKey(ris, handle, ours, cipher, fail);
        let contentLength = 0;
        try {
          if (await r.atEnd(eci)) fail('no encryptedContent');
          const h = await r.header('encryptedContent');
          if (h.tagClass !== 2 || h.tagNumber !== 0) fail('encryptedContent is not [0]');
          const decipher = createDecipheriv(cipher.name, key, iv);
          for await (const piece of r.octets(h, 'encryptedContent')) {
            const out = decipher.update(piece);
            contentLength += out.length;
            if (out.length > 0) yield out;
          }
          let last: Buffer;
          try {
            last = decipher.final();
          } catch (cause) {
            fail('the content does not decrypt (wrong key or corrupted data)', cause);
          }
          contentLength += last.length;
          if (last.length > 0) yield last;
        } finally {
          key.fill(0);
        }
        await r.close(eci, 'EncryptedContentInfo');
        if ((await r.peek()) === 0xa1) await r.element('unprotectedAttrs');
        await r.close(ed, 'EnvelopedData');
        await r.close(explicit0, 'ContentInfo content');
        await r.close(ci, 'ContentInfo');
        await r.finish('ContentInfo');
        decoder.report = { recipient, contentEncryption: cipher.name, contentType, contentLength };
      } finally {
        await r.release();
      }
    },
  };
  return decoder;
}

/** Finds our KeyTransRecipientInfo and decrypts the content-encryption key through the handle. */
async function contentKey(
  ris: Node[],
  handle: PrivateKeyHandle,
  ours: CertificateInfo | undefined,
  cipher: ContentCipher,
  fail: Fail,
): Promise<{ key: Uint8Array; recipient: string }> {
  const candidates: { id: CertificateId; encryptedKey: Uint8Array }[] = [];
  for (const [i, ri] of ris.entries()) {
    if (!isUniversal(ri, 16)) continue; // KeyAgree, KEK, password, other: not for an RSA key
    const [version, rid, keyAlg, encryptedKey] = sequenceOf(ri, `RecipientInfo ${i + 1}`, fail);
    smallInteger(version, `RecipientInfo ${i + 1} version`, fail);
    const id = certificateIdOf(rid, `RecipientInfo ${i + 1} rid`, fail);
    if (ours !== undefined && !matchesCertificate(id, ours)) continue;
    const transport = algorithmOf(keyAlg, `RecipientInfo ${i + 1} keyEncryptionAlgorithm`, fail).oid;
    if (transport !== OID.rsaEncryption) {
      if (ours !== undefined) fail(`key transport ${transport} is not RSAES-PKCS1-v1_5`);
      continue;
    }
    candidates.push({ id, encryptedKey: octetsValue(encryptedKey, `RecipientInfo ${i + 1} encryptedKey`, fail) });
  }
  if (candidates.length === 0) {
    fail(ours !== undefined ? `no RecipientInfo for ${ours.label}` : 'no RSA KeyTransRecipientInfo');
  }
  let cause: unknown;
  for (const c of candidates) {
    let key: Uint8Array;
    try {
      key = await handle.decrypt(c.encryptedKey);
    } catch (error) {
      cause = error;
      continue;
    }
    // A wrong key gives an error or, with implicit rejection, a random key of a random length.
    if (key.length === cipher.keyLength) return { key, recipient: ours?.label ?? describeId(c.id) };
    key.fill(0);
  }
  return fail(`the content-encryption key does not decrypt with ${handle.id}`, cause);
}

/** In-memory decryption. */
export async function decryptData(message: Uint8Array, options: DecryptOptions): Promise<Uint8Array> {
  return collect(decodeEnvelopedData(options).transform(fromBytes(message)));
}
