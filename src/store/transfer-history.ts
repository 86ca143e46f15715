// Transfer history: every state change of every transfer, for tracing a file from drop to receipt.
// Storage is append-only JSON Lines, one segment file per UTC month under `<state>/history/`, so a
// write appends one line (and fsyncs) instead of rewriting a large JSON document. On open the
// segments inside the retention window are replayed into an in-memory map of each transfer's latest
// state; older segments are deleted. (lowdb keeps the small, whole-document config; this is the log.)
// Changes arriving while a write is in flight are written together with one fsync (group commit), so a
// burst of thousands of files costs a few fsyncs, not one each. A change recorded with `lazy` (an
// in-progress mark nothing waits for) starts no write of its own: it goes out with the next durable
// change, or at close(); in between it is in memory only, and a crash may lose it (the states that
// matter, 'received', 'delivered', 'failed'…, are never lazy where they are recorded). For 100,000 records and more, lists
// are served newest-first from change-order indexes (all transfers, and per partner) without sorting,
// and counts per partner, direction and state are kept up to date for `oftp2 status`.
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { constants } from 'node:fs';
import { fsyncDir } from '../files/durable-fs.ts';

export type TransferDirection = 'out' | 'in';
export type TransferState =
  | 'queued'
  | 'sending'
  | 'sent'
  | 'delivered'
  | 'failed'
  | 'receiving'
  | 'received'
  | 'acknowledged';

export interface TransferRecord {
  /** Stable id of the transfer (spool id for outgoing, identity hash for incoming). */
  id: string;
  direction: TransferDirection;
  state: TransferState;
  partner: string;
  datasetName: string;
  /** SFIDDATE 'CCYYMMDD' and SFIDTIME 'HHMMSScccc' of the virtual file. */
  date: string;
  time: string;
  originator: string;
  destination: string;
  size?: number;
  sha256?: string;
  /** Where a received file was delivered, or the source of a sent one. */
  path?: string;
  /** Reason code and its RFC text for refusals and failures (SFNA/EFNA/NERP/ESID). */
  reason?: string;
  reasonText?: string;
  /** SFIDCIPH and SFIDSIGN of the virtual file (RFC 5024 §5.3.3), when it used file services or asked for a signed receipt. */
  cipherSuite?: number;
  signedReceipt?: boolean;
  /**
   * Hash (hex, with the cipher suite's digest) of the virtual file as transmitted — enveloped, if it
   * was: what EERPHSH/NERPHSH must say (§5.3.13). Kept here so a receipt can be checked (out) or
   * answered again (in) after the spool entry or the transmitted file is gone.
   */
  receiptHash?: string;
  /** ISO timestamps: first seen and last change. */
  createdAt: string;
  updatedAt: string;
}

export type TransferUpdate = Omit<TransferRecord, 'createdAt' | 'updatedAt'>;

export interface HistoryOptions {
  dir: string;
  /** Months of history kept (default 13: a busy year and the month it started in). */
  retentionMonths?: number;
  /** Injected clock for tests. */
  now?: () => Date;
}

