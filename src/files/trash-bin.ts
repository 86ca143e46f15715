// Deletes what was renamed out of sight (a spool's removed entries) later, out of the way of the work
// that matters. Deleting files on ext4 waits for the journal, which a session's fsyncs keep busy: a
// deletion right after each sent file took milliseconds per unlink and held thread-pool threads that
// the next file's reads and fsyncs were waiting for. So trees are deleted one at a time, once removals
// have paused for QUIET_MS (or more than MAX_WAITING wait: a steady stream is deleted as it comes, one
// thread-pool thread at most), and whatever waits at close() is deleted
// before close() resolves. In detached mode (a short-lived `oftp2 send`) nothing is deleted in this
// process: a big tree goes to a detached `rm` at once, small ones together when removals pause or at close().
import { removeTree, removeTreesDetached } from './durable-fs.ts';

/** Removals must pause this long before waiting trees are deleted (default). */
const QUIET_MS = 1000;
/**
 * With more waiting than this, deletion starts without a pause: in this process (one at a time, so a
 * steady stream of sent files is deleted as steadily, not in bursts of thousands), or detached.
 */
const MAX_WAITING = 64;
const MAX_WAITING_DETACHED = 4096;
/** A tree under this many octets is not worth a detached `rm` of its own. */
const SMALL_OCTETS = 1024 * 1024;

export class TrashBin {
  readonly #detached: boolean;
  readonly #quietMs: number;
  readonly #waiting: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #emptying: Promise<void> | undefined;
  #closed = false;

  /** `detached`: nothing is deleted in this process (see the top of the file). */
  constructor(options: { detached: boolean; quietMs?: number }) {
    this.#detached = options.detached;
    this.#quietMs = options.quietMs ?? QUIET_MS;
  }

  /** Number of trees waiting to be deleted. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Deletes `path` (a tree nothing will use again, holding about `octets`) later. Never throws; a
   * failure leaves it for the next open's clearing.
   */
  discard(path: string, octets: number): void {
    if (this.#detached && (this.#closed || octets >= SMALL_OCTETS)) {
      removeTreesDetached([path]).catch(() => {});
      return;
    }
    if (this.#closed) {
      removeTree(path).catch(() => {});
      return;
    }
    this.#waiting.push(path);
    if (this.#waiting.length > (this.#detached ? MAX_WAITING_DETACHED : MAX_WAITING)) this.#empty();
    else {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#empty(), this.#quietMs);
      this.#timer.unref();
    }
  }

  /** Deletes what waits: detached, or here before resolving. Later discards are handed on at once. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    if (this.#detached) {
      const rest = this.#waiting.splice(0);
      await removeTreesDetached(rest).catch(() => {});
    } else this.#empty();
    await this.#emptying;
  }

  /** Detached: hands what waits to one detached `rm`. Else deletes waiting trees one at a time (one thread-pool thread) until none waits. */
  #empty(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#detached) {
      removeTreesDetached(this.#waiting.splice(0)).catch(() => {});
      return;
    }
    this.#emptying ??= (async () => {
      for (let path = this.#waiting.shift(); path !== undefined; path = this.#waiting.shift()) {
        await removeTree(path).catch(() => {});
      }
      this.#emptying = undefined;
    })();
  }
}
