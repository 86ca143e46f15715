// The outgoing spool: virtual files waiting to be sent, per partner, in FIFO order (RFC 5024 §1.5,
// §5.3.3). An entry is a directory holding the spooled octets and their metadata; it is built under
// .tmp/, fsynced, and renamed into the partner's folder in one atomic step, so a listed entry is always
// complete. Removal renames it into .trash/ first. Layout:
//   <spool>/.tmp/<random>/                    entries being built (cleared at open)
//   <spool>/.trash/<random>/                  entries being removed (cleared at open)
//   <spool>/<partner>/<seq:12>-<identityKey>/data             the octets, in the local format
//   <spool>/<partner>/<seq:12>-<identityKey>/meta.json        SpoolMeta
//   <spool>/<partner>/<seq:12>-<identityKey>/checkpoint.json  OutgoingCheckpoint (once offered)
// Enqueue reads the source once: it validates the F/V/T structure, hashes (SHA-256) and copies in the
// same pass. Octets without structure (U, secured files) are copied by the kernel while the source is
// hashed (copyUnstructured). One Spool instance owns a spool directory.
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, readdir, rename, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { FileReason } from '../protocol/reason-codes.ts';
import { againIfDirRemoved, fsyncDir, fsyncDirShared, KeyedQueue, mkdirDurable, mkdirDurableOnce, readJsonIfExists, removeTree, removeTreesDetached, writeNewFileSynced } from './durable-fs.ts';
import { TrashBin } from './trash-bin.ts';
import { badArgument, errnoCode, FileRefusedError, ioError } from './file-errors.ts';
import { assertSafeFileName, identityKey, validateIdentity } from './naming.ts';
import {
  EMPTY_OUTGOING_CHECKPOINT,
  loadOutgoingCheckpoint,
  type OutgoingCheckpoint,
  restartOffer,
  saveOutgoingCheckpoint,
} from './outgoing-checkpoint.ts';
import {
  blocksFor,
  type ContentSummary,
  checkRecordSize,
  createContentValidator,
  transmissionFormat,
} from './record-formats.ts';
import { SPOOL_META_VERSION, type SpoolEntry, type SpoolMeta } from './spool-entry.ts';
import type { TimestampAllocator } from './timestamp-allocator.ts';

/** What the caller says about a file to send. */
export interface EnqueueMeta {
  /** Local partner id (safe file name). */
  partner: string;
  /** SFIDDSN */
  datasetName: string;
  /** SFIDORIG: may differ from our SSIDCODE when we forward (§5.4). */
  originator: string;
  /** SFIDDEST */
  destination: string;
  /** SFIDDATE/SFIDTIME: give both (forwarding keeps the originator's stamp) or neither (allocated). */
  date?: string;
  time?: string;
  /** Allocate a whole-second stamp (counter 0000) for a partner at level 1/2, whose SFIDTIME is HHMMSS. */
  wholeSecondStamp?: boolean;
  /** SFIDFMT of the original file. */
  format: VirtualFileFormat;
  /** SFIDLRECL: required for F; for V optional (default: longest record); 0 for U/T. */
  maxRecordSize?: number;
  /** SFIDUSER, at most 8 characters. */
  userData?: string;
  /** SFIDDESC, at most 999 UTF-8 octets. */
  description?: string;
  /** SFIDSEC 0..3, SFIDCIPH, SFIDCOMP 0/1, SFIDENV 0/1, SFIDSIGN. Any of the first four non-zero: the
   * source is the already secured file, stored and sent as U without structure checks. */
  securityLevel?: number;
  cipherSuite?: number;
  compression?: number;
  envelope?: number;
  signedReceipt?: boolean;
  /** SFIDOSIZ in 1K blocks; defaults to SFIDFSIZ for an unsecured file, 0 (unknown) otherwise. */
  originalFileSize?: number;
  /** Hex hash of the file as transmitted with the suite's digest, when a signed EERP is asked for (EERPHSH to expect). */
  receiptHash?: string;
}

