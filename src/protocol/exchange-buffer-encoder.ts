// Data Exchange Buffer encoder (RFC 5024 §7.2, §7.3): cuts a virtual file into DATA buffers.
//
// Buffers are filled to the negotiated exchange buffer size (SSIDSDEB, which counts the 'D' octet) with
// subrecords of at most 63 octets; a subrecord is never split across buffers, and the encoder uses
// strategy 2 of §7.3 (split the subrecord) so that every buffer but the last is full.
// Structure by format (see exchange-buffer-format.ts): U/T one record for the whole file, the End of
// Record flag on the file's last subrecord; F a record every maxRecordSize octets; V records as written.
// Buffer compression (§7.2) sends runs of MIN_COMPRESSED_RUN or more equal octets as count + octet.
// An empty U/T file (or the empty rest of one after a restart) produces no DATA buffer at all; an empty
// V record is a bare End of Record header (0x80). Runs and literals never cross a record boundary.
//
// Use (sender):
//   const enc = new ExchangeBufferEncoder({ format, exchangeBufferSize, bufferCompression, maxRecordSize });
//   loop: let buf = enc.pull();            // a full DATA buffer, or null
//         if (buf) send(buf)               // valid until the next call on the encoder
//         else if (enc.needsInput) { chunk ? enc.write(chunk) : enc.end(); }
//         else break;                      // enc.done
// write() keeps a reference to the part of the chunk that did not fit; do not reuse the chunk until
// needsInput is true again. A buffer is handed out only once the End of Record flag of its last
// subrecord is decided, so the encoder holds at most one DATA buffer and one caller chunk; nothing is
// allocated per subrecord. Uncompressed U/T/V data moves in WebAssembly for all but short pieces
// (subrecord-mover.ts), else with one set() per buffer and copyWithin per subrecord.
import { LocalUsageError } from '../errors.ts';
import type { VirtualFileFormat } from './command-types.ts';
import {
  checkExchangeBufferSize,
  checkMaxRecordSize,
  COMPRESSION_FLAG,
  DATA_COMMAND,
  END_OF_RECORD_FLAG,
  MAX_SUBRECORD_COUNT,
  MIN_COMPRESSED_RUN,
  type RecordStructure,
  restartPositionOf,
  structureOf,
} from './exchange-buffer-format.ts';
import { type SubrecordMover, subrecordMover } from './subrecord-mover.ts';

export interface ExchangeBufferEncoderOptions {
  /** The format as transmitted: SFIDFMT, or 'U' for a signed/compressed/encrypted file (transmittedFormat()). */
  format: VirtualFileFormat;
  /** SSIDSDEB as negotiated: the largest DATA buffer including its 'D' octet, 128..99999. */
  exchangeBufferSize: number;
  /** SSIDCMPR: both sides said 'Y'. */
  bufferCompression: boolean;
  /** SFIDLRECL: the record length for F, the longest record for V (0: no limit); ignored for U/T. */
  maxRecordSize?: number;
  /** Octets of user data before the restart position, so unitCount is the file total EFID wants. */
  startUnitCount?: number;
  /** Records before the restart position (F/V), so recordCount is the file total EFID wants. */
  startRecordCount?: number;
  /** false: move the data in JavaScript even where WebAssembly is available (tests compare the two). */
  webAssembly?: boolean;
}

const EMPTY = new Uint8Array(0);
/** Top-ups shorter than this are copied by a byte loop rather than set(), which needs a view. */
const BULK_LITERAL = 16;
/** Literals from this many octets on move in WebAssembly, where its fixed cost per call pays. */
const MOVER_FROM = 512;

export class ExchangeBufferEncoder {
  readonly format: VirtualFileFormat;
  readonly exchangeBufferSize: number;
  readonly bufferCompression: boolean;
  readonly maxRecordSize: number;
  readonly #structure: RecordStructure;
  readonly #buf: Uint8Array;
  readonly #cap: number;
  #pos = 1;
  /** The DATA buffer under construction was handed out; clear it before writing again. */
  #emitted = false;
  /** Header offset of the current record's last subrecord in #buf, or -1. */
  #lastHeader = -1;
  /** That subrecord is compressed (so it can only be extended by the same octet). */
  #lastCompressed = false;
  /** Caller data not yet encoded, and whether a record (or, for U/T, the file) ends after it. */
  #src: Uint8Array = EMPTY;
  #srcPos = 0;
  #srcEnd = 0;
  #srcEndsRecord = false;
  #hasPending = false;
  #ended = false;
  #done = false;
  /** Octets of the current record so far (F/V); for U/T, whether the file has any subrecord yet. */
  #recordLength = 0;
  #streamStarted = false;
  #units: number;
  #records: number;
  readonly #mover: SubrecordMover | undefined;

