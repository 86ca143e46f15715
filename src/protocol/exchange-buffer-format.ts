// Data Exchange Buffer layout (RFC 5024 §7.2) shared by the encoder and the decoder, and the mapping
// from a virtual file's SFIDFMT to the structure the codec transmits (§5.3.3, §6.5, project decisions).
//
//   'D' | HDR | subrecord | HDR | subrecord | ...
//   HDR bit 0 (0x80) End of Record, bit 1 (0x40) Compression, bits 2-7 (0x3f) count 0..63.
//   Uncompressed: count octets follow. Compressed: one octet follows, to be repeated count times.
import { LocalUsageError } from '../errors.ts';
import type { VirtualFileFormat } from './command-types.ts';

/** The DATA command octet, 'D'. */
export const DATA_COMMAND = 0x44;
/** Subrecord header flag: the next subrecord is the last of its record (end of file for U/T). */
export const END_OF_RECORD_FLAG = 0x80;
/** Subrecord header flag: the next subrecord is one octet to be repeated `count` times. */
export const COMPRESSION_FLAG = 0x40;
/** Subrecord header bits 2-7. */
export const SUBRECORD_COUNT_MASK = 0x3f;
/** Largest count a subrecord header can carry. */
export const MAX_SUBRECORD_COUNT = 63;
/**
 * Shortest run of one octet that the encoder sends as a compressed subrecord (2 octets on the wire).
 * A run of 3 inside literal data costs 2 + 1 (the literal is split and needs one more header) = 3 octets,
 * the same as sending it literally; next to a record edge, a literal's 63-octet boundary or another run it
 * saves one. It never costs more, so 3 is the byte-optimal greedy threshold; a run of 2 would cost more.
 */
export const MIN_COMPRESSED_RUN = 3;
/** SSIDSDEB bounds (§5.3.2); the size includes the command octet. */
export const MIN_EXCHANGE_BUFFER_SIZE = 128;
export const MAX_EXCHANGE_BUFFER_SIZE = 99999;
/** SFIDLRECL upper bound (§5.3.3). */
export const MAX_RECORD_SIZE = 99999;
/** Restart granularity for U and T files (§1.5.4): 1K blocks. */
export const RESTART_BLOCK_SIZE = 1024;

/**
 * How the codec structures a file on the wire (internal; callers speak SFIDFMT):
 * - 'stream' (U, T): one record for the whole file; the End of Record flag on its last subrecord marks
 *   the end of file (§7.2); restart in 1K blocks. T is ASCII text with CR-LF line ends (§1.5.3) and is
 *   sent exactly as U.
 * - 'fixed' (F): records of exactly maxRecordSize octets, each ended by the flag; restart by record.
 * - 'variable' (V): records of 0..maxRecordSize octets, each ended by the flag; restart by record.
 */
export type RecordStructure = 'stream' | 'fixed' | 'variable';

export function structureOf(format: VirtualFileFormat): RecordStructure {
  switch (format) {
    case 'F':
      return 'fixed';
    case 'V':
      return 'variable';
    case 'U':
    case 'T':
      return 'stream';
    default:
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `unknown virtual file format ${String(format)}`);
  }
}

export interface TransmissionFile {
  /** SFIDFMT */
  format: VirtualFileFormat;
  /** SFIDSEC: 0 none, 1 encrypted, 2 signed, 3 both */
  securityLevel?: number;
  /** SFIDCOMP: 0 none, 1 zlib */
  compression?: number;
  /** SFIDENV: 0 none, 1 CMS */
  envelope?: number;
}

/**
 * The format to give the codec for a file. A file that is signed, compressed or encrypted (or otherwise
 * enveloped) has lost its records and is transmitted as U whatever its SFIDFMT says (§5.3.3, §6.5).
 */
export function transmittedFormat(file: TransmissionFile): VirtualFileFormat {
  if ((file.securityLevel ?? 0) !== 0 || (file.compression ?? 0) !== 0 || (file.envelope ?? 0) !== 0) {
    return 'U';
  }
  return file.format;
}

/** Checks an exchange buffer size and returns it; our own configuration, so a LocalUsageError. */
export function checkExchangeBufferSize(size: number): number {
  if (!Number.isInteger(size) || size < MIN_EXCHANGE_BUFFER_SIZE || size > MAX_EXCHANGE_BUFFER_SIZE) {
    throw new LocalUsageError(
      'OFTP_ERR_INVALID_ARGUMENT',
      `exchange buffer size ${size} outside ${MIN_EXCHANGE_BUFFER_SIZE}..${MAX_EXCHANGE_BUFFER_SIZE}`,
    );
  }
  return size;
}

/** Checks the maximum record size for a structure: 1..99999 for fixed; 0..99999 for variable (0: no limit). */
export function checkMaxRecordSize(structure: RecordStructure, size: number | undefined): number {
  if (structure === 'stream') return 0;
  const value = size ?? 0;
  const min = structure === 'fixed' ? 1 : 0;
  if (!Number.isInteger(value) || value < min || value > MAX_RECORD_SIZE) {
    throw new LocalUsageError(
      'OFTP_ERR_INVALID_ARGUMENT',
      `maximum record size ${value} outside ${min}..${MAX_RECORD_SIZE} for ${structure} records`,
    );
  }
  return value;
}

/**
 * The restart position (SFIDREST) that a count of transmitted user data stands for: completed records
 * for fixed and variable files, whole 1K blocks for streams.
 */
export function restartPositionOf(format: VirtualFileFormat, unitCount: number, recordCount: number): number {
  return structureOf(format) === 'stream' ? Math.floor(unitCount / RESTART_BLOCK_SIZE) : recordCount;
}