export interface EnqueueOptions {
  /**
   * 'copy' (default): the spool takes a copy. 'link': hard-link the source into the spool (no copy);
   * only when the caller will never rewrite the source in place (it deletes it next: a move).
   * 'share': hard-link a source that stays where it is: no copy and, for U, no read at all; its size
   * and modification time are kept (sharedMtimeMs), and a file changed since is not sent
   * (Spool.sharedFileChanged). Both links fall back to a copy where the source cannot be linked (another
   * filesystem, not ours to link).
   */
  transfer?: Transfer;
}

export type Transfer = 'copy' | 'link' | 'share';

export interface SpoolOptions {
  /** Allocates SFIDDATE/SFIDTIME when the caller gives none. */
  allocator?: TimestampAllocator;
  /** Milliseconds since the epoch, for createdAt. */
  now?: () => number;
  /**
   * Removed entries are deleted by detached processes, never in this one (trash-bin.ts): a big one at
   * once, small ones together when removals pause or at close(), leftovers in .trash at open. For
   * `oftp2 send`, which would otherwise wait for the deletion of what it just sent before it can exit.
   */
  detachedRemoval?: boolean;
}

const ENTRY_NAME = /^(\d{12})-(.+)$/;
const META_FILE = 'meta.json';
const DATA_FILE = 'data';

export class Spool {
  readonly dir: string;
  readonly #tmp: string;
  readonly #trash: string;
  readonly #allocator: TimestampAllocator | undefined;
  readonly #now: () => number;
  /** Removed entries, deleted later (trash-bin.ts). */
  readonly #bin: TrashBin;
  readonly #publish = new KeyedQueue();
  /** remove() with lingerMs: the folder fsyncs not started yet, by folder. */
  readonly #dirSyncs = new Map<string, Promise<void>>();
  #sequence: number;
  /**
   * Each partner's entries in memory, read from disk at first use and kept by enqueue and remove (this
   * instance owns the directory). A session lists the queue at every turn and enqueue checks for a
   * duplicate identity: with thousands queued, reading every meta.json each time was quadratic.
   */
  readonly #index = new Map<string, Promise<PartnerIndex>>();
  /** Entries enqueued by this instance that have no checkpoint file yet (loadCheckpoint reads nothing). */
  readonly #withoutCheckpoint = new Set<string>();

  private constructor(dir: string, sequence: number, options: SpoolOptions) {
    this.dir = dir;
    this.#tmp = join(dir, '.tmp');
    this.#trash = join(dir, '.trash');
    this.#allocator = options.allocator;
    this.#now = options.now ?? Date.now;
    this.#bin = new TrashBin({ detached: options.detachedRemoval === true });
    this.#sequence = sequence;
  }

  /** Opens (creating if needed) the spool in `dir`, clearing leftovers of interrupted work. */
  static async open(dir: string, options: SpoolOptions = {}): Promise<Spool> {
    await mkdirDurable(dir);
    await removeTree(join(dir, '.tmp'));
    await mkdirDurable(join(dir, '.tmp'));
    if (options.detachedRemoval) {
      // Each leftover on its own: the folder itself stays, entries are renamed into it meanwhile.
      await mkdirDurable(join(dir, '.trash'));
      await removeTreesDetached((await listDir(join(dir, '.trash'))).map((name) => join(dir, '.trash', name)));
    } else {
      await removeTree(join(dir, '.trash'));
      await mkdirDurable(join(dir, '.trash'));
    }
    let max = 0;
    for (const partner of await listDir(dir)) {
      if (partner.startsWith('.')) continue;
      for (const name of await listDir(join(dir, partner))) {
        const m = ENTRY_NAME.exec(name);
        if (m) max = Math.max(max, Number(m[1]));
      }
    }
    return new Spool(dir, max, options);
  }

