// The stream transmission buffer framing (RFC 5024 §8) for the station's sessions, with the memory of
// the big buffers reused instead of allocated per exchange buffer (100 KB each at the default size, so
// a 1 GiB file would otherwise allocate 2 GiB of garbage on each side):
// - encode(): frames go into pooled buffers; the driver hands each written frame back with release()
//   (SessionDriver's `written` option), so a pool of a few frames serves a whole transfer. Small frames
//   (commands other than DATA) are allocated as usual, and a frame never released is collected.
// - push(): a DATA buffer that arrives whole inside a chunk is a view of the chunk (no copy), one
//   spanning chunks is assembled in one of two reused buffers taken in turn. That buffer is overwritten
//   by the push after next, and the chunk itself may be a reused read buffer (tcp.ts), which is safe
//   with SessionDriver: it hands every event of one push to the application, and waits for it, before
//   it reads and feeds the next chunk. Any other command (whose fields the application might keep)
//   gets its own copy.
// Deframing is StbDeframer's (src/protocol/stream-transmission-buffer.ts), with the memory above;
// like the engine's own StbFramer it takes buffers up to the STB maximum (99999): SSIDSDEB bounds DATA
// only, which the engine checks, and a level-5 SFID is longer than the smallest SSIDSDEB of 128.
import { MAX_EXCHANGE_BUFFER_SIZE, STB_HEADER_LENGTH, StbDeframer, writeStbHeader } from '../protocol/stream-transmission-buffer.ts';
import type { Framer } from '../session/framer.ts';

/** The DATA command octet ('D'). */
const DATA_COMMAND = 0x44;
/** Frames at least this long come from the pool. */
const POOLED_FROM = 4096;
/** Free frames kept for reuse. */
const POOL_LIMIT = 8;

export class PooledStbFramer implements Framer {
  /** Size of pooled frame buffers: a DATA frame of the local SSIDSDEB (the most it can negotiate). */
  readonly #frameCapacity: number;
  readonly #free: Buffer[] = [];
  /** Pooled frames handed out, by their memory, so release() knows its own. */
  readonly #lent = new WeakMap<ArrayBufferLike, Buffer>();

  readonly #deframer: StbDeframer;
  /** The two assembly buffers, allocated when first needed, and which one is next. */
  readonly #assembly: (Uint8Array | undefined)[] = [undefined, undefined];
  #turn = 0;

  /**
   * `exchangeBufferSize`: the local SSIDSDEB, for the size of pooled frames (larger frames are simply
   * allocated). `maxExchangeBufferSize`: the largest buffer taken in (default: the STB maximum).
   */
  constructor(options: { exchangeBufferSize: number; maxExchangeBufferSize?: number }) {
    this.#frameCapacity = options.exchangeBufferSize + STB_HEADER_LENGTH;
    this.#deframer = new StbDeframer({
      maxExchangeBufferSize: options.maxExchangeBufferSize ?? MAX_EXCHANGE_BUFFER_SIZE,
      bodyFor: (length) => this.#bodyFor(length),
      // Only DATA may live in reused memory (see the top of the file); a copy (Buffer#slice is not).
      keep: (buffer) => (buffer[0] === DATA_COMMAND ? buffer : new Uint8Array(buffer)),
    });
  }

  encode(exchangeBuffer: Uint8Array): Uint8Array {
    const length = exchangeBuffer.length + STB_HEADER_LENGTH;
    let frame: Uint8Array;
    if (length >= POOLED_FROM && length <= this.#frameCapacity) {
      const buffer = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#frameCapacity);
      this.#lent.set(buffer.buffer, buffer);
      frame = buffer.subarray(0, length);
    } else {
      frame = new Uint8Array(length);
    }
    writeStbHeader(frame, 0, exchangeBuffer.length);
    frame.set(exchangeBuffer, STB_HEADER_LENGTH);
    return frame;
  }

  /** A frame from encode() was written: its memory may serve the next one. Others are ignored. */
  release(frame: Uint8Array): void {
    const buffer = this.#lent.get(frame.buffer);
    if (buffer === undefined) return;
    this.#lent.delete(frame.buffer);
    if (this.#free.length < POOL_LIMIT) this.#free.push(buffer);
  }

  push(chunk: Uint8Array): Uint8Array[] {
    return this.#deframer.push(chunk);
  }

  /** Memory for a buffer spanning chunks: the two assembly buffers in turn. */
  #bodyFor(length: number): Uint8Array {
    let buffer = this.#assembly[this.#turn];
    if (buffer === undefined || buffer.length < length) {
      buffer = new Uint8Array(Math.max(length, this.#frameCapacity - STB_HEADER_LENGTH));
      this.#assembly[this.#turn] = buffer;
    }
    this.#turn ^= 1;
    return buffer.subarray(0, length);
  }

}
