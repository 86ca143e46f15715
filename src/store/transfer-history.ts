// Transfer history: every state change of every transfer, for tracing a file from drop to receipt.
// Storage is append-only JSON Lines, one segment file per UTC month under `<state>/history/`, so a
// write appends one line (and fsyncs) instead of rewriting a large JSON document. On open the
// segments inside the retention window are replayed into an in-memory map of each transfer's latest
// state; older segments are deleted. (lowdb keeps the small, whole-document config; this is the log.)
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

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

export class TransferHistory {
  readonly #dir: string;
  readonly #now: () => Date;
  readonly #latest = new Map<string, TransferRecord>();
  #segment: { month: string; handle: FileHandle } | undefined;
  #queue: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<(record: TransferRecord) => void>();

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
      this.#latest.set(rec.id, prev ? { ...prev, ...rec, createdAt: prev.createdAt } : rec);
    }
  }

  /** Records a state change durably (appended and fsynced before the promise resolves). */
  record(update: TransferUpdate): Promise<TransferRecord> {
    const at = this.#now();
    const prev = this.#latest.get(update.id);
    const rec: TransferRecord = { ...prev, ...update, createdAt: prev?.createdAt ?? at.toISOString(), updatedAt: at.toISOString() };
    this.#latest.set(rec.id, rec);
    const line = `${JSON.stringify(rec)}\n`;
    const write = this.#queue.then(async () => {
      const handle = await this.#handleFor(monthOf(at));
      await handle.write(line);
      await handle.datasync();
    });
    this.#queue = write.catch(() => {});
    return write.then(() => {
      for (const listener of this.#listeners) listener(rec);
      return rec;
    });
  }

  /** Calls `listener` after each state change is durable (hooks, webhooks, status). Returns an unsubscribe. */
  subscribe(listener: (record: TransferRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #handleFor(month: string): Promise<FileHandle> {
    if (this.#segment?.month === month) return this.#segment.handle;
    await this.#segment?.handle.close();
    const handle = await open(join(this.#dir, `${month}.jsonl`), 'a+', 0o600);
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

  /** Latest state of each transfer, newest change first. */
  list(filter: { partner?: string; state?: TransferState; direction?: TransferDirection; limit?: number } = {}): TransferRecord[] {
    const out: TransferRecord[] = [];
    for (const rec of this.#latest.values()) {
      if (filter.partner && rec.partner !== filter.partner) continue;
      if (filter.state && rec.state !== filter.state) continue;
      if (filter.direction && rec.direction !== filter.direction) continue;
      out.push(rec);
    }
    out.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
    return filter.limit ? out.slice(0, filter.limit) : out;
  }

  get size(): number {
    return this.#latest.size;
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#segment?.handle.close();
    this.#segment = undefined;
  }
}