  /**
   * Copies (or links) `sourcePath` into the spool with its metadata, atomically. Validates the
   * identity (FileRefusedError SFNA 01/02/03), the structure of F/V/T content (FileRefusedError
   * SFNA 04, with the offset) and refuses an identity already spooled for the partner (SFNA 13).
   */
  async enqueue(sourcePath: string, meta: EnqueueMeta, options: EnqueueOptions = {}): Promise<SpoolEntry> {
    assertSafeFileName(meta.partner);
    // Numbered before the first await: files enqueued one after another with several in flight (a send
    // of many files) keep that order in the queue, whatever order their writes finish in. A refused
    // one leaves a gap, which is harmless.
    const sequence = ++this.#sequence;
    const stamp = await this.#stamp(meta);
    const identity = {
      datasetName: meta.datasetName,
      date: stamp.date,
      time: stamp.time,
      originator: meta.originator,
      destination: meta.destination,
    };
    validateIdentity(identity);
    const fields = checkFields(meta);
    const key = identityKey(identity);
    const partnerDir = join(this.dir, meta.partner);
    await mkdirDurableOnce(partnerDir);
    if ((await this.#indexFor(meta.partner)).byKey.has(key)) {
      throw new FileRefusedError(
        `${identity.datasetName} ${identity.date} ${identity.time} is already spooled for ${meta.partner}`,
        FileReason.duplicateFile,
      );
    }
    const id = `${String(sequence).padStart(12, '0')}-${key}`;
    const work = join(this.#tmp, randomBytes(8).toString('hex'));
    try {
      await mkdir(work);
      const dataPath = join(work, DATA_FILE);
      const content = await spoolContent(sourcePath, dataPath, fields, options.transfer ?? 'copy');
      const unsecured = fields.transmissionFormat === fields.format;
      const spooled: SpoolMeta = {
        version: SPOOL_META_VERSION,
        id,
        partner: meta.partner,
        sequence,
        ...identity,
        userData: meta.userData ?? '',
        format: meta.format,
        // V without a given size: the longest record, at least 1 (an empty V file would otherwise say
        // SFIDLRECL 0, which receivers, ours included, refuse for V: SFNA 05).
        maxRecordSize:
          meta.format === 'V' && unsecured && !meta.maxRecordSize
            ? Math.max(1, content.summary.longestRecord)
            : fields.maxRecordSize,
        transmissionFormat: fields.transmissionFormat,
        fileSize: blocksFor(content.summary.octets),
        originalFileSize: meta.originalFileSize ?? (unsecured ? blocksFor(content.summary.octets) : 0),
        octets: content.summary.octets,
        recordCount: content.summary.records,
        unitCount: content.summary.units,
        ...(content.sha256 === undefined ? {} : { sha256: content.sha256 }),
        ...(content.sharedMtimeMs === undefined ? {} : { sharedMtimeMs: content.sharedMtimeMs }),
        securityLevel: meta.securityLevel ?? 0,
        cipherSuite: meta.cipherSuite ?? 0,
        compression: meta.compression ?? 0,
        envelope: meta.envelope ?? 0,
        signedReceipt: meta.signedReceipt ?? false,
        ...(meta.receiptHash === undefined ? {} : { receiptHash: meta.receiptHash }),
        description: meta.description ?? '',
        createdAt: new Date(this.#now()).toISOString(),
        sourceName: basename(sourcePath),
      };
      await writeNewFileSynced(join(work, META_FILE), `${JSON.stringify(spooled, null, 1)}\n`);
      await fsyncDir(work);
      const final = join(partnerDir, id);
      // Check again and rename under the partner's lock: two enqueues of one identity never both land.
      const entry: SpoolEntry = { meta: spooled, dir: final, dataPath: join(final, DATA_FILE) };
      const index = await this.#publish.run(meta.partner, async () => {
        const index = await this.#indexFor(meta.partner);
        if (index.byKey.has(key)) {
          throw new FileRefusedError(
            `${identity.datasetName} ${identity.date} ${identity.time} is already spooled for ${meta.partner}`,
            FileReason.duplicateFile,
          );
        }
        try {
          await againIfDirRemoved(async () => {
            await mkdirDurableOnce(partnerDir);
            await rename(work, final);
          });
        } catch (err) {
          throw ioError('rename', `${work} -> ${final}`, err);
        }
        index.byKey.set(key, id);
        return index;
      });
      // Listed once durable. Files enqueued together share the folder's fsync. The old name's removal
      // from .tmp needs none: .tmp is cleared at open.
      await fsyncDirShared(partnerDir);
      if (index.last !== undefined && index.last > id) index.sorted = false;
      else index.last = id;
      index.entries.set(id, entry);
      this.#withoutCheckpoint.add(final);
      return entry;
    } catch (err) {
      await removeTree(work).catch(() => {});
      throw err;
    }
  }

  /** Partners with at least one entry directory. */
  async partners(): Promise<string[]> {
    const out: string[] = [];
    for (const name of await listDir(this.dir)) {
      if (name.startsWith('.')) continue;
      if ((await listDir(join(this.dir, name))).some((n) => ENTRY_NAME.test(n))) out.push(name);
    }
    return out.sort();
  }

  /** The partner's entries, oldest first (FIFO). */
  async list(partner: string): Promise<SpoolEntry[]> {
    assertSafeFileName(partner);
    const index = await this.#indexFor(partner);
    if (!index.sorted) {
      const sorted = [...index.entries].sort((a, b) => (a[0] < b[0] ? -1 : 1));
      index.entries = new Map(sorted);
      index.sorted = true;
    }
    return [...index.entries.values()];
  }

  /** The partner's entry with this identityKey, if it is queued (from the index: no listing, no hashing). */
  async find(partner: string, key: string): Promise<SpoolEntry | undefined> {
    assertSafeFileName(partner);
    const index = await this.#indexFor(partner);
    const name = index.byKey.get(key);
    return name === undefined ? undefined : index.entries.get(name);
  }

  /** How many entries wait for the partner. */
  async count(partner: string): Promise<number> {
    assertSafeFileName(partner);
    return (await this.#indexFor(partner)).entries.size;
  }

  /** One entry by partner and id, or undefined. */
  async get(partner: string, id: string): Promise<SpoolEntry | undefined> {
    assertSafeFileName(partner);
    if (!ENTRY_NAME.test(id)) return undefined;
    assertSafeFileName(id);
    return (await this.#indexFor(partner)).entries.get(id);
  }

  #indexFor(partner: string): Promise<PartnerIndex> {
    let index = this.#index.get(partner);
    if (!index) {
      index = this.#loadIndex(partner);
      this.#index.set(partner, index);
      index.catch(() => this.#index.delete(partner));
    }
    return index;
  }

  async #loadIndex(partner: string): Promise<PartnerIndex> {
    const partnerDir = join(this.dir, partner);
    const names = (await listDir(partnerDir)).filter((n) => ENTRY_NAME.test(n)).sort();
    const index: PartnerIndex = { entries: new Map(), byKey: new Map(), sorted: true, last: names.at(-1) };
    for (const name of names) {
      const entry = await this.#load(partnerDir, name);
      if (entry) {
        index.entries.set(name, entry);
        index.byKey.set(ENTRY_NAME.exec(name)![2]!, name);
      }
    }
    return index;
  }

  /**
   * Removes an entry (after EFPA, or when the operator cancels it): it disappears atomically, durably
   * when the promise resolves. With `lingerMs` (a session taking sent files out one after another),
   * the partner folder's fsync waits that long and serves every removal from it meanwhile.
   */
  async remove(entry: SpoolEntry, options: { lingerMs?: number } = {}): Promise<void> {
    const partnerDir = join(this.dir, entry.meta.partner);
    const index = await this.#indexFor(entry.meta.partner);
    const name = basename(entry.dir);
    if (index.entries.delete(name)) index.byKey.delete(ENTRY_NAME.exec(name)![2]!);
    this.#withoutCheckpoint.delete(entry.dir);
    const doomed = join(this.#trash, `${entry.meta.id}.${randomBytes(4).toString('hex')}`);
    try {
      await rename(entry.dir, doomed);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw ioError('rename', `${entry.dir} -> ${doomed}`, err);
    }
    await (options.lingerMs === undefined ? fsyncDir(partnerDir) : this.#fsyncDirSoon(partnerDir, options.lingerMs));
    // Out of the queue, durably: deleting its files waits (trash-bin.ts); .trash is cleared at open if
    // this process ends first.
    this.#bin.discard(doomed, entry.meta.octets);
  }

  /** Deletes (or hands to a detached process) the removed entries still waiting; the spool stays usable. */
  close(): Promise<void> {
    return this.#bin.close();
  }

  /** One fsync of `dir` after `lingerMs`, shared by every caller until it starts (each after its change). */
  #fsyncDirSoon(dir: string, lingerMs: number): Promise<void> {
    let sync = this.#dirSyncs.get(dir);
    if (!sync) {
      sync = new Promise<void>((resolve, reject) => {
        setTimeout(() => {
          this.#dirSyncs.delete(dir);
          fsyncDir(dir).then(resolve, reject);
        }, lingerMs);
      });
      this.#dirSyncs.set(dir, sync);
    }
    return sync;
  }

  loadCheckpoint(entry: SpoolEntry): Promise<OutgoingCheckpoint> {
    if (this.#withoutCheckpoint.has(entry.dir)) return Promise.resolve({ ...EMPTY_OUTGOING_CHECKPOINT });
    return loadOutgoingCheckpoint(entry.dir);
  }

  saveCheckpoint(entry: SpoolEntry, checkpoint: OutgoingCheckpoint): Promise<void> {
    this.#withoutCheckpoint.delete(entry.dir);
    return saveOutgoingCheckpoint(entry.dir, checkpoint);
  }

  /**
   * For an entry that shares the caller's file ('share'): why it may not be sent, if that file was
   * changed (size or modification time) or removed from the spool since it was queued; else undefined.
   * Sending it would mix new octets into a transfer that restarts, or send what was never queued.
   */
  async sharedFileChanged(entry: SpoolEntry): Promise<string | undefined> {
    const { sharedMtimeMs, octets, sourceName } = entry.meta;
    if (sharedMtimeMs === undefined) return undefined;
    let now: { size: number; mtimeMs: number };
    try {
      now = await stat(entry.dataPath);
    } catch (err) {
      return `${sourceName}: its spooled data cannot be read (${errnoCode(err) ?? String(err)})`;
    }
    if (now.size === octets && now.mtimeMs === sharedMtimeMs) return undefined;
    return `${sourceName} was changed after it was queued (now ${now.size} octets, modified ${new Date(now.mtimeMs).toISOString()}; queued: ${octets} octets, modified ${new Date(sharedMtimeMs).toISOString()}); queue it again to send it`;
  }

  /** SFIDREST to offer for this entry in the next SFID (see outgoing-checkpoint.ts). */
  async restartOffer(entry: SpoolEntry): Promise<number> {
    return restartOffer(await this.loadCheckpoint(entry), entry.meta.transmissionFormat);
  }

  async #stamp(meta: EnqueueMeta): Promise<{ date: string; time: string }> {
    if (meta.date !== undefined && meta.time !== undefined) return { date: meta.date, time: meta.time };
    if (meta.date !== undefined || meta.time !== undefined) {
      throw badArgument('give both date and time, or neither');
    }
    if (!this.#allocator) throw badArgument('no date/time given and the spool has no TimestampAllocator');
    return this.#allocator.allocate({ wholeSecond: meta.wholeSecondStamp ?? false });
  }

  async #load(partnerDir: string, name: string): Promise<SpoolEntry | undefined> {
    const dir = join(partnerDir, name);
    const meta = await readJsonIfExists<SpoolMeta>(join(dir, META_FILE));
    if (!meta) return undefined;
    return { meta, dir, dataPath: join(dir, DATA_FILE) };
  }
}

interface PartnerIndex {
  /** Entry directory name → entry, in name (FIFO) order while `sorted`. */
  entries: Map<string, SpoolEntry>;
  /** identityKey → entry directory name (duplicate check). */
  byKey: Map<string, string>;
  sorted: boolean;
  /** The greatest name added so far (an entry published out of sequence order unsorts the map). */
  last: string | undefined;
}

interface CheckedFields {
  format: VirtualFileFormat;
  transmissionFormat: VirtualFileFormat;
  maxRecordSize: number;
}

function checkFields(meta: EnqueueMeta): CheckedFields {
  const tf = transmissionFormat(meta);
  const maxRecordSize = meta.maxRecordSize ?? 0;
  checkRecordSize(meta.format, maxRecordSize);
  if ((meta.format === 'U' || meta.format === 'T') && maxRecordSize !== 0) {
    throw badArgument(`SFIDLRECL must be 0 for a ${meta.format} file`);
  }
  if ((meta.userData ?? '').length > 8) throw badArgument('userData (SFIDUSER) is longer than 8');
  if (Buffer.byteLength(meta.description ?? '', 'utf8') > 999) {
    throw badArgument('description (SFIDDESC) is longer than 999 octets');
  }
  const ranges: [string, number | undefined, number][] = [
    ['securityLevel', meta.securityLevel, 3],
    ['cipherSuite', meta.cipherSuite, 99],
    ['compression', meta.compression, 1],
    ['envelope', meta.envelope, 1],
  ];
  for (const [name, value, max] of ranges) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 0 && value <= max)) {
      throw badArgument(`${name} ${value} is not 0..${max}`);
    }
  }
  if (
    meta.originalFileSize !== undefined &&
    !(Number.isSafeInteger(meta.originalFileSize) && meta.originalFileSize >= 0)
  ) {
    throw badArgument(`originalFileSize ${meta.originalFileSize} is not a non-negative integer`);
  }
  return { format: meta.format, transmissionFormat: tf, maxRecordSize };
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw ioError('list', dir, err);
  }
}


