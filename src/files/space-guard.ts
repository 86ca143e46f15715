// Disk-space guard for incoming files (RFC 5024 §5.3.3 SFIDFSIZ, §5.3.5 SFNA reason 06 and SFNARRTR).
// Before answering an SFID the engine asks whether the announced size fits:
// - larger than the partner's configured maximum: SFNA 06, retry N ("file too big for this partner");
// - larger than the whole filesystem minus the reserve: SFNA 06, retry N (it can never fit);
// - larger than the space free now minus the reserve: SFNA 06, retry Y, "insufficient space" (the RFC
//   advises retry Y for a temporary lack of storage).
// The decision is a pure function; statfs is a separate small call that tests can replace.
// Note: SFIDFSIZ is "a good estimate" only; the write path still handles ENOSPC as an I/O error.
import { statfs } from 'node:fs/promises';
import { FileReason } from '../protocol/reason-codes.ts';
import { ioError } from './file-errors.ts';
import { BLOCK_SIZE } from './record-formats.ts';

export interface SpacePolicy {
  /** Octets always left free on the inbox filesystem. */
  reserveBytes: number;
  /** Largest SFIDFSIZ accepted from this partner, in 1K blocks; undefined = no limit. */
  maxFileSizeBlocks?: number;
}

export interface SpaceFigures {
  /** Octets available to us now (statfs bavail x bsize). */
  availableBytes: number;
  /** Octets of the whole filesystem (blocks x bsize). */
  totalBytes: number;
}

export type SpaceDecision =
  | { accept: true }
  | { accept: false; /** SFNAREAS */ reason: number; /** SFNARRTR */ retry: boolean; /** SFNAREAST */ text: string };

/**
 * Whether a file of `fileSizeBlocks` (SFIDFSIZ) may be received. `alreadyStoredBytes` is the durable
 * part of a partial being resumed, which needs no new space.
 */
export function decideIncomingSpace(
  fileSizeBlocks: number,
  figures: SpaceFigures,
  policy: SpacePolicy,
  alreadyStoredBytes = 0,
): SpaceDecision {
  if (policy.maxFileSizeBlocks !== undefined && fileSizeBlocks > policy.maxFileSizeBlocks) {
    return {
      accept: false,
      reason: FileReason.fileTooBig,
      retry: false,
      text: `file size ${fileSizeBlocks}K exceeds the limit of ${policy.maxFileSizeBlocks}K for this partner`,
    };
  }
  const needed = Math.max(0, fileSizeBlocks * BLOCK_SIZE - alreadyStoredBytes);
  if (fileSizeBlocks * BLOCK_SIZE > figures.totalBytes - policy.reserveBytes) {
    return {
      accept: false,
      reason: FileReason.fileTooBig,
      retry: false,
      text: `file size ${fileSizeBlocks}K exceeds the storage capacity`,
    };
  }
  if (needed > figures.availableBytes - policy.reserveBytes) {
    return { accept: false, reason: FileReason.fileTooBig, retry: true, text: 'insufficient space' };
  }
  return { accept: true };
}

export type StatfsFunction = (path: string) => Promise<{ bavail: number | bigint; blocks: number | bigint; bsize: number | bigint }>;

/** Free and total octets of the filesystem holding `dir`. */
export async function spaceFigures(dir: string, statfsFn: StatfsFunction = statfs): Promise<SpaceFigures> {
  let s: Awaited<ReturnType<StatfsFunction>>;
  try {
    s = await statfsFn(dir);
  } catch (err) {
    throw ioError('statfs', dir, err);
  }
  const bsize = Number(s.bsize);
  return { availableBytes: Number(s.bavail) * bsize, totalBytes: Number(s.blocks) * bsize };
}

/** statfs + decideIncomingSpace, for the engine's SFID handler. */
export async function checkIncomingSpace(
  dir: string,
  fileSizeBlocks: number,
  policy: SpacePolicy,
  options: { statfs?: StatfsFunction; alreadyStoredBytes?: number } = {},
): Promise<SpaceDecision> {
  const figures = await spaceFigures(dir, options.statfs);
  return decideIncomingSpace(fileSizeBlocks, figures, policy, options.alreadyStoredBytes ?? 0);
}
