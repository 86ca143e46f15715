// SFIDDATE / SFIDTIME allocation (RFC 5024 §1.5.2, §5.3.3): 'CCYYMMDD' and 'HHMMSScccc', where the
// counter cccc (0001-9999) makes the stamp unique for this station within one second.
// Stamps never repeat and never go backwards, even across restarts and clock steps:
// - the last stamp issued is persisted atomically (state file) before a new one is returned;
// - when the wall clock is at or behind the last stamp (same second, clock stepped back, DST end), the
//   counter continues from the last stamp; when the counter would pass 9999, the stamp moves on to
//   the next second (so under extreme load, or after a backward step, stamps can run slightly ahead
//   of the wall clock until it catches up).
// - a whole-second stamp ('HHMMSS0000', for RFC 2204 partners whose SFIDTIME has no counter) takes a
//   second after every stamp issued so far, so no two files share an identity on such a link either.
// One allocator per state file per process; allocations are serialised.
import { dirname } from 'node:path';
import { mkdirDurable, readJsonIfExists, writeJsonAtomic } from './durable-fs.ts';
import { badArgument } from './file-errors.ts';

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
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(stateFile: string, state: State | undefined, options: TimestampAllocatorOptions) {
    this.#stateFile = stateFile;
    this.#now = options.now ?? Date.now;
    this.#utc = options.utc ?? false;
    this.#lastSeconds = state ? state.date + state.time.slice(0, 6) : '00000000000000';
    this.#lastCounter = state ? Number(state.time.slice(6)) : 0;
  }

  /** Opens (or creates) the allocator whose last issued stamp is persisted in `stateFile`. */
  static async open(stateFile: string, options: TimestampAllocatorOptions = {}): Promise<TimestampAllocator> {
    await mkdirDurable(dirname(stateFile));
    const state = await readJsonIfExists<State>(stateFile);
    if (state !== undefined && !(/^\d{8}$/.test(state.date) && /^\d{10}$/.test(state.time))) {
      throw badArgument(`timestamp state ${stateFile} is malformed`);
    }
    return new TimestampAllocator(stateFile, state, options);
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
    await writeJsonAtomic(this.#stateFile, { version: 1, ...stamp } satisfies State);
    this.#lastSeconds = seconds;
    this.#lastCounter = counter;
    return stamp;
  }
}
