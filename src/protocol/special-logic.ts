// Special logic (RFC 5024 Appendix C.2; SSIDSPEC 'Y'): the extended exchange buffer for asynchronous
// lines (a PAD, a modem). Used for every exchange buffer after the SSID exchange (C.2.1: never for SSRM
// or SSID). One block on the line is
//
//   STX | BSN | complete exchange buffer (CEB) | BCS X | BCS Y | CR
//
// - STX (0x02) starts the block and is protected by a character compare only; CR (0x0d) ends it.
// - BSN, the block sequence number: one ASCII digit '0'..'9', 0 for the first block after SSID, then
//   +1 per block, wrapping after 9 (C.2.6). Each direction counts its own blocks.
// - BCS, the block checksum of ISO 8073 (C.2.7): C0/C1 modulo 255 over BSN, CEB and two zero octets,
//   then X = C0 - C1, Y = C1 - 2*C0. The receiver runs the same sums over BSN, CEB, X and Y and
//   accepts when both are 0 (C.2.8). BSN is inside the sum: the receiver sums every character after
//   STX (C.2.4), and the check could not pass otherwise.
// - Shift-out transparency (C.2.9): every octet between STX and CR whose low 7 bits are below 0x20 goes
//   as SO (0x0e) and the octet + 0x20. The receiver takes SO as 0x0e or 0x8e; STX, CR and NAK are also
//   recognised with the eighth bit set (parity), which is safe because data never carries them raw.
// - A bad block is answered with NAK CR (C.2.5); on NAK CR the sender repeats its last block. A block
//   with the previous BSN is a duplicate and is discarded; any other BSN is a protocol violation.
// Timers T1-T3 belong to the transport: on T2 expiry call resynchronise() and send NAK CR.
import { FramingError, LocalUsageError } from '../errors.ts';
import { EsidReason } from './reason-codes.ts';

export const STX = 0x02;
export const CR = 0x0d;
export const SO = 0x0e;
export const NAK = 0x15;
/** What a receiver sends for a bad block, and what makes a sender repeat its last one. */
export const NAK_CR: Uint8Array = Uint8Array.of(NAK, CR);
/** Escaped octets are sent as octet + ESCAPE_OFFSET after an SO. */
const ESCAPE_OFFSET = 0x20;
const DIGIT_ZERO = 0x30;

function needsEscape(octet: number): boolean {
  return (octet & 0x7f) < 0x20;
}

/** The two checksum octets X, Y (each 0..254) for a block whose BSN and CEB are given. */
export function blockChecksum(sequenceDigit: number, ceb: Uint8Array): [number, number] {
  let c0 = sequenceDigit % 255;
  let c1 = c0;
  for (let i = 0; i < ceb.length; i++) {
    c0 += ceb[i]!;
    if (c0 >= 255) c0 -= 255;
    c1 += c0;
    if (c1 >= 255) c1 -= 255;
  }
  // Two zero octets: C0 unchanged, C1 gains 2*C0.
  c1 = (c1 + 2 * c0) % 255;
  const x = (((c0 - c1) % 255) + 255) % 255;
  const y = (((c1 - 2 * c0) % 255) + 510) % 255;
  return [x, y];
}

/** Frames one complete exchange buffer as a special-logic block with the given BSN (0..9). */
export function encodeSpecialLogicBlock(ceb: Uint8Array, sequence: number): Uint8Array {
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > 9) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `block sequence number ${sequence} outside 0..9`);
  }
  if (ceb.length === 0) throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', 'empty exchange buffer');
  const digit = DIGIT_ZERO + sequence;
  const [x, y] = blockChecksum(digit, ceb);
  let escapes = (needsEscape(x) ? 1 : 0) + (needsEscape(y) ? 1 : 0);
  for (let i = 0; i < ceb.length; i++) if (needsEscape(ceb[i]!)) escapes++;
  const out = new Uint8Array(ceb.length + escapes + 5);
  out[0] = STX;
  out[1] = digit;
  let w = 2;
  const put = (octet: number): void => {
    if (needsEscape(octet)) {
      out[w++] = SO;
      out[w++] = octet + ESCAPE_OFFSET;
    } else {
      out[w++] = octet;
    }
  };
  for (let i = 0; i < ceb.length; i++) put(ceb[i]!);
  put(x);
  put(y);
  out[w] = CR;
  return out;
}

/** Sender side: numbers the blocks. Keep the last frame to repeat it on NAK CR or T1 expiry. */
export class SpecialLogicEncoder {
  #sequence = 0;

  /** The BSN the next block will carry. */
  get nextSequence(): number {
    return this.#sequence;
  }

  /** Frames the next exchange buffer and advances the BSN. */
  encode(ceb: Uint8Array): Uint8Array {
    const frame = encodeSpecialLogicBlock(ceb, this.#sequence);
    this.#sequence = (this.#sequence + 1) % 10;
    return frame;
  }

  /** Back to BSN 0 (a new session). */
  reset(): void {
    this.#sequence = 0;
  }
}

export type SpecialLogicEvent =
  /** A good block with the expected BSN: hand `buffer` (the CEB) to the command decoder. */
  | { type: 'buffer'; buffer: Uint8Array; sequence: number }
  /** A good block repeating the previous BSN: discarded (C.2.5.3 (5)). */
  | { type: 'duplicate'; sequence: number }
  /** The peer sent NAK CR: repeat the last block. */
  | { type: 'nak' }
  /** A bad block (checksum, escape, length, BSN not a digit, interrupted): send NAK CR. */
  | { type: 'bad-block'; error: FramingError }
  /** An out-of-sequence BSN: a protocol violation, end the session (ESID 02). Nothing more is accepted. */
  | { type: 'violation'; error: FramingError };

export interface SpecialLogicDecoderOptions {
  /** The negotiated (or, before SSID, the largest acceptable) exchange buffer size. */
  maxExchangeBufferSize: number;
}

const HUNTING = 0;
const IN_BLOCK = 1;
const ESCAPED = 2;

/**
 * Receiver side: takes line octets in chunks of any size (down to one) and returns what they completed.
 * Memory is bounded by the largest exchange buffer; a longer block is discarded as bad.
 */
export class SpecialLogicDecoder {
  readonly #max: number;
  readonly #block: Uint8Array;
  #length = 0;
  #state = HUNTING;
  /** Why the block being received is already known to be bad, or '' if it is not. */
  #corrupt = '';
  /** Previous octet seen while hunting was NAK. */
  #afterNak = false;
  #expected = 0;
  #lastDelivered = -1;
  #failed: FramingError | undefined;

