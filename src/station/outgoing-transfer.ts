// Sends one spooled virtual file through a session: spool reader → data exchange buffer encoder →
// engine, one credit window at a time (RFC 5024 §4.4). The reader is pulled only as fast as the
// engine and the socket take buffers, one item ahead (the next chunk is read while the current one is
// encoded and sent), so memory stays at two chunks and one exchange buffer.
import { openSpoolReader, type Spool, type SpoolEntry, type SpoolReader } from '../files/index.ts';
import { OftpError } from '../errors.ts';
import { ExchangeBufferEncoder } from '../protocol/exchange-buffer-encoder.ts';
import type { OftpSession } from '../session/engine.ts';
import type { NegotiatedParameters } from '../session/types.ts';
import type { DriverIo } from '../transports/session-driver.ts';

/** Sent progress is saved (for the next restart offer) at most this often, octets. */
const PROGRESS_SAVE_INTERVAL = 16 * 1024 * 1024;
/** Spool reads: large enough that reading (a thread-pool round trip each) is not the pace. */
const READ_CHUNK_SIZE = 256 * 1024;

export class OutgoingTransfer {
  readonly entry: SpoolEntry;
  readonly #spool: Spool;
  readonly #reader: SpoolReader;
  readonly #encoder: ExchangeBufferEncoder;
  readonly #items: AsyncIterator<Uint8Array>;
  /** The next item, already asked for (read-ahead); undefined once the reader is exhausted. */
  #next: Promise<IteratorResult<Uint8Array>> | undefined;
  #savedAt = 0;
  /** Progress saves run in the background, one after the other; close() waits for them. */
  #saving: Promise<void> = Promise.resolve();
  #ended = false;

  private constructor(entry: SpoolEntry, spool: Spool, reader: SpoolReader, encoder: ExchangeBufferEncoder) {
    this.entry = entry;
    this.#spool = spool;
    this.#reader = reader;
    this.#encoder = encoder;
    this.#items = reader[Symbol.asyncIterator]();
  }

  /** Opens the spooled file at the restart position the peer accepted (SFPAACNT). */
  static async start(
    entry: SpoolEntry,
    spool: Spool,
    parameters: NegotiatedParameters,
    restartPosition: number,
  ): Promise<OutgoingTransfer> {
    // The encoder holds an item until it needs input, and one more is read ahead: recycling is safe.
    // The file opens while its checkpoint is read.
    const loading = spool.loadCheckpoint(entry);
    loading.catch(() => {}); // awaited below
    let reader: SpoolReader;
    try {
      reader = await openSpoolReader(entry, restartPosition, { chunkSize: READ_CHUNK_SIZE, recycle: true });
    } catch (err) {
      await loading.catch(() => {});
      throw err;
    }
    let previous: Awaited<typeof loading>;
    try {
      previous = await loading;
    } catch (err) {
      await reader.close();
      throw err;
    }
    const encoder = new ExchangeBufferEncoder({
      format: entry.meta.transmissionFormat,
      exchangeBufferSize: parameters.exchangeBufferSize,
      bufferCompression: parameters.bufferCompression,
      maxRecordSize: entry.meta.maxRecordSize,
      startUnitCount: reader.start.units,
      startRecordCount: reader.start.records,
    });
    // A fresh file accepted from 0 has nothing to remember yet (a missing checkpoint says the same).
    if (previous.acceptedRestartPosition !== restartPosition) {
      await spool.saveCheckpoint(entry, { ...previous, acceptedRestartPosition: restartPosition });
    }
    return new OutgoingTransfer(entry, spool, reader, encoder);
  }

  /** Octets of user data sent so far (including those before the restart position). */
  get unitsSent(): number {
    return this.#encoder.unitCount;
  }

  /**
   * Sends data buffers while the credit lasts; sends EFID once the file is complete (§4.4, §4.5).
   * Returns 'efid' when EFID went out, 'credit' when it must wait for the next CDT, 'yield' when the
   * socket made it wait (a slow link): the caller goes on later, after reading what arrived meanwhile
   * (DriverIo.later), so a peer's ESID is not left unread for the rest of a long window.
   */
  async sendWindow(session: OftpSession, io: DriverIo): Promise<'efid' | 'credit' | 'yield'> {
    const encoder = this.#encoder;
    for (;;) {
      if (encoder.done) {
        if (session.credit === 0) return 'credit'; // EFID waits for credit (§9.11 note 1)
        // A shared file changed while it was read: no EFID for octets that were never queued. The
        // session ends (ESID 99, see SessionDriver) and the next one reports the file unsendable.
        const changed = await this.#spool.sharedFileChanged(this.entry);
        if (changed !== undefined) throw new OftpError('OFTP_ERR_IO', `not sent: ${changed}`);
        session.endFile({ recordCount: encoder.recordCount, unitCount: encoder.unitCount }, io.now());
        await this.#reader.close(); // all read; close() may still come if the EFPA never does
        await this.#saving.catch(() => {}); // nothing writes into the entry once EFPA may remove it
        return 'efid';
      }
      if (session.credit === 0) {
        this.#saveProgress(false);
        return 'credit';
      }
      const buffer = encoder.pull();
      if (buffer) {
        session.sendData(buffer, io.now());
        if (await io.flush()) {
          // Progress is saved every 16 MiB, not only at the end of a window (999 buffers: 100 MB).
          this.#saveProgress(false);
          return 'yield';
        }
        continue;
      }
      if (!encoder.needsInput) continue;
      if (this.#ended) {
        encoder.end();
        continue;
      }
      const next = await (this.#next ?? this.#items.next());
      this.#next = undefined;
      if (next.done) {
        this.#ended = true;
        encoder.end();
        continue;
      }
      this.#readAhead();
      if (this.#reader.recordMode) {
        encoder.write(next.value, 0, next.value.length, true);
      } else {
        encoder.write(next.value);
      }
    }
  }

  /** Asks the reader for the item after the one just taken, so its read overlaps the sending. */
  #readAhead(): void {
    const next = this.#items.next();
    next.catch(() => {}); // a read error is thrown where the item is awaited
    this.#next = next;
  }

  /**
   * Saves the sent progress in the background (the restart offer is a hint: a high one is answered
   * with what the receiver holds, a low one only resends). Progress counts what the reader handed out,
   * read-ahead included, like the encoder's buffer before: it may run ahead of the DATA sent.
   */
  #saveProgress(force: boolean): Promise<void> {
    const progress = this.#reader.progress();
    if (!force && progress.octets - this.#savedAt < PROGRESS_SAVE_INTERVAL) return this.#saving;
    this.#savedAt = progress.octets;
    this.#saving = this.#saving.then(async () => {
      const previous = await this.#spool.loadCheckpoint(this.entry);
      await this.#spool.saveCheckpoint(this.entry, { ...previous, sentOctets: progress.octets, sentRecords: progress.records });
    });
    this.#saving.catch(() => {}); // best effort, see close()
    return this.#saving;
  }

  /**
   * Releases a file that did not get its EFPA (the session broke mid-file or after the EFID, or EFNA):
   * the sent progress is saved first, so the next SFID offers SFIDREST from there; the receiver answers
   * with what it holds durably (<= the offer). Best effort: without it the file is only resent from
   * further back.
   */
  async close(): Promise<void> {
    await this.#next?.catch(() => {}); // no read in flight when the file closes
    this.#next = undefined;
    await this.#saveProgress(true).catch(() => {});
    await this.#reader.close();
  }
}
