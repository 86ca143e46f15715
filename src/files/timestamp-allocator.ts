// SFIDDATE / SFIDTIME allocation (RFC 5024 §1.5.2, §5.3.3): 'CCYYMMDD' and 'HHMMSScccc', where the
// counter cccc (0001-9999) makes the stamp unique for this station within one second.
// Stamps never repeat and never go backwards, even across restarts and clock steps:
// - a stamp at least as late as the last one issued is persisted (state file) before that one is
//   returned: a stamp and the next RESERVE-1 counters of its second, so that files queued together
//   (a send of 1,000 small files) need one write per RESERVE stamps; a restart continues after the
//   persisted stamp, so at most RESERVE-1 counters are skipped, never reused. The file holds two
//   fixed-size slots, each with a sequence number and a checksum, written in turn in place with
//   O_DSYNC: a torn write can only spoil the slot being written, whose stamp was never returned, and
//   the other slot still holds the previous one. (Each allocation used to write a new file, fsync it,
//   rename it over the old one and fsync the directory: two fsyncs, and freeing the old file's blocks
//   made the rename take about a millisecond on a filesystem mounted with `discard`. Now: one write.)
//   A state file in the older single-JSON format is read, and replaced by the slotted one at the first
//   allocation (atomically, once);
// - when the wall clock is at or behind the last stamp (same second, clock stepped back, DST end), the
//   counter continues from the last stamp; when the counter would pass 9999, the stamp moves on to
//   the next second (so under extreme load, or after a backward step, stamps can run slightly ahead
//   of the wall clock until it catches up).
// - a whole-second stamp ('HHMMSS0000', for RFC 2204 partners whose SFIDTIME has no counter) takes a
//   second after every stamp issued so far, so no two files share an identity on such a link either.
// One allocator per state file per process; allocations are serialised.
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { mkdirDurable, writeFileAtomic } from './durable-fs.ts';
import { badArgument, errnoCode, ioError } from './file-errors.ts';

export interface VirtualFileStamp {
  /** SFIDDATE 'CCYYMMDD' */
  date: string;
  /** SFIDTIME 'HHMMSScccc', counter 0001-9999 */
  time: string;
}

export interface TimestampAllocatorOptions {
  /** Milliseconds since the epoch; defaults to Date.now. */
  now?: () => number;
  /** Stamp in UTC instead of local time (default false: local time, as most OFTP stations do). */
  utc?: boolean;
}

interface State {
  version: 1;
  date: string;
  time: string;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Counters persisted ahead with each write (see the top of the file). */
const RESERVE = 64;

/** Bytes per slot of the state file (two slots): one JSON line, padded with spaces. */
const SLOT = 96;

const slotSum = (seq: number, date: string, time: string) => crc32(`${seq}|${date}|${time}`).toString(16).padStart(8, '0');

function encodeSlot(seq: number, stamp: State): Buffer {
  const line = JSON.stringify({ version: 2, seq, date: stamp.date, time: stamp.time, sum: slotSum(seq, stamp.date, stamp.time) });
  return Buffer.from(`${line.padEnd(SLOT - 1)}\n`, 'latin1');
}

/** The newest valid slot of a slotted state file, or undefined if neither is valid. */
function decodeSlots(text: string): { seq: number; state: State } | undefined {
  let best: { seq: number; state: State } | undefined;
  for (let at = 0; at + SLOT <= text.length; at += SLOT) {
    let slot: { seq?: unknown; date?: unknown; time?: unknown; sum?: unknown };
    try {
      slot = JSON.parse(text.slice(at, at + SLOT));
    } catch {
      continue; // torn
    }
    const { seq, date, time, sum } = slot;
    if (typeof seq !== 'number' || typeof date !== 'string' || typeof time !== 'string' || sum !== slotSum(seq, date, time)) continue;
    if (!best || seq > best.seq) best = { seq, state: { version: 1, date, time } };
  }
  return best;
}

/** 'CCYYMMDDHHMMSS' of a Date, in local time or UTC. */
function secondsStamp(ms: number, utc: boolean): string {
  const d = new Date(ms);
  const [y, mo, da, h, mi, s] = utc
    ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]
    : [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()];
  return pad(y, 4) + pad(mo, 2) + pad(da, 2) + pad(h, 2) + pad(mi, 2) + pad(s, 2);
}

/** The 'CCYYMMDDHHMMSS' one second after `stamp` (pure calendar arithmetic). */
function nextSecond(stamp: string): string {
  const t = Date.UTC(
    Number(stamp.slice(0, 4)),
    Number(stamp.slice(4, 6)) - 1,
    Number(stamp.slice(6, 8)),
    Number(stamp.slice(8, 10)),
    Number(stamp.slice(10, 12)),
    Number(stamp.slice(12, 14)) + 1,
  );
  return secondsStamp(t, true);
}

