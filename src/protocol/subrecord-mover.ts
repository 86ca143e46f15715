// Moves data in and out of Data Exchange Buffer subrecords (RFC 5024 §7.2) in WebAssembly.
//
// A DATA buffer is a run of subrecords: a header octet (count, End of Record and compression flags)
// and at most 63 octets. Taking the headers out (receiving) or putting them in (sending) in
// JavaScript costs one copyWithin per subrecord: about 0.3 s of CPU per GiB on each side, which is
// most of the session's own work beside TLS. Here the loop runs in a small WebAssembly module,
// written out below instruction by instruction, that moves a full subrecord with four 16-octet SIMD
// loads and stores: about 0.05 s per GiB, the copy in and out of its memory included.
//
// The module checks nothing: the decoder has walked the headers and refused a bad buffer before
// unpack() runs, and anything out of place would only trap (a RangeError-like RuntimeError) on the
// module's own bounds-checked memory. One instance serves the process; every call copies in, moves
// and copies out synchronously, so sessions never see each other's data.
// Where WebAssembly SIMD is missing (e.g. node --jitless), `subrecordMover` is undefined and the
// encoder and decoder keep their JavaScript loops.
import { COMPRESSION_FLAG, MAX_SUBRECORD_COUNT, SUBRECORD_COUNT_MASK } from './exchange-buffer-format.ts';

export interface SubrecordMover {
  /**
   * The data of the subrecords in `payload` (headers already checked), compressed ones expanded,
   * written to out[offset, offset + decodedLength).
   */
  unpack(payload: Uint8Array, out: Uint8Array, offset: number, decodedLength: number): void;
  /**
   * src[start, start + n) (n > 0) as subrecords of 63 octets, the last one 1..63, no flags, written
   * to buf from pos; returns the position after the last subrecord.
   */
  pack(src: Uint8Array, start: number, n: number, buf: Uint8Array, pos: number): number;
}

/** Where the input goes in the module's memory, and where the output starts (after the largest input, 99999, and slack). */
const INPUT = 0;
const OUTPUT = 128 * 1024;
/** 64 pages of 64 KiB: output up to 31.5 times the largest buffer (all compressed subrecords) fits. */
const PAGES = 64;

// --- A few WebAssembly encodings (WebAssembly Core Specification §5) ---
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
/** i32.const n, for 0 <= n < 8192 (signed LEB128: bit 6 of the last octet is the sign). */
const i32 = (n: number): number[] => (n < 64 ? [0x41, n] : [0x41, (n & 0x7f) | 0x80, n >> 7]);
const get = (i: number): number[] => [0x20, i];
const set = (i: number): number[] => [0x21, i];
const tee = (i: number): number[] => [0x22, i];
const ADD = 0x6a;
const SUB = 0x6b;
const AND = 0x71;
const EQ = 0x46;
const LT_U = 0x49;
const GE_U = 0x4f;
const load8 = (offset: number): number[] => [0x2d, 0, ...uleb(offset)];
const store8 = [0x3a, 0, 0];
const v128load = (offset: number): number[] => [0xfd, 0x00, 0, ...uleb(offset)];
const v128store = (offset: number): number[] => [0xfd, 0x0b, 0, ...uleb(offset)];
const MEMORY_COPY = [0xfc, 0x0a, 0, 0];
const MEMORY_FILL = [0xfc, 0x0b, 0];
const BLOCK = [0x02, 0x40];
const LOOP = [0x03, 0x40];
const IF = [0x04, 0x40];
const ELSE = 0x05;
const END = 0x0b;
const br = (depth: number): number[] => [0x0c, depth];
const brIf = (depth: number): number[] => [0x0d, depth];

/** 64 octets from (local from + fromOffset) to (local to + toOffset): 63 wanted, one spare written. */
const copy64 = (to: number, toOffset: number, from: number, fromOffset: number): number[] =>
  [0, 16, 32, 48].flatMap((k) => [...get(to), ...get(from), ...v128load(fromOffset + k), ...v128store(toOffset + k)]);

/**
 * unpack(src, len, dst) -> octets written. Locals: 0 src, 1 len, 2 dst, 3 end, 4 header, 5 count, 6 w.
 * A full literal subrecord moves as 64 octets (the spare one is overwritten next, or lies beyond the
 * result); others with memory.copy, compressed ones with memory.fill.
 */
