// Files still being queued while their session already runs (`oftp2 send FILE…` dials while it spools):
// the session offers them in the order given, each once it is queued, and ends only after the last.
import type { SpoolEntry } from '../files/index.ts';

export class QueueFeed {
  /** Spool sequence of the last file released in order (every earlier one of ours is released too). */
  #releasedUpTo: number;
  #open = true;
  #waiters: (() => void)[] = [];

  /** `before`: the spool's last sequence before the first of these files is queued (Spool.lastSequence). */
  constructor(before: number) {
    this.#releasedUpTo = before;
  }

  /** More files may come. */
  get open(): boolean {
    return this.#open;
  }

  /** True for an entry queued beside ours and not yet released (one of ours whose turn has not come). */
  holds(entry: SpoolEntry): boolean {
    return this.#open && entry.meta.sequence > this.#releasedUpTo;
  }

  /** The file with this spool sequence is queued, and so is every one before it. */
  release(sequence: number): void {
    this.#releasedUpTo = Math.max(this.#releasedUpTo, sequence);
    this.#wake();
  }

  /** No more files (all queued, or queueing stopped): nothing is held any more. */
  close(): void {
    this.#open = false;
    this.#wake();
  }

  /** Resolves at the next release or close. */
  changed(): Promise<void> {
    if (!this.#open) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
