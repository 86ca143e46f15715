// Restart checkpoint of an outgoing file (RFC 5024 §1.5.4, §4.3.3, §5.3.3 SFIDREST, §5.3.4 SFPAACNT):
// checkpoint.json in the spool entry, written atomically. It remembers the position the peer last
// accepted (SFPAACNT) and how far we have sent since, so the next session, whoever opens it, offers
// SFIDREST from there. The peer answers with what it has durably stored (<= our offer), and we resume
// at its answer: an offer that is too high is harmless, one that is too low only resends data.
import { join } from 'node:path';
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { readJsonIfExists, writeJsonAtomic } from './durable-fs.ts';
import { BLOCK_SIZE, isRecordFormat } from './record-formats.ts';

export const OUTGOING_CHECKPOINT_FILE = 'checkpoint.json';

export interface OutgoingCheckpoint {
  /** SFPAACNT of the last accepted SFID (records for F/V, 1K blocks for U/T). */
  acceptedRestartPosition: number;
  /** Octets of the local file sent so far, counted from its start (V includes the prefixes). */
  sentOctets: number;
  /** Records sent so far, from the start (F/V; 0 for U/T). */
  sentRecords: number;
  /** SFIDs offered for this file so far. */
  attempts: number;
  /** ISO 8601 time of the last update. */
  updatedAt: string;
}

export const EMPTY_OUTGOING_CHECKPOINT: OutgoingCheckpoint = {
  acceptedRestartPosition: 0,
  sentOctets: 0,
  sentRecords: 0,
  attempts: 0,
  updatedAt: '',
};

export async function loadOutgoingCheckpoint(entryDir: string): Promise<OutgoingCheckpoint> {
  const saved = await readJsonIfExists<OutgoingCheckpoint>(join(entryDir, OUTGOING_CHECKPOINT_FILE));
  return saved ?? { ...EMPTY_OUTGOING_CHECKPOINT };
}

export async function saveOutgoingCheckpoint(entryDir: string, checkpoint: OutgoingCheckpoint): Promise<void> {
  await writeJsonAtomic(join(entryDir, OUTGOING_CHECKPOINT_FILE), checkpoint);
}

/** Restart position (in the format's unit) reached by sent progress. */
export function sentRestartPosition(checkpoint: OutgoingCheckpoint, transmissionFormat: VirtualFileFormat): number {
  return isRecordFormat(transmissionFormat)
    ? checkpoint.sentRecords
    : Math.floor(checkpoint.sentOctets / BLOCK_SIZE);
}

/**
 * SFIDREST to offer in the next SFID: the further of the last accepted position and the sent progress.
 * 0 when the session has no restart (SSIDREST N on either side), which the engine decides.
 */
export function restartOffer(checkpoint: OutgoingCheckpoint, transmissionFormat: VirtualFileFormat): number {
  return Math.max(checkpoint.acceptedRestartPosition, sentRestartPosition(checkpoint, transmissionFormat));
}
