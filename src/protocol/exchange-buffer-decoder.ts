// Data Exchange Buffer decoder (RFC 5024 §7.2): turns the payload of DATA commands (the buffer after
// its 'D' octet) back into user data with record boundaries, expanding buffer compression.
//
// Use (receiver):
//   const dec = new ExchangeBufferDecoder({ format, exchangeBufferSize, maxRecordSize });
//   on DATA: const { data, recordEnds, endOfFile } = dec.decode(command.payload);
//            // data: this buffer's user data; recordEnds: offsets in data where F/V records end
//   on EFID: dec.end(); compare dec.unitCount / dec.recordCount with EFIDUCNT / EFIDRCNT.
// State carries across buffers (a record may span many). The returned views point into the decoder's
// own output buffer and are valid until the next decode(); decodeInto() writes into the caller's buffer.
//
// Each payload is checked whole before anything is written (one walk over the subrecord headers), so a
// bad buffer leaves the decoder as it was and throws RemoteProtocolError 'OFTP_ERR_DATA_BUFFER' carrying
// the ESID reason: 07 buffer longer than negotiated, 06 for everything else (count beyond the end of the
// buffer, compressed subrecord without its octet, record longer than SFIDLRECL, F record of another
// length, data after the end of a U/T file). Then the data moves: in WebAssembly for all but small
// buffers (subrecord-mover.ts), else with one set() and a copyWithin or fill per subrecord. Nothing is
// allocated per subrecord.
import { LocalUsageError, RemoteProtocolError } from '../errors.ts';
import type { VirtualFileFormat } from './command-types.ts';
import {
  checkExchangeBufferSize,
  checkMaxRecordSize,
  COMPRESSION_FLAG,
  END_OF_RECORD_FLAG,
  type RecordStructure,
  restartPositionOf,
  SUBRECORD_COUNT_MASK,
  structureOf,
} from './exchange-buffer-format.ts';
import { EsidReason } from './reason-codes.ts';
import { type SubrecordMover, subrecordMover } from './subrecord-mover.ts';

/** Payloads from this length on move in WebAssembly, where its fixed cost per call pays. */
const MOVER_FROM = 512;

export interface ExchangeBufferDecoderOptions {
  /** The format as transmitted: SFIDFMT, or 'U' for a signed/compressed/encrypted file (transmittedFormat()). */
  format: VirtualFileFormat;
  /** SSIDSDEB as negotiated (includes the 'D'): a longer DATA buffer is an exchange buffer size error. */
  exchangeBufferSize: number;
  /** SFIDLRECL: the record length for F, the longest record for V (0: no limit); ignored for U/T. */
  maxRecordSize?: number;
  /** Octets already received before the restart position, so unitCount is the file total (EFIDUCNT). */
  startUnitCount?: number;
  /** Records already received before the restart position (F/V), so recordCount is the total (EFIDRCNT). */
  startRecordCount?: number;
  /** false: move the data in JavaScript even where WebAssembly is available (tests compare the two). */
  webAssembly?: boolean;
}

export interface DecodedData {
  /** The user data this DATA buffer carried: headers removed, compression expanded. */
  data: Uint8Array;
  /** Offsets in `data` at which an F/V record ends (exclusive, ascending; may repeat for empty records). */
  recordEnds: Int32Array;
  /** U/T: this buffer carried the End of Record flag that ends the file. */
  endOfFile: boolean;
}

export class ExchangeBufferDecoder {
  readonly format: VirtualFileFormat;
  readonly exchangeBufferSize: number;
  readonly maxRecordSize: number;
  readonly #structure: RecordStructure;
  #out: Uint8Array;
  readonly #ends: Int32Array;
  #recordLength = 0;
  #endOfFile = false;
  #units: number;
  #records: number;
  readonly #mover: SubrecordMover | undefined;

