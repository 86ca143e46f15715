// Record formats of virtual files and their local representation (RFC 5024 §1.5.3, §1.5.4, §5.3.3
// SFIDFMT/SFIDLRECL/SFIDREST, §5.3.8 EFID counts, §6.5 V record lengths). Project decisions:
// - U, T: byte streams; restart position in 1K blocks (offset = position x 1024). T is ASCII text with
//   CR-LF line ends, stored as is.
// - F: fixed records of `maxRecordSize` octets concatenated; restart = record number (offset = n x lrecl).
// - V: each record preceded by its 2-octet big-endian length (the §6.5 form); restart = record number.
// - A signed, compressed or encrypted file travels as U whatever SFIDFMT says (§5.3.3 SFIDFMT note):
//   restart in 1K blocks, EFID record count 0, unit count = octets transmitted.
// EFIDUCNT ("units") counts user data octets: for V the local 2-octet prefixes are not counted.
// The validator below checks a whole file incrementally (chunk by chunk, constant memory); for V it
// walks the prefixes with the protocol's VRecordScanner (src/protocol/v-format.ts).
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { V_LENGTH_PREFIX, V_MAX_RECORD_LENGTH, VRecordScanner } from '../protocol/v-format.ts';
import { badArgument, invalidContent } from './file-errors.ts';

export const BLOCK_SIZE = 1024;
/** §1.5.3: a T line has at most 2048 characters (CR-LF not counted). */
export const MAX_TEXT_LINE = 2048;
/** Largest record the local 2-octet V prefix can describe (the §6.5 limit, from protocol/v-format). */
export const MAX_V_RECORD = V_MAX_RECORD_LENGTH;
/** SFIDLRECL maximum (§5.3.3). */
export const MAX_RECORD_SIZE = 99999;

/** What decides how a file is cut, restarted and counted. */
export interface FormatSpec {
  /** SFIDFMT as announced. */
  format: VirtualFileFormat;
  /** SFIDLRECL; 0 for U and T. */
  maxRecordSize: number;
  /** SFIDSEC, SFIDCOMP, SFIDENV: any non-zero value makes the file travel as U. */
  securityLevel?: number;
  compression?: number;
  envelope?: number;
}

/** The format a file travels in: U when signed, compressed, encrypted or enveloped, else SFIDFMT. */
export function transmissionFormat(
  spec: Pick<FormatSpec, 'format' | 'securityLevel' | 'compression' | 'envelope'>,
): VirtualFileFormat {
  if ((spec.securityLevel ?? 0) !== 0 || (spec.compression ?? 0) !== 0 || (spec.envelope ?? 0) !== 0) {
    return 'U';
  }
  return spec.format;
}

export function isRecordFormat(format: VirtualFileFormat): format is 'F' | 'V' {
  return format === 'F' || format === 'V';
}

/** Octets expressed in 1K blocks, rounded up (SFIDFSIZ / SFIDOSIZ). */
export function blocksFor(octets: number): number {
  return Math.ceil(octets / BLOCK_SIZE);
}

/** Throws (our misuse) unless SFIDLRECL fits the format: F 1..99999, V 0..65535 (0 = unknown), U/T 0. */
export function checkRecordSize(format: VirtualFileFormat, maxRecordSize: number): void {
  if (!Number.isSafeInteger(maxRecordSize) || maxRecordSize < 0 || maxRecordSize > MAX_RECORD_SIZE) {
    throw badArgument(`record size ${maxRecordSize} is not an integer 0..${MAX_RECORD_SIZE}`);
  }
  if (format === 'F' && maxRecordSize === 0) throw badArgument('an F file needs a record size');
  if (format === 'V' && maxRecordSize > MAX_V_RECORD) {
    throw badArgument(`a V record size ${maxRecordSize} does not fit the 2-octet prefix (max ${MAX_V_RECORD})`);
  }
}

/** Totals over a whole file, as EFID reports them. */
export interface ContentSummary {
  /** Local file size in octets (V includes its prefixes). */
  octets: number;
  /** EFIDRCNT: records for F/V, 0 for U/T. */
  records: number;
  /** EFIDUCNT: user data octets (V without prefixes). */
  units: number;
  /** Longest record seen (F/V) or line (T, without CR-LF); 0 for U. */
  longestRecord: number;
}

