// Stream Transmission Buffer (RFC 5024 §8): a 4-octet header in front of every exchange buffer on TCP.
// Header: version 0001 (4 bits), flags 0000 (4 bits), length of header + buffer (24 bits, network order).
// The deframer takes chunks of any size (down to one octet) and yields whole exchange buffers.
// A buffer that arrives inside one chunk is returned as a view of that chunk (no copy); one that spans
// chunks is copied once into a buffer of its exact size. Memory held is bounded by the largest buffer.
import { FramingError } from '../errors.ts';
import { EsidReason } from './reason-codes.ts';

export const STB_HEADER_LENGTH = 4;
const STB_VERSION = 1;
/** Largest exchange buffer SSIDSDEB can negotiate (§5.3.2). */
export const MAX_EXCHANGE_BUFFER_SIZE = 99999;

/** Writes the header for an exchange buffer of `exchangeBufferLength` octets at `offset` of `target`. */
export function writeStbHeader(target: Uint8Array, offset: number, exchangeBufferLength: number): void {
  const total = exchangeBufferLength + STB_HEADER_LENGTH;
  target[offset] = STB_VERSION << 4;
  target[offset + 1] = (total >>> 16) & 0xff;
  target[offset + 2] = (total >>> 8) & 0xff;
  target[offset + 3] = total & 0xff;
}

/** Frames one exchange buffer: header + a copy of the buffer. */
export function encodeStb(exchangeBuffer: Uint8Array): Uint8Array {
  const out = new Uint8Array(exchangeBuffer.length + STB_HEADER_LENGTH);
  writeStbHeader(out, 0, exchangeBuffer.length);
  out.set(exchangeBuffer, STB_HEADER_LENGTH);
  return out;
}

export interface StbDeframerOptions {
  /** The negotiated (or, before SSID, the largest acceptable) exchange buffer size, without the header. */
  maxExchangeBufferSize: number;
  /** Memory for a buffer that spans chunks, exactly `length` long (default: a new Uint8Array). */
  bodyFor?: (length: number) => Uint8Array;
  /** What is yielded for a complete buffer (a view of a chunk or a body from bodyFor); default: it. */
  keep?: (buffer: Uint8Array) => Uint8Array;
}

const newBody = (length: number) => new Uint8Array(length);
const itself = (buffer: Uint8Array) => buffer;

export class StbDeframer {
  #maxExchangeBufferSize: number;
  readonly #header = new Uint8Array(STB_HEADER_LENGTH);
  #headerFilled = 0;
  /** Exchange buffer being assembled across chunks, or undefined while reading a header. */
  #body: Uint8Array | undefined;
  #bodyFilled = 0;
  #failed: FramingError | undefined;
  readonly #bodyFor: (length: number) => Uint8Array;
  readonly #keep: (buffer: Uint8Array) => Uint8Array;

  constructor(options: StbDeframerOptions) {
    this.#maxExchangeBufferSize = options.maxExchangeBufferSize;
    this.#bodyFor = options.bodyFor ?? newBody;
    this.#keep = options.keep ?? itself;
  }

  /** Lowers (or raises) the limit, e.g. once SSIDSDEB is negotiated. */
  setMaxExchangeBufferSize(size: number): void {
    this.#maxExchangeBufferSize = size;
  }

  /** True when no partial header or buffer is pending. */
  get idle(): boolean {
    return this.#headerFilled === 0 && this.#body === undefined;
  }

  /** Feeds received bytes; returns the exchange buffers completed by them. Throws FramingError. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#failed) throw this.#failed;
    const out: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.#body === undefined) {
        // Fast path: a whole header and buffer inside this chunk.
        if (this.#headerFilled === 0 && chunk.length - pos >= STB_HEADER_LENGTH) {
          const length = this.#checkHeader(chunk[pos]!, chunk[pos + 1]!, chunk[pos + 2]!, chunk[pos + 3]!);
          pos += STB_HEADER_LENGTH;
          if (chunk.length - pos >= length) {
            out.push(this.#keep(chunk.subarray(pos, pos + length)));
            pos += length;
          } else {
            this.#body = this.#bodyFor(length);
            this.#bodyFilled = 0;
          }
          continue;
        }
        const take = Math.min(STB_HEADER_LENGTH - this.#headerFilled, chunk.length - pos);
        this.#header.set(chunk.subarray(pos, pos + take), this.#headerFilled);
        this.#headerFilled += take;
        pos += take;
        if (this.#headerFilled < STB_HEADER_LENGTH) break;
        const h = this.#header;
        const length = this.#checkHeader(h[0]!, h[1]!, h[2]!, h[3]!);
        this.#headerFilled = 0;
        this.#body = this.#bodyFor(length);
        this.#bodyFilled = 0;
        continue;
      }
      const body = this.#body;
      const take = Math.min(body.length - this.#bodyFilled, chunk.length - pos);
      body.set(chunk.subarray(pos, pos + take), this.#bodyFilled);
      this.#bodyFilled += take;
      pos += take;
      if (this.#bodyFilled === body.length) {
        this.#body = undefined;
        out.push(this.#keep(body));
      }
    }
    return out;
  }

  /** Validates a header (parseStbHeader); a failure is kept, so every later push fails too. */
  #checkHeader(b0: number, b1: number, b2: number, b3: number): number {
    try {
      return parseStbHeader(b0, b1, b2, b3, this.#maxExchangeBufferSize);
    } catch (err) {
      this.#failed = err as FramingError;
      throw err;
    }
  }
}

/**
 * Validates a stream transmission header (§8.2) and returns the exchange buffer length it announces.
 * Throws FramingError: bad version or flags (ESID 99), a length below 5 or above `maxExchangeBufferSize`
 * plus the header (ESID 07).
 */
export function parseStbHeader(b0: number, b1: number, b2: number, b3: number, maxExchangeBufferSize: number): number {
  const version = b0 >>> 4;
  const flags = b0 & 0x0f;
  const total = (b1 << 16) | (b2 << 8) | b3;
  if (version !== STB_VERSION) {
    throw new FramingError('OFTP_ERR_STB_VERSION', `stream transmission header version ${version} (expected 1)`, EsidReason.unspecified);
  }
  if (flags !== 0) {
    throw new FramingError('OFTP_ERR_STB_FLAGS', `stream transmission header flags 0x${flags.toString(16)} (expected 0)`, EsidReason.unspecified);
  }
  const length = total - STB_HEADER_LENGTH;
  if (length < 1) {
    throw new FramingError('OFTP_ERR_STB_LENGTH', `stream transmission buffer length ${total} below the minimum of 5`, EsidReason.bufferSizeError);
  }
  if (length > maxExchangeBufferSize) {
    throw new FramingError(
      'OFTP_ERR_STB_LENGTH',
      `exchange buffer of ${length} octets exceeds the negotiated ${maxExchangeBufferSize}`,
      EsidReason.bufferSizeError,
    );
  }
  return length;
}
