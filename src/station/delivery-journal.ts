// Exactly-once delivery across crashes. Committing a received file (link into the inbox, unlink the
// partial) and recording it (EERP queued, history) are separate durable steps; a crash between them
// must not let the sender's resend deliver the file a second time. So before the commit we write a
// journal entry naming the partial and its inode; after the EERP and history are recorded we finish
// it. At start-up, each leftover entry is settled: if the partial is gone, or an inbox file is the
// same inode (linked, not yet unlinked), the file was delivered and the recording is completed;
// otherwise the commit never happened, and the partial stays for the restart.
//
// The journal is one append-only file, <dir>/journal.jsonl: a line {"begin":ENTRY} per entry, a line
// {"finish":[KEY...]} when entries are done. begin() and finish() append their line and fdatasync it
// (concurrent appends share one fdatasync), one sync instead of a file per entry (file fsync, rename,
// directory fsync). A crash can tear only the last line (nothing was waiting on it: its append had not
// returned), which is skipped when read, and a new line never continues it. When no entry is open the
// file is removed (unlink, directory fsync), so it stays small and an idle station has none.
// Entries of the earlier layout (one <key>.json file each) are still read and finished.
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { removeInterruptedWrites } from '../files/durable-fs.ts';
import type { VirtualFileIdentity } from '../files/index.ts';
import { syncDirectory } from '../store/durable-json-file.ts';

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

const LOG_NAME = 'journal.jsonl';

type LogLine = { begin: JournalEntry } | { finish: string[] };

export class DeliveryJournal {
  readonly #dir: string;
  readonly #logPath: string;
  /** Entries whose file is committed and whose recording is still being written (this process). */
  readonly #committed = new Set<string>();
  /** Entries begun (or left by a crash) and not finished: the log is removed when none is left. */
  readonly #open = new Set<string>();
  /** Entries of the earlier layout, one <key>.json file each: finishing one removes its file. */
  readonly #legacy = new Set<string>();
  /** Appends, the log's opening and its removal, one at a time. */
  #chain: Promise<unknown> = Promise.resolve();
  #log: FileHandle | undefined;
  /** The log file's name is not yet durable (created since the last directory fsync). */
  #created = false;
  /** Group commit: the fdatasync not yet started (later appends join it), and the one running. */
  #nextSync: Promise<void> | undefined;
  #runningSync: Promise<void> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.#logPath = join(dir, LOG_NAME);
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

  /** Records the intent to commit; durable before it resolves. */
  async begin(entry: Omit<JournalEntry, 'inode'>): Promise<void> {
    const inode = (await stat(entry.partPath)).ino;
    this.#open.add(entry.key);
    try {
      await this.#append({ begin: { ...entry, inode } });
    } catch (err) {
      this.#open.delete(entry.key);
      throw err;
    }
  }