const unpackBody = [
  ...get(0), ...get(1), ADD, ...set(3),
  ...get(2), ...set(6),
  ...BLOCK, ...LOOP,
  ...get(0), ...get(3), GE_U, ...brIf(1),
  ...get(0), ...load8(0), ...tee(4), ...i32(SUBRECORD_COUNT_MASK), AND, ...set(5),
  ...get(4), ...i32(COMPRESSION_FLAG), AND, ...IF,
  ...get(6), ...get(0), ...load8(1), ...get(5), ...MEMORY_FILL,
  ...get(0), ...i32(2), ADD, ...set(0),
  ELSE,
  ...get(5), ...i32(MAX_SUBRECORD_COUNT), EQ, ...IF,
  ...copy64(6, 0, 0, 1),
  ELSE,
  ...get(6), ...get(0), ...i32(1), ADD, ...get(5), ...MEMORY_COPY,
  END,
  ...get(0), ...get(5), ADD, ...i32(1), ADD, ...set(0),
  END,
  ...get(6), ...get(5), ADD, ...set(6),
  ...br(0),
  END, END,
  ...get(6), ...get(2), SUB,
  END,
];

/**
 * pack(src, n, dst) -> octets written. Locals: 0 src, 1 n (octets left), 2 dst, 3 w. Full subrecords
 * while more than 63 octets are left (each data copy spills one octet onto the next header, which is
 * written after it), then the last one with memory.copy.
 */
const packBody = [
  ...get(2), ...set(3),
  ...BLOCK, ...LOOP,
  ...get(1), ...i32(MAX_SUBRECORD_COUNT + 1), LT_U, ...brIf(1),
  ...get(3), ...i32(MAX_SUBRECORD_COUNT), ...store8,
  ...copy64(3, 1, 0, 0),
  ...get(0), ...i32(MAX_SUBRECORD_COUNT), ADD, ...set(0),
  ...get(3), ...i32(MAX_SUBRECORD_COUNT + 1), ADD, ...set(3),
  ...get(1), ...i32(MAX_SUBRECORD_COUNT), SUB, ...set(1),
  ...br(0),
  END, END,
  ...get(3), ...get(1), ...store8,
  ...get(3), ...i32(1), ADD, ...get(0), ...get(1), ...MEMORY_COPY,
  ...get(3), ...i32(1), ADD, ...get(1), ADD, ...get(2), SUB,
  END,
];

const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const vector = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (text: string): number[] => [...uleb(text.length), ...Buffer.from(text, 'ascii')];
const I32 = 0x7f;
const functionCode = (locals: number, body: number[]): number[] => {
  const code = [...vector(locals > 0 ? [[locals, I32]] : []), ...body];
  return [...uleb(code.length), ...code];
};

/** The module: memory 0 exported as "memory", unpack (function 0) and pack (function 1), both (i32 i32 i32) -> i32. */
export function subrecordModuleBytes(): Uint8Array {
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector([[0x60, 3, I32, I32, I32, 1, I32]])),
    ...section(3, vector([[0], [0]])),
    ...section(5, vector([[0x00, PAGES]])),
    ...section(7, vector([[...name('memory'), 0x02, 0], [...name('unpack'), 0x00, 0], [...name('pack'), 0x00, 1]])),
    ...section(10, vector([functionCode(4, unpackBody), functionCode(1, packBody)])),
  ]);
}

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

function instantiate(): SubrecordMover | undefined {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  let exports: Record<string, unknown>;
  try {
    if (api === undefined) return undefined;
    exports = new api.Instance(new api.Module(subrecordModuleBytes()), {}).exports;
  } catch {
    return undefined;
  }
  const memory = new Uint8Array((exports.memory as { buffer: ArrayBuffer }).buffer);
  const unpack = exports.unpack as (src: number, len: number, dst: number) => number;
  const pack = exports.pack as (src: number, n: number, dst: number) => number;
  return {
    unpack(payload, out, offset, decodedLength) {
      memory.set(payload, INPUT);
      unpack(INPUT, payload.length, OUTPUT);
      out.set(memory.subarray(OUTPUT, OUTPUT + decodedLength), offset);
    },
    pack(src, start, n, buf, pos) {
      memory.set(src.subarray(start, start + n), INPUT);
      const written = pack(INPUT, n, OUTPUT);
      buf.set(memory.subarray(OUTPUT, OUTPUT + written), pos);
      return pos + written;
    },
  };
}

/** The process's mover, or undefined where WebAssembly SIMD is not available. */
export const subrecordMover: SubrecordMover | undefined = instantiate();
