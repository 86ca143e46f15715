// A virtual file being received (RFC 5024 §4.3.3 restart, §5.3.3 SFID, §5.3.4 SFPA, §5.3.8 EFID).
// Theory of operation:
// - The partial lives in a hidden temp directory (e.g. <inbox>/.partial/) on the same filesystem as
//   the final directory, as '<identityKey>.part', with '<identityKey>.ckpt.json' beside it.
// - openIncoming() resumes from the checkpoint when the same identity with the same attributes comes
//   back and the sender offers a restart: it answers min(SFIDREST, durable position), truncates the
//   partial to exactly that point, and lowers the checkpoint first when needed. Otherwise it starts at 0.
// - write()/writeRecord()/writeRecordPart()/writeDecoded() are awaited one at a time; they copy into one of
//   two write buffers (64 KiB each by default; the station uses 1 MiB). A full buffer is written to the partial in the background
//   while the other fills; a call waits only when both are busy, so a slow disk still slows the caller
//   (and the peer's credit), but a fast one overlaps with the network. A failed background write fails
//   the next call, and always checkpoint() and commit(), which wait for every write before the fsync.
// - checkpoint() = flush + fsync data, then persist {octets, records, units} atomically: a checkpoint
//   never claims data that is not durable. checkpointBehind() does the same while data keeps coming. close() keeps the partial for a later restart (anything
//   after the last checkpoint is dropped then, exactly as a crash would).
// - commit() = flush + fsync (unless sync() already made everything durable), then give the partial
//   its final name without ever replacing a file (hard link + unlink; on collision NAME~1, NAME~2, ...),
//   drop the checkpoint, and fsync both directories (in parallel).
// Counts (EFID): F/V records; units = user data octets, for V without the local 2-octet prefixes;
// a file travelling as U (secured) counts octets and no records.
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { OftpError } from '../errors.ts';
import { FileReason } from '../protocol/reason-codes.ts';
import {
  againIfDirRemoved,
  fsyncDirShared,
  KeyedQueue,
  mkdirDurableOnce,
  moveNoReplace,
  readJsonIfExists,
  unlinkDurable,
  writeJsonAtomic,
} from './durable-fs.ts';
import { badArgument, badState, errnoCode, FileRefusedError, ioError } from './file-errors.ts';
import {
  checkpointMatches,
  durableRestartPosition,
  INCOMING_CHECKPOINT_VERSION,
  type IncomingCheckpoint,
} from './incoming-checkpoint.ts';
import {
  assertSafeFileName,
  collisionName,
  identityKey,
  type VirtualFileIdentity,
  validateIdentity,
} from './naming.ts';
import { BLOCK_SIZE, checkRecordSize, isRecordFormat, MAX_V_RECORD, transmissionFormat } from './record-formats.ts';
import { vRecordOffset } from './restart-offsets.ts';

/** What the SFID announced (an Sfid object fits). */
export interface IncomingSpec {
  /** SFIDFMT */
  format: VirtualFileFormat;
  /** SFIDLRECL */
  maxRecordSize: number;
  /** SFIDFSIZ, 1K blocks */
  fileSize: number;
  /** SFIDREST offered by the sender; 0 when it offers none (or restart is off for the session). */
  restartPosition: number;
  /** SFIDSEC / SFIDCOMP / SFIDENV: non-zero means the octets travel as U. */
  securityLevel?: number;
  compression?: number;
  envelope?: number;
}

export interface IncomingOptions {
  /** Size of each of the two write buffers in octets (default 64 KiB). */
  bufferSize?: number;
  /** Milliseconds since the epoch, for checkpoint times. */
  now?: () => number;
  /** Identities open in this process (default: one set per process). Tests pass their own. */
  locks?: Set<string>;
  /** The partial's checkpoint as the caller read it (readIncomingCheckpoint; null: none). Absent: read here. */
  saved?: IncomingCheckpoint | null;
}

export type CountCheck =
  | { ok: true }
  | { ok: false; /** EFNA reason: 10 invalid record count, 11 invalid byte count */ reason: number; message: string };