/** Spooling reads, hashes and writes in chunks of this size, three chunks in flight. */
const SPOOL_CHUNK = 256 * 1024;
/** While spooling, a background fdatasync is started every this many octets written. */
const SPOOL_WRITEBACK = 64 * 1024 * 1024;

/** What spooling made of the source: its structure, and what the entry records of it. */
interface SpooledContent {
  summary: ContentSummary;
  /** T/F/V only (see SpoolMeta.sha256). */
  sha256?: string;
  /** 'share' that linked (see SpoolMeta.sharedMtimeMs). */
  sharedMtimeMs?: number;
}

/**
 * Puts the source's octets at `dataPath` (copy or link) and fsyncs them. U (and any secured file) has
 * no structure to check: it is linked, or copied by the kernel, and never read here. T/F/V are read in
 * one pass that validates the transmission format's structure and hashes (and copies, unless linked).
 * Refuses a source that changes meanwhile.
 * The pass is a pipeline: chunk i+1 is read while chunk i is validated and hashed and chunk i-1 is
 * written (three buffers in turn), and an fdatasync every 64 MiB lets the disk write back while the
 * copy goes on, so the final fsync has little left to do. The bytes hashed are the bytes written.
 */
async function spoolContent(sourcePath: string, dataPath: string, fields: CheckedFields, transfer: Transfer): Promise<SpooledContent> {
  const before = await statRegular(sourcePath);
  const linked = transfer !== 'copy' && (await linkIfPossible(sourcePath, dataPath));
  const shared = linked && transfer === 'share';
  if (fields.transmissionFormat === 'U') return linked ? syncLinked(dataPath, before, shared) : copyUnstructured(sourcePath, dataPath, before);
  const validator = createContentValidator(fields.transmissionFormat, fields.transmissionFormat === 'T' ? 0 : fields.maxRecordSize);
  const hash = createHash('sha256');
  const chunk = Math.max(1, Math.min(SPOOL_CHUNK, before.size));
  const buffers = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
  let source: Awaited<ReturnType<typeof open>> | undefined;
  let target: Awaited<ReturnType<typeof open>> | undefined;
  let reading: Promise<number> | undefined;
  let writing: Promise<void> = Promise.resolve();
  let syncing: Promise<void> | undefined;
  try {
    try {
      source = await open(linked ? dataPath : sourcePath, constants.O_RDONLY);
      target = linked ? await open(dataPath, 'r+') : await open(dataPath, 'wx', 0o644);
    } catch (err) {
      throw ioError('open', sourcePath, err);
    }
    const src = source;
    const dst = target;
    const read = (buffer: Buffer): Promise<number> => {
      const pending = src.read(buffer, 0, buffer.length, null).then(
        (r) => r.bytesRead,
        (err) => {
          throw ioError('read', sourcePath, err);
        },
      );
      pending.catch(() => {}); // awaited below; never an unhandled rejection meanwhile
      return pending;
    };
    const write = async (bytes: Buffer, position: number): Promise<void> => {
      let done = 0;
      try {
        while (done < bytes.length) done += (await dst.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
      } catch (err) {
        throw ioError('write', dataPath, err);
      }
    };
    let written = 0;
    let sinceSync = 0;
    reading = read(buffers[0]!);
    for (let i = 0; ; i++) {
      const bytesRead = await reading;
      reading = undefined;
      if (bytesRead === 0) break;
      const current = buffers[i % 3]!.subarray(0, bytesRead);
      // The next read fills the buffer whose write (i-2) was awaited in the previous round.
      reading = read(buffers[(i + 1) % 3]!);
      validator.update(current);
      hash.update(current);
      if (linked) continue;
      await writing;
      writing = write(current, written);
      writing.catch(() => {});
      written += bytesRead;
      sinceSync += bytesRead;
      if (sinceSync >= SPOOL_WRITEBACK && syncing === undefined) {
        sinceSync = 0;
        const started = dst.datasync().finally(() => {
          syncing = undefined;
        });
        started.catch(() => {}); // the final fsync below reports a failing disk
        syncing = started;
      }
    }
    await writing;
    try {
      await syncing;
      await target.sync();
    } catch (err) {
      throw ioError('fsync', dataPath, err);
    }
  } finally {
    // Nothing may be in flight on a handle being closed.
    await Promise.allSettled([reading, writing, syncing]);
    await source?.close().catch(() => {});
    await target?.close().catch(() => {});
  }
  const summary = validator.finish();
  const after = await statRegular(sourcePath);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || summary.octets !== before.size) throw changedWhileSpooled(sourcePath);
  return { summary, sha256: hash.digest('hex'), sharedMtimeMs: shared ? before.mtimeMs : undefined };
}

