// Fuzz targets for the protocol codec: what to feed, how to mutate, and which outcomes are acceptable.
// Every parameter of a run (chunking, format, record size) is derived from the input itself, so a
// failing input printed in hex reproduces exactly (scripts/fuzz.ts --replay TARGET HEX).
// Acceptable outcomes: a result that passes the target's invariants, or a typed error (an OftpError
// with a code; the decoders of this file's owner must throw RemoteProtocolError). An invariant broken
// is an InvariantError, which is never acceptable.
import { OftpError, RemoteProtocolError } from '../../src/errors.ts';
import { decodeCommand, encodeCommand } from '../../src/protocol/command-codec.ts';
import type { OdetteCommand, ProtocolLevel, VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { ExchangeBufferDecoder } from '../../src/protocol/exchange-buffer-decoder.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import { encodeSpecialLogicBlock, NAK_CR, SpecialLogicDecoder } from '../../src/protocol/special-logic.ts';
import { encodeStb, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';

export class InvariantError extends Error {}

export interface FuzzTarget {
  name: string;
  /** Valid inputs to start mutating from. */
  seeds: Uint8Array[];
  /** Runs one input; returns normally or throws. */
  run(input: Uint8Array): void;
  /** A thrown error that is an acceptable outcome. */
  accepts(error: unknown): boolean;
}

// ---------------------------------------------------------------------------------------------
// Randomness: a small fast PRNG (xorshift32), seeded explicitly so campaigns can be replayed.

export class Rng {
  #x: number;
  constructor(seed: number) {
    this.#x = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.#x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#x = x >>> 0;
    return this.#x;
  }
  /** 0 <= n < bound */
  below(bound: number): number {
    return bound <= 0 ? 0 : this.next() % bound;
  }
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

/** FNV-1a of the input: seeds the derived parameters of a run. */
export function inputHash(input: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < input.length; i++) h = Math.imul(h ^ input[i]!, 0x01000193);
  return h >>> 0;
}

/** Cuts an input into chunks of 1..n octets (mostly tiny or large), derived from the input. */
export function chunksOf(input: Uint8Array, rng: Rng): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let at = 0;
  while (at < input.length) {
    const n = rng.pick([1, 1, 2, 3, 5, 17, 64, 300, input.length]);
    chunks.push(input.subarray(at, Math.min(input.length, at + n)));
    at += n;
  }
  return chunks;
}

const INTERESTING = [0x00, 0x01, 0x02, 0x0d, 0x0e, 0x10, 0x15, 0x20, 0x30, 0x3f, 0x40, 0x41, 0x44, 0x7f, 0x80, 0x82, 0x8d, 0x8e, 0xbf, 0xc0, 0xff];
const MAX_INPUT = 1 << 16;

/** The next input: random octets, or a seed with one to four mutations stacked. */
export function nextInput(rng: Rng, seeds: Uint8Array[]): Uint8Array {
  if (seeds.length === 0 || rng.chance(0.15)) {
    const n = rng.chance(0.9) ? rng.below(64) : rng.below(4096);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = rng.chance(0.3) ? rng.pick(INTERESTING) : rng.below(256);
    return out;
  }
  let data = Array.from(rng.pick(seeds));
  const rounds = 1 + rng.below(4);
  for (let r = 0; r < rounds; r++) {
    const at = rng.below(data.length + 1);
    switch (rng.below(10)) {
      case 0: // flip a bit
        if (data.length > 0) data[at % data.length]! ^= 1 << rng.below(8);
        break;
      case 1: // an interesting octet
        if (data.length > 0) data[at % data.length] = rng.pick(INTERESTING);
        break;
      case 2: // a random octet
        if (data.length > 0) data[at % data.length] = rng.below(256);
        break;
      case 3: {
        // insert random octets
        const n = 1 + rng.below(16);
        data.splice(at, 0, ...Array.from({ length: n }, () => rng.below(256)));
        break;
      }
      case 4: // delete a range
        data.splice(at, 1 + rng.below(32));
        break;
      case 5: {
        // duplicate a range
        const n = 1 + rng.below(64);
        data.splice(at, 0, ...data.slice(at, at + n));
        break;
      }
      case 6: // truncate
        data = data.slice(0, at);
        break;
      case 7: {
        // splice with another seed
        const other = rng.pick(seeds);
        const from = rng.below(other.length + 1);
        data = [...data.slice(0, at), ...Array.from(other.subarray(from))];
        break;
      }
      case 8: {
        // an interesting 16-bit or 24-bit big-endian number (lengths, counts)
        const value = rng.pick([0, 1, 4, 5, 127, 128, 255, 256, 0x7fff, 0xffff, 99999, 100000, 0xffffff]);
        for (let k = 0; k < 3 && at + k < data.length; k++) data[at + k] = (value >>> (8 * (2 - k))) & 0xff;
        break;
      }
      default: {
        // repeat one octet (runs for compression)
        const n = 1 + rng.below(100);
        data.splice(at, 0, ...new Array<number>(n).fill(data[at] ?? rng.below(256)));
      }
    }
    if (data.length > MAX_INPUT) data.length = MAX_INPUT;
  }
  return Uint8Array.from(data);
}

const isTyped = (e: unknown): boolean =>
  e instanceof OftpError && !(e instanceof InvariantError) && typeof e.code === 'string' && e.code.startsWith('OFTP_ERR_');

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}