export interface CommittedFile {
  /** Absolute path of the delivered file. */
  path: string;
  /** Its name in the final directory (finalName, or finalName~n after a collision). */
  name: string;
  octets: number;
  records: number;
  units: number;
}

/** Conventional hidden partial directory inside a final directory (same filesystem, never consumed). */
export function defaultPartialDir(finalDir: string): string {
  return join(finalDir, '.oftp-partial');
}

const processLocks = new Set<string>();
const commitQueue = new KeyedQueue();
const MAX_COLLISIONS = 9999;

/**
 * Opens the partial for `identity` in `tempDir`. `restartPosition` of the result is the SFPAACNT to
 * answer. Throws FileRefusedError for a bad identity (SFNA 01/02/03) or when the same identity is
 * already being received in this process (SFNA 13, retry Y).
 */
export async function openIncoming(
  tempDir: string,
  identity: VirtualFileIdentity,
  spec: IncomingSpec,
  options: IncomingOptions = {},
): Promise<IncomingFile> {
  validateIdentity(identity);
  const tf = transmissionFormat(spec);
  const lrecl = isRecordFormat(tf) ? spec.maxRecordSize : 0;
  if (isRecordFormat(tf)) checkRecordSize(tf, lrecl);
  if (!Number.isSafeInteger(spec.restartPosition) || spec.restartPosition < 0) {
    throw badArgument(`restart position ${spec.restartPosition}`);
  }
  await mkdirDurableOnce(tempDir);
  const key = identityKey(identity);
  const partPath = join(tempDir, `${key}.part`);
  const checkpointPath = join(tempDir, `${key}.ckpt.json`);
  const locks = options.locks ?? processLocks;
  if (locks.has(partPath)) {
    throw new FileRefusedError(
      `${identity.datasetName} ${identity.date} ${identity.time} is already being received`,
      FileReason.duplicateFile,
      true,
    );
  }
  locks.add(partPath);
  const now = options.now ?? Date.now;
  const announced = { format: spec.format, transmissionFormat: tf, maxRecordSize: lrecl, fileSize: spec.fileSize };
  const base: Omit<IncomingCheckpoint, 'octets' | 'records' | 'units' | 'updatedAt'> = {
    version: INCOMING_CHECKPOINT_VERSION,
    ...identityFields(identity),
    ...announced,
  };
  let fh: FileHandle | undefined;
  try {
    const saved = options.saved === undefined ? await readJsonIfExists<IncomingCheckpoint>(checkpointPath) : (options.saved ?? undefined);
    const opened = await openPart(partPath, tempDir, saved === undefined);
    fh = opened.fh;
    const size = opened.size;
    let start = { octets: 0, records: 0, units: 0 };
    let resumed = false;
    if (saved && checkpointMatches(saved, identity, announced) && size >= saved.octets && spec.restartPosition > 0) {
      const answer = Math.min(spec.restartPosition, durableRestartPosition(saved));
      const point = await restartPoint(fh, partPath, saved, answer);
      if (point !== undefined && answer > 0) {
        if (point.octets < saved.octets) {
          // Lower the claim before cutting the data it covers.
          await writeJsonAtomic(checkpointPath, { ...base, ...point, updatedAt: new Date(now()).toISOString() });
        }
        start = point;
        resumed = true;
      }
    }
    if (!resumed && saved) await unlinkDurable(checkpointPath);
    if (size !== start.octets) {
      await fh.truncate(start.octets);
      await fh.sync();
    }
    // No fsync of tempDir for the new name: nothing durable refers to the partial until a checkpoint,
    // and writing the checkpoint fsyncs this directory; a partial whose name a crash loses is simply
    // received again from 0. (The commit links the data into the final directory and fsyncs that.)
    const file = new IncomingFile({
      fh,
      tempDir,
      partPath,
      checkpointPath,
      locks,
      base,
      start,
      resumed,
      bufferSize: options.bufferSize ?? 64 * 1024,
      now,
      checkpointOnDisk: resumed,
    });
    return file;
  } catch (err) {
    await fh?.close().catch(() => {});
    locks.delete(partPath);
    throw err;
  }
}

