// V format record lengths (RFC 5024 §6.5): each record preceded by a 2-octet big-endian count of its
// data octets (the prefix does not count itself). This is both the form inserted before signing,
// compression or encryption, and the project's local layout of a V file on disk, so one module serves
// the sender (reader: local file -> records for the exchange buffer encoder), the receiver (writer:
// decoded records -> local file) and src/files (VRecordScanner: the spool's V validator and the restart
// offset search walk the same prefixes).
//
// A 2-octet prefix holds at most 65535, so V records longer than that cannot be stored; the session
// should refuse such an SFID (SFNA 05). (§5.3.3 says 65536 for secured V files; it cannot be encoded.)
// Bad input is a LocalUsageError ('OFTP_ERR_INVALID_ARGUMENT'): for our own spool file that is what it
// is; a caller reconstructing a received, decrypted file maps it to its EFNA/NERP answer.
import { LocalUsageError } from '../errors.ts';

export const V_LENGTH_PREFIX = 2;
export const V_MAX_RECORD_LENGTH = 0xffff;

/** Writes a record length prefix at `offset`. */
export function writeRecordLength(target: Uint8Array, offset: number, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > V_MAX_RECORD_LENGTH) {
    throw invalid(`V record length ${length} outside 0..${V_MAX_RECORD_LENGTH}`);
  }
  target[offset] = length >>> 8;
  target[offset + 1] = length & 0xff;
}

/** Reads a record length prefix at `offset`. */
export function readRecordLength(source: Uint8Array, offset: number): number {
  return (source[offset]! << 8) | source[offset + 1]!;
}

/** The §6.5 form of a list of records (for small files and tests). */
export function encodeVRecords(records: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const r of records) total += V_LENGTH_PREFIX + r.length;
  const out = new Uint8Array(total);
  let w = 0;
  for (const r of records) {
    writeRecordLength(out, w, r.length);
    out.set(r, w + V_LENGTH_PREFIX);
    w += V_LENGTH_PREFIX + r.length;
  }
  return out;
}

/** Splits the §6.5 form back into records (copies). */
export function decodeVRecords(bytes: Uint8Array): Uint8Array[] {
  const records: Uint8Array[] = [];
  // One push of the whole layout: every complete record comes as a single piece (a truncated last one
  // comes unfinished and end() refuses it).
  const reader = new VRecordReader({
    onPiece: (data, start, end, endOfRecord) => {
      if (endOfRecord) records.push(new Uint8Array(data.subarray(start, end))); // a copy, even of a Buffer
    },
  });
  reader.push(bytes);
  reader.end();
  return records;
}

/** Receives a piece of a record: data[start, end), and whether the record ends with it. */
export type RecordPieceSink = (data: Uint8Array, start: number, end: number, endOfRecord: boolean) => void;

export interface VRecordReaderOptions {
  /** Gets the records, in pieces that are views of the pushed chunks (no copy). */
  onPiece: RecordPieceSink;
  /** Longest record allowed (SFIDLRECL; 0: up to 65535). */
  maxRecordSize?: number;
  /** Restart: records to skip (SFPAACNT); their octets count in skippedUnits, not in onPiece. */
  skipRecords?: number;
}

/** Told of each record as its length prefix completes; returning false stops the scan before it. */
export type RecordStart = (length: number, offsetOfPrefix: number) => boolean;

/**
 * Walks the §6.5 layout fed in chunks of any size: the one prefix walker behind VRecordReader (the
 * sender's records), the spool's V validator and the restart offset search (src/files). Calls
 * `onRecord(length, offsetOfPrefix)` for every record whose prefix is complete; returning false stops
 * the scan before that record (so a caller can find where record n starts). With `onData`, the
 * record's data follows in pieces that are views of the chunks, the last one flagged endOfRecord (an
 * empty record gets one empty piece). Counts the records whose prefix was seen.
 */
export class VRecordScanner {
  /** Octets consumed so far. */
  octets = 0;
  /** Records whose prefix has been read. */
  records = 0;
  /** Octets still to skip in the current record's data. */
  #remaining = 0;
  /** 0, 1 or 2 octets of the next prefix read so far, and the first one. */
  #prefixHave = 0;
  #prefixHigh = 0;
  #stopped = false;

