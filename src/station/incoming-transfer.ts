// Receives one virtual file (RFC 5024 §4.3–§4.5): decides about the SFID, writes what the DATA buffers
// carry into a durable partial file, checkpoints it for restart, and at EFID checks the counts and
// commits the file into the partner's inbox before EFPA may go out. A partial file lives in the
// inbox's hidden partial folder and is never visible to consumers.
import { join } from 'node:path';
import {
  assertSafeFileName,
  checkpointOctets,
  datasetFileName,
  decideIncomingSpace,
  defaultPartialDir,
  FileRefusedError,
  type IncomingFile,
  identityKey,
  identityOfSfid,
  openIncoming,
  readIncomingCheckpoint,
  type SpacePolicy,
  spaceFigures,
  type VirtualFileIdentity,
  validateIdentity,
} from '../files/index.ts';
import { RemoteProtocolError } from '../errors.ts';
import { againIfDirRemoved, mkdirDurableOnce } from '../files/durable-fs.ts';
import type { Sfid } from '../protocol/command-types.ts';
import { ExchangeBufferDecoder } from '../protocol/exchange-buffer-decoder.ts';
import { FileReason } from '../protocol/reason-codes.ts';
import { cipherSuite } from '../security/cipher-suites.ts';
import type { NegotiatedParameters } from '../session/types.ts';
import type { FileServicesReceive } from '../store/station-config.ts';

export interface ReceivingPolicy {
  /** Our Odette ID: the only SFIDDEST we accept (forwarding comes with the gateway). */
  stationId: string;
  /** Odette IDs we accept as SFIDORIG: our partners'. */
  knownOriginators: ReadonlySet<string>;
  /** Whether a file for another SFIDDEST is taken to be forwarded (clearing centre, §4.7.3). */
  forwards?(destination: string): boolean;
  /** The partner's inbox folder; partials go to its hidden partial folder. */
  inboxDir: string;
  /** The file name a delivered file gets in the inbox (collisions get '~n', never overwrite). */
  deliveryName(sfid: Sfid): string;
  space: SpacePolicy;
  /** Octets between two durable checkpoints of the partial file. */
  checkpointIntervalBytes: number;
  /** True when this identity was already delivered (a resend after a lost EFPA), or is being opened. */
  alreadyDelivered(identity: VirtualFileIdentity): boolean | Promise<boolean>;
  /** The file services agreement with the partner and what we can do; absent: every service refused. */
  security?: ReceivingSecurity;
  /**
   * Where a secured file for us is received (its partial in the folder's partial folder) and committed
   * before it is opened into `inboxDir` (src/station/incoming-processing.ts). Absent: into the inbox.
   */
  processingDir?: string;
}

/** The partner's agreement (what it may send us) and what this station can do for it. */
export interface ReceivingSecurity {
  agreement: FileServicesReceive;
  /** We hold a decryption key (our encryption certificate and key are configured). */
  canDecrypt: boolean;
  /** The partner's signing certificate is configured (its signatures can be verified). */
  canVerify: boolean;
  /** We hold a signing key (for signed EERPs/NERPs). */
  canSignReceipts: boolean;
}

const REFUSE_ALL: ReceivingSecurity = {
  agreement: { cipherSuites: [], encryption: 'refused', signature: 'refused', compression: 'refused', signedReceipts: 'refused', certificateExchange: 'refused' },
  canDecrypt: false,
  canVerify: false,
  canSignReceipts: false,
};