const monthOf = (d: Date) => `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;

/** Ids in change order, oldest first; an entry is stale when its id changed again later (seq differs). */
class ChangeOrder {
  ids: string[] = [];
  seqs: number[] = [];
  push(id: string, seq: number): void {
    this.ids.push(id);
    this.seqs.push(seq);
  }
  /** Drops stale entries once they outnumber the live ones. */
  compact(current: Map<string, number>, live: number): void {
    if (this.ids.length < 2 * live + 1024) return;
    const ids: string[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < this.ids.length; i++) {
      if (current.get(this.ids[i]!) === this.seqs[i]) {
        ids.push(this.ids[i]!);
        seqs.push(this.seqs[i]!);
      }
    }
    this.ids = ids;
    this.seqs = seqs;
  }
}

export type TransferCounts = Record<TransferDirection, Partial<Record<TransferState, number>>>;

interface PendingWrite {
  month: string;
  line: string;
  rec: TransferRecord;
  resolve: (rec: TransferRecord) => void;
  reject: (err: unknown) => void;
}

export class TransferHistory {
  readonly #dir: string;
  readonly #now: () => Date;
  readonly #latest = new Map<string, TransferRecord>();
  #segment: { month: string; handle: FileHandle } | undefined;
  #pending: PendingWrite[] = [];
  #flushing: Promise<void> | undefined;
  readonly #listeners = new Set<(record: TransferRecord) => void>();
  #seq = 0;
  readonly #seqOf = new Map<string, number>();
  readonly #order = new ChangeOrder();
  readonly #byPartner = new Map<string, ChangeOrder>();
  readonly #counts = new Map<string, TransferCounts>();

  private constructor(dir: string, now: () => Date) {
    this.#dir = dir;
    this.#now = now;
  }

  static async open(options: HistoryOptions): Promise<TransferHistory> {
    const now = options.now ?? (() => new Date());
    const history = new TransferHistory(options.dir, now);
    await mkdir(options.dir, { recursive: true });
    const current = now();
    const oldest = monthOf(new Date(Date.UTC(current.getUTCFullYear(), current.getUTCMonth() - ((options.retentionMonths ?? 13) - 1), 1)));
    const segments = (await readdir(options.dir)).filter((f) => /^\d{4}-\d{2}\.jsonl$/.test(f)).sort();
    for (const file of segments) {
      if (file.slice(0, 7) < oldest) {
        await unlink(join(options.dir, file));
        continue;
      }
      history.#replay(await readFile(join(options.dir, file), 'utf8'));
    }
    history.#buildIndexes();
    return history;
  }

  #replay(text: string): void {
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      let rec: TransferRecord;
      try {
        rec = JSON.parse(line) as TransferRecord;
      } catch {
        continue; // a line torn by a crash mid-append: the change before it stands
      }
      const prev = this.#latest.get(rec.id);
      // Delete and set: the map's order stays the order of last change, from which the indexes are built.
      if (prev) this.#latest.delete(rec.id);
      this.#latest.set(rec.id, prev ? { ...prev, ...rec, createdAt: prev.createdAt } : rec);
    }
  }

  /** Builds the change-order indexes and counts once, after the replay. */
  #buildIndexes(): void {
    for (const rec of this.#latest.values()) {
      const seq = ++this.#seq;
      this.#seqOf.set(rec.id, seq);
      this.#order.push(rec.id, seq);
      this.#partnerOrder(rec.partner).push(rec.id, seq);
      this.#count(rec, 1);
    }
  }

  /** Sets the latest state of a transfer and keeps the indexes and counts. */
  #index(prev: TransferRecord | undefined, rec: TransferRecord): void {
    this.#latest.set(rec.id, rec);
    const seq = ++this.#seq;
    this.#seqOf.set(rec.id, seq);
    this.#order.push(rec.id, seq);
    this.#order.compact(this.#seqOf, this.#latest.size);
    this.#partnerOrder(rec.partner).push(rec.id, seq);
    if (prev && prev.partner !== rec.partner) this.#byPartner.get(prev.partner)?.compact(this.#seqOf, 0);
    if (prev) this.#count(prev, -1);
    this.#count(rec, 1);
  }

  #partnerOrder(partner: string): ChangeOrder {
    let order = this.#byPartner.get(partner);
    if (!order) {
      order = new ChangeOrder();
      this.#byPartner.set(partner, order);
    }
    return order;
  }

  #count(rec: TransferRecord, delta: number): void {
    let c = this.#counts.get(rec.partner);
    if (!c) {
      c = { in: {}, out: {} };
      this.#counts.set(rec.partner, c);
    }
    const byState = c[rec.direction];
    byState[rec.state] = (byState[rec.state] ?? 0) + delta;
  }

  /**
   * Records a state change durably (appended and fsynced before the promise resolves). With `lazy`,
   * the change is written (and the promise resolves) with the next one that is not lazy, or at close().
   */
  record(update: TransferUpdate, options: { lazy?: boolean } = {}): Promise<TransferRecord> {
    const at = this.#now();
    const prev = this.#latest.get(update.id);
    const rec: TransferRecord = { ...prev, ...update, createdAt: prev?.createdAt ?? at.toISOString(), updatedAt: at.toISOString() };
    this.#index(prev, rec);
    const line = `${JSON.stringify(rec)}\n`;
    const written = new Promise<TransferRecord>((resolve, reject) => {
      this.#pending.push({ month: monthOf(at), line, rec, resolve, reject });
    });
    if (!options.lazy) this.#flushing ??= this.#flush();
    return written;
  }

  /** Writes what is pending, each month's lines in one durable write (O_DSYNC), until nothing is left. */
  async #flush(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        let start = 0;
        while (start < batch.length) {
          let end = start + 1;
          while (end < batch.length && batch[end]!.month === batch[start]!.month) end++;
          const run = batch.slice(start, end);
          try {
            const handle = await this.#handleFor(run[0]!.month);
            // One system call, one thread-pool round trip: durable when it returns (O_DSYNC).
            await handle.write(run.map((w) => w.line).join(''));
          } catch (err) {
            for (const w of run) w.reject(err);
            start = end;
            continue;
          }
          for (const w of run) {
            for (const listener of this.#listeners) listener(w.rec);
            w.resolve(w.rec);
          }
          start = end;
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Calls `listener` after each state change is durable (hooks, webhooks, status). Returns an unsubscribe. */
  subscribe(listener: (record: TransferRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #handleFor(month: string): Promise<FileHandle> {
    if (this.#segment?.month === month) return this.#segment.handle;
    await this.#segment?.handle.close();
    // Appends are durable when written (O_DSYNC: the data and the size, as write + fdatasync). A new
    // segment's name is made durable once.
    const path = join(this.#dir, `${month}.jsonl`);
    const flags = constants.O_RDWR | constants.O_APPEND | constants.O_DSYNC;
    let handle: FileHandle;
    let created = false;
    try {
      handle = await open(path, flags | constants.O_CREAT | constants.O_EXCL, 0o600);
      created = true;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
      handle = await open(path, flags);
    }
    if (created) await fsyncDir(this.#dir);
    // A line torn by a power loss must not swallow the next record: start on a fresh line.
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) await handle.write('\n');
    }
    this.#segment = { month, handle };
    return handle;
  }

  get(id: string): TransferRecord | undefined {
    return this.#latest.get(id);
  }

  /** Latest state of each transfer, newest change first (from the change-order index: no sort). */
  list(filter: { partner?: string; state?: TransferState; direction?: TransferDirection; limit?: number } = {}): TransferRecord[] {
    const out: TransferRecord[] = [];
    const order = filter.partner ? this.#byPartner.get(filter.partner) : this.#order;
    if (!order) return out;
    if (filter.state && filter.partner) {
      const c = this.#counts.get(filter.partner);
      const n = (c?.in[filter.state] ?? 0) + (c?.out[filter.state] ?? 0);
      if (n === 0) return out;
    }
    const limit = filter.limit || Number.POSITIVE_INFINITY;
    const { ids, seqs } = order;
    for (let i = ids.length - 1; i >= 0 && out.length < limit; i--) {
      const id = ids[i]!;
      if (this.#seqOf.get(id) !== seqs[i]) continue; // changed again later
      const rec = this.#latest.get(id)!;
      if (filter.partner && rec.partner !== filter.partner) continue;
      if (filter.state && rec.state !== filter.state) continue;
      if (filter.direction && rec.direction !== filter.direction) continue;
      out.push(rec);
    }
    return out;
  }

  /** Transfers per partner, direction and latest state (e.g. how many files wait for a partner). */
  counts(): Map<string, TransferCounts> {
    return this.#counts;
  }

  get size(): number {
    return this.#latest.size;
  }

  /** Makes every change recorded so far durable, lazy ones included. */
  async flush(): Promise<void> {
    if (this.#pending.length > 0) this.#flushing ??= this.#flush();
    while (this.#flushing) await this.#flushing;
  }

  async close(): Promise<void> {
    if (this.#pending.length > 0) this.#flushing ??= this.#flush(); // lazy changes
    while (this.#flushing) await this.#flushing;
    await this.#segment?.handle.close();
    this.#segment = undefined;
  }
}
