// The metadata of a spooled outgoing virtual file (meta.json in its spool entry) and the SFID built from
// it (RFC 5024 §5.3.3). Everything the engine needs to offer the file is here; the data is in `data`.
import type { Sfid, VirtualFileFormat } from '../protocol/command-types.ts';
import type { VirtualFileIdentity } from './naming.ts';

export const SPOOL_META_VERSION = 1;

/** meta.json of a spool entry. Sizes in octets unless the name says blocks. */
export interface SpoolMeta extends VirtualFileIdentity {
  version: typeof SPOOL_META_VERSION;
  /** Entry name: '<12-digit sequence>-<identityKey>'. */
  id: string;
  /** Local partner id (the adjacent station this file is queued for). */
  partner: string;
  /** FIFO order within the spool. */
  sequence: number;
  /** SFIDUSER, up to 8 characters. */
  userData: string;
  /** SFIDFMT: format of the original file. */
  format: VirtualFileFormat;
  /** SFIDLRECL */
  maxRecordSize: number;
  /** How the bytes travel and restart: U when secured/compressed/enveloped, else `format`. */
  transmissionFormat: VirtualFileFormat;
  /** SFIDFSIZ: spooled size in 1K blocks, rounded up. */
  fileSize: number;
  /** SFIDOSIZ: original size in 1K blocks (0 = unknown). */
  originalFileSize: number;
  /** Spooled size in octets (V includes the 2-octet prefixes). */
  octets: number;
  /** EFIDRCNT: records (F/V transmission), else 0. */
  recordCount: number;
  /** EFIDUCNT: user data octets (V without prefixes; a file travelling as U counts all octets). */
  unitCount: number;
  /**
   * SHA-256 of the spooled octets, hex, where queueing read them: T, F and V files, whose structure is
   * checked octet by octet. A U file is linked or copied by the kernel without being read, and has none.
   */
  sha256?: string;
  /**
   * The data file is a hard link to the caller's file, which stays where it was ('share'): its size
   * (octets) and this modification time, when it was queued. A file changed since is not sent.
   */
  sharedMtimeMs?: number;
  /** SFIDSEC, SFIDCIPH, SFIDCOMP, SFIDENV, SFIDSIGN */
  securityLevel: number;
  cipherSuite: number;
  compression: number;
  envelope: number;
  signedReceipt: boolean;
  /** EERPHSH to expect (hex, the suite's digest of the file as transmitted), when signedReceipt. */
  receiptHash?: string;
  /** SFIDDESC */
  description: string;
  /** ISO 8601 time the entry was created. */
  createdAt: string;
  /** Base name of the source file, for operators. */
  sourceName: string;
}

/** A spool entry as listed: its metadata and where its files are. */
export interface SpoolEntry {
  meta: SpoolMeta;
  /** The entry directory. */
  dir: string;
  /** The spooled octets. */
  dataPath: string;
}

/** The SFID offering this file from `restartPosition` (SFIDREST; 0 for a fresh start). */
export function sfidFor(meta: SpoolMeta, restartPosition: number): Sfid {
  return {
    cmd: 'SFID',
    datasetName: meta.datasetName,
    date: meta.date,
    time: meta.time,
    userData: meta.userData,
    destination: meta.destination,
    originator: meta.originator,
    format: meta.format,
    maxRecordSize: meta.maxRecordSize,
    fileSize: meta.fileSize,
    originalFileSize: meta.originalFileSize,
    restartPosition,
    securityLevel: meta.securityLevel,
    cipherSuite: meta.cipherSuite,
    compression: meta.compression,
    envelope: meta.envelope,
    signedReceipt: meta.signedReceipt,
    description: meta.description,
  };
}