// ---------------------------------------------------------------------------------------------
// Seeds

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const SAMPLE_COMMANDS: OdetteCommand[] = [
  { cmd: 'SSRM' },
  {
    cmd: 'SSID', level: 5, identificationCode: 'O0013000000GATEWAY', password: 'SECRET', exchangeBufferSize: 99999,
    sendReceive: 'B', bufferCompression: true, restart: true, specialLogic: false, credit: 999,
    secureAuthentication: true, userData: '',
  },
  {
    cmd: 'SFID', datasetName: 'INVOICES.2024', date: '20240229', time: '1230450001', userData: '',
    destination: 'O0013000000PARTNER', originator: 'O0013000000GATEWAY', format: 'V', maxRecordSize: 512,
    fileSize: 12, originalFileSize: 40, restartPosition: 3, securityLevel: 3, cipherSuite: 1, compression: 1,
    envelope: 1, signedReceipt: true, description: 'Rechnungen für März',
  },
  { cmd: 'SFPA', answerCount: 0 },
  { cmd: 'SFNA', reason: 13, retry: false, reasonText: 'duplicate' },
  { cmd: 'DATA', payload: Uint8Array.of(0x3f, ...new Uint8Array(63).fill(0x41), 0xc5, 0x20) },
  { cmd: 'CDT' },
  { cmd: 'EFID', recordCount: 12, unitCount: 12345 },
  { cmd: 'EFPA', changeDirection: true },
  { cmd: 'EFNA', reason: 10, reasonText: '' },
  { cmd: 'ESID', reason: 0, reasonText: 'bye' },
  { cmd: 'CD' },
  {
    cmd: 'EERP', datasetName: 'INVOICES.2024', date: '20240229', time: '1230450001', userData: '',
    destination: 'O0013000000GATEWAY', originator: 'O0013000000PARTNER', fileHash: new Uint8Array(20).fill(7),
    signature: new Uint8Array(0),
  },
  {
    cmd: 'NERP', datasetName: 'INVOICES.2024', date: '20240229', time: '1230450001', destination: 'O0013000000GATEWAY',
    originator: 'O0013000000PARTNER', creator: 'O0013000000PARTNER', reason: 33, reasonText: 'no', fileHash: new Uint8Array(0),
    signature: new Uint8Array(0),
  },
  { cmd: 'RTR' },
  { cmd: 'SECD' },
  { cmd: 'AUCH', challenge: new Uint8Array(40).fill(9) },
  { cmd: 'AURP', response: new Uint8Array(20).fill(3) },
];
const LEVELS: ProtocolLevel[] = [1, 2, 4, 5];

function commandSeeds(): Uint8Array[] {
  const seeds: Uint8Array[] = [ascii('IODETTE FTP READY \r')];
  for (const level of LEVELS) {
    for (const c of SAMPLE_COMMANDS) {
      try {
        seeds.push(encodeCommand(c, level));
      } catch {
        // not at this level (or the codec refuses the sample): skip
      }
    }
  }
  return seeds;
}

function dataBufferSeeds(): Uint8Array[] {
  const seeds: Uint8Array[] = [];
  const text = ascii('It is an ancient Mariner,\r\nAnd he stoppeth one of three.\r\n          000000000000\r\n');
  for (const [format, bufferCompression] of [['U', false], ['U', true], ['F', true], ['V', false], ['V', true]] as const) {
    const enc = new ExchangeBufferEncoder({ format, exchangeBufferSize: 128, bufferCompression, maxRecordSize: format === 'U' ? 0 : 14 });
    if (format === 'U') enc.write(text);
    else if (format === 'F') enc.write(text, 0, 70);
    else for (let i = 0; i < text.length; i += 14) enc.write(text, i, Math.min(text.length, i + 11), true);
    enc.end();
    const parts: number[] = [format.charCodeAt(0), 14];
    for (let b = enc.pull(); b; b = enc.pull()) parts.push(...b.subarray(1));
    seeds.push(Uint8Array.from(parts));
  }
  return seeds;
}

