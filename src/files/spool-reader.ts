// Reads a spooled file from a restart position (RFC 5024 §1.5.4, §5.3.3 SFIDREST / §5.3.4 SFPAACNT)
// for the data exchange buffer encoder (§7). Async iteration pulls one item at a time, so the file is
// read only as fast as the consumer (and behind it the peer's credit) takes it:
// - U/T (and any file travelling as U): chunks of at most `chunkSize` octets (default 64 KiB);
// - F/V: one item per record, user data only (the V 2-octet prefixes are not yielded).
// Items are fresh memory (never reused), so a consumer may keep them, unless the reader is opened with
// `recycle`: then reads go into two buffers used in turn, and an item's memory is read into again once
// the consumer asks for the item after the next one (a consumer that holds the current item and one
// read ahead is safe). progress() counts from the start of the file, as EFIDRCNT/EFIDUCNT require ("the
// total count is always used, even during restart").
import { type FileHandle, open } from 'node:fs/promises';
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { badArgument, badState, invalidContent, ioError } from './file-errors.ts';
import { BLOCK_SIZE, checkRecordSize, isRecordFormat } from './record-formats.ts';
import { type RestartPoint, resolveRestartPoint } from './restart-offsets.ts';
import type { SpoolEntry } from './spool-entry.ts';

export const DEFAULT_CHUNK_SIZE = 64 * 1024;

export interface ReaderOptions {
  /** Largest U/T chunk in octets (default 64 KiB). */
  chunkSize?: number;
  /** Read into two buffers in turn instead of fresh memory for every chunk (see above). */
  recycle?: boolean;
}

export interface ReadProgress {
  /** Local octets consumed from the start of the file (V includes prefixes). */
  octets: number;
  /** EFIDRCNT so far: records for F/V, 0 for U/T. */
  records: number;
  /** EFIDUCNT so far: user data octets. */
  units: number;
  /** Restart position reached (records, or whole 1K blocks). */
  restartPosition: number;
}

export class SpoolReader implements AsyncIterable<Uint8Array> {
  /** The format the octets travel in. */
  readonly format: VirtualFileFormat;
  /** True when every item is one record (F/V). */
  readonly recordMode: boolean;
  /** Where reading started. */
  readonly start: RestartPoint;
  /** Local file size in octets. */
  readonly size: number;
  readonly #fh: FileHandle;
  readonly #path: string;
  readonly #maxRecordSize: number;
  readonly #chunkSize: number;
  /** With `recycle`: the two read buffers (allocated at first use), and which one the next read fills. */
  readonly #buffers: (Buffer | undefined)[] | undefined;
  #turn = 0;
  #octets: number;
  #records: number;
  #units: number;
  /** File offset of the next read (ahead of #octets by what is read but not yet handed out). */
  #readAt = -1;
  #iterating = false;
  #closed = false;

  private constructor(
    fh: FileHandle,
    path: string,
    size: number,
    format: VirtualFileFormat,
    maxRecordSize: number,
    start: RestartPoint,
    chunkSize: number,
    recycle: boolean,
  ) {
    this.#fh = fh;
    this.#path = path;
    this.size = size;
    this.format = format;
    this.recordMode = isRecordFormat(format);
    this.#maxRecordSize = maxRecordSize;
    this.start = start;
    this.#chunkSize = chunkSize;
    this.#buffers = recycle ? [undefined, undefined] : undefined;
    this.#octets = start.offset;
    this.#records = start.records;
    this.#units = start.units;
  }

  /**
   * Opens `path` (local representation of `format`) at `restartPosition`. A position beyond the end
   * of the file is our misuse (the engine resumes at SFPAACNT <= the SFIDREST we offered).
   */
  static async open(
    path: string,
    format: VirtualFileFormat,
    maxRecordSize: number,
    restartPosition: number,
    options: ReaderOptions = {},
  ): Promise<SpoolReader> {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw badArgument(`chunk size ${chunkSize}`);
    if (isRecordFormat(format)) checkRecordSize(format, maxRecordSize);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      throw ioError('open', path, err);
    }
    try {
      const { size } = await fh.stat();
      const start = await resolveRestartPoint(fh, path, size, format, maxRecordSize, restartPosition);
      return new SpoolReader(fh, path, size, format, maxRecordSize, start, chunkSize, options.recycle ?? false);
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
  }

  progress(): ReadProgress {
    return {
      octets: this.#octets,
      records: this.#records,
      units: this.#units,
      restartPosition: this.recordMode ? this.#records : Math.floor(this.#octets / BLOCK_SIZE),
    };
  }

  /** True once every octet has been handed out. */
  get done(): boolean {
    return this.#octets >= this.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#fh.close().catch(() => {});
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#iterating) throw badState('a SpoolReader can be iterated once');
    this.#iterating = true;
    const items =
      this.format === 'F' ? this.#fixed() : this.format === 'V' ? this.#variable() : this.#stream();
    return items[Symbol.asyncIterator]();
  }

