// Pending end-to-end receipts (RFC 5024 §4.3.6, §5.3.13 EERP, §5.3.14 NERP, §5.3.15 RTR): receipts we
// owe a partner, kept durably until the peer acknowledges them with RTR. They survive restarts and are
// sent in the next session with that partner, whichever side opens it. One small JSON file per receipt:
//   <dir>/<partner>/<seq:12>-<EERP|NERP>-<identityKey>.json
// written atomically (temp + fsync + rename + directory fsync). Binary fields (hash, signature) are
// stored as base64. Adding the same receipt (kind + identity) twice keeps the first one.
// Each partner's receipts are held in memory once read (this instance owns the directory): a session
// sends them one at a time and lists the store before each, and every add checks for a duplicate; with
// thousands owed, reading the folder and every file each time was quadratic.
import { readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Eerp, Nerp } from '../protocol/command-types.ts';
import { fsyncDir, mkdirDurable, mkdirDurableOnce, readJsonIfExists, tempNameFor, unlinkDurable, writeJsonAtomic, writeNewFileSynced } from './durable-fs.ts';
import { badArgument, errnoCode, ioError } from './file-errors.ts';
import { assertSafeFileName, identityKey } from './naming.ts';

export type Receipt = Eerp | Nerp;

export interface StoredReceipt {
  /** File name without '.json'; pass it to remove(). */
  id: string;
  partner: string;
  /** ISO 8601 time it was stored. */
  createdAt: string;
  receipt: Receipt;
}

interface ReceiptFile {
  version: 1;
  id: string;
  partner: string;
  createdAt: string;
  receipt: Record<string, unknown> & { cmd: 'EERP' | 'NERP'; fileHash: string; signature: string };
}

const RECEIPT_NAME = /^(\d{12})-(EERP|NERP)-(.+)\.json$/;