  /** The deliveries are fully recorded elsewhere (EERP queued, history written): one sync for all. */
  async finishMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      const logged = keys.filter((k) => !this.#legacy.has(k));
      const legacy = keys.filter((k) => this.#legacy.has(k));
      if (logged.length > 0) await this.#append({ finish: logged });
      if (legacy.length > 0) {
        for (const key of legacy) {
          await unlink(join(this.#dir, `${key}.json`)).catch((err) => {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          });
          this.#legacy.delete(key);
        }
        await syncDirectory(this.#dir);
      }
      for (const key of keys) this.#open.delete(key);
      if (this.#open.size === 0) await this.#removeLogIfIdle();
    } finally {
      for (const key of keys) this.#committed.delete(key);
    }
  }

  finish(key: string): Promise<void> {
    return this.finishMany([key]);
  }

  /** Settles every entry a crash left behind; the caller completes the delivered ones, then finish(). */
  async settleLeftovers(): Promise<Settled[]> {
    // An entry file (earlier layout) whose write a crash interrupted never became visible (the commit
    // did not start): its temp file is all that is left of it, and nothing else would remove it.
    await removeInterruptedWrites(this.#dir);
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const entries = new Map<string, JournalEntry>();
    if (names.includes(LOG_NAME)) {
      for (const line of (await readFile(this.#logPath, 'utf8')).split('\n')) {
        const parsed = parseLine(line);
        if (!parsed) continue; // empty, or the torn last line of an append a crash interrupted
        if ('begin' in parsed) entries.set(parsed.begin.key, parsed.begin);
        else for (const key of parsed.finish) entries.delete(key);
      }
    }
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const entry = JSON.parse(await readFile(join(this.#dir, name), 'utf8')) as JournalEntry;
      entries.set(entry.key, entry);
      this.#legacy.add(entry.key);
    }
    for (const key of entries.keys()) this.#open.add(key);
    const out: Settled[] = [];
    for (const entry of entries.values()) {
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
    // Nothing open (or only a log of finished entries): the log goes, so new lines start a fresh file.
    if (this.#open.size === 0) await this.#removeLogIfIdle();
    return out;
  }

  /** Appends one line to the log and makes it durable (group commit with concurrent appends). */
  async #append(line: LogLine): Promise<void> {
    const text = `${JSON.stringify(line)}\n`;
    await this.#exclusive(async () => {
      if (!this.#log) {
        await mkdir(this.#dir, { recursive: true, mode: 0o700 });
        this.#log = await open(this.#logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
        this.#created = true;
        // A log a crash left (settleLeftovers read it) may end in a torn line: never continue it.
        const size = (await this.#log.stat()).size;
        if (size > 0) await this.#log.write('\n');
      }
      await this.#log.write(text);
    });
    await this.#sync();
  }

  /** One fdatasync for every line appended before it starts; the log's name too, once. */
  #sync(): Promise<void> {
    if (this.#nextSync) return this.#nextSync;
    const next: Promise<void> = (async () => {
      await this.#runningSync?.catch(() => {});
      // From here on, later appends wait for the next sync: this one may not cover them.
      this.#nextSync = undefined;
      const log = this.#log;
      if (!log) return; // removed meanwhile: nothing of it needs to be durable
      const created = this.#created;
      this.#created = false;
      const running = Promise.all([log.datasync(), created ? syncDirectory(this.#dir) : undefined]).then(
        () => {},
        (err) => {
          if (created) this.#created = true;
          throw err;
        },
      );
      this.#runningSync = running;
      try {
        await running;
      } finally {
        if (this.#runningSync === running) this.#runningSync = undefined;
      }
    })();
    this.#nextSync = next;
    return next;
  }

  /** No entry is open: remove the log (durably) so that it does not grow without bound. */
  async #removeLogIfIdle(): Promise<void> {
    await this.#exclusive(async () => {
      if (this.#open.size > 0) return;
      // Syncs of earlier appends finish first (they hold the file handle).
      while (this.#nextSync || this.#runningSync) await (this.#nextSync ?? this.#runningSync)?.catch(() => {});
      await this.#log?.close().catch(() => {});
      this.#log = undefined;
      this.#created = false;
      try {
        await unlink(this.#logPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      await syncDirectory(this.#dir);
    });
  }

  /** Closes the log file (what was appended is durable already); a later append opens it again. */
  async close(): Promise<void> {
    await this.#exclusive(async () => {
      while (this.#nextSync || this.#runningSync) await (this.#nextSync ?? this.#runningSync)?.catch(() => {});
      await this.#log?.close().catch(() => {});
      this.#log = undefined;
    });
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(task, task);
    this.#chain = result.catch(() => {});
    return result;
  }
}

function parseLine(line: string): LogLine | undefined {
  if (line.trim() === '') return undefined;
  try {
    const parsed = JSON.parse(line) as LogLine;
    if ('begin' in parsed && typeof parsed.begin?.key === 'string') return parsed;
    if ('finish' in parsed && Array.isArray(parsed.finish)) return parsed;
  } catch {
    // torn
  }
  return undefined;
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