/** A file for us that is enveloped (secured, compressed, or a §10.4 certificate file): opened after EFPA. */
export function isSecuredForUs(sfid: Sfid, stationId: string): boolean {
  return sfid.destination === stationId && sfid.envelope === 1;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/**
 * The file services checks (§5.3.3, §5.3.5 SFNA 15–20) for a file offered to us, in the order of the
 * reason codes; undefined when the file may come. Unknown or missing values end with SFNA 99.
 */
export function securityRefusal(sfid: Sfid, security: ReceivingSecurity | undefined): { reason: number; text: string } | undefined {
  const s = security ?? REFUSE_ALL;
  const a = s.agreement;
  const encrypted = sfid.securityLevel === 1 || sfid.securityLevel === 3;
  const signed = sfid.securityLevel === 2 || sfid.securityLevel === 3;
  const certificateFile = sfid.envelope === 1 && sfid.securityLevel === 0 && sfid.compression === 0;
  if (sfid.cipherSuite !== 0) {
    if (!cipherSuite(sfid.cipherSuite)) return { reason: FileReason.cipherSuiteNotSupported, text: `cipher suite ${pad2(sfid.cipherSuite)} is not supported (01–06 are)` };
    if (!a.cipherSuites.includes(sfid.cipherSuite)) {
      return { reason: FileReason.cipherSuiteNotSupported, text: `cipher suite ${pad2(sfid.cipherSuite)} is not accepted from this partner${a.cipherSuites.length ? ` (accepted: ${a.cipherSuites.map(pad2).join(', ')})` : ''}` };
    }
  }
  if (encrypted) {
    if (a.encryption === 'refused') return { reason: FileReason.encryptedNotAllowed, text: 'encrypted files are not accepted from this partner' };
    if (!s.canDecrypt) return { reason: FileReason.encryptedNotAllowed, text: 'encrypted files are not accepted: this station has no decryption key (encryption certificate)' };
  } else if (a.encryption === 'required' && !certificateFile) {
    return { reason: FileReason.unencryptedNotAllowed, text: 'this partner must encrypt its files' };
  }
  if (sfid.compression !== 0) {
    if (a.compression === 'refused') return { reason: FileReason.compressionNotAllowed, text: 'compressed files are not accepted from this partner' };
    if (sfid.compression !== 1) return { reason: FileReason.compressionNotAllowed, text: `compression algorithm ${sfid.compression} is not known (1 is zlib)` };
  }
  if (signed) {
    if (a.signature === 'refused') return { reason: FileReason.signedNotAllowed, text: 'signed files are not accepted from this partner' };
    if (!s.canVerify) return { reason: FileReason.signedNotAllowed, text: 'signed files are not accepted: no signing certificate of this partner is configured to verify them' };
  } else if (a.signature === 'required' && !certificateFile) {
    return { reason: FileReason.unsignedNotAllowed, text: 'this partner must sign its files' };
  }
  if ((encrypted || signed) && sfid.cipherSuite === 0) return { reason: FileReason.cipherSuiteNotSupported, text: 'a signed or encrypted file needs a cipher suite (SFIDCIPH 00)' };
  if (sfid.securityLevel > 3) return { reason: FileReason.unspecified, text: `security level ${sfid.securityLevel} is not defined` };
  if (sfid.envelope > 1) return { reason: FileReason.unspecified, text: `envelope format ${sfid.envelope} is not known (1 is CMS)` };
  if ((encrypted || signed || sfid.compression !== 0) && sfid.envelope !== 1) {
    return { reason: FileReason.unspecified, text: 'a signed, encrypted or compressed file must be enveloped (SFIDENV 1, CMS)' };
  }
  if (certificateFile && a.certificateExchange === 'refused') return { reason: FileReason.unspecified, text: 'certificate files (unsecured CMS envelopes) are not accepted from this partner' };
  if (sfid.signedReceipt) {
    if (a.signedReceipts === 'refused') return { reason: FileReason.unspecified, text: 'signed receipts are not given to this partner' };
    if (sfid.cipherSuite === 0) return { reason: FileReason.cipherSuiteNotSupported, text: 'a signed EERP needs a cipher suite (SFIDCIPH 00)' };
    if (!s.canSignReceipts) return { reason: FileReason.unspecified, text: 'signed receipts are not possible: this station has no signing key' };
  }
  return undefined;
}

export type SfidDecision =
  | { accept: true; transfer: IncomingTransfer; restartPosition: number }
  | { accept: false; reason: number; retry: boolean; reasonText: string };

/**
 * Each of the partial's two write buffers (one is written in the background while DATA fills the
 * other): 1 MiB, or less for a file announced smaller (SFIDFSIZ, 1K blocks), so that small files do
 * not allocate megabytes each. A wrong announcement only costs more writes.
 */
const MAX_WRITE_BUFFER = 1024 * 1024;
const writeBufferFor = (fileSizeBlocks: number): number =>
  Math.min(MAX_WRITE_BUFFER, Math.max(4096, Math.ceil(((fileSizeBlocks || 0) + 1) / 4) * 4096));

const refuse = (reason: number, retry: boolean, reasonText: string): SfidDecision => ({ accept: false, reason, retry, reasonText });

/** The SFID checks of §5.3.3/§5.3.5, in the order an operator would want them reported. */
export async function decideIncoming(sfid: Sfid, policy: ReceivingPolicy, parameters: NegotiatedParameters): Promise<SfidDecision> {
  const identity = identityOfSfid(sfid);
  try {
    validateIdentity(identity);
    datasetFileName(sfid.datasetName);
    assertSafeFileName(policy.deliveryName(sfid));
  } catch (err) {
    if (err instanceof FileRefusedError) return refuse(err.fileReason, err.retry, err.message);
    throw err;
  }
  if (sfid.destination !== policy.stationId && !policy.forwards?.(sfid.destination)) {
    return refuse(FileReason.invalidDestination, false, `destination ${sfid.destination} is not this station`);
  }
  if (!policy.knownOriginators.has(sfid.originator)) {
    return refuse(FileReason.invalidOrigin, false, `originator ${sfid.originator} is not a known partner`);
  }
  if ((sfid.format === 'F' || sfid.format === 'V') && sfid.maxRecordSize === 0) {
    return refuse(FileReason.recordLengthNotSupported, false, `format ${sfid.format} needs a record length`);
  }
  // File services (§6) for a file for us, by the partner's agreement; a file passing through to
  // another station (forwarding) is taken as its originator secured it.
  if (sfid.destination === policy.stationId) {
    const refused = securityRefusal(sfid, policy.security);
    if (refused) return refuse(refused.reason, false, refused.text);
  }
  if (await policy.alreadyDelivered(identity)) {
    // Delivered before, but our EFPA was lost: take the data again, discard it, answer EFPA (§4.3.3).
    // Resume where the sender offers, whose counts before that point are implied (U/T blocks, F
    // records), except for V, where the octets before a record number are unknown: from 0.
    const restartPosition = sfid.format === 'V' ? 0 : sfid.restartPosition;
    const transfer = new IncomingTransfer(sfid, identity, undefined, parameters, policy.checkpointIntervalBytes, restartPosition);
    return { accept: true, transfer, restartPosition };
  }
  // A secured file for us is received into the processing area and opened into the inbox after EFPA.
  const receiveDir = policy.processingDir !== undefined && isSecuredForUs(sfid, policy.stationId) ? policy.processingDir : policy.inboxDir;
  const partialDir = defaultPartialDir(receiveDir);
  const look = async () => {
    await mkdirDurableOnce(policy.inboxDir, 0o750);
    if (receiveDir !== policy.inboxDir) await mkdirDurableOnce(receiveDir, 0o700);
    // The partial's checkpoint (a resumed file needs less room) and the free space, read at once.
    return Promise.all([readIncomingCheckpoint(partialDir, identity), spaceFigures(receiveDir)]);
  };
  const [saved, figures] = await againIfDirRemoved(look);
  const space = decideIncomingSpace(sfid.fileSize, figures, policy.space, checkpointOctets(saved));
  if (!space.accept) return refuse(space.reason, space.retry, space.text);
  let file: IncomingFile;
  try {
    file = await openIncoming(
      partialDir,
      identity,
      { ...sfid, restartPosition: parameters.restart ? sfid.restartPosition : 0 },
      { bufferSize: writeBufferFor(sfid.fileSize), saved },
    );
  } catch (err) {
    if (err instanceof FileRefusedError) return refuse(err.fileReason, err.retry, err.message);
    throw err;
  }
  const transfer = new IncomingTransfer(sfid, identity, file, parameters, policy.checkpointIntervalBytes);
  return { accept: true, transfer, restartPosition: file.restartPosition };
}

export type EndFileOutcome =
  | { ok: true; path: string | undefined; octets: number; duplicate: boolean }
  | { ok: false; reason: number; reasonText: string };

export class IncomingTransfer {
  readonly sfid: Sfid;
  readonly identity: VirtualFileIdentity;
  readonly key: string;
  /** Undefined for a duplicate of a file already delivered: data is checked and discarded. */
  readonly #file: IncomingFile | undefined;
  readonly #decoder: ExchangeBufferDecoder;
  readonly #checkpointInterval: number;
  #sinceCheckpoint = 0;

  /** `duplicateRestart`: for a duplicate (no file), the restart position answered (U/T/F only). */
  constructor(sfid: Sfid, identity: VirtualFileIdentity, file: IncomingFile | undefined, parameters: NegotiatedParameters, checkpointInterval: number, duplicateRestart = 0) {
    this.#checkpointInterval = checkpointInterval;
    this.sfid = sfid;
    this.identity = identity;
    this.key = identityKey(identity);
    this.#file = file;
    const format = file?.transmissionFormat ?? (sfid.securityLevel || sfid.compression || sfid.envelope ? 'U' : sfid.format);
    const restart =
      file?.progress() ??
      (format === 'F'
        ? { units: duplicateRestart * sfid.maxRecordSize, records: duplicateRestart }
        : { units: format === 'V' ? 0 : duplicateRestart * 1024, records: 0 });
    this.#decoder = new ExchangeBufferDecoder({
      format,
      exchangeBufferSize: parameters.exchangeBufferSize,
      maxRecordSize: sfid.maxRecordSize,
      startUnitCount: restart.units,
      startRecordCount: restart.records,
    });
  }

  /** The durable partial file being written; undefined for a duplicate. */
  get partial(): IncomingFile | undefined {
    return this.#file;
  }

  get duplicate(): boolean {
    return this.#file === undefined;
  }

  /** Stores what one DATA buffer carries. Throws RemoteProtocolError for a malformed buffer. */
  async data(payload: Uint8Array): Promise<void> {
    const decoded = this.#decoder.decode(payload);
    if (!this.#file) return;
    await this.#file.writeDecoded(decoded.data, decoded.recordEnds);
    this.#sinceCheckpoint += decoded.data.length;
    if (this.#sinceCheckpoint >= this.#checkpointInterval) {
      this.#sinceCheckpoint = 0;
      // Behind the data: its fsync runs while more arrives (a synchronous one stopped the transfer for
      // the disk's flush of every interval). A session that breaks still ends with a checkpoint of all
      // it received (abandon); a process that dies restarts at most two intervals back.
      await this.#file.checkpointBehind();
    }
  }

  /** At EFID: checks the counts (§5.3.8) and commits the file durably into `finalDir` as `finalName`. */
  async end(recordCount: number, unitCount: number, finalDir: string, finalName: string): Promise<EndFileOutcome> {
    try {
      this.#decoder.end();
    } catch (err) {
      // The data ends inside an F/V record: the last record is missing its end, EFNA 10 (§5.3.10).
      if (!(err instanceof RemoteProtocolError)) throw err;
      await this.#file?.discard();
      return { ok: false, reason: FileReason.invalidRecordCount, reasonText: err.message };
    }
    const decoder = this.#decoder;
    if (!this.#file) {
      if (decoder.unitCount !== unitCount || (decoder.recordCount !== recordCount && decoder.format !== 'U' && decoder.format !== 'T')) {
        return { ok: false, reason: FileReason.invalidByteCount, reasonText: `counts differ from the data: ${decoder.unitCount} octets` };
      }
      return { ok: true, path: undefined, octets: decoder.unitCount, duplicate: true };
    }
    const check = this.#file.verifyCounts(recordCount, unitCount);
    if (!check.ok) {
      await this.#file.discard();
      return { ok: false, reason: check.reason, reasonText: check.message };
    }
    // The file's SHA-256 (history) is not computed here, in the way of EFPA: see StationSessionHandler.
    const committed = await this.#file.commit(finalDir, finalName);
    return { ok: true, path: committed.path, octets: committed.octets, duplicate: false };
  }

  /** The session ended before EFID: keep the durable part for a restart. */
  async abandon(): Promise<void> {
    if (!this.#file) return;
    try {
      await this.#file.checkpoint();
    } finally {
      await this.#file.close();
    }
  }
}

export const inboxFor = (inboxRoot: string, partner: string): string => join(inboxRoot, partner);
