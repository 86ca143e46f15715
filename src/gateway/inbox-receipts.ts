// EERPs held until the consuming application takes the file (inbox receipt policy 'on-consume',
// RFC 5024 §4.3.6: the EERP is sent by "the location performing the final processing"). A held
// receipt is a small JSON file, written atomically and durably before the delivery is reported done,
// so a restart keeps it:
//   <state>/held-receipts/<partner>/<identityKey>.json   { partner, path, inode, receipt }
// The file counts as consumed once its path is gone or names another file (other inode): the
// application deleted it or moved it away. Releasing queues the EERP in the pending receipts first,
// then forgets the held one; a crash in between releases it again at the next check, and the pending
// store keeps one receipt per identity (or the history already says 'acknowledged': then it is only
// forgotten).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirDurable, readJsonIfExists, removeInterruptedWrites, unlinkDurable, writeJsonAtomic } from '../files/durable-fs.ts';
import { errnoCode } from '../files/file-errors.ts';
import { assertSafeFileName, identityKey, type VirtualFileIdentity } from '../files/naming.ts';
import { type PendingReceiptStore, type ReceiptJson, receiptFromJson, receiptToJson } from '../files/receipts-store.ts';
import type { Eerp } from '../protocol/command-types.ts';
import { inId } from '../station/session-handler.ts';
import type { TransferHistory } from '../store/transfer-history.ts';

export interface HeldReceipt {
  partner: string;
  /** The delivered file whose consumption releases the receipt. */
  path: string;
  inode: number;
  receipt: Eerp;
  heldAt: string;
}

interface HeldFile {
  version: 1;
  partner: string;
  path: string;
  inode: number;
  heldAt: string;
  receipt: ReceiptJson<Eerp>;
}

/** The identity an EERP answers (its DEST is the file's originator, its ORIG the final recipient). */
export function identityOfEerp(r: Pick<Eerp, 'datasetName' | 'date' | 'time' | 'originator' | 'destination'>): VirtualFileIdentity {
  return { datasetName: r.datasetName, date: r.date, time: r.time, originator: r.destination, destination: r.originator };
}

export class HeldReceipts {
  readonly dir: string;
  readonly #now: () => number;

  private constructor(dir: string, now: () => number) {
    this.dir = dir;
    this.#now = now;
  }

  static async open(dir: string, options: { now?: () => number } = {}): Promise<HeldReceipts> {
    await mkdirDurable(dir);
    for (const partner of await list(dir)) await removeInterruptedWrites(join(dir, partner));
    return new HeldReceipts(dir, options.now ?? Date.now);
  }

  #file(partner: string, identity: VirtualFileIdentity): string {
    assertSafeFileName(partner);
    return join(this.dir, partner, `${identityKey(identity)}.json`);
  }

  /** Holds `receipt` until `path` is consumed; durable when it resolves. Holding it again replaces it. */
  async hold(partner: string, receipt: Eerp, path: string): Promise<HeldReceipt> {
    const inode = (await stat(path)).ino;
    const held: HeldReceipt = { partner, path, inode, receipt, heldAt: new Date(this.#now()).toISOString() };
    await mkdirDurable(join(this.dir, partner));
    const file: HeldFile = {
      version: 1,
      partner,
      path,
      inode,
      heldAt: held.heldAt,
      receipt: receiptToJson(receipt),
    };
    await writeJsonAtomic(this.#file(partner, identityOfEerp(receipt)), file);
    return held;
  }

  async get(partner: string, identity: VirtualFileIdentity): Promise<HeldReceipt | undefined> {
    const file = await readJsonIfExists<HeldFile>(this.#file(partner, identity));
    return file ? fromFile(file) : undefined;
  }

  /** Held receipts, for one partner or all. */
  async list(partner?: string): Promise<HeldReceipt[]> {
    const partners = partner ? [partner] : await list(this.dir);
    const out: HeldReceipt[] = [];
    for (const p of partners) {
      for (const name of (await list(join(this.dir, p))).filter((n) => n.endsWith('.json')).sort()) {
        const file = await readJsonIfExists<HeldFile>(join(this.dir, p, name)).catch(() => undefined);
        if (file) out.push(fromFile(file));
      }
    }
    return out;
  }

  /** Whether the application has taken the file: its path is gone or is another file now. */
  async consumed(held: HeldReceipt): Promise<boolean> {
    try {
      return (await stat(held.path)).ino !== held.inode;
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return true;
      throw err;
    }
  }

  /** Queues the EERP for its partner, then forgets it (see the header for the crash window). */
  async release(held: HeldReceipt, receipts: PendingReceiptStore, history: TransferHistory): Promise<void> {
    const identity = identityOfEerp(held.receipt);
    const state = history.get(inId(identityKey(identity)))?.state;
    if (state !== 'acknowledged') await receipts.add(held.partner, held.receipt);
    await unlinkDurable(this.#file(held.partner, identity));
  }
}

function fromFile(file: HeldFile): HeldReceipt {
  return {
    partner: file.partner,
    path: file.path,
    inode: file.inode,
    heldAt: file.heldAt,
    receipt: receiptFromJson(file.receipt),
  };
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw err;
  }
}
