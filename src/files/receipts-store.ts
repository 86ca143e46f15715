// Pending end-to-end receipts (RFC 5024 §4.3.6, §5.3.13 EERP, §5.3.14 NERP, §5.3.15 RTR): receipts we
// owe a partner, kept durably until the peer acknowledges them with RTR. They survive restarts and are
// sent in the next session with that partner, whichever side opens it. They are kept in one append-only
// log (receipts-log.ts): a line per receipt stored, a line per batch acknowledged; one disk flush per
// batch. Binary fields (hash, signature) are stored as base64. Adding the same receipt (kind + identity)
// twice keeps the first one. Receipts of the earlier layout, one JSON file each
//   <dir>/<partner>/<seq:12>-<EERP|NERP>-<identityKey>.json
// are still read at open and removed (with a directory fsync) when acknowledged. Every receipt is held
// in memory (this instance owns the directory): a session lists the store before each receipt it sends.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Eerp, Nerp } from '../protocol/command-types.ts';
import { mkdirDurable, readJsonIfExists, removeInterruptedWrites, unlinkDurable } from './durable-fs.ts';
import { badArgument, errnoCode, ioError } from './file-errors.ts';
import { assertSafeFileName, identityKey } from './naming.ts';
import { ReceiptsLog } from './receipts-log.ts';

export type Receipt = Eerp | Nerp;

export interface StoredReceipt {
  /** '<seq:12>-<EERP|NERP>-<identityKey>'; pass it to remove(). */
  id: string;
  partner: string;
  /** ISO 8601 time it was stored. */
  createdAt: string;
  receipt: Receipt;
}

/** A receipt as JSON: its binary fields (hash, signature) in base64. */
export type ReceiptJson<R extends Receipt = Receipt> = Omit<R, 'fileHash' | 'signature'> & { fileHash: string; signature: string };

export function receiptToJson<R extends Receipt>(receipt: R): ReceiptJson<R> {
  return { ...receipt, fileHash: Buffer.from(receipt.fileHash).toString('base64'), signature: Buffer.from(receipt.signature).toString('base64') };
}

export function receiptFromJson<R extends Receipt>(json: ReceiptJson<R>): R {
  return { ...json, fileHash: new Uint8Array(Buffer.from(json.fileHash, 'base64')), signature: new Uint8Array(Buffer.from(json.signature, 'base64')) } as unknown as R;
}

interface ReceiptFile {
  version: 1;
  id: string;
  partner: string;
  createdAt: string;
  receipt: ReceiptJson;
}

const RECEIPT_NAME = /^(\d{12})-(EERP|NERP)-(.+)\.json$/;

/** addSoon(): how long a receipt waits for others to share its write, and the largest batch. */
const DEFAULT_LINGER_MS = 10;
const BATCH_MAX = 64;

interface BatchedAdd {
  partner: string;
  receipt: Receipt;
  resolve: (stored: StoredReceipt) => void;
  reject: (err: unknown) => void;
}

interface PartnerReceipts {
  /** File name → receipt, in name (oldest first) order while `sorted`. */
  byName: Map<string, StoredReceipt>;
  /** `<EERP|NERP>-<identityKey>.json` → file name (duplicate check). */
  bySuffix: Map<string, string>;
  sorted: boolean;
  last: string | undefined;
}

export class PendingReceiptStore {
  readonly dir: string;
  readonly #now: () => number;
  readonly #log: ReceiptsLog;
  #sequence: number;
  readonly #index = new Map<string, PartnerReceipts>();
  /** `${partner}/${name}` of receipts stored in the earlier layout (a file each), not yet removed. */
  readonly #legacy = new Set<string>();
  /** Receipts forgotten (RTR) and not yet removed, by `${partner}/${name}`: still in the log, still counted as owed. */
  readonly #forgotten = new Map<string, StoredReceipt>();
  /** addSoon(): receipts waiting for the next batch, the batch timer, the batches being written. */
  #batch: BatchedAdd[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #batches: Promise<void> = Promise.resolve();
  /** addSoon() promises not yet settled, by `<partner>/<EERP|NERP>-<identityKey>.json`. */
  readonly #waiting = new Map<string, Promise<StoredReceipt>>();

  private constructor(dir: string, log: ReceiptsLog, now: () => number) {
    this.dir = dir;
    this.#log = log;
    this.#sequence = 0;
    this.#now = now;
  }

