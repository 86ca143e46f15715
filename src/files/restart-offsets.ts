// Restart positions to local file offsets (RFC 5024 §1.5.4, §5.3.3 SFIDREST, §5.3.4 SFPAACNT).
// U/T: 1K blocks; F: records of lrecl octets; V: records, found by walking the 2-octet prefixes from
// the start of the file (64 KiB reads, constant memory).
import type { FileHandle } from 'node:fs/promises';
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { V_LENGTH_PREFIX, VRecordScanner } from '../protocol/v-format.ts';
import { badArgument, ioError } from './file-errors.ts';
import { BLOCK_SIZE } from './record-formats.ts';

/** Where a restart position lands in a local file, with the EFID totals of everything before it. */
export interface RestartPoint {
  /** Restart position in the format's unit (1K blocks or records). */
  position: number;
  /** Local file offset. */
  offset: number;
  /** Records before the offset (F/V), 0 for U/T. */
  records: number;
  /** User data octets before the offset (V without prefixes). */
  units: number;
}

const SCAN_CHUNK = 64 * 1024;

/**
 * Resolves `position` in a local file of `size` octets in transmission format `format`.
 * Throws (our misuse: the engine must not accept a position beyond what exists) when the position
 * lies past the end of the file. `path` only names the file in errors.
 */
export async function resolveRestartPoint(
  fh: FileHandle,
  path: string,
  size: number,
  format: VirtualFileFormat,
  maxRecordSize: number,
  position: number,
): Promise<RestartPoint> {
  if (!Number.isSafeInteger(position) || position < 0) {
    throw badArgument(`restart position ${position} is not a non-negative integer`);
  }
  const beyond = () =>
    badArgument(`restart position ${position} (${format}) lies beyond the end of ${path} (${size} octets)`);
  switch (format) {
    case 'U':
    case 'T': {
      const offset = position * BLOCK_SIZE;
      if (offset > size) throw beyond();
      return { position, offset, records: 0, units: offset };
    }
    case 'F': {
      const offset = position * maxRecordSize;
      if (offset > size) throw beyond();
      return { position, offset, records: position, units: offset };
    }
    case 'V': {
      const offset = await vRecordOffset(fh, path, size, position);
      if (offset === undefined) throw beyond();
      return { position, offset, records: position, units: offset - V_LENGTH_PREFIX * position };
    }
  }
}

/**
 * Offset where V record `n` (0-based) starts, i.e. the octets taken by records 0..n-1; `n` equal to the
 * number of records gives the end of the last whole record. Undefined when the file holds fewer than n
 * whole records within `size` octets.
 */
export async function vRecordOffset(
  fh: FileHandle,
  path: string,
  size: number,
  n: number,
): Promise<number | undefined> {
  if (n === 0) return 0;
  const scanner = new VRecordScanner();
  const buffer = Buffer.allocUnsafe(SCAN_CHUNK);
  let found: number | undefined;
  let position = 0;
  while (position < size && found === undefined) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(buffer, 0, Math.min(SCAN_CHUNK, size - position), position));
    } catch (err) {
      throw ioError('read', path, err);
    }
    if (bytesRead === 0) break;
    scanner.push(buffer.subarray(0, bytesRead), (_length, offset) => {
      if (scanner.records === n) {
        found = offset;
        return false;
      }
      return true;
    });
    position += bytesRead;
  }
  if (found !== undefined) return found;
  // Record n would start right after the last record: valid when exactly n whole records are there.
  if (scanner.records === n && scanner.atRecordBoundary && scanner.octets <= size) return scanner.octets;
  return undefined;
}