export interface ContentValidator {
  /** Feeds the next chunk; throws FileRefusedError (SFNA 04) at the first violation, with its offset. */
  update(chunk: Uint8Array): void;
  /** Checks the end of the file and returns its totals. */
  finish(): ContentSummary;
}

/**
 * A validator for a file in its transmission format. `maxRecordSize` 0 for V means "no declared limit"
 * (the longest record is reported); for F it is required.
 */
export function createContentValidator(format: VirtualFileFormat, maxRecordSize: number): ContentValidator {
  switch (format) {
    case 'U':
      return new StreamValidator();
    case 'T':
      return new TextValidator();
    case 'F':
      checkRecordSize('F', maxRecordSize);
      return new FixedValidator(maxRecordSize);
    case 'V':
      checkRecordSize('V', maxRecordSize);
      return new VariableValidator(maxRecordSize === 0 ? MAX_V_RECORD : maxRecordSize);
  }
}

class StreamValidator implements ContentValidator {
  #octets = 0;
  update(chunk: Uint8Array): void {
    this.#octets += chunk.length;
  }
  finish(): ContentSummary {
    return { octets: this.#octets, records: 0, units: this.#octets, longestRecord: 0 };
  }
}

const CR = 0x0d;
const LF = 0x0a;

/** §1.5.3 T: ASCII, no control characters except CR-LF pairs ending lines, lines <= 2048. */
class TextValidator implements ContentValidator {
  #octets = 0;
  #line = 0;
  #longest = 0;
  #afterCr = false;

  update(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      const at = this.#octets + i;
      if (this.#afterCr) {
        if (b !== LF) throw invalidContent(`T file: CR not followed by LF at offset ${at - 1}`);
        this.#afterCr = false;
        this.#line = 0;
        continue;
      }
      if (b === CR) {
        this.#afterCr = true;
        continue;
      }
      if (b === LF) throw invalidContent(`T file: LF without CR at offset ${at}`);
      if (b < 0x20 || b > 0x7e) {
        throw invalidContent(
          `T file: octet 0x${b.toString(16).padStart(2, '0')} at offset ${at} is not printable ASCII`,
        );
      }
      this.#line++;
      if (this.#line > MAX_TEXT_LINE) {
        throw invalidContent(`T file: line longer than ${MAX_TEXT_LINE} characters at offset ${at}`);
      }
      if (this.#line > this.#longest) this.#longest = this.#line;
    }
    this.#octets += chunk.length;
  }

  finish(): ContentSummary {
    if (this.#afterCr) throw invalidContent(`T file: ends with CR without LF`);
    return { octets: this.#octets, records: 0, units: this.#octets, longestRecord: this.#longest };
  }
}

class FixedValidator implements ContentValidator {
  readonly #recordSize: number;
  #octets = 0;
  constructor(recordSize: number) {
    this.#recordSize = recordSize;
  }
  update(chunk: Uint8Array): void {
    this.#octets += chunk.length;
  }
  finish(): ContentSummary {
    if (this.#octets % this.#recordSize !== 0) {
      throw invalidContent(
        `F file: size ${this.#octets} is not a multiple of the record size ${this.#recordSize}`,
      );
    }
    const records = this.#octets / this.#recordSize;
    return {
      octets: this.#octets,
      records,
      units: this.#octets,
      longestRecord: records > 0 ? this.#recordSize : 0,
    };
  }
}

class VariableValidator implements ContentValidator {
  readonly #limit: number;
  readonly #scanner = new VRecordScanner();
  #longest = 0;
  constructor(limit: number) {
    this.#limit = limit;
  }
  update(chunk: Uint8Array): void {
    this.#scanner.push(chunk, (length, offset) => {
      if (length > this.#limit) {
        throw invalidContent(
          `V file: record ${this.#scanner.records + 1} at offset ${offset} is ${length} octets, longer than the record size ${this.#limit}`,
        );
      }
      if (length > this.#longest) this.#longest = length;
      return true;
    });
  }
  finish(): ContentSummary {
    const s = this.#scanner;
    if (!s.atRecordBoundary) {
      throw invalidContent(
        `V file: ${s.octets} octets end inside record ${s.records} (a length prefix announces more data than the file holds)`,
      );
    }
    const units = s.octets - V_LENGTH_PREFIX * s.records;
    return { octets: s.octets, records: s.records, units, longestRecord: this.#longest };
  }
}
