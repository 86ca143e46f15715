// Releases EERPs held under the 'on-consume' policy (inbox-receipts.ts) once the application has
// taken the file: fs.watch on the inbox folders of 'on-consume' partners wakes a check at once, and a
// check every rescanIntervalMs catches what watching misses. A check also runs at start, so a file
// consumed while the gateway was down releases its EERP right away.
import { type FSWatcher, watch } from 'node:fs';
import type { Log } from '../station/session-handler.ts';
import type { ShareReceiving } from './share-receiving.ts';

export interface InboxWatcherOptions {
  receiving: ShareReceiving;
  log: Log;
  rescanIntervalMs: number;
  /** Called after an EERP was queued for `partner` (so a session may be started to send it). */
  onReleased?(partner: string): void;
}

export class InboxWatcher {
  readonly #o: InboxWatcherOptions;
  readonly #watches = new Map<string, FSWatcher>();
  #interval: NodeJS.Timeout | undefined;
  #kickTimer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: InboxWatcherOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    await this.check();
    if (this.#stopped) return;
    this.#interval = setInterval(() => void this.check(), this.#o.rescanIntervalMs);
    this.#interval.unref();
  }

  /** Releases every held EERP whose file is gone. Never rejects. */
  check(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#checking) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        try {
          await this.#checkOnce();
        } catch (err) {
          this.#o.log.warn({ err: String(err) }, 'Inbox: checking held receipts failed (tried again at the next check)');
        }
      } while (this.#again && !this.#stopped);
      this.#checking = undefined;
    })();
    return this.#checking;
  }

  async stop(options: { wait?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#interval);
    clearTimeout(this.#kickTimer);
    for (const w of this.#watches.values()) w.close();
    this.#watches.clear();
    if (options.wait !== false) await this.#checking;
  }

  async #checkOnce(): Promise<void> {
    const { receiving, log } = this.#o;
    this.#syncWatches();
    const station = receiving.station;
    for (const held of await receiving.held.list()) {
      if (this.#stopped) return;
      if (!(await receiving.held.consumed(held))) continue;
      await receiving.held.release(held, station.services.receipts, station.services.history);
      log.info({ partner: held.partner, dataset: held.receipt.datasetName, path: held.path }, 'Inbox: file consumed, EERP queued');
      this.#o.onReleased?.(held.partner);
    }
  }

  /** One watch per inbox folder of an 'on-consume' partner. */
  #syncWatches(): void {
    const { layout } = this.#o.receiving;
    const wanted = new Set(layout.inboxes().filter((b) => layout.receiptPolicy(b.partner) === 'on-consume').map((b) => b.dir));
    for (const [dir, w] of this.#watches) {
      if (!wanted.has(dir)) {
        w.close();
        this.#watches.delete(dir);
      }
    }
    for (const dir of wanted) {
      if (this.#watches.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.#kick());
        w.on('error', () => {
          w.close();
          if (this.#watches.get(dir) === w) this.#watches.delete(dir);
        });
        this.#watches.set(dir, w);
      } catch {
        // Not there yet, or not watchable: the periodic check covers it.
      }
    }
  }

  #kick(): void {
    if (this.#kickTimer || this.#stopped) return;
    this.#kickTimer = setTimeout(() => {
      this.#kickTimer = undefined;
      void this.check();
    }, 25);
  }
}