/** addSoon(): how long a receipt waits for others to share its fsyncs, and the largest batch. */
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
  #sequence: number;
  readonly #index = new Map<string, Promise<PartnerReceipts>>();
  /** addSoon(): receipts waiting for the next batch, the batch timer, the batches being written. */
  #batch: BatchedAdd[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #batches: Promise<void> = Promise.resolve();
  /** addSoon() promises not yet settled, by `<partner>/<EERP|NERP>-<identityKey>.json`. */
  readonly #waiting = new Map<string, Promise<StoredReceipt>>();

  private constructor(dir: string, sequence: number, now: () => number) {
    this.dir = dir;
    this.#sequence = sequence;
    this.#now = now;
  }

  static async open(dir: string, options: { now?: () => number } = {}): Promise<PendingReceiptStore> {
    await mkdirDurable(dir);
    let max = 0;
    for (const partner of await listDir(dir)) {
      const partnerDir = join(dir, partner);
      for (const name of await listDir(partnerDir)) {
        const m = RECEIPT_NAME.exec(name);
        if (m) max = Math.max(max, Number(m[1]));
      }
      // temp files of interrupted atomic writes
      for (const name of await readdir(partnerDir).catch(() => [] as string[])) {
        if (name.startsWith('.') && name.endsWith('.tmp')) await rm(join(partnerDir, name), { force: true });
      }
    }
    return new PendingReceiptStore(dir, max, options.now ?? Date.now);
  }

  /** Stores a receipt owed to `partner`; durable when it resolves. */
  async add(partner: string, receipt: Receipt): Promise<StoredReceipt> {
    assertSafeFileName(partner);
    if (receipt.cmd !== 'EERP' && receipt.cmd !== 'NERP') throw badArgument('only EERP and NERP are stored');
    const partnerDir = join(this.dir, partner);
    await mkdirDurable(partnerDir);
    const suffix = `${receipt.cmd}-${identityKey(receipt)}`;
    const index = await this.#indexFor(partner);
    const existing = index.bySuffix.get(`${suffix}.json`);
    const kept = existing === undefined ? undefined : index.byName.get(existing);
    if (kept) return kept;
    const id = `${String(++this.#sequence).padStart(12, '0')}-${suffix}`;
    const stored: StoredReceipt = { id, partner, createdAt: new Date(this.#now()).toISOString(), receipt };
    await writeJsonAtomic(join(partnerDir, `${id}.json`), receiptFile(stored));
    const name = `${id}.json`;
    if (index.last !== undefined && index.last > name) index.sorted = false;
    else index.last = name;
    index.byName.set(name, stored);
    index.bySuffix.set(`${suffix}.json`, name);
    return stored;
  }

  /**
   * add() for a caller that can wait a little: the receipt joins a batch, written at once with the
   * others that come within `lingerMs` (or as soon as BATCH_MAX are waiting): every file written and
   * fsynced (concurrently), then renamed, then one fsync per folder for the batch. Durable when it
   * resolves, like add(); for a stream of receipts (one per file received) this takes two fsyncs
   * apiece off the disk. Until it resolves the receipt is not listed, and a second addSoon of the
   * same receipt gets the same promise.
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
    type Prepared = { add: BatchedAdd; partnerDir: string; name: string; suffix: string; stored: StoredReceipt; file: ReceiptFile; temp: string };
    const prepared: Prepared[] = [];
    for (const add of batch) {
      try {
        const partnerDir = join(this.dir, add.partner);
        await mkdirDurableOnce(partnerDir);
        const suffix = `${add.receipt.cmd}-${identityKey(add.receipt)}`;
        const index = await this.#indexFor(add.partner);
        const existing = index.bySuffix.get(`${suffix}.json`);
        const kept = existing === undefined ? undefined : index.byName.get(existing);
        if (kept) {
          add.resolve(kept);
          continue;
        }
        const id = `${String(++this.#sequence).padStart(12, '0')}-${suffix}`;
        const stored: StoredReceipt = { id, partner: add.partner, createdAt: new Date(this.#now()).toISOString(), receipt: add.receipt };
        prepared.push({ add, partnerDir, name: `${id}.json`, suffix, stored, file: receiptFile(stored), temp: tempNameFor(join(partnerDir, `${id}.json`)) });
      } catch (err) {
        add.reject(err);
      }
    }
    if (prepared.length === 0) return;
    try {
      // Data durable before any name: each file written and fsynced (all at once), then the renames.
      await Promise.all(prepared.map((p) => writeNewFileSynced(p.temp, `${JSON.stringify(p.file, null, 1)}\n`)));
      await Promise.all(
        prepared.map((p) =>
          rename(p.temp, join(p.partnerDir, p.name)).catch((err) => {
            throw ioError('rename', p.temp, err);
          }),
        ),
      );
      await Promise.all([...new Set(prepared.map((p) => p.partnerDir))].map((dir) => fsyncDir(dir)));
    } catch (err) {
      await Promise.all(prepared.map((p) => unlink(p.temp).catch(() => {})));
      for (const p of prepared) p.add.reject(err);
      return;
    }
    for (const p of prepared) {
      const index = await this.#indexFor(p.add.partner);
      if (index.last !== undefined && index.last > p.name) index.sorted = false;
      else index.last = p.name;
      index.byName.set(p.name, p.stored);
      index.bySuffix.set(`${p.suffix}.json`, p.name);
      p.add.resolve(p.stored);
    }
  }

  /** Receipts owed to `partner`, oldest first. */
  async list(partner: string): Promise<StoredReceipt[]> {
    assertSafeFileName(partner);
    const index = await this.#indexFor(partner);
    if (!index.sorted) {
      index.byName = new Map([...index.byName].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
      index.sorted = true;
    }
    return [...index.byName.values()];
  }

  #indexFor(partner: string): Promise<PartnerReceipts> {
    let index = this.#index.get(partner);
    if (!index) {
      index = this.#load(partner);
      this.#index.set(partner, index);
      index.catch(() => this.#index.delete(partner));
    }
    return index;
  }

  async #load(partner: string): Promise<PartnerReceipts> {
    const partnerDir = join(this.dir, partner);
    const names = (await listDir(partnerDir)).filter((n) => RECEIPT_NAME.test(n)).sort();
    const index: PartnerReceipts = { byName: new Map(), bySuffix: new Map(), sorted: true, last: names.at(-1) };
    for (const name of names) {
      const file = await readJsonIfExists<ReceiptFile>(join(partnerDir, name));
      if (!file) continue;
      index.byName.set(name, {
        id: file.id,
        partner: file.partner,
        createdAt: file.createdAt,
        receipt: {
          ...file.receipt,
          fileHash: new Uint8Array(Buffer.from(file.receipt.fileHash, 'base64')),
          signature: new Uint8Array(Buffer.from(file.receipt.signature, 'base64')),
        } as Receipt,
      });
      index.bySuffix.set(name.slice(13), name);
    }
    return index;
  }

  /** Partners that are owed at least one receipt. */
  async partners(): Promise<string[]> {
    const out: string[] = [];
    for (const partner of await listDir(this.dir)) {
      if ((await listDir(join(this.dir, partner))).some((n) => RECEIPT_NAME.test(n))) out.push(partner);
    }
    return out.sort();
  }

  /** Forgets a receipt once the peer has answered it with RTR. Unknown ids are ignored. */
  async remove(partner: string, id: string): Promise<void> {
    assertSafeFileName(partner);
    if (!RECEIPT_NAME.test(`${id}.json`)) throw badArgument(`not a receipt id: ${JSON.stringify(id)}`);
    assertSafeFileName(`${id}.json`);
    this.forget(partner, id);
    await unlinkDurable(join(this.dir, partner, `${id}.json`));
  }

  /**
   * remove() for many receipts of one partner: one directory fsync for all. Unknown ids are ignored.
   */
  async removeMany(partner: string, ids: readonly string[]): Promise<void> {
    assertSafeFileName(partner);
    if (ids.length === 0) return;
    for (const id of ids) {
      if (!RECEIPT_NAME.test(`${id}.json`)) throw badArgument(`not a receipt id: ${JSON.stringify(id)}`);
      assertSafeFileName(`${id}.json`);
      this.forget(partner, id);
    }
    const partnerDir = join(this.dir, partner);
    for (const id of ids) {
      try {
        await unlink(join(partnerDir, `${id}.json`));
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw ioError('unlink', join(partnerDir, `${id}.json`), err);
      }
    }
    await fsyncDir(partnerDir);
  }

  /**
   * Drops a receipt from what list() returns from now on, without touching its file (remove() does
   * both): a session can move on to the next receipt while the file's removal is still being written.
   */
  forget(partner: string, id: string): void {
    const name = `${id}.json`;
    this.#index.get(partner)?.then(
      (index) => {
        if (index.byName.delete(name)) index.bySuffix.delete(name.slice(13));
      },
      () => {},
    );
  }
}

function receiptFile(stored: StoredReceipt): ReceiptFile {
  const { receipt } = stored;
  return {
    version: 1,
    id: stored.id,
    partner: stored.partner,
    createdAt: stored.createdAt,
    receipt: {
      ...receipt,
      fileHash: Buffer.from(receipt.fileHash).toString('base64'),
      signature: Buffer.from(receipt.signature).toString('base64'),
    },
  };
}


async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw ioError('list', dir, err);
  }
}