  async #read(length: number): Promise<Buffer> {
    if (this.#closed) throw badState('SpoolReader is closed');
    let buffer: Buffer;
    if (this.#buffers) {
      // The first read is the largest this file needs (a whole chunk, or the rest of a small file).
      let own = this.#buffers[this.#turn];
      if (own === undefined) {
        own = Buffer.allocUnsafeSlow(length);
        this.#buffers[this.#turn] = own;
      }
      buffer = own.length >= length ? own.subarray(0, length) : Buffer.allocUnsafe(length);
      this.#turn ^= 1;
    } else {
      buffer = Buffer.allocUnsafe(length);
    }
    let filled = 0;
    while (filled < length) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.#fh.read(buffer, filled, length - filled, this.#readAt + filled));
      } catch (err) {
        throw ioError('read', this.#path, err);
      }
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    this.#readAt += filled;
    return filled === length ? buffer : buffer.subarray(0, filled);
  }

  async *#stream(): AsyncGenerator<Uint8Array> {
    this.#readAt = this.#octets;
    try {
      while (this.#readAt < this.size) {
        const chunk = await this.#read(Math.min(this.#chunkSize, this.size - this.#readAt));
        if (chunk.length === 0) throw shrunk(this.#path);
        this.#octets += chunk.length;
        this.#units += chunk.length;
        yield chunk;
      }
    } finally {
      await this.close();
    }
  }

  async *#fixed(): AsyncGenerator<Uint8Array> {
    const lrecl = this.#maxRecordSize;
    const perRead = Math.max(1, Math.floor(this.#chunkSize / lrecl)) * lrecl;
    this.#readAt = this.#octets;
    try {
      while (this.#readAt < this.size) {
        const block = await this.#read(Math.min(perRead, this.size - this.#readAt));
        if (block.length % lrecl !== 0 || block.length === 0) {
          throw invalidContent(`F file ${this.#path} ends inside a record`);
        }
        for (let i = 0; i < block.length; i += lrecl) {
          this.#octets += lrecl;
          this.#units += lrecl;
          this.#records++;
          yield block.subarray(i, i + lrecl);
        }
      }
    } finally {
      await this.close();
    }
  }

  async *#variable(): AsyncGenerator<Uint8Array> {
    this.#readAt = this.#octets;
    let pending: Buffer | undefined;
    let pendingFilled = 0;
    let prefixHigh = -1;
    const handOut = (length: number) => {
      this.#octets += length + 2;
      this.#units += length;
      this.#records++;
    };
    try {
      while (this.#readAt < this.size) {
        const chunk = await this.#read(Math.min(this.#chunkSize, this.size - this.#readAt));
        if (chunk.length === 0) throw shrunk(this.#path);
        let i = 0;
        while (i < chunk.length) {
          if (pending) {
            const take = Math.min(pending.length - pendingFilled, chunk.length - i);
            chunk.copy(pending, pendingFilled, i, i + take);
            pendingFilled += take;
            i += take;
            if (pendingFilled === pending.length) {
              const record = pending;
              pending = undefined;
              handOut(record.length);
              yield record;
            }
            continue;
          }
          let length: number;
          if (prefixHigh >= 0) {
            length = (prefixHigh << 8) | chunk[i]!;
            prefixHigh = -1;
            i += 1;
          } else if (chunk.length - i >= 2) {
            length = (chunk[i]! << 8) | chunk[i + 1]!;
            i += 2;
          } else {
            prefixHigh = chunk[i]!;
            i += 1;
            continue;
          }
          if (chunk.length - i >= length) {
            const record = chunk.subarray(i, i + length);
            i += length;
            handOut(length);
            yield record;
          } else {
            pending = Buffer.allocUnsafe(length);
            pendingFilled = 0;
          }
        }
      }
      if (pending || prefixHigh >= 0) throw invalidContent(`V file ${this.#path} ends inside a record`);
    } finally {
      await this.close();
    }
  }
}

function shrunk(path: string) {
  return ioError('read', path, Object.assign(new Error('file shrank while read'), { code: 'ESHRUNK' }));
}

/** Opens a spool entry's data at `restartPosition` in its transmission format. */
export function openSpoolReader(
  entry: SpoolEntry,
  restartPosition: number,
  options: ReaderOptions = {},
): Promise<SpoolReader> {
  const { transmissionFormat, maxRecordSize } = entry.meta;
  return SpoolReader.open(
    entry.dataPath,
    transmissionFormat,
    transmissionFormat === 'U' || transmissionFormat === 'T' ? 0 : maxRecordSize,
    restartPosition,
    options,
  );
}