  constructor(options: SpecialLogicDecoderOptions) {
    this.#max = options.maxExchangeBufferSize;
    // BSN + CEB + X + Y
    this.#block = new Uint8Array(this.#max + 3);
  }

  /** Between an STX and its CR: timer T2 runs while this is true. */
  get synchronised(): boolean {
    return this.#state !== HUNTING;
  }

  /** The BSN expected next. */
  get expectedSequence(): number {
    return this.#expected;
  }

  /** T2 expired: drop the partial block and hunt for the next STX. The caller sends NAK CR. */
  resynchronise(): void {
    this.#state = HUNTING;
    this.#length = 0;
    this.#corrupt = '';
    this.#afterNak = false;
  }

  /** Back to BSN 0 and hunting (a new session). */
  reset(): void {
    this.resynchronise();
    this.#expected = 0;
    this.#lastDelivered = -1;
    this.#failed = undefined;
  }

  /** Feeds line octets. Throws the violation again if one was already reported. */
  push(chunk: Uint8Array): SpecialLogicEvent[] {
    if (this.#failed) throw this.#failed;
    const events: SpecialLogicEvent[] = [];
    const block = this.#block;
    const limit = block.length;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      const low = c & 0x7f;
      if (this.#state === HUNTING) {
        if (low === STX) {
          this.#startBlock();
        } else {
          // Everything outside a block is ignored except NAK CR (C.2.5.3 (1)).
          if (low === CR && this.#afterNak) events.push({ type: 'nak' });
          this.#afterNak = low === NAK;
        }
        continue;
      }
      if (low === CR) {
        if (this.#state === ESCAPED && this.#corrupt === '') this.#corrupt = 'SO followed by CR';
        const event = this.#finishBlock();
        this.#state = HUNTING;
        this.#afterNak = false;
        if (event) {
          events.push(event);
          if (event.type === 'violation') {
            this.#failed = event.error;
            return events;
          }
        }
        continue;
      }
      if (low === STX) {
        // A new block before the CR of the current one: the current one is lost.
        events.push(this.#badBlock('block interrupted by STX before its CR'));
        this.#startBlock();
        continue;
      }
      let octet: number;
      if (this.#state === ESCAPED) {
        this.#state = IN_BLOCK;
        if (low < 0x20 || low > 0x3f) {
          if (this.#corrupt === '') this.#corrupt = `SO followed by 0x${c.toString(16).padStart(2, '0')}`;
          continue;
        }
        octet = c - ESCAPE_OFFSET;
      } else if (low === SO) {
        this.#state = ESCAPED;
        continue;
      } else if (low < 0x20) {
        if (this.#corrupt === '') this.#corrupt = `unescaped control octet 0x${c.toString(16).padStart(2, '0')}`;
        continue;
      } else {
        octet = c;
      }
      if (this.#corrupt !== '') continue;
      if (this.#length === limit) {
        this.#corrupt = `block longer than the exchange buffer size ${this.#max} allows`;
        continue;
      }
      block[this.#length++] = octet;
    }
    return events;
  }

  #startBlock(): void {
    this.#state = IN_BLOCK;
    this.#length = 0;
    this.#corrupt = '';
    this.#afterNak = false;
  }

  #finishBlock(): SpecialLogicEvent | undefined {
    if (this.#corrupt !== '') return this.#badBlock(this.#corrupt);
    const block = this.#block;
    const length = this.#length;
    if (length < 4) return this.#badBlock(`block of ${length} octets is too short for BSN, data and checksum`);
    let c0 = 0;
    let c1 = 0;
    for (let i = 0; i < length; i++) {
      c0 += block[i]!;
      if (c0 >= 255) c0 -= 255;
      c1 += c0;
      if (c1 >= 255) c1 -= 255;
    }
    if (c0 !== 0 || c1 !== 0) return this.#badBlock('block checksum does not verify');
    const sequence = block[0]! - DIGIT_ZERO;
    if (sequence < 0 || sequence > 9) return this.#badBlock(`block sequence number 0x${block[0]!.toString(16)} is not a digit`);
    if (sequence === this.#expected) {
      this.#expected = (sequence + 1) % 10;
      this.#lastDelivered = sequence;
      return { type: 'buffer', buffer: block.slice(1, length - 2), sequence };
    }
    if (sequence === this.#lastDelivered) return { type: 'duplicate', sequence };
    return {
      type: 'violation',
      error: new FramingError(
        'OFTP_ERR_SPECIAL_LOGIC',
        `block sequence number ${sequence} out of sequence (expected ${this.#expected})`,
        EsidReason.protocolViolation,
      ),
    };
  }

  #badBlock(message: string): SpecialLogicEvent {
    return { type: 'bad-block', error: new FramingError('OFTP_ERR_SPECIAL_LOGIC', message, EsidReason.invalidData) };
  }
}