// ---------------------------------------------------------------------------------------------
// Targets

function stbTarget(commands: Uint8Array[]): FuzzTarget {
  const seeds: Uint8Array[] = [commands.map(encodeStb), [encodeStb(new Uint8Array(99999))]].map((list) => {
    const out = new Uint8Array(list.reduce((n, b) => n + b.length, 0));
    let w = 0;
    for (const b of list) {
      out.set(b, w);
      w += b.length;
    }
    return out;
  });
  for (const c of commands) seeds.push(encodeStb(c));
  return {
    name: 'stb-deframer',
    seeds,
    accepts: isTyped,
    run(input) {
      const rng = new Rng(inputHash(input));
      const max = rng.pick([128, 5000, 99999]);
      const deframer = new StbDeframer({ maxExchangeBufferSize: max });
      for (const chunk of chunksOf(input, rng)) {
        for (const b of deframer.push(chunk)) check(b.length >= 1 && b.length <= max, `buffer of ${b.length} octets (max ${max})`);
      }
    },
  };
}

function commandTarget(seeds: Uint8Array[]): FuzzTarget {
  return {
    name: 'command-codec',
    seeds,
    accepts: isTyped,
    run(input) {
      for (const level of LEVELS) {
        try {
          const cmd = decodeCommand(input, level);
          check(typeof cmd === 'object' && cmd !== null && typeof cmd.cmd === 'string', 'decodeCommand returned no command');
        } catch (e) {
          if (!isTyped(e)) throw e;
        }
      }
    },
  };
}

