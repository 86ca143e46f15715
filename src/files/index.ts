// The file layer (virtual files, RFC 5024 §1.5): outgoing spool, reader, checkpoints, incoming files,
// naming, timestamps, space guard and pending receipts. Import from here; the modules are small.
export type { CommittedFile, CountCheck, IncomingOptions, IncomingSpec } from './incoming.ts';
export { checkpointOctets, defaultPartialDir, IncomingFile, openIncoming, readIncomingCheckpoint } from './incoming.ts';
export type { IncomingCheckpoint } from './incoming-checkpoint.ts';
export { FileRefusedError } from './file-errors.ts';
export { sha256File } from './file-digest.ts';
export type { VirtualFileIdentity } from './naming.ts';
export {
  assertSafeFileName,
  collisionName,
  datasetFileName,
  identityKey,
  identityOfSfid,
  validateDatasetName,
  validateIdentity,
} from './naming.ts';
export type { OutgoingCheckpoint } from './outgoing-checkpoint.ts';
export { restartOffer } from './outgoing-checkpoint.ts';
export type { ContentSummary } from './record-formats.ts';
export { blocksFor, transmissionFormat } from './record-formats.ts';
export type { Receipt, StoredReceipt } from './receipts-store.ts';
export { PendingReceiptStore } from './receipts-store.ts';
export type { SpaceDecision, SpaceFigures, SpacePolicy, StatfsFunction } from './space-guard.ts';
export { checkIncomingSpace, decideIncomingSpace, spaceFigures } from './space-guard.ts';
export type { EnqueueMeta, EnqueueOptions, SpoolOptions } from './spool.ts';
export { Spool, type Transfer } from './spool.ts';
export type { SpoolEntry, SpoolMeta } from './spool-entry.ts';
export { sfidFor } from './spool-entry.ts';
export type { ReaderOptions, ReadProgress } from './spool-reader.ts';
export { openSpoolReader, SpoolReader } from './spool-reader.ts';
export type { VirtualFileStamp } from './timestamp-allocator.ts';
export { TimestampAllocator } from './timestamp-allocator.ts';