  get atRecordBoundary(): boolean {
    return this.#remaining === 0 && this.#prefixHave === 0;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Returns how many octets of `chunk` were consumed (less than its length only after a stop). */
  push(chunk: Uint8Array, onRecord: RecordStart, onData?: RecordPieceSink): number {
    let i = 0;
    while (i < chunk.length && !this.#stopped) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= take;
        onData?.(chunk, i, i + take, this.#remaining === 0);
        i += take;
        continue;
      }
      let length: number;
      if (this.#prefixHave === 0) {
        if (chunk.length - i < 2) {
          this.#prefixHigh = chunk[i]!;
          this.#prefixHave = 1;
          i += 1;
          continue;
        }
        length = readRecordLength(chunk, i);
        if (!this.#record(length, this.octets + i, onRecord)) break;
        i += 2;
      } else {
        // second octet of a prefix split across chunks
        length = (this.#prefixHigh << 8) | chunk[i]!;
        if (!this.#record(length, this.octets + i - 1, onRecord)) break;
        this.#prefixHave = 0;
        i += 1;
      }
      if (length === 0) onData?.(chunk, i, i, true);
    }
    this.octets += i;
    return i;
  }

  #record(length: number, offset: number, onRecord: RecordStart): boolean {
    if (!onRecord(length, offset)) {
      this.#stopped = true;
      return false;
    }
    this.records++;
    this.#remaining = length;
    return true;
  }
}

/**
 * Reads a V file in the §6.5 layout from chunks of any size and hands its records to `onPiece` in
 * pieces, ready for ExchangeBufferEncoder.write(data, start, end, endOfRecord). Nothing is copied.
 */
export class VRecordReader {
  readonly #onPiece: RecordPieceSink;
  readonly #max: number;
  readonly #scanner = new VRecordScanner();
  #skip: number;
  #records = 0;
  #units = 0;
  #skippedUnits = 0;

  constructor(options: VRecordReaderOptions) {
    this.#onPiece = options.onPiece;
    this.#max = options.maxRecordSize || V_MAX_RECORD_LENGTH;
    this.#skip = options.skipRecords ?? 0;
  }

  /** Records handed on (after any skipped ones). */
  get recordCount(): number {
    return this.#records;
  }

  /** Data octets handed on (prefixes excluded). */
  get unitCount(): number {
    return this.#units;
  }

  /** Data octets of the records skipped for a restart: add to unitCount for EFIDUCNT. */
  get skippedUnits(): number {
    return this.#skippedUnits;
  }

  push(chunk: Uint8Array): void {
    this.#scanner.push(chunk, this.#startRecord, this.#piece);
  }

  /** The file ended: it must end on a record boundary. */
  end(): void {
    if (!this.#scanner.atRecordBoundary) {
      throw invalid('V file ends inside a record or its length prefix');
    }
    if (this.#skip > 0) throw invalid(`V file has fewer records than the restart position`);
  }

  readonly #startRecord = (length: number): boolean => {
    if (length > this.#max) throw invalid(`V record of ${length} octets exceeds the maximum record size ${this.#max}`);
    return true;
  };

  readonly #piece = (chunk: Uint8Array, start: number, end: number, endOfRecord: boolean): void => {
    if (this.#skip > 0) {
      this.#skippedUnits += end - start;
      if (endOfRecord) this.#skip--;
      return;
    }
    this.#units += end - start;
    if (endOfRecord) this.#records++;
    this.#onPiece(chunk, start, end, endOfRecord);
  };
}

export interface VRecordWriterOptions {
  /** Gets the §6.5 layout in views of the writer's buffer, valid only during the call. */
  onData: (bytes: Uint8Array) => void;
  /** Longest record allowed (SFIDLRECL; 0: up to 65535). */
  maxRecordSize?: number;
}

/** Output collected before a flush; at least two of the largest records so a partial one always fits. */
const WRITER_CAPACITY = 4 * (V_MAX_RECORD_LENGTH + V_LENGTH_PREFIX);

/**
 * Writes records (in pieces, e.g. ExchangeBufferDecoder output) in the §6.5 layout. The length of a
 * record is known only at its end, so the open record is held (at most 65535 octets); complete ones are
 * handed to onData in large views when the buffer fills and on flush().
 */
export class VRecordWriter {
  readonly #onData: (bytes: Uint8Array) => void;
  readonly #max: number;
  readonly #out = new Uint8Array(WRITER_CAPACITY);
  /** Start of the open record's prefix, or -1; end of the written octets. */
  #recordStart = -1;
  #length = 0;
  #records = 0;

  constructor(options: VRecordWriterOptions) {
    this.#onData = options.onData;
    this.#max = options.maxRecordSize || V_MAX_RECORD_LENGTH;
  }

  get recordCount(): number {
    return this.#records;
  }

  /** Octets of the open record (0 between records). */
  get openRecordLength(): number {
    return this.#recordStart < 0 ? 0 : this.#length - this.#recordStart - V_LENGTH_PREFIX;
  }

  /** Appends data[start, end) to the current record and ends it if asked. */
  write(data: Uint8Array, start: number, end: number, endOfRecord: boolean): void {
    const n = end - start;
    if (this.#recordStart < 0) {
      if (n === 0 && !endOfRecord) return;
      this.#room(V_LENGTH_PREFIX);
      this.#recordStart = this.#length;
      this.#length += V_LENGTH_PREFIX;
    }
    const recordLength = this.openRecordLength + n;
    if (recordLength > this.#max) {
      throw invalid(`V record of ${recordLength}+ octets exceeds the maximum record size ${this.#max}`);
    }
    if (n > 0) {
      this.#room(n);
      this.#out.set(n === data.length ? data : data.subarray(start, end), this.#length);
      this.#length += n;
    }
    if (endOfRecord) {
      writeRecordLength(this.#out, this.#recordStart, recordLength);
      this.#recordStart = -1;
      this.#records++;
    }
  }

  /** Writes a decoded DATA buffer: its data cut at its record ends. */
  writeDecoded(decoded: { data: Uint8Array; recordEnds: ArrayLike<number> }): void {
    let from = 0;
    const { data, recordEnds } = decoded;
    for (let r = 0; r < recordEnds.length; r++) {
      const to = recordEnds[r]!;
      this.write(data, from, to, true);
      from = to;
    }
    if (from < data.length) this.write(data, from, data.length, false);
  }

  /** Hands on every complete record written so far. */
  flush(): void {
    const complete = this.#recordStart < 0 ? this.#length : this.#recordStart;
    if (complete === 0) return;
    this.#onData(this.#out.subarray(0, complete));
    this.#out.copyWithin(0, complete, this.#length);
    this.#length -= complete;
    if (this.#recordStart >= 0) this.#recordStart -= complete;
  }

  /** End of file: no record may be open; flushes. */
  end(): void {
    if (this.#recordStart >= 0) throw invalid('V file ends inside a record');
    this.flush();
  }

  /** Makes room for n more octets by flushing complete records. */
  #room(n: number): void {
    if (this.#length + n <= WRITER_CAPACITY) return;
    this.flush();
  }
}

function invalid(message: string): LocalUsageError {
  return new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', message);
}