/** Hard-links the source at `dataPath`; false where it cannot be linked (another filesystem, not permitted). */
async function linkIfPossible(sourcePath: string, dataPath: string): Promise<boolean> {
  try {
    await link(sourcePath, dataPath);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') {
      throw ioError('link', `${sourcePath} -> ${dataPath}`, err);
    }
    return false;
  }
}

/**
 * spoolContent for a linked U file: the linked octets are fsynced (nothing to do if the writer did) and
 * must still be what was stat'ed before the link.
 */
async function syncLinked(dataPath: string, before: { size: number; mtimeMs: number }, shared: boolean): Promise<SpooledContent> {
  let target: Awaited<ReturnType<typeof open>> | undefined;
  let now: { size: number; mtimeMs: number };
  try {
    target = await open(dataPath, 'r');
    await target.sync();
    now = await target.stat();
  } catch (err) {
    throw ioError('fsync', dataPath, err);
  } finally {
    await target?.close().catch(() => {});
  }
  if (now.size !== before.size || now.mtimeMs !== before.mtimeMs) throw changedWhileSpooled(dataPath);
  return { summary: { octets: now.size, records: 0, units: now.size, longestRecord: 0 }, sharedMtimeMs: shared ? now.mtimeMs : undefined };
}

function changedWhileSpooled(path: string) {
  return ioError('spool', path, Object.assign(new Error('source changed while spooled'), { code: 'ECHANGED' }));
}