/** The partial's checkpoint for `identity` in `tempDir`, null when there is none (for openIncoming's `saved`). */
export async function readIncomingCheckpoint(tempDir: string, identity: VirtualFileIdentity): Promise<IncomingCheckpoint | null> {
  return (await readJsonIfExists<IncomingCheckpoint>(join(tempDir, `${identityKey(identity)}.ckpt.json`))) ?? null;
}

/**
 * Octets a checkpoint proves durable (0 for none): what a resumed transfer will not need again, for
 * the space guard's `alreadyStoredBytes`.
 */
export function checkpointOctets(saved: IncomingCheckpoint | null | undefined): number {
  return saved && Number.isSafeInteger(saved.octets) ? saved.octets : 0;
}

function identityFields(identity: VirtualFileIdentity): VirtualFileIdentity {
  const { datasetName, date, time, originator, destination } = identity;
  return { datasetName, date, time, originator, destination };
}

/**
 * Opens the partial at `path`, creating it if absent, with its size. `fresh` (no checkpoint): it is
 * most likely absent, so creating it is tried first (a new file is empty: no stat). A `dir` someone
 * removed since mkdirDurableOnce is made again (againIfDirRemoved).
 */
async function openPart(path: string, dir: string, fresh: boolean): Promise<{ fh: FileHandle; size: number }> {
  try {
    return await againIfDirRemoved(async () => {
      await mkdirDurableOnce(dir);
      if (fresh) {
        try {
          return { fh: await open(path, 'wx+', 0o644), size: 0 };
        } catch (err) {
          if (errnoCode(err) !== 'EEXIST') throw err;
        }
      }
      try {
        const fh = await open(path, 'r+');
        try {
          return { fh, size: (await fh.stat()).size };
        } catch (err) {
          await fh.close().catch(() => {});
          throw err;
        }
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
      return { fh: await open(path, 'w+', 0o644), size: 0 };
    });
  } catch (err) {
    throw err instanceof OftpError ? err : ioError('open', path, err);
  }
}

/** Octets/records/units at restart position `answer` (<= durable), or undefined if it cannot be found. */
async function restartPoint(
  fh: FileHandle,
  path: string,
  saved: IncomingCheckpoint,
  answer: number,
): Promise<{ octets: number; records: number; units: number } | undefined> {
  switch (saved.transmissionFormat) {
    case 'U':
    case 'T': {
      const octets = answer * BLOCK_SIZE;
      return { octets, records: 0, units: octets };
    }
    case 'F': {
      const octets = answer * saved.maxRecordSize;
      return { octets, records: answer, units: octets };
    }
    case 'V': {
      const octets = answer === saved.records ? saved.octets : await vRecordOffset(fh, path, saved.octets, answer);
      return octets === undefined ? undefined : { octets, records: answer, units: octets - 2 * answer };
    }
  }
}

interface IncomingInit {
  fh: FileHandle;
  tempDir: string;
  partPath: string;
  checkpointPath: string;
  locks: Set<string>;
  base: Omit<IncomingCheckpoint, 'octets' | 'records' | 'units' | 'updatedAt'>;
  start: { octets: number; records: number; units: number };
  resumed: boolean;
  bufferSize: number;
  now: () => number;
  /** A checkpoint file exists (the commit removes it). */
  checkpointOnDisk: boolean;
}

export class IncomingFile {
  /** SFPAACNT to answer: records (F/V) or 1K blocks (U/T). Data resumes right after it. */
  readonly restartPosition: number;
  /** True when an earlier partial was kept. */
  readonly resumed: boolean;
  /** The format the octets arrive in. */
  readonly transmissionFormat: VirtualFileFormat;
  /** Path of the partial (hidden temp directory). */
  readonly partPath: string;
  readonly #fh: FileHandle;
  readonly #tempDir: string;
  readonly #checkpointPath: string;
  /** A checkpoint file may exist: the commit must remove it (a file received in one go never has one). */
  #checkpointOnDisk: boolean;
  readonly #locks: Set<string>;
  readonly #base: IncomingInit['base'];
  readonly #now: () => number;
  readonly #lrecl: number;
  readonly #recordLimit: number;
  /** Octets accepted (written or buffered), records and units: totals from the start of the file. */
  #octets: number;
  #records: number;
  #units: number;
  /** File offset where the write buffer starts (octets before it are written or being written). */
  #flushedOctets: number;
  #durable: { octets: number; records: number; units: number };
  /**
   * The buffer being filled, and the other one (written in the background while this one fills),
   * allocated when first needed: a small file never needs it.
   */
  #buffer: Buffer;
  #spare: Buffer | undefined;
  #buffered = 0;
  /** The background write of the spare buffer; rejects with its I/O error. */
  #writing: Promise<void> | undefined;
  /** A record being assembled by writeRecordPart (F/V), bounded by the record size. */
  #record: Buffer | undefined;
  #recordFilled = 0;
  #busy = false;
  #state: 'open' | 'closed' | 'committed' | 'discarded' = 'open';
  /** Octets made durable by the last sync() (-1: none yet). */
  #syncedOctets = -1;
  /** A checkpoint started by checkpointBehind() and still running. */
  #behind: Promise<void> | undefined;

  constructor(init: IncomingInit) {
    this.#fh = init.fh;
    this.#tempDir = init.tempDir;
    this.partPath = init.partPath;
    this.#checkpointPath = init.checkpointPath;
    this.#checkpointOnDisk = init.checkpointOnDisk;
    this.#locks = init.locks;
    this.#base = init.base;
    this.#now = init.now;
    this.transmissionFormat = init.base.transmissionFormat;
    this.#lrecl = init.base.maxRecordSize;
    this.#recordLimit =
      this.transmissionFormat === 'V' && this.#lrecl === 0 ? MAX_V_RECORD : this.#lrecl;
    this.resumed = init.resumed;
    this.#octets = init.start.octets;
    this.#records = init.start.records;
    this.#units = init.start.units;
    this.#flushedOctets = init.start.octets;
    this.#durable = { ...init.start };
    this.#buffer = Buffer.allocUnsafe(init.bufferSize);
    this.restartPosition = durableRestartPosition({ transmissionFormat: this.transmissionFormat, ...init.start });
  }

  /** Totals received so far (from the start of the file) and the durable restart position. */
  progress(): { octets: number; records: number; units: number; durableRestartPosition: number } {
    return {
      octets: this.#octets,
      records: this.#records,
      units: this.#units,
      durableRestartPosition: durableRestartPosition({ transmissionFormat: this.transmissionFormat, ...this.#durable }),
    };
  }

  /** Appends U/T octets (or any file travelling as U). Await before the next call. */
  write(bytes: Uint8Array): Promise<void> {
    return this.#exclusive(async () => {
      if (isRecordFormat(this.transmissionFormat)) {
        throw badState(`write() is for U/T files; this ${this.transmissionFormat} file takes records`);
      }
      await this.#append(bytes);
      this.#units += bytes.length;
    });
  }

  /** Appends one whole F/V record (user data only). Await before the next call. */
  writeRecord(record: Uint8Array): Promise<void> {
    return this.#exclusive(async () => {
      this.#expectRecords();
      if (this.#recordFilled > 0) throw badState('a record part is pending');
      await this.#appendRecord(record);
    });
  }

  /**
   * Appends part of a record, as subrecords arrive in data exchange buffers (§7.3); `endOfRecord`
   * closes it. The record is held until complete (at most SFIDLRECL octets).
   */
  writeRecordPart(part: Uint8Array, endOfRecord: boolean): Promise<void> {
    return this.#exclusive(async () => {
      this.#expectRecords();
      await this.#recordPart(part, endOfRecord);
    });
  }

  /**
   * Appends what the data exchange buffer decoder returned for one DATA buffer: U/T the octets; F/V
   * the octets cut at `recordEnds` (offsets in `data` where records end), the tail staying open.
   * `data` may be the decoder's own view: it is copied before this resolves.
   */
  writeDecoded(data: Uint8Array, recordEnds: ArrayLike<number> = []): Promise<void> {
    return this.#exclusive(async () => {
      if (!isRecordFormat(this.transmissionFormat)) {
        await this.#append(data);
        this.#units += data.length;
        return;
      }
      let from = 0;
      for (let i = 0; i < recordEnds.length; i++) {
        const end = recordEnds[i]!;
        await this.#recordPart(data.subarray(from, end), true);
        from = end;
      }
      if (from < data.length) await this.#recordPart(data.subarray(from), false);
    });
  }

  async #recordPart(part: Uint8Array, endOfRecord: boolean): Promise<void> {
    if (this.#recordFilled === 0 && endOfRecord) {
      await this.#appendRecord(part); // a whole record: no assembly copy
      return;
    }
    if (this.#recordFilled + part.length > this.#recordLimit) throw this.#tooLong(this.#recordFilled + part.length);
    if (!this.#record) this.#record = Buffer.allocUnsafe(this.#recordLimit);
    this.#record.set(part, this.#recordFilled);
    this.#recordFilled += part.length;
    if (endOfRecord) {
      const record = this.#record.subarray(0, this.#recordFilled);
      this.#recordFilled = 0;
      await this.#appendRecord(record);
    }
  }

  /**
   * Makes everything written so far durable and records it: flush, fsync, then the checkpoint file
   * (atomic). Returns the restart position now proven durable. A record part still pending is not
   * included.
   */
  checkpoint(): Promise<number> {
    return this.#exclusive(async () => {
      await this.#waitBehind();
      await this.#syncData();
      const point = { octets: this.#octets, records: this.#records, units: this.#units };
      const saved: IncomingCheckpoint = { ...this.#base, ...point, updatedAt: new Date(this.#now()).toISOString() };
      this.#checkpointOnDisk = true;
      await writeJsonAtomic(this.#checkpointPath, saved);
      this.#durable = point;
      return this.progress().durableRestartPosition;
    });
  }

  /**
   * Makes everything written so far durable (flush + fsync) without recording a checkpoint, so that
   * the fsync can overlap other work before commit(); commit() then skips its own fsync unless more
   * was written since.
   */
  sync(): Promise<void> {
    return this.#exclusive(async () => {
      await this.#syncData();
    });
  }

  /**
   * Starts a checkpoint of everything written so far without waiting for it: the fsync runs while
   * more data is written, and the checkpoint file is written once it is done, so it never claims data
   * that is not durable (only what was written before the fsync started). At most one runs; a call
   * meanwhile does nothing (the next one covers the data). checkpoint(), commit(), close() and
   * discard() wait for it. If it fails, the restart point simply stays at the previous checkpoint.
   */
  checkpointBehind(): Promise<void> {
    return this.#exclusive(async () => {
      if (this.#behind) return;
      await this.#flush();
      const point = { octets: this.#octets, records: this.#records, units: this.#units };
      const fh = this.#fh;
      const task = (async () => {
        try {
          await fh.datasync();
        } catch (err) {
          throw ioError('fsync', this.partPath, err);
        }
        const saved: IncomingCheckpoint = { ...this.#base, ...point, updatedAt: new Date(this.#now()).toISOString() };
        this.#checkpointOnDisk = true;
        await writeJsonAtomic(this.#checkpointPath, saved);
        if (point.octets > this.#durable.octets) this.#durable = point;
      })();
      const tracked: Promise<void> = task.finally(() => {
        if (this.#behind === tracked) this.#behind = undefined;
      });
      tracked.catch(() => {});
      this.#behind = tracked;
    });
  }

  /** The checkpoint started by checkpointBehind() is over (whatever its outcome). */
  async #waitBehind(): Promise<void> {
    await this.#behind?.catch(() => {});
  }

  async #syncData(): Promise<void> {
    await this.#flush();
    if (this.#syncedOctets === this.#octets) return;
    try {
      await this.#fh.sync();
    } catch (err) {
      throw ioError('fsync', this.partPath, err);
    }
    this.#syncedOctets = this.#octets;
  }

  /**
   * EFID check (§5.3.8) against what was written. U/T (and files travelling as U): the record count is
   * not checked (the RFC says zero; some peers count lines), the unit count must equal the octets.
   * F/V: both must match; units are user data octets (V without its 2-octet prefixes).
   */
  verifyCounts(recordCount: number, unitCount: number): CountCheck {
    if (this.#recordFilled > 0) {
      return { ok: false, reason: FileReason.invalidRecordCount, message: 'the last record is incomplete' };
    }
    if (isRecordFormat(this.transmissionFormat) && recordCount !== this.#records) {
      return {
        ok: false,
        reason: FileReason.invalidRecordCount,
        message: `EFID record count ${recordCount}, received ${this.#records}`,
      };
    }
    if (unitCount !== this.#units) {
      return {
        ok: false,
        reason: FileReason.invalidByteCount,
        message: `EFID unit count ${unitCount}, received ${this.#units}`,
      };
    }
    return { ok: true };
  }

  /**
   * Delivers the file as `finalDir/finalName` (or finalName~1, ~2, ... if taken; never overwrites).
   * `finalDir` must be on the same filesystem as the temp directory. Durable when it resolves.
   */
  commit(finalDir: string, finalName: string): Promise<CommittedFile> {
    return this.#exclusive(async () => {
      assertSafeFileName(finalName);
      if (this.#recordFilled > 0) throw badState('cannot commit with an incomplete record');
      await this.#waitBehind();
      await this.#syncData();
      // Closed while it gets its name (a name can be given to an open file).
      const closing = this.#fh.close().catch(() => {});
      this.#state = 'closed';
      await mkdirDurableOnce(finalDir);
      const name = await commitQueue.run(finalDir, async () => {
        for (let n = 0; n <= MAX_COLLISIONS; n++) {
          const candidate = collisionName(finalName, n);
          assertSafeFileName(candidate);
          let placed: boolean;
          try {
            placed = await againIfDirRemoved(async () => {
              await mkdirDurableOnce(finalDir);
              return moveNoReplace(this.partPath, join(finalDir, candidate));
            });
          } catch (err) {
            const cause = (err as { cause?: unknown }).cause;
            if (errnoCode(cause) === 'EXDEV') {
              throw new OftpError(
                'OFTP_ERR_IO',
                `cannot commit into ${finalDir}: the temp directory ${this.#tempDir} is on another filesystem (EXDEV)`,
                { cause },
              );
            }
            throw err;
          }
          if (placed) return candidate;
        }
        throw ioError('commit', join(finalDir, finalName), new Error(`more than ${MAX_COLLISIONS} collisions`));
      });
      // The new name, and the partial's (and its checkpoint's) removal: both directories are fsynced
      // together, and the commit is durable only once both are.
      if (this.#checkpointOnDisk) await unlinkIfExists(this.#checkpointPath);
      await Promise.all([fsyncDirShared(finalDir), fsyncDirShared(this.#tempDir), closing]);
      this.#state = 'committed';
      this.#locks.delete(this.partPath);
      return { path: join(finalDir, name), name, octets: this.#octets, records: this.#records, units: this.#units };
    });
  }

  /** Drops the partial and its checkpoint (EFNA, refused file, operator). */
  discard(): Promise<void> {
    if (this.#state === 'discarded' || this.#state === 'committed') return Promise.resolve();
    return this.#exclusive(async () => {
      if (this.#state === 'open') await this.#closeHandle();
      await unlinkDurable(this.#checkpointPath);
      await unlinkDurable(this.partPath);
      this.#state = 'discarded';
      this.#locks.delete(this.partPath);
    }, true);
  }

  /**
   * Releases the partial and keeps it for a restart (session lost). Data after the last checkpoint()
   * is not claimed and will be cut at the next open; call checkpoint() first to keep it.
   */
  async close(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'discarded') return;
    if (this.#state === 'open') await this.#closeHandle();
    this.#state = 'closed';
    this.#locks.delete(this.partPath);
  }

  #expectRecords(): void {
    if (!isRecordFormat(this.transmissionFormat)) {
      throw badState(`records are for F/V files; this ${this.transmissionFormat} file takes write()`);
    }
  }

  #tooLong(length: number): FileRefusedError {
    return new FileRefusedError(
      `record of ${length} octets exceeds the record size ${this.#recordLimit}`,
      FileReason.recordLengthNotSupported,
    );
  }

  async #appendRecord(record: Uint8Array): Promise<void> {
    if (this.transmissionFormat === 'F') {
      if (record.length !== this.#lrecl) {
        throw new FileRefusedError(
          `F record ${this.#records + 1} has ${record.length} octets, not ${this.#lrecl}`,
          record.length > this.#lrecl ? FileReason.recordLengthNotSupported : FileReason.formatNotSupported,
        );
      }
      await this.#append(record);
    } else {
      if (record.length > this.#recordLimit) throw this.#tooLong(record.length);
      await this.#append(Uint8Array.of(record.length >>> 8, record.length & 0xff));
      await this.#append(record);
    }
    this.#records++;
    this.#units += record.length;
  }

  async #append(bytes: Uint8Array): Promise<void> {
    const capacity = this.#buffer.length;
    let from = 0;
    while (from < bytes.length) {
      if (this.#buffered === capacity) await this.#startWrite();
      const take = Math.min(capacity - this.#buffered, bytes.length - from);
      this.#buffer.set(take === bytes.length ? bytes : bytes.subarray(from, from + take), this.#buffered);
      this.#buffered += take;
      from += take;
    }
    this.#octets += bytes.length;
    if (this.#buffered === capacity) await this.#startWrite();
  }

  /** Hands the filled buffer to a background write (after the previous one finished) and swaps buffers. */
  async #startWrite(): Promise<void> {
    await this.#settle();
    const length = this.#buffered;
    const position = this.#flushedOctets;
    const full = this.#buffer;
    this.#buffer = this.#spare ?? Buffer.allocUnsafe(full.length);
    this.#spare = full;
    this.#buffered = 0;
    this.#flushedOctets += length;
    const writing = this.#writeAt(full.subarray(0, length), position);
    writing.catch(() => {}); // surfaced by the next #settle()
    this.#writing = writing;
  }

  /** Waits for the background write; throws its error (once). */
  async #settle(): Promise<void> {
    const writing = this.#writing;
    if (writing === undefined) return;
    this.#writing = undefined;
    await writing;
  }

  /** Everything accepted so far is written to the partial (not yet fsynced). */
  async #flush(): Promise<void> {
    if (this.#buffered > 0) await this.#startWrite();
    await this.#settle();
  }

  async #closeHandle(): Promise<void> {
    await this.#waitBehind();
    await this.#settle().catch(() => {});
    await this.#fh.close().catch(() => {});
  }

  async #writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      let bytesWritten: number;
      try {
        ({ bytesWritten } = await this.#fh.write(bytes, done, bytes.length - done, position + done));
      } catch (err) {
        throw ioError('write', this.partPath, err);
      }
      done += bytesWritten;
    }
  }

  async #exclusive<T>(task: () => Promise<T>, evenIfClosed = false): Promise<T> {
    if (this.#busy) throw badState('IncomingFile calls must be awaited one at a time');
    if (!evenIfClosed && this.#state !== 'open') throw badState(`IncomingFile is ${this.#state}`);
    this.#busy = true;
    try {
      return await task();
    } finally {
      this.#busy = false;
    }
  }
}

/** Removes a file if it exists; the caller fsyncs its directory. */
async function unlinkIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw ioError('unlink', path, err);
  }
}