  static async open(dir: string, options: { now?: () => number } = {}): Promise<PendingReceiptStore> {
    await mkdirDurable(dir);
    await removeInterruptedWrites(dir);
    const { log, records } = await ReceiptsLog.open(dir);
    const store = new PendingReceiptStore(dir, log, options.now ?? Date.now);
    // The earlier layout first (it is older), then the log in order.
    for (const partner of await listDir(dir)) {
      const partnerDir = join(dir, partner);
      await removeInterruptedWrites(partnerDir);
      for (const name of (await listDir(partnerDir)).filter((n) => RECEIPT_NAME.test(n)).sort()) {
        const file = await readJsonIfExists<ReceiptFile>(join(partnerDir, name));
        if (!file) continue;
        store.#put(partner, fromFile(file));
        store.#legacy.add(`${partner}/${name}`);
      }
    }
    for (const record of records) {
      const r = record as { add?: ReceiptFile; remove?: { partner: string; ids: string[] } };
      if (r.add) store.#put(r.add.partner, fromFile(r.add));
      else if (r.remove) for (const id of r.remove.ids) store.#drop(r.remove.partner, `${id}.json`);
    }
    return store;
  }

  /** Stores a receipt owed to `partner`; durable when it resolves. */
  async add(partner: string, receipt: Receipt): Promise<StoredReceipt> {
    assertSafeFileName(partner);
    if (receipt.cmd !== 'EERP' && receipt.cmd !== 'NERP') throw badArgument('only EERP and NERP are stored');
    const suffix = `${receipt.cmd}-${identityKey(receipt)}`;
    const kept = this.#existing(partner, suffix);
    if (kept) return kept;
    const id = `${String(++this.#sequence).padStart(12, '0')}-${suffix}`;
    const stored: StoredReceipt = { id, partner, createdAt: new Date(this.#now()).toISOString(), receipt };
    await this.#log.append([JSON.stringify({ add: receiptFile(stored) })]);
    this.#put(partner, stored);
    return stored;
  }

  /**
   * add() for a caller that can wait a little: the receipt joins a batch, written at once with the
   * others that come within `lingerMs` (or as soon as BATCH_MAX are waiting): one write, one flush.
   * Durable when it resolves, like add(). Until it resolves the receipt is not listed, and a second
   * addSoon of the same receipt gets the same promise.
   */
  addSoon(partner: string, receipt: Receipt, lingerMs = DEFAULT_LINGER_MS): Promise<StoredReceipt> {
    assertSafeFileName(partner);
    if (receipt.cmd !== 'EERP' && receipt.cmd !== 'NERP') return Promise.reject(badArgument('only EERP and NERP are stored'));
    const waiting = `${partner}/${receipt.cmd}-${identityKey(receipt)}.json`;
    const pending = this.#waiting.get(waiting);
    if (pending) return pending;
    const added = new Promise<StoredReceipt>((resolve, reject) => {
      this.#batch.push({ partner, receipt, resolve, reject });
    });
    this.#waiting.set(waiting, added);
    added.then(
      () => this.#waiting.delete(waiting),
      () => this.#waiting.delete(waiting),
    );
    if (this.#batch.length >= BATCH_MAX) this.#startBatch();
    else this.#timer ??= setTimeout(() => this.#startBatch(), lingerMs);
    return added;
  }

  #startBatch(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#batch;
    this.#batch = [];
    if (batch.length === 0) return;
    // Batches one after another, so the sequence numbers (names) follow the order of the calls.
    this.#batches = this.#batches.then(() => this.#writeBatch(batch));
  }

  async #writeBatch(batch: BatchedAdd[]): Promise<void> {
    const prepared: { add: BatchedAdd; stored: StoredReceipt }[] = [];
    for (const add of batch) {
      const suffix = `${add.receipt.cmd}-${identityKey(add.receipt)}`;
      const kept = this.#existing(add.partner, suffix);
      if (kept) {
        add.resolve(kept);
        continue;
      }
      const id = `${String(++this.#sequence).padStart(12, '0')}-${suffix}`;
      prepared.push({ add, stored: { id, partner: add.partner, createdAt: new Date(this.#now()).toISOString(), receipt: add.receipt } });
    }
    if (prepared.length === 0) return;
    try {
      await this.#log.append(prepared.map((p) => JSON.stringify({ add: receiptFile(p.stored) })));
    } catch (err) {
      for (const p of prepared) p.add.reject(err);
      return;
    }
    for (const p of prepared) {
      this.#put(p.add.partner, p.stored);
      p.add.resolve(p.stored);
    }
  }

  /** Receipts owed to `partner`, oldest first. */
  async list(partner: string): Promise<StoredReceipt[]> {
    assertSafeFileName(partner);
    const index = this.#index.get(partner);
    if (!index) return [];
    if (!index.sorted) {
      index.byName = new Map([...index.byName].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
      index.sorted = true;
    }
    return [...index.byName.values()];
  }

  /** Partners that are owed at least one receipt. */
  async partners(): Promise<string[]> {
    return [...this.#index].filter(([, index]) => index.byName.size > 0).map(([partner]) => partner).sort();
  }

  /** Forgets a receipt once the peer has answered it with RTR. Unknown ids are ignored. */
  async remove(partner: string, id: string): Promise<void> {
    await this.removeMany(partner, [id]);
  }

  /** remove() for many receipts of one partner: one log line (and flush) for all. Unknown ids are ignored. */
  async removeMany(partner: string, ids: readonly string[]): Promise<void> {
    assertSafeFileName(partner);
    if (ids.length === 0) return;
    for (const id of ids) {
      if (!RECEIPT_NAME.test(`${id}.json`)) throw badArgument(`not a receipt id: ${JSON.stringify(id)}`);
      assertSafeFileName(`${id}.json`);
      this.forget(partner, id);
    }
    await this.#log.append([JSON.stringify({ remove: { partner, ids } })]);
    for (const id of ids) {
      const key = `${partner}/${id}.json`;
      if (this.#legacy.delete(key)) await unlinkDurable(join(this.dir, partner, `${id}.json`));
      this.#forgotten.delete(key);
    }
    await this.#log.settle(
      () => {
        let owed = this.#forgotten.size;
        for (const index of this.#index.values()) owed += index.byName.size;
        return owed;
      },
      () => this.#liveLines(),
    );
  }

  /**
   * Drops a receipt from what list() returns from now on, without writing anything (remove() does
   * both): a session can move on to the next receipt while the removal is still being written.
   */
  forget(partner: string, id: string): void {
    const stored = this.#drop(partner, `${id}.json`);
    if (stored) this.#forgotten.set(`${partner}/${id}.json`, stored);
  }

  async close(): Promise<void> {
    await this.#batches;
    await this.#log.close();
  }

  #existing(partner: string, suffix: string): StoredReceipt | undefined {
    const index = this.#index.get(partner);
    const name = index?.bySuffix.get(`${suffix}.json`);
    return name === undefined ? undefined : index!.byName.get(name);
  }

  #put(partner: string, stored: StoredReceipt): void {
    let index = this.#index.get(partner);
    if (!index) {
      index = { byName: new Map(), bySuffix: new Map(), sorted: true, last: undefined };
      this.#index.set(partner, index);
    }
    const name = `${stored.id}.json`;
    if (index.last !== undefined && index.last > name) index.sorted = false;
    else index.last = name;
    index.byName.set(name, stored);
    index.bySuffix.set(name.slice(13), name);
    const seq = Number(stored.id.slice(0, 12));
    if (seq > this.#sequence) this.#sequence = seq;
  }

  #drop(partner: string, name: string): StoredReceipt | undefined {
    const index = this.#index.get(partner);
    const stored = index?.byName.get(name);
    if (!stored) return undefined;
    index!.byName.delete(name);
    index!.bySuffix.delete(name.slice(13));
    return stored;
  }

  /** The log lines of every receipt still owed, forgotten ones not yet removed included (a rewrite of the log). */
  #liveLines(): string[] {
    const owed = [...this.#forgotten.values()];
    for (const index of this.#index.values()) owed.push(...index.byName.values());
    return owed.map((stored) => JSON.stringify({ add: receiptFile(stored) }));
  }
}

function fromFile(file: ReceiptFile): StoredReceipt {
  return { id: file.id, partner: file.partner, createdAt: file.createdAt, receipt: receiptFromJson(file.receipt) };
}

function receiptFile(stored: StoredReceipt): ReceiptFile {
  return { version: 1, id: stored.id, partner: stored.partner, createdAt: stored.createdAt, receipt: receiptToJson(stored.receipt) };
}


async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw ioError('list', dir, err);
  }
}
