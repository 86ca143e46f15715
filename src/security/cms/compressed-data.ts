// CompressedData (RFC 3274) with zlib (RFC 1950, id-alg-zlibCompress) for file compression
// (RFC 5024 §6.4). pkijs has no CompressedData, so it is written here:
//
//   ContentInfo { id-ct-compressedData, [0] CompressedData {
//     version 0, compressionAlgorithm { id-alg-zlibCompress } (parameters absent),
//     encapContentInfo { id-data, [0] OCTET STRING <zlib stream> } } }
//
// Both directions stream through node:zlib; the outer lengths are indefinite.

import { createDeflate, createInflate } from 'node:zlib';
import { BerReader, type ReaderLimits } from './ber-reader.ts';
import { CLOSE_CONTENT_INFO, EOC, openContentInfo, openIndefinite, segments } from './ber-writer.ts';
import { algorithm, algorithmOf, concat, decode, explicit, integer, octetString, oid, oidValue, sequence, smallInteger } from './der.ts';
import { CmsError, type Fail, failer } from './errors.ts';
import { OID } from './oids.ts';
import { type CmsTransform, collect, fromBytes, through } from './stream-util.ts';

export interface CompressOptions {
  /** zlib level 0–9 (default 6, zlib's default). */
  level?: number;
}

const ZLIB = algorithm(OID.zlibCompress);

/** Streaming compressor: content chunks in, a BER ContentInfo(CompressedData) out. */
export function encodeCompressedData(options: CompressOptions = {}): CmsTransform {
  return async function* compressedData(source) {
    yield concat([
      openContentInfo(OID.compressedData),
      integer(0),
      ZLIB,
      openIndefinite(0x30), // EncapsulatedContentInfo
      oid(OID.data),
      openIndefinite(0xa0),
      openIndefinite(0x24),
    ]);
    const deflate = createDeflate({ level: options.level ?? 6, chunkSize: 1 << 14 });
    for await (const chunk of through(source, deflate, (e) => e as Error)) yield* segments(chunk);
    yield concat([EOC, EOC, EOC, CLOSE_CONTENT_INFO]);
  };
}

/** In-memory compressor (DER, one OCTET STRING). */
export async function compressData(content: Uint8Array, options: CompressOptions = {}): Promise<Uint8Array> {
  const compressed = await collect(through(fromBytes(content), createDeflate({ level: options.level ?? 6 }), (e) => e as Error));
  const cd = sequence(integer(0), ZLIB, sequence(oid(OID.data), explicit(0, octetString(compressed))));
  return sequence(oid(OID.compressedData), explicit(0, cd));
}

export interface DecompressOptions {
  /** Largest content to produce (a guard against decompression bombs); unlimited by default. */
  maxBytes?: number;
  limits?: Partial<ReaderLimits>;
}

export interface DecompressReport {
  contentType: string;
  compressedLength: number;
  contentLength: number;
}

export interface CompressedDataDecoder {
  /** ContentInfo(CompressedData) chunks in, the content out; CmsError('decompression') on failure. */
  readonly transform: CmsTransform;
  readonly report: DecompressReport | undefined;
}

export function decodeCompressedData(options: DecompressOptions = {}): CompressedDataDecoder {
  const decoder = {
    report: undefined as DecompressReport | undefined,
    transform: async function* decompressData(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      const fail: Fail = failer('decompression', 'CompressedData');
      const r = new BerReader(source, fail, options.limits);
      try {
        const ci = await r.expect(0x30, 'ContentInfo');
        const type = oidValue(decode(await r.element('contentType'), 'contentType', fail), 'contentType', fail);
        if (type !== OID.compressedData) fail(`content type ${type} is not CompressedData`);
        const explicit0 = await r.expect(0xa0, 'ContentInfo content');
        const cd = await r.expect(0x30, 'CompressedData');
        const version = smallInteger(decode(await r.element('version'), 'version', fail), 'version', fail);
        if (version !== 0) fail(`version ${version}`);
        const alg = algorithmOf(decode(await r.element('compressionAlgorithm'), 'compressionAlgorithm', fail), 'compressionAlgorithm', fail);
        if (alg.oid !== OID.zlibCompress) fail(`compression algorithm ${alg.oid} is not zlib`);
        const encap = await r.expect(0x30, 'EncapsulatedContentInfo');
        const contentType = oidValue(decode(await r.element('eContentType'), 'eContentType', fail), 'eContentType', fail);
        if (await r.atEnd(encap)) fail('no eContent');
        const e0 = await r.expect(0xa0, 'eContent');
        const os = await r.header('eContent');
        if (os.tagClass !== 0 || os.tagNumber !== 4) fail('eContent is not an OCTET STRING');
        let compressedLength = 0;
        let contentLength = 0;
        const compressed = (async function* () {
          for await (const piece of r.octets(os, 'eContent')) {
            compressedLength += piece.length;
            yield piece;
          }
        })();
        const wrap = (e: unknown): Error =>
          e instanceof CmsError ? e : new CmsError('decompression', `CompressedData: zlib: ${(e as Error).message}`, { cause: e });
        for await (const out of through(compressed, createInflate({ chunkSize: 1 << 14 }), wrap)) {
          contentLength += out.length;
          if (options.maxBytes !== undefined && contentLength > options.maxBytes) {
            fail(`content is larger than the limit of ${options.maxBytes} octets`);
          }
          yield out;
        }
        await r.close(e0, 'eContent');
        await r.close(encap, 'EncapsulatedContentInfo');
        await r.close(cd, 'CompressedData');
        await r.close(explicit0, 'ContentInfo content');
        await r.close(ci, 'ContentInfo');
        await r.finish('ContentInfo');
        decoder.report = { contentType, compressedLength, contentLength };
      } finally {
        await r.release();
      }
    },
  };
  return decoder;
}

/** In-memory decompression. */
export async function decompressData(message: Uint8Array, options: DecompressOptions = {}): Promise<Uint8Array> {
  return collect(decodeCompressedData(options).transform(fromBytes(message)));
}