/**
 * spoolContent for U not linked: the kernel copies the source (fs.copyFile: a reflink where the
 * filesystem has them, else copy_file_range, never through our memory), then the copy is fsynced.
 * The source must not change meanwhile (size and mtime before and after, and the octets copied).
 */
async function copyUnstructured(sourcePath: string, dataPath: string, before: { size: number; mtimeMs: number }): Promise<SpooledContent> {
  try {
    await copyFile(sourcePath, dataPath, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  } catch (err) {
    throw ioError('copy', `${sourcePath} -> ${dataPath}`, err);
  }
  let target: Awaited<ReturnType<typeof open>> | undefined;
  let copied: number;
  try {
    target = await open(dataPath, 'r+');
    await target.sync();
    copied = (await target.stat()).size;
  } catch (err) {
    throw ioError('fsync', dataPath, err);
  } finally {
    await target?.close().catch(() => {});
  }
  const after = await statRegular(sourcePath);
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || copied !== before.size) throw changedWhileSpooled(sourcePath);
  return { summary: { octets: copied, records: 0, units: copied, longestRecord: 0 } };
}

async function statRegular(path: string): Promise<{ size: number; mtimeMs: number }> {
  let s: Awaited<ReturnType<typeof stat>>;
  try {
    s = await stat(path);
  } catch (err) {
    throw ioError('stat', path, err);
  }
  if (!s.isFile()) throw badArgument(`${path} is not a regular file`);
  return { size: s.size, mtimeMs: s.mtimeMs };
}