  constructor(options: ExchangeBufferDecoderOptions) {
    this.format = options.format;
    this.#mover = options.webAssembly === false ? undefined : subrecordMover;
    this.#structure = structureOf(options.format);
    this.exchangeBufferSize = checkExchangeBufferSize(options.exchangeBufferSize);
    this.maxRecordSize = checkMaxRecordSize(this.#structure, options.maxRecordSize);
    this.#units = options.startUnitCount ?? 0;
    this.#records = this.#structure === 'stream' ? 0 : (options.startRecordCount ?? 0);
    this.#out = new Uint8Array(this.exchangeBufferSize);
    // Every record end needs at least one header octet.
    this.#ends = new Int32Array(this.#structure === 'stream' ? 0 : this.exchangeBufferSize);
  }

  /** EFIDUCNT so far: octets of user data decoded, including those before a restart. */
  get unitCount(): number {
    return this.#units;
  }

  /** EFIDRCNT so far: complete records decoded (F/V), including those before a restart; 0 for U/T. */
  get recordCount(): number {
    return this.#records;
  }

  /** The restart position (SFIDREST units) the decoded data reaches, once it is all stored. */
  get restartPosition(): number {
    return restartPositionOf(this.format, this.#units, this.#records);
  }

  /** Octets of the F/V record still open at the end of the last buffer. */
  get openRecordLength(): number {
    return this.#recordLength;
  }

  /** U/T: the End of Record flag that ends the file has arrived. */
  get endOfFile(): boolean {
    return this.#endOfFile;
  }

  /** Decodes into the decoder's own buffer; the result's views are valid until the next decode. */
  decode(payload: Uint8Array): DecodedData {
    return this.#decode(payload, undefined, 0);
  }

  /**
   * Decodes into `target` from `offset`. The target needs room for max(payload length, decoded length)
   * octets, plus up to the expansion of compressed subrecords; too small a target is a LocalUsageError.
   */
  decodeInto(payload: Uint8Array, target: Uint8Array, offset = 0): DecodedData {
    return this.#decode(payload, target, offset);
  }

  /** At EFID: F/V must have ended their last record. Throws RemoteProtocolError (ESID 06) otherwise. */
  end(): void {
    if (this.#structure !== 'stream' && this.#recordLength !== 0) {
      throw this.#error(`file ends inside a record (${this.#recordLength} octets without End of Record)`);
    }
  }

  #decode(payload: Uint8Array, target: Uint8Array | undefined, offset: number): DecodedData {
    const length = payload.length;
    if (length + 1 > this.exchangeBufferSize) {
      throw new RemoteProtocolError(
        'OFTP_ERR_DATA_BUFFER',
        `DATA buffer of ${length + 1} octets exceeds the negotiated exchange buffer size ${this.exchangeBufferSize}`,
        EsidReason.bufferSizeError,
      );
    }
    // Walk 1: check the structure; count decoded octets, record ends and how far output runs ahead of input.
    const structure = this.#structure;
    const fixed = structure === 'fixed';
    const stream = structure === 'stream';
    const maxRecord = this.maxRecordSize;
    const ends = this.#ends;
    let recordLength = this.#recordLength;
    let endOfFile = this.#endOfFile;
    let p = 0;
    let q = 0;
    let lead = 0;
    let endCount = 0;
    let bufferEndsFile = false;
    while (p < length) {
      const at = p;
      const h = payload[p]!;
      const count = h & SUBRECORD_COUNT_MASK;
      if ((h & COMPRESSION_FLAG) !== 0) {
        if (p + 2 > length) throw this.#error(`compressed subrecord at offset ${p + 1} has no octet to repeat`);
        p += 2;
      } else {
        if (p + 1 + count > length) {
          throw this.#error(`subrecord at offset ${p + 1} counts ${count} octets; the buffer has ${length - p - 1} left`);
        }
        p += 1 + count;
      }
      if (stream) {
        if (endOfFile && count > 0) throw this.#error(`data after the end of file (subrecord at offset ${at + 1})`);
        if ((h & END_OF_RECORD_FLAG) !== 0 && !endOfFile) {
          endOfFile = true;
          bufferEndsFile = true;
        }
      } else {
        recordLength += count;
        if (maxRecord > 0 && recordLength > maxRecord) {
          throw this.#error(`record of ${recordLength}+ octets exceeds the maximum record size ${maxRecord}`);
        }
        if ((h & END_OF_RECORD_FLAG) !== 0) {
          if (fixed && recordLength !== maxRecord) {
            throw this.#error(`F record of ${recordLength} octets; the record length is ${maxRecord}`);
          }
          recordLength = 0;
          ends[endCount++] = q + count;
        }
      }
      q += count;
      if (q - p > lead) lead = q - p;
    }
    // Room: the payload is copied `lead` octets in, so expansion never overtakes unread input.
    const need = Math.max(q, lead + length);
    let out: Uint8Array;
    if (target === undefined) {
      if (this.#out.length < need) this.#out = new Uint8Array(Math.max(need, this.#out.length * 2));
      out = this.#out;
      offset = 0;
    } else {
      if (offset < 0 || target.length - offset < need) {
        throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `decodeInto needs ${need} octets after offset ${offset}`);
      }
      out = target;
    }
    // Walk 2: move the data.
    if (this.#mover !== undefined && length >= MOVER_FROM) {
      this.#mover.unpack(payload, out, offset, q);
      return this.#decoded(out, offset, q, recordLength, endOfFile, endCount, bufferEndsFile);
    }
    const base = offset + lead;
    out.set(payload, base);
    p = 0;
    let w = offset;
    while (p < length) {
      const h = payload[p]!;
      const count = h & SUBRECORD_COUNT_MASK;
      if ((h & COMPRESSION_FLAG) !== 0) {
        const octet = payload[p + 1]!;
        if (count < 16) for (let i = 0; i < count; i++) out[w + i] = octet;
        else out.fill(octet, w, w + count);
        p += 2;
      } else {
        const from = base + p + 1;
        if (from !== w && count > 0) out.copyWithin(w, from, from + count);
        p += 1 + count;
      }
      w += count;
    }
    return this.#decoded(out, offset, q, recordLength, endOfFile, endCount, bufferEndsFile);
  }

  /** Commits a decoded buffer's effect on the state and describes it. */
  #decoded(out: Uint8Array, offset: number, q: number, recordLength: number, endOfFile: boolean, endCount: number, bufferEndsFile: boolean): DecodedData {
    const ends = this.#ends;
    this.#recordLength = recordLength;
    this.#endOfFile = endOfFile;
    this.#units += q;
    this.#records += endCount;
    return {
      data: out.subarray(offset, offset + q),
      recordEnds: ends.subarray(0, endCount),
      endOfFile: bufferEndsFile,
    };
  }

  #error(message: string): RemoteProtocolError {
    return new RemoteProtocolError('OFTP_ERR_DATA_BUFFER', message, EsidReason.invalidData);
  }
}
