// The pending receipts' log: one append-only file of JSON lines, <dir>/receipts.jsonl, a line
// {"add":RECEIPT_FILE} per receipt stored and {"remove":{"partner":P,"ids":[...]}} per acknowledgement.
// Appends are durable when their promise resolves: the file is opened O_APPEND|O_DSYNC and the lines
// waiting when a write starts go in that one write (group commit), so a stream of receipts costs one
// disk flush per batch, not a file, an fsync, a rename and a directory fsync each. A crash can tear only
// the last line, whose append had not returned: it is skipped when read, and a new line never continues
// it. When nothing is owed any more the file is removed (unlink, directory fsync); when it has grown to
// many times what is still owed it is rewritten with the live lines only (temp, fsync, rename, fsync).
import { constants } from 'node:fs';
import { type FileHandle, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, tempNameFor, writeNewFileSynced } from './durable-fs.ts';
import { errnoCode, ioError } from './file-errors.ts';

export const RECEIPTS_LOG = 'receipts.jsonl';

/** A rewrite is considered from this many lines on, when the live ones are a quarter or less. */
const COMPACT_FROM_LINES = 4096;

/**
 * Reads the log in `dir` without changing it: its records in order (torn lines skipped), how many
 * lines it has, and whether its last line lacks its newline. No log: nothing.
 */
export async function readReceiptsLog(dir: string): Promise<{ records: unknown[]; lines: number; tornEnd: boolean }> {
  const path = join(dir, RECEIPTS_LOG);
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw ioError('read', path, err);
  }
  const lines = text.split('\n').filter((l) => l !== '');
  const records: unknown[] = [];
  for (const line of lines) {
    try {
      records.push(JSON.parse(line));
    } catch {
      // a line torn by a crash (its append never returned), or still being written: skipped
    }
  }
  return { records, lines: lines.length, tornEnd: text !== '' && !text.endsWith('\n') };
}

export class ReceiptsLog {
  readonly path: string;
  readonly #dir: string;
  #handle: FileHandle | undefined;
  /** Lines in the file (torn ones included), for the compaction rule. */
  #lines: number;
  /** Lines written by this instance, ever (settle() compares it). */
  #written = 0;
  /** Lines waiting for the next write, with their waiters. */
  #pending: { line: string; resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** Writes, removals and rewrites, one at a time. */
  #chain: Promise<unknown> = Promise.resolve();
  #writing = false;

  private constructor(dir: string, lines: number) {
    this.#dir = dir;
    this.path = join(dir, RECEIPTS_LOG);
    this.#lines = lines;
  }

  /** Opens the log in `dir` and returns it with the records it holds, in order (torn lines skipped). */
  static async open(dir: string): Promise<{ log: ReceiptsLog; records: unknown[] }> {
    const { records, lines, tornEnd } = await readReceiptsLog(dir);
    const log = new ReceiptsLog(dir, lines);
    // A torn last line must not swallow the next record: start on a fresh line.
    if (tornEnd) await log.append(['']);
    return { log, records };
  }

  /** Appends `lines` (JSON texts without newline); durable when it resolves. */
  append(lines: readonly string[]): Promise<void> {
    const written = Promise.all(
      lines.map(
        (line) =>
          new Promise<void>((resolve, reject) => {
            this.#pending.push({ line, resolve, reject });
          }),
      ),
    ).then(() => {});
    if (!this.#writing) {
      this.#writing = true;
      this.#chain = this.#chain.then(() => this.#writeAll());
    }
    return written;
  }

  /**
   * After removals: when no receipt is owed (`owed()`, asked when this runs, after the appends before
   * it, so a receipt stored meanwhile counts), the file goes; when far fewer are owed than it has
   * lines, it is rewritten as `liveLines()`.
   */
  settle(owed: () => number, liveLines: () => string[]): Promise<void> {
    // Lines asked for after this call may belong to receipts not yet counted by owed(): then this
    // settling is skipped (the next removal settles again).
    const mark = this.#written + this.#pending.length;
    const run = this.#chain.then(async () => {
      if (this.#written > mark) return;
      const live = owed();
      if (live === 0 && this.#lines > 0) await this.#remove();
      else if (this.#lines >= COMPACT_FROM_LINES && live * 4 <= this.#lines) await this.#rewrite(liveLines());
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#handle?.close().catch(() => {});
    this.#handle = undefined;
  }

  /** Writes every pending line, in batches (one write each), until none is left. */
  async #writeAll(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        try {
          const handle = await this.#open();
          // One system call: durable when it returns (O_DSYNC: the data and the new size).
          await handle.write(batch.map((p) => `${p.line}\n`).join(''));
          this.#lines += batch.length;
          this.#written += batch.length;
        } catch (err) {
          const failure = ioError('append to', this.path, err);
          for (const p of batch) p.reject(failure);
          continue;
        }
        for (const p of batch) p.resolve();
      }
    } finally {
      this.#writing = false;
    }
  }

  async #open(): Promise<FileHandle> {
    if (this.#handle) return this.#handle;
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_DSYNC;
    let created = false;
    try {
      this.#handle = await open(this.path, flags | constants.O_CREAT | constants.O_EXCL, 0o600);
      created = true;
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
      this.#handle = await open(this.path, flags);
    }
    if (created) await fsyncDir(this.#dir); // the log's name, once
    return this.#handle;
  }

  async #remove(): Promise<void> {
    await this.#handle?.close().catch(() => {});
    this.#handle = undefined;
    try {
      await unlink(this.path);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw ioError('unlink', this.path, err);
    }
    await fsyncDir(this.#dir);
    this.#lines = 0;
  }

  async #rewrite(lines: string[]): Promise<void> {
    const temp = tempNameFor(this.path);
    await writeNewFileSynced(temp, lines.map((l) => `${l}\n`).join(''));
    await this.#handle?.close().catch(() => {});
    this.#handle = undefined;
    try {
      await rename(temp, this.path);
    } catch (err) {
      throw ioError('rename', `${temp} -> ${this.path}`, err);
    }
    await fsyncDir(this.#dir);
    this.#lines = lines.length;
  }
}