/** The §7.2 rules written as plainly as possible, to check the fast decoder against. */
class ReferenceDecoder {
  #recordLength = 0;
  #endOfFile = false;
  readonly #format: VirtualFileFormat;
  readonly #max: number;
  readonly #sdeb: number;
  constructor(format: VirtualFileFormat, max: number, sdeb: number) {
    this.#format = format;
    this.#max = max;
    this.#sdeb = sdeb;
  }
  /** Returns data and record ends, or the word 'error'. */
  decode(p: Uint8Array): { data: number[]; ends: number[] } | 'error' {
    if (p.length + 1 > this.#sdeb) return 'error';
    const data: number[] = [];
    const ends: number[] = [];
    let len = this.#recordLength;
    let eof = this.#endOfFile;
    let i = 0;
    while (i < p.length) {
      const h = p[i++]!;
      const count = h & 63;
      if (h & 0x40) {
        if (i >= p.length) return 'error';
        const o = p[i++]!;
        for (let k = 0; k < count; k++) data.push(o);
      } else {
        if (i + count > p.length) return 'error';
        for (let k = 0; k < count; k++) data.push(p[i++]!);
      }
      if (this.#format === 'U' || this.#format === 'T') {
        if (eof && count > 0) return 'error';
        if (h & 0x80) eof = true;
      } else {
        len += count;
        if (this.#max > 0 && len > this.#max) return 'error';
        if (h & 0x80) {
          if (this.#format === 'F' && len !== this.#max) return 'error';
          ends.push(data.length);
          len = 0;
        }
      }
    }
    this.#recordLength = len;
    this.#endOfFile = eof;
    return { data, ends };
  }
}

const FORMATS: VirtualFileFormat[] = ['U', 'T', 'F', 'V'];

function dataBufferTarget(): FuzzTarget {
  return {
    name: 'data-buffer-decoder',
    seeds: dataBufferSeeds(),
    accepts: (e) => e instanceof RemoteProtocolError && e.code === 'OFTP_ERR_DATA_BUFFER',
    run(input) {
      // Octet 0 picks the format, octet 1 the record size; the rest is cut into DATA payloads.
      const format = FORMATS[(input[0] ?? 0) & 3]!;
      let max = input[1] ?? 0;
      if (format === 'F' && max === 0) max = 1;
      const rng = new Rng(inputHash(input));
      const sdeb = rng.pick([128, 300, 99999]);
      const decoder = new ExchangeBufferDecoder({ format, exchangeBufferSize: sdeb, maxRecordSize: max });
      const reference = new ReferenceDecoder(format, max, sdeb);
      for (const payload of chunksOf(input.subarray(2), rng)) {
        const expected = reference.decode(payload);
        let got: { data: number[]; ends: number[] };
        try {
          const r = decoder.decode(payload);
          got = { data: Array.from(r.data), ends: Array.from(r.recordEnds) };
        } catch (e) {
          check(expected === 'error', `decoder threw ${String(e)} but the reference decodes`);
          throw e;
        }
        check(expected !== 'error', 'decoder accepted what the reference rejects');
        check(
          got.data.length === expected.data.length && got.data.every((v, i) => v === expected.data[i]),
          'decoded data differs from the reference',
        );
        check(got.ends.length === expected.ends.length && got.ends.every((v, i) => v === expected.ends[i]), 'record ends differ');
      }
    },
  };
}

/** Round trip: the input as file content through the encoder (parameters from the input) and back. */
function roundTripTarget(seeds: Uint8Array[]): FuzzTarget {
  return {
    name: 'data-buffer-round-trip',
    seeds,
    accepts: () => false,
    run(input) {
      const rng = new Rng(inputHash(input));
      const format = rng.pick(FORMATS);
      const sdeb = rng.pick([128, 129, 200, 1000, 99999]);
      const bufferCompression = rng.chance(0.5);
      let max = format === 'U' || format === 'T' ? 0 : 1 + rng.below(200);
      const records: Uint8Array[] = [];
      if (format === 'F') {
        for (let at = 0; at + max <= input.length; at += max) records.push(input.subarray(at, at + max));
      } else if (format === 'V') {
        let at = 0;
        while (at < input.length) {
          const n = Math.min(rng.below(max + 1), input.length - at);
          records.push(input.subarray(at, at + n));
          at += n;
        }
        if (rng.chance(0.3)) max = 0;
      } else records.push(input);
      const enc = new ExchangeBufferEncoder({ format, exchangeBufferSize: sdeb, bufferCompression, maxRecordSize: max });
      const dec = new ExchangeBufferDecoder({ format, exchangeBufferSize: sdeb, maxRecordSize: max });
      const out: number[] = [];
      const ends: number[] = [];
      const drain = (): void => {
        for (let b = enc.pull(); b; b = enc.pull()) {
          check(b.length <= sdeb && b[0] === 0x44, 'bad DATA buffer');
          const r = dec.decode(b.subarray(1));
          for (const e of r.recordEnds) ends.push(out.length + e);
          out.push(...r.data);
        }
      };
      for (const r of records) {
        for (const c of chunksOf(r, rng)) {
          drain();
          enc.write(c);
        }
        if (format === 'V') {
          drain();
          enc.endRecord();
        }
      }
      drain();
      enc.end();
      drain();
      dec.end();
      const flat = records.flatMap((r) => Array.from(r));
      check(out.length === flat.length && out.every((v, i) => v === flat[i]), 'round trip changed the data');
      if (format === 'F' || format === 'V') {
        let sum = 0;
        const want = records.map((r) => (sum += r.length));
        check(ends.length === want.length && ends.every((v, i) => v === want[i]), 'round trip changed the records');
      }
      check(enc.unitCount === flat.length && dec.unitCount === flat.length, 'unit counts differ');
    },
  };
}

function specialLogicTarget(commands: Uint8Array[]): FuzzTarget {
  const seeds: Uint8Array[] = [NAK_CR];
  const frames = commands.map((c, i) => encodeSpecialLogicBlock(c, i % 10));
  seeds.push(...frames);
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let w = 0;
  for (const f of frames) {
    all.set(f, w);
    w += f.length;
  }
  seeds.push(all);
  return {
    name: 'special-logic-decoder',
    seeds,
    accepts: (e) => e instanceof RemoteProtocolError && e.code === 'OFTP_ERR_SPECIAL_LOGIC',
    run(input) {
      const rng = new Rng(inputHash(input));
      const max = rng.pick([128, 1000, 99999]);
      const decoder = new SpecialLogicDecoder({ maxExchangeBufferSize: max });
      let expected = 0;
      for (const chunk of chunksOf(input, rng)) {
        for (const e of decoder.push(chunk)) {
          if (e.type === 'buffer') {
            check(e.buffer.length >= 1 && e.buffer.length <= max, `buffer of ${e.buffer.length} octets (max ${max})`);
            check(e.sequence === expected, `BSN ${e.sequence}, expected ${expected}`);
            expected = (expected + 1) % 10;
          } else if (e.type === 'bad-block' || e.type === 'violation') {
            check(e.error instanceof RemoteProtocolError && e.error.code === 'OFTP_ERR_SPECIAL_LOGIC', 'untyped block error');
          }
        }
      }
    },
  };
}

/** All targets, in the order campaigns run them. */
export function fuzzTargets(): FuzzTarget[] {
  const commands = commandSeeds();
  return [
    stbTarget(commands),
    commandTarget(commands),
    dataBufferTarget(),
    roundTripTarget(dataBufferSeeds().concat(commands)),
    specialLogicTarget(commands),
  ];
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}