  constructor(options: ExchangeBufferEncoderOptions) {
    this.format = options.format;
    this.#mover = options.webAssembly === false ? undefined : subrecordMover;
    this.#structure = structureOf(options.format);
    this.exchangeBufferSize = checkExchangeBufferSize(options.exchangeBufferSize);
    this.bufferCompression = options.bufferCompression;
    this.maxRecordSize = checkMaxRecordSize(this.#structure, options.maxRecordSize);
    this.#units = options.startUnitCount ?? 0;
    this.#records = this.#structure === 'stream' ? 0 : (options.startRecordCount ?? 0);
    this.#cap = this.exchangeBufferSize;
    this.#buf = new Uint8Array(this.#cap);
    this.#buf[0] = DATA_COMMAND;
  }

  /** EFIDUCNT so far: octets of user data taken into DATA buffers, including those before a restart. */
  get unitCount(): number {
    return this.#units;
  }

  /** EFIDRCNT so far: records completed (F/V), including those before a restart; always 0 for U/T. */
  get recordCount(): number {
    return this.#records;
  }

  /** The restart position (SFIDREST units) that the data taken so far reaches. */
  get restartPosition(): number {
    return restartPositionOf(this.format, this.#units, this.#records);
  }

  /** Octets of the record being written (F/V), 0 on a record boundary. */
  get openRecordLength(): number {
    return this.#recordLength;
  }

  /** The encoder wants write() or end(): it holds no caller data and the file has not ended. */
  get needsInput(): boolean {
    return !this.#ended && !this.#hasPending;
  }

  /** end() was called and every DATA buffer has been pulled. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * Gives the encoder user data: for U/T any piece of the file; for F the file's bytes (records are cut
   * every maxRecordSize octets, and endOfRecord, if set, asserts that this piece ends a record); for V a
   * record or a piece of one, with endOfRecord on its last piece (a zero-length piece may end a record).
   * For U/T endOfRecord ends the file, like end(). Call only when needsInput is true.
   */
  write(data: Uint8Array, start = 0, end: number = data.length, endOfRecord = false): void {
    if (this.#ended) throw new LocalUsageError('OFTP_ERR_STATE', 'write() after end()');
    if (this.#hasPending) {
      throw new LocalUsageError('OFTP_ERR_STATE', 'write() while earlier data is pending: pull() first');
    }
    if (!(start >= 0 && start <= end && end <= data.length)) {
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `range ${start}..${end} outside 0..${data.length}`);
    }
    const length = end - start;
    if (this.#structure === 'fixed') {
      if (endOfRecord && (this.#recordLength + length) % this.maxRecordSize !== 0) {
        throw new LocalUsageError(
          'OFTP_ERR_INVALID_ARGUMENT',
          `F record would end at ${(this.#recordLength + length) % this.maxRecordSize} octets; records are ${this.maxRecordSize}`,
        );
      }
      endOfRecord = false; // F records end by themselves
    } else if (this.#structure === 'variable') {
      if (this.maxRecordSize > 0 && this.#recordLength + length > this.maxRecordSize) {
        throw new LocalUsageError(
          'OFTP_ERR_INVALID_ARGUMENT',
          `V record of ${this.#recordLength + length}+ octets exceeds the maximum record size ${this.maxRecordSize}`,
        );
      }
    }
    if (length === 0 && !endOfRecord) return;
    this.#prepare();
    this.#src = data;
    this.#srcPos = start;
    this.#srcEnd = end;
    this.#srcEndsRecord = endOfRecord;
    this.#hasPending = true;
    if (this.#structure === 'stream' && endOfRecord) {
      this.#srcEndsRecord = false;
      this.#ended = true;
    }
    this.#consume();
  }

  /** Ends the current V record (same as write(empty, 0, 0, true)). */
  endRecord(): void {
    this.write(EMPTY, 0, 0, true);
  }

  /** Marks the end of the file. F/V must be on a record boundary. */
  end(): void {
    if (this.#ended) return;
    if (this.#hasPending) throw new LocalUsageError('OFTP_ERR_STATE', 'end() while data is pending: pull() first');
    if (this.#structure !== 'stream' && this.#recordLength !== 0) {
      throw new LocalUsageError(
        'OFTP_ERR_INVALID_ARGUMENT',
        `end of file inside a record (${this.#recordLength} octets written, record not ended)`,
      );
    }
    this.#prepare();
    this.#ended = true;
    if (this.#structure === 'stream') {
      this.#hasPending = true;
      this.#src = EMPTY;
      this.#srcPos = 0;
      this.#srcEnd = 0;
      this.#srcEndsRecord = false;
      this.#consume();
    }
  }

  /**
   * The next complete DATA buffer ('D' + subrecords), or null when the encoder needs input (needsInput)
   * or is done. The view is into the encoder's own buffer and is valid until the next call on the encoder.
   */
  pull(): Uint8Array | null {
    return this.#take() ? this.#buf.subarray(0, this.#pos) : null;
  }

  /**
   * Like pull(), but copies the DATA buffer into `target` at `offset` (e.g. after room for a stream
   * transmission header) and returns its length, or 0 when there is none.
   */
  pullInto(target: Uint8Array, offset = 0): number {
    if (offset < 0 || target.length - offset < this.#cap) {
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `target needs ${this.#cap} octets after offset ${offset}`);
    }
    if (!this.#take()) return 0;
    const length = this.#pos;
    target.set(this.#pos === this.#cap ? this.#buf : this.#buf.subarray(0, length), offset);
    return length;
  }

  /** Makes the next DATA buffer current if there is one to hand out. */
  #take(): boolean {
    this.#prepare();
    if (this.#hasPending) this.#consume();
    if (this.#hasPending) {
      // The buffer is full and more data follows: its last subrecord's End of Record flag is decided.
      this.#emitted = true;
      return true;
    }
    if (!this.#ended || this.#done) return false;
    this.#done = true;
    if (this.#pos <= 1) return false;
    this.#emitted = true;
    return true;
  }

  /** Starts a fresh DATA buffer if the previous one was handed out. */
  #prepare(): void {
    if (this.#emitted) {
      this.#emitted = false;
      this.#pos = 1;
      this.#lastHeader = -1;
    }
  }

  /** Encodes pending data until it is all in the buffer (clears #hasPending) or the buffer is full. */
  #consume(): void {
    while (this.#srcPos < this.#srcEnd) {
      const before = this.#srcPos;
      if (this.bufferCompression) this.#fillCompressed();
      else if (this.#structure === 'fixed') this.#fillFixed();
      else this.#srcPos += this.#writeLiteral(this.#src, this.#srcPos, this.#srcEnd);
      const taken = this.#srcPos - before;
      if (this.#structure !== 'fixed') {
        this.#units += taken;
        if (this.#structure === 'variable') this.#recordLength += taken;
        else if (taken > 0) this.#streamStarted = true;
      }
      if (this.#srcPos < this.#srcEnd) return; // buffer full
    }
    if (this.#srcEndsRecord) {
      if (!this.#endRecord()) return;
      this.#srcEndsRecord = false;
    }
    if (this.#ended && this.#structure === 'stream' && this.#streamStarted) {
      if (!this.#endRecord()) return;
      this.#streamStarted = false;
    }
    this.#hasPending = false;
    this.#src = EMPTY;
  }

  /** Sets End of Record on the current record's last subrecord, or adds an empty one. False if no room. */
  #endRecord(): boolean {
    const buf = this.#buf;
    if (this.#lastHeader >= 0) {
      buf[this.#lastHeader] = buf[this.#lastHeader]! | END_OF_RECORD_FLAG;
    } else {
      if (this.#pos >= this.#cap) return false;
      buf[this.#pos++] = END_OF_RECORD_FLAG;
    }
    this.#lastHeader = -1;
    this.#recordLength = 0;
    if (this.#structure !== 'stream') this.#records++;
    return true;
  }

  /**
   * Appends src[start, end) as uncompressed subrecords of the current record, topping up its last
   * subrecord first; returns how many octets fitted. Unit and record counts are the caller's.
   */
  #writeLiteral(src: Uint8Array, start: number, end: number): number {
    const buf = this.#buf;
    const cap = this.#cap;
    let s = start;
    let pos = this.#pos;
    // Top up the open literal subrecord (after a chunk boundary or a short literal).
    const h = this.#lastHeader;
    if (h >= 0 && !this.#lastCompressed && buf[h]! < MAX_SUBRECORD_COUNT && h + 1 + buf[h]! === pos) {
      const k = Math.min(MAX_SUBRECORD_COUNT - buf[h]!, end - s, cap - pos);
      if (k > 0) {
        if (k < BULK_LITERAL) for (let i = 0; i < k; i++) buf[pos + i] = src[s + i]!;
        else buf.set(src.subarray(s, s + k), pos);
        buf[h] = buf[h]! + k;
        pos += k;
        s += k;
      }
    }
    const space = cap - pos;
    const room = Math.floor(space / 64) * 63 + Math.max(0, (space % 64) - 1);
    const n = Math.min(end - s, room);
    if (n <= 0) {
      this.#pos = pos;
      return s - start;
    }
    if (n <= MAX_SUBRECORD_COUNT) {
      // A single subrecord: a byte loop beats creating a view for set() at this size.
      buf[pos] = n;
      for (let i = 0; i < n; i++) buf[pos + 1 + i] = src[s + i]!;
      this.#lastHeader = pos;
      this.#lastCompressed = false;
      this.#pos = pos + 1 + n;
      return s + n - start;
    }
    const m = Math.ceil(n / MAX_SUBRECORD_COUNT);
    const last = n - (m - 1) * MAX_SUBRECORD_COUNT;
    if (this.#mover !== undefined && n >= MOVER_FROM) {
      this.#pos = this.#mover.pack(src, s, n, buf, pos);
      this.#lastHeader = this.#pos - 1 - last;
      this.#lastCompressed = false;
      return s + n - start;
    }
    // Copy the data once, m octets ahead of where it goes (m = number of subrecords), then move each
    // 63-octet block back into place behind its header. The source always stays ahead of the writes.
    buf.set(src.subarray(s, s + n), pos + m);
    let from = pos + m;
    let left = n;
    while (left > MAX_SUBRECORD_COUNT) {
      buf[pos] = MAX_SUBRECORD_COUNT;
      buf.copyWithin(pos + 1, from, from + MAX_SUBRECORD_COUNT);
      pos += MAX_SUBRECORD_COUNT + 1;
      from += MAX_SUBRECORD_COUNT;
      left -= MAX_SUBRECORD_COUNT;
    }
    buf[pos] = left;
    if (from !== pos + 1) buf.copyWithin(pos + 1, from, from + left);
    this.#lastHeader = pos;
    this.#lastCompressed = false;
    this.#pos = pos + 1 + left;
    return s + n - start;
  }

  /** F without compression: records of maxRecordSize cut from the pending data, each ended by the flag. */
  #fillFixed(): void {
    const buf = this.#buf;
    const cap = this.#cap;
    const src = this.#src;
    const recordSize = this.maxRecordSize;
    // Top up the open subrecord (after a chunk boundary), as far as the record allows.
    const h = this.#lastHeader;
    if (h >= 0 && buf[h]! < MAX_SUBRECORD_COUNT) {
      const room = Math.min(MAX_SUBRECORD_COUNT - buf[h]!, recordSize - this.#recordLength);
      const k = this.#writeLiteral(src, this.#srcPos, Math.min(this.#srcEnd, this.#srcPos + room));
      this.#advanceFixed(k);
      if (this.#srcPos === this.#srcEnd || this.#pos >= cap - 1) return;
    }
    // Plan: how many subrecords (m) and octets (n) fit.
    let space = cap - this.#pos;
    let avail = this.#srcEnd - this.#srcPos;
    let rem = recordSize - this.#recordLength;
    let m = 0;
    let n = 0;
    while (avail > 0 && space >= 2) {
      let c = space - 1;
      if (c > MAX_SUBRECORD_COUNT) c = MAX_SUBRECORD_COUNT;
      if (c > rem) c = rem;
      if (c > avail) c = avail;
      m++;
      n += c;
      space -= c + 1;
      avail -= c;
      rem -= c;
      if (rem === 0) rem = recordSize;
    }
    if (m === 0) return;
    // Copy once m octets ahead, then move each subrecord into place behind its header.
    let pos = this.#pos;
    const s = this.#srcPos;
    buf.set(src.subarray(s, s + n), pos + m);
    let from = pos + m;
    let left = n;
    rem = recordSize - this.#recordLength;
    let records = 0;
    let lastHeader = -1;
    while (left > 0) {
      let c = cap - pos - 1;
      if (c > MAX_SUBRECORD_COUNT) c = MAX_SUBRECORD_COUNT;
      if (c > rem) c = rem;
      if (c > left) c = left;
      rem -= c;
      if (from !== pos + 1) buf.copyWithin(pos + 1, from, from + c);
      if (rem === 0) {
        buf[pos] = c | END_OF_RECORD_FLAG;
        records++;
        rem = recordSize;
        lastHeader = -1;
      } else {
        buf[pos] = c;
        lastHeader = pos;
      }
      pos += c + 1;
      from += c;
      left -= c;
    }
    this.#pos = pos;
    this.#lastHeader = lastHeader;
    this.#lastCompressed = false;
    this.#srcPos = s + n;
    this.#units += n;
    this.#records += records;
    this.#recordLength = recordSize - rem;
  }

  /** Counts k octets of F data written into the current record; ends the record when it is full. */
  #advanceFixed(k: number): void {
    this.#srcPos += k;
    this.#units += k;
    this.#recordLength += k;
    if (this.#recordLength === this.maxRecordSize) {
      const h = this.#lastHeader;
      this.#buf[h] = this.#buf[h]! | END_OF_RECORD_FLAG;
      this.#lastHeader = -1;
      this.#recordLength = 0;
      this.#records++;
    }
  }

  /**
   * Buffer compression: runs of MIN_COMPRESSED_RUN+ equal octets become count + octet, the rest literal
   * subrecords. Stops when the buffer is full. Runs never cross a record boundary.
   */
  #fillCompressed(): void {
    const buf = this.#buf;
    const cap = this.#cap;
    const src = this.#src;
    const end = this.#srcEnd;
    const fixed = this.#structure === 'fixed';
    let i = this.#srcPos;
    while (i < end) {
      const lim = fixed ? Math.min(end, i + this.maxRecordSize - this.#recordLength) : end;
      const b = src[i]!;
      // Continue a compressed subrecord of the same octet (a run across a chunk boundary).
      const h = this.#lastHeader;
      if (h >= 0 && this.#lastCompressed && h + 2 === this.#pos && buf[h + 1] === b && buf[h]! < COMPRESSION_FLAG + MAX_SUBRECORD_COUNT) {
        const runLimit = Math.min(lim, i + MAX_SUBRECORD_COUNT - (buf[h]! & MAX_SUBRECORD_COUNT));
        let j = i + 1;
        while (j < runLimit && src[j] === b) j++;
        buf[h] = buf[h]! + (j - i);
        i = this.#taken(i, j);
        continue;
      }
      const runLimit = Math.min(lim, i + MAX_SUBRECORD_COUNT);
      let j = i + 1;
      while (j < runLimit && src[j] === b) j++;
      if (j - i >= MIN_COMPRESSED_RUN) {
        if (cap - this.#pos < 2) break;
        const pos = this.#pos;
        buf[pos] = COMPRESSION_FLAG | (j - i);
        buf[pos + 1] = b;
        this.#lastHeader = pos;
        this.#lastCompressed = true;
        this.#pos = pos + 2;
        i = this.#taken(i, j);
        continue;
      }
      // Literal up to the start of the next run of three equal octets. Any such run contains an equal
      // pair starting at i, i+2, i+4, ..., so only those pairs are tested, then the neighbours.
      let k = lim;
      for (let x = i; x + 1 < lim; x += 2) {
        const c = src[x]!;
        if (c === src[x + 1]) {
          if (x > i && src[x - 1] === c) {
            k = x - 1;
            break;
          }
          if (x + 2 < lim && src[x + 2] === c) {
            k = x;
            break;
          }
        }
      }
      const n = this.#writeLiteral(src, i, k);
      const next = this.#taken(i, i + n);
      if (next < k) {
        i = next;
        break; // buffer full
      }
      i = next;
    }
    this.#srcPos = i;
  }

  /** Accounts src[from, to) as encoded by the compressed path; F records end here. Returns `to`. */
  #taken(from: number, to: number): number {
    if (this.#structure === 'fixed') {
      this.#units += to - from;
      this.#recordLength += to - from;
      if (this.#recordLength === this.maxRecordSize) this.#endRecord();
    }
    return to;
  }
}
