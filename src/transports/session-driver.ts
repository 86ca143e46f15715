// Joins a byte stream (TCP socket, TLS socket, serial line…), the real clock and a session engine.
// The engine does no I/O; this driver does all of it (GUIDE principle 1):
// - bytes read are fed to the engine; its output is written to the stream;
// - its events are handed to the application one at a time, in order, and the stream is paused while
//   the application awaits (a slow disk slows the socket, and through credit, the sender);
// - its next deadline is armed as a timer;
// - 'closeTransport' ends the stream once the output is flushed.
// `run()` resolves with the session's end once the stream has closed.
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { EsidReason } from '../protocol/reason-codes.ts';
import type { OftpSession } from '../session/engine.ts';
import type { SessionEnded, SessionEvent } from '../session/types.ts';
import { chunkReaderOf } from './tcp.ts';
import { reusedTlsReader } from './tls-read.ts';

/** What the application may ask of the driver while it handles an event. */
export interface DriverIo {
  /**
   * Writes the engine's pending output; resolves once the stream can take more (backpressure), with
   * true if it had to wait for that.
   */
  flush(): Promise<boolean>;
  /** The driver's clock, milliseconds, monotonic. */
  now(): number;
  /**
   * Runs `task` after what the driver already has to do (bytes read meanwhile first), as the handling
   * of an event would run, unless the session has ended by then. For work that should not hold the
   * input back for long, e.g. a long credit window on a slow link, during which a peer's ESID must
   * still be read.
   */
  later(task: () => Promise<void>): void;
}

export interface SessionHandler {
  /** Acts on one event (not closeTransport/sessionEnded, which the driver handles). May await I/O. */
  handle(event: SessionEvent, io: DriverIo): Promise<void> | void;
}

export interface DriverOptions {
  /** Milliseconds, monotonic; defaults to performance.now. */
  clock?: () => number;
  /** Called when the application throws: the session is aborted with ESID 99 and this is told why. */
  onHandlerError?: (error: unknown) => void;
  /** How long to wait for the peer to close after our last write, before destroying the stream. */
  closeGraceMs?: number;
  /** Told when the stream is done with a chunk of output (e.g. PooledStbFramer.release). */
  written?: (chunk: Uint8Array) => void;
}

export class SessionDriver {
  readonly #stream: Duplex;
  readonly #session: OftpSession;
  readonly #handler: SessionHandler;
  readonly #clock: () => number;
  readonly #options: DriverOptions;
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #ended: SessionEnded | undefined;
  #streamClosed = false;
  #closing = false;
  readonly io: DriverIo;

  constructor(stream: Duplex, session: OftpSession, handler: SessionHandler, options: DriverOptions = {}) {
    this.#stream = stream;
    this.#session = session;
    this.#handler = handler;
    this.#options = options;
    this.#clock = options.clock ?? (() => performance.now());
    this.io = {
      flush: () => this.#flush(),
      now: this.#clock,
      later: (task) => {
        this.#enqueue(async () => {
          if (this.#session.isClosed) return;
          await task();
          await this.#pump();
        });
      },
    };
  }

  /** Starts the session on a connected stream; resolves with how it ended once the stream is closed. */
  async run(): Promise<SessionEnded> {
    const stream = this.#stream;
    const closed = new Promise<void>((resolve) => {
      stream.once('close', () => {
        this.#streamClosed = true;
        resolve();
      });
    });
    stream.on('error', () => {}); // reported through 'close' and the session's end
    // A stream reading into reused memory (tcp.ts, tls-read.ts) hands chunks over itself; a chunk stays
    // valid until we give it back, which is after the engine and the application are done with it.
    // Such a stream reads only as far ahead as its memory allows, so chunks are given back even when
    // we are closing: the peer's own close must still be seen (the engine ignores what comes after
    // the end). Any other stream is paused while a chunk is handled.
    const reader = chunkReaderOf(stream) ?? reusedTlsReader(stream);
    let done: (() => void) | undefined;
    const onChunk = (chunk: Uint8Array) => {
      if (!reader) stream.pause();
      this.#enqueue(async () => {
        this.#session.receiveBytes(chunk, this.#clock());
        await this.#pump();
      }).then(() => {
        if (reader) done?.();
        else if (!this.#streamClosed && !this.#closing) stream.resume();
      });
    };
    if (reader) done = reader(onChunk);
    else stream.on('data', onChunk);
    stream.once('end', () => this.#enqueue(() => this.#transportClosed()));
    this.#enqueue(async () => {
      this.#session.connected(this.#clock());
      await this.#pump();
    });
    await closed;
    await this.#enqueue(() => this.#transportClosed());
    await this.#chain;
    clearTimeout(this.#timer);
    return (
      this.#ended ?? {
        type: 'sessionEnded',
        normal: false,
        origin: 'transport',
        reason: undefined,
        reasonText: 'connection closed',
        error: undefined,
        state: this.#session.state,
      }
    );
  }

  #enqueue(task: () => Promise<void> | void): Promise<void> {
    const next = this.#chain.then(task).catch((err) => this.#handlerFailed(err));
    this.#chain = next;
    return next;
  }

  async #transportClosed(): Promise<void> {
    if (this.#session.isClosed && this.#ended) return;
    this.#session.transportClosed(this.#clock());
    await this.#pump();
  }

  #handlerFailed(error: unknown): void {
    this.#options.onHandlerError?.(error);
    if (!this.#session.isClosed) {
      const text = error instanceof Error ? error.message : String(error);
      this.#session.abort(EsidReason.unspecified, text.slice(0, 200), this.#clock());
      this.#pump().catch(() => this.#stream.destroy());
    }
  }

  /** Writes output, hands events to the application until there are none, then arms the timer. */
  async #pump(): Promise<void> {
    for (;;) {
      this.#write();
      const events = this.#session.takeEvents();
      if (events.length === 0) break;
      for (const event of events) {
        if (event.type === 'closeTransport') this.#close();
        else if (event.type === 'sessionEnded') this.#ended = event;
        // Events taken in one batch go stale once the session ends (the handler aborted on an earlier
        // one, or the peer's ESID followed them): an EFID after an abort must not commit or discard.
        else if (!this.#session.isClosed) await this.#handler.handle(event, this.io);
        this.#write();
      }
    }
    this.#arm();
  }

  #write(): void {
    if (this.#streamClosed || this.#stream.writableEnded) {
      this.#session.takeOutput();
      return;
    }
    const written = this.#options.written;
    for (const buf of this.#session.takeOutput()) {
      if (written) this.#stream.write(buf, () => written(buf));
      else this.#stream.write(buf);
    }
  }

  async #flush(): Promise<boolean> {
    this.#write();
    const stream = this.#stream;
    if (!stream.writableNeedDrain || this.#streamClosed) return false;
    // Both listeners go once either fires: Promise.race over events.once() left the loser attached,
    // a 'close' and an 'error' listener per wait, thousands on a long send (O(n) removals, warnings).
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
    });
    return true;
  }

  #close(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#write();
    this.#stream.end();
    // The peer should close too; if it does not, do not wait forever.
    setTimeout(() => this.#stream.destroy(), this.#options.closeGraceMs ?? 5000).unref();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const deadline = this.#session.nextDeadline();
    if (deadline === undefined || this.#streamClosed) return;
    this.#timer = setTimeout(
      () =>
        this.#enqueue(async () => {
          this.#session.handleTimeout(this.#clock());
          await this.#pump();
        }),
      Math.max(0, deadline - this.#clock()),
    );
  }
}
