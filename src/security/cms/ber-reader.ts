// Streaming BER input: walks a CMS message as it arrives from an async iterable of chunks, without
// holding it. Headers are read octet by octet; OCTET STRING content (primitive or constructed, any
// nesting, definite or indefinite) is handed on as sub-arrays of the incoming chunks; only the small
// elements a caller asks for whole (an AlgorithmIdentifier, the SignerInfos) are buffered, each up to
// a limit. So memory is one incoming chunk plus those small elements, whatever the message size.
//
// Errors of the message (truncation, bad lengths, wrong tags) are raised through the layer's `fail`
// (a CmsError of that layer); errors of the source are passed through unchanged.

import { concat } from './der.ts';
import type { Fail } from './errors.ts';

export interface Header {
  /** 0 universal, 1 application, 2 context-specific, 3 private. */
  tagClass: number;
  constructed: boolean;
  tagNumber: number;
  /** The identifier octet for tag numbers below 31 (all CMS uses), else -1. */
  tag: number;
  /** Definite length, or undefined for the indefinite form. */
  length: number | undefined;
  /** Stream offset of the identifier octet. */
  start: number;
  /** Stream offset just after the value (definite length only). */
  end: number | undefined;
  /** Identifier and length octets as read. */
  raw: Uint8Array;
}

/** Limits against hostile input. */
export interface ReaderLimits {
  /** Largest element read whole (SignerInfos, certificates, RecipientInfos): 1 MiB by default. */
  maxElement: number;
  /** Deepest nesting of constructed OCTET STRING segments and of elements read whole. */
  maxDepth: number;
}

const DEFAULT_LIMITS: ReaderLimits = { maxElement: 1 << 20, maxDepth: 16 };
const EMPTY = new Uint8Array(0);

export class BerReader {
  /** Octets consumed so far. */
  position = 0;
  readonly fail: Fail;
  readonly limits: ReaderLimits;
  private readonly iterator: AsyncIterator<Uint8Array>;
  private chunk: Uint8Array = EMPTY;
  private at = 0;
  private exhausted = false;

  constructor(source: AsyncIterable<Uint8Array>, fail: Fail, limits: Partial<ReaderLimits> = {}) {
    this.iterator = source[Symbol.asyncIterator]();
    this.fail = fail;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True when an unread octet is available (pulls the next non-empty chunk if needed). */
  private async more(): Promise<boolean> {
    while (this.at >= this.chunk.length) {
      if (this.exhausted) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.exhausted = true;
        this.chunk = EMPTY;
        this.at = 0;
        return false;
      }
      this.chunk = next.value;
      this.at = 0;
    }
    return true;
  }

  private async byte(what: string): Promise<number> {
    if (!(await this.more())) this.fail(`truncated at offset ${this.position} (${what})`);
    this.position++;
    return this.chunk[this.at++]!;
  }

  /** The next octet without consuming it, or undefined at the end of the input. */
  async peek(): Promise<number | undefined> {
    return (await this.more()) ? this.chunk[this.at] : undefined;
  }

  /** Reads identifier and length octets. */
  async header(what: string): Promise<Header> {
    const start = this.position;
    const octets: number[] = [];
    const first = await this.byte(what);
    octets.push(first);
    let tagNumber = first & 0x1f;
    if (tagNumber === 0x1f) {
      tagNumber = 0;
      for (let i = 0; ; i++) {
        const b = await this.byte(what);
        octets.push(b);
        if (i === 3) this.fail(`tag number too large at offset ${start} (${what})`);
        tagNumber = tagNumber * 128 + (b & 0x7f);
        if ((b & 0x80) === 0) break;
      }
    }
    const constructed = (first & 0x20) !== 0;
    const l0 = await this.byte(what);
    octets.push(l0);
    let length: number | undefined;
    if (l0 < 0x80) length = l0;
    else if (l0 === 0x80) {
      if (!constructed) this.fail(`indefinite length of a primitive element at offset ${start} (${what})`);
    } else {
      const n = l0 & 0x7f;
      if (n > 6) this.fail(`length of ${n} octets at offset ${start} (${what})`);
      length = 0;
      for (let i = 0; i < n; i++) {
        const b = await this.byte(what);
        octets.push(b);
        length = length * 256 + b;
      }
    }
    return {
      tagClass: first >>> 6,
      constructed,
      tagNumber,
      tag: (first & 0x1f) === 0x1f ? -1 : first,
      length,
      start,
      end: length === undefined ? undefined : this.position + length,
      raw: Uint8Array.from(octets),
    };
  }

