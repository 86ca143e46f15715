// Exactly-once delivery across crashes. Committing a received file (link into the inbox, unlink the
// partial) and recording it (EERP queued, history) are separate durable steps; a crash between them
// must not let the sender's resend deliver the file a second time. So before the commit we write a
// journal entry naming the partial and its inode; after the EERP and history are recorded we delete
// it. At start-up, each leftover entry is settled: if the partial is gone, or an inbox file is the
// same inode (linked, not yet unlinked), the file was delivered and the recording is completed;
// otherwise the commit never happened, and the partial stays for the restart.
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { removeInterruptedWrites } from '../files/durable-fs.ts';
import type { VirtualFileIdentity } from '../files/index.ts';
import { syncDirectory, writeFileDurably } from '../store/durable-json-file.ts';

export interface JournalEntry {
  key: string;
  partner: string;
  identity: VirtualFileIdentity;
  userData: string;
  partPath: string;
  inode: number;
  inboxDir: string;
  octets: number;
  /** SFIDSIGN Y for a plain file for us: its EERP is signed with this suite when settled. */
  signedReceipt?: { cipherSuite: number };
}

export type Settled = { delivered: true; path: string | undefined; entry: JournalEntry } | { delivered: false; entry: JournalEntry };

export class DeliveryJournal {
  readonly #dir: string;
  /** Entries whose file is committed and whose recording is still being written (this process). */
  readonly #committed = new Set<string>();
  constructor(dir: string) {
    this.#dir = dir;
  }

  /**
   * The file of entry `key` is in the inbox; its EERP and history are still being written. Until
   * finish(), isCommitted() says so, so a resend of the same identity meanwhile is a duplicate.
   */
  markCommitted(key: string): void {
    this.#committed.add(key);
  }

  isCommitted(key: string): boolean {
    return this.#committed.has(key);
  }

  #path(key: string): string {
    return join(this.#dir, `${key}.json`);
  }

  /** Records the intent to commit; durable before it resolves. */
  async begin(entry: Omit<JournalEntry, 'inode'>): Promise<void> {
    const inode = (await stat(entry.partPath)).ino;
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeFileDurably(this.#path(entry.key), JSON.stringify({ ...entry, inode }));
  }

  /** The delivery is fully recorded elsewhere (EERP queued, history written). */
  /** finish() for many entries: one directory fsync for all. */
  async finishMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      for (const key of keys) {
        try {
          await unlink(this.#path(key));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      await syncDirectory(this.#dir);
    } finally {
      for (const key of keys) this.#committed.delete(key);
    }
  }

  async finish(key: string): Promise<void> {
    try {
      await unlink(this.#path(key));
      await syncDirectory(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    } finally {
      this.#committed.delete(key);
    }
  }

  /** Settles every entry a crash left behind; the caller completes the delivered ones, then finish(). */
  async settleLeftovers(): Promise<Settled[]> {
    // An entry whose write a crash interrupted never became visible (the commit did not start): its
    // temp file is all that is left of it, and nothing else would remove it.
    await removeInterruptedWrites(this.#dir);
    let names: string[];
    try {
      names = (await readdir(this.#dir)).filter((n) => n.endsWith('.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: Settled[] = [];
    for (const name of names) {
      const entry = JSON.parse(await readFile(join(this.#dir, name), 'utf8')) as JournalEntry;
      const partial = await stat(entry.partPath).catch(() => undefined);
      const linked = await findInode(entry.inboxDir, entry.inode);
      const committed = partial === undefined || partial.ino !== entry.inode;
      if (committed || linked !== undefined) {
        // Finish what commit started: the partial (if still linked) and its checkpoint go.
        if (!committed) await unlink(entry.partPath);
        await unlink(`${entry.partPath.replace(/\.part$/, '')}.ckpt.json`).catch(() => {});
        out.push({ delivered: true, path: linked, entry });
      } else {
        await this.finish(entry.key);
        out.push({ delivered: false, entry });
      }
    }
    return out;
  }
}

async function findInode(dir: string, inode: number): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s?.ino === inode && s.isFile()) return join(dir, name);
  }
  return undefined;
}
