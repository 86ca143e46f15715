// Restart checkpoint of an incoming file (RFC 5024 §1.5.4, §4.3.3, §5.3.4 SFPAACNT): '<key>.ckpt.json'
// beside the partial '<key>.part'. Written atomically, and only after the partial's data has been
// fsynced, so it never claims octets that are not durable. It also records what the file was announced
// as; a later SFID for the same identity with different attributes starts again from 0.
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import type { VirtualFileIdentity } from './naming.ts';
import { BLOCK_SIZE, isRecordFormat } from './record-formats.ts';

export const INCOMING_CHECKPOINT_VERSION = 1;

export interface IncomingCheckpoint extends VirtualFileIdentity {
  version: typeof INCOMING_CHECKPOINT_VERSION;
  /** SFIDFMT, the format the octets travel in, SFIDLRECL and SFIDFSIZ as announced. */
  format: VirtualFileFormat;
  transmissionFormat: VirtualFileFormat;
  maxRecordSize: number;
  fileSize: number;
  /** Durable local octets (V includes prefixes); always at a record boundary for F/V. */
  octets: number;
  /** Durable records (F/V), 0 for U/T. */
  records: number;
  /** Durable user data octets (EFIDUCNT so far). */
  units: number;
  /** ISO 8601 time written. */
  updatedAt: string;
}

/** The restart position (SFPAACNT unit) a checkpoint proves durable. */
export function durableRestartPosition(checkpoint: Pick<IncomingCheckpoint, 'transmissionFormat' | 'octets' | 'records'>): number {
  return isRecordFormat(checkpoint.transmissionFormat)
    ? checkpoint.records
    : Math.floor(checkpoint.octets / BLOCK_SIZE);
}

/** Whether a saved checkpoint belongs to the file now announced. */
export function checkpointMatches(
  saved: IncomingCheckpoint,
  identity: VirtualFileIdentity,
  announced: { format: VirtualFileFormat; transmissionFormat: VirtualFileFormat; maxRecordSize: number; fileSize: number },
): boolean {
  return (
    saved.version === INCOMING_CHECKPOINT_VERSION &&
    saved.datasetName === identity.datasetName &&
    saved.date === identity.date &&
    saved.time === identity.time &&
    saved.originator === identity.originator &&
    saved.destination === identity.destination &&
    saved.format === announced.format &&
    saved.transmissionFormat === announced.transmissionFormat &&
    saved.maxRecordSize === announced.maxRecordSize &&
    saved.fileSize === announced.fileSize &&
    Number.isSafeInteger(saved.octets) &&
    Number.isSafeInteger(saved.records) &&
    Number.isSafeInteger(saved.units)
  );
}