  /** Reads a header and checks its identifier octet (`0x30` SEQUENCE, `0xa0` [0] constructed, ...). */
  async expect(tag: number, what: string): Promise<Header> {
    const h = await this.header(what);
    if (h.tag !== tag) {
      this.fail(`expected ${what} (tag 0x${hex(tag)}) at offset ${h.start}, found tag 0x${hex(h.raw[0]!)}`);
    }
    return h;
  }

  /** True when the constructed element `h` has no more contents (its EOC is next, or its end is reached). */
  async atEnd(h: Header): Promise<boolean> {
    if (h.end !== undefined) return this.position >= h.end;
    return (await this.peek()) === 0;
  }

  /** Consumes the end of the constructed element `h`: its EOC, or checks that its length is used up exactly. */
  async close(h: Header, what: string): Promise<void> {
    if (h.end !== undefined) {
      if (this.position !== h.end) this.fail(`${what} does not end at offset ${h.end} (at ${this.position})`);
      return;
    }
    const eoc = await this.header(`end of ${what}`);
    if (eoc.raw[0] !== 0 || eoc.length !== 0) {
      this.fail(`expected the end of ${what} at offset ${eoc.start}, found tag 0x${hex(eoc.raw[0]!)}`);
    }
  }

  /** Checks that the input ends here. */
  async finish(what: string): Promise<void> {
    if (await this.more()) this.fail(`octets after the end of ${what} at offset ${this.position}`);
  }

  /** Streams `length` octets as sub-arrays of the incoming chunks. */
  async *bytes(length: number, what: string): AsyncGenerator<Uint8Array> {
    let left = length;
    while (left > 0) {
      if (!(await this.more())) this.fail(`truncated at offset ${this.position} (${what})`);
      const take = Math.min(this.chunk.length - this.at, left);
      const piece = this.chunk.subarray(this.at, this.at + take);
      this.at += take;
      this.position += take;
      left -= take;
      yield piece;
    }
  }

  /** Reads `length` octets into one array (for small values: bounded by maxElement). */
  async readBytes(length: number, what: string): Promise<Uint8Array> {
    if (length > this.limits.maxElement) this.fail(`${what} of ${length} octets is over the limit`);
    const out = new Uint8Array(length);
    let at = 0;
    for await (const piece of this.bytes(length, what)) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  /** Reads one whole element (header already read or not), returning its raw octets. */
  async element(what: string, header?: Header, depth = 0): Promise<Uint8Array> {
    const h = header ?? (await this.header(what));
    if (h.length !== undefined) {
      if (h.length > this.limits.maxElement) this.fail(`${what} of ${h.length} octets is over the limit`);
      return concat([h.raw, await this.readBytes(h.length, what)]);
    }
    if (depth >= this.limits.maxDepth) this.fail(`${what} is nested too deeply`);
    const parts: Uint8Array[] = [h.raw];
    let size = h.raw.length;
    for (;;) {
      const child = await this.header(what);
      if (child.raw[0] === 0 && child.length === 0) {
        parts.push(child.raw);
        break;
      }
      const bytes = await this.element(what, child, depth + 1);
      size += bytes.length;
      if (size > this.limits.maxElement) this.fail(`${what} is over the limit of ${this.limits.maxElement} octets`);
      parts.push(bytes);
    }
    return concat(parts);
  }

  /**
   * Streams the value of an OCTET STRING (or of an IMPLICIT-tagged one) whose header `h` was read:
   * primitive, or constructed of OCTET STRING segments, definite or indefinite, nested.
   */
  async *octets(h: Header, what: string, depth = 0): AsyncGenerator<Uint8Array> {
    if (!h.constructed) {
      yield* this.bytes(h.length!, what);
      return;
    }
    if (depth >= this.limits.maxDepth) this.fail(`${what} segments are nested too deeply`);
    for (;;) {
      if (h.end !== undefined) {
        if (this.position === h.end) return;
        if (this.position > h.end) this.fail(`${what} segment overruns its enclosing length`);
      }
      const segment = await this.header(what);
      if (h.end === undefined && segment.raw[0] === 0 && segment.length === 0) return;
      if (segment.tagClass !== 0 || segment.tagNumber !== 4) {
        this.fail(`${what}: expected an OCTET STRING segment at offset ${segment.start}`);
      }
      yield* this.octets(segment, what, depth + 1);
    }
  }

  /** Lets the source go (on an early end or an error). */
  async release(): Promise<void> {
    if (!this.exhausted) {
      this.exhausted = true;
      await this.iterator.return?.();
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