export class TimestampAllocator {
  readonly #stateFile: string;
  readonly #now: () => number;
  readonly #utc: boolean;
  /** Last issued: 'CCYYMMDDHHMMSS' and its counter. */
  #lastSeconds: string;
  #lastCounter: number;
  /** The persisted stamp, 'CCYYMMDDHHMMSScccc': stamps up to it may be issued without a write. */
  #persisted: string;
  #tail: Promise<unknown> = Promise.resolve();
  /** Sequence of the newest slot; undefined until the file is in the slotted format. */
  #seq: number | undefined;

  private constructor(stateFile: string, state: State | undefined, seq: number | undefined, options: TimestampAllocatorOptions) {
    this.#stateFile = stateFile;
    this.#seq = seq;
    this.#now = options.now ?? Date.now;
    this.#utc = options.utc ?? false;
    this.#lastSeconds = state ? state.date + state.time.slice(0, 6) : '00000000000000';
    this.#lastCounter = state ? Number(state.time.slice(6)) : 0;
    this.#persisted = this.#lastSeconds + pad(this.#lastCounter, 4);
  }

  /** Opens (or creates) the allocator whose last issued stamp is persisted in `stateFile`. */
  static async open(stateFile: string, options: TimestampAllocatorOptions = {}): Promise<TimestampAllocator> {
    await mkdirDurable(dirname(stateFile));
    let text: string | undefined;
    try {
      text = await readFile(stateFile, 'latin1');
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw ioError('read', stateFile, err);
    }
    let state: State | undefined;
    let seq: number | undefined;
    if (text !== undefined) {
      const slotted = decodeSlots(text);
      if (slotted) {
        ({ state, seq } = slotted);
      } else {
        try {
          state = JSON.parse(text) as State; // the single-JSON format
        } catch {
          state = undefined;
        }
        if (state === undefined || state === null || typeof state !== 'object') throw badArgument(`timestamp state ${stateFile} is malformed`);
      }
      if (!(/^\d{8}$/.test(state.date) && /^\d{10}$/.test(state.time))) {
        throw badArgument(`timestamp state ${stateFile} is malformed`);
      }
    }
    return new TimestampAllocator(stateFile, state, seq, options);
  }

  /**
   * The next unique stamp, persisted before it is returned. `wholeSecond`: counter 0000, in a second
   * later than any stamp issued so far (levels 1/2 carry HHMMSS only, so the second alone must be unique).
   */
  allocate(options: { wholeSecond?: boolean } = {}): Promise<VirtualFileStamp> {
    const result = this.#tail.then(() => this.#allocate(options.wholeSecond ?? false));
    this.#tail = result.catch(() => {});
    return result;
  }

  async #allocate(wholeSecond: boolean): Promise<VirtualFileStamp> {
    const wall = secondsStamp(this.#now(), this.#utc);
    let seconds: string;
    let counter: number;
    if (wholeSecond) {
      seconds = wall > this.#lastSeconds ? wall : nextSecond(this.#lastSeconds);
      counter = 0;
    } else if (wall > this.#lastSeconds) {
      seconds = wall;
      counter = 1;
    } else if (this.#lastCounter < 9999) {
      seconds = this.#lastSeconds;
      counter = this.#lastCounter + 1;
    } else {
      seconds = nextSecond(this.#lastSeconds);
      counter = 1;
    }
    const stamp = { date: seconds.slice(0, 8), time: seconds.slice(8) + pad(counter, 4) };
    if (seconds + pad(counter, 4) > this.#persisted) {
      // A whole-second stamp is persisted as it is: counters after it are issued in a later second.
      const ahead = wholeSecond ? counter : Math.min(9999, counter + RESERVE - 1);
      await this.#persist({ version: 1, date: stamp.date, time: seconds.slice(8) + pad(ahead, 4) });
      this.#persisted = seconds + pad(ahead, 4);
    }
    this.#lastSeconds = seconds;
    this.#lastCounter = counter;
    return stamp;
  }

  /** Writes `stamp` durably before it is handed out (see the top of the file). */
  async #persist(stamp: State): Promise<void> {
    if (this.#seq === undefined) {
      // First write, or a file in the single-JSON format: the slotted file, atomically, once.
      // Slot i holds the sequences with seq % 2 === i: seq 1 goes to the second slot.
      await writeFileAtomic(this.#stateFile, Buffer.concat([encodeSlot(0, stamp), encodeSlot(1, stamp)]));
      this.#seq = 1;
      return;
    }
    const seq = this.#seq + 1;
    const fh = await open(this.#stateFile, constants.O_RDWR | constants.O_DSYNC).catch((err) => {
      throw ioError('open', this.#stateFile, err);
    });
    try {
      await fh.write(encodeSlot(seq, stamp), 0, SLOT, (seq % 2) * SLOT);
    } catch (err) {
      throw ioError('write', this.#stateFile, err);
    } finally {
      await fh.close().catch(() => {});
    }
    this.#seq = seq;
  }
}
