// Receives one virtual file (RFC 5024 §4.3–§4.5): decides about the SFID, writes what the DATA buffers
// carry into a durable partial file, checkpoints it for restart, and at EFID checks the counts and
// commits the file into the partner's inbox before EFPA may go out. A partial file lives in the
// inbox's hidden partial folder and is never visible to consumers.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  assertSafeFileName,
  checkIncomingSpace,
  datasetFileName,
  defaultPartialDir,
  durablePartialOctets,
  FileRefusedError,
  type IncomingFile,
  identityKey,
  identityOfSfid,
  openIncoming,
  type SpacePolicy,
  sha256File,
  type VirtualFileIdentity,
  validateIdentity,
} from '../files/index.ts';
import { RemoteProtocolError } from '../errors.ts';
import type { Sfid } from '../protocol/command-types.ts';
import { ExchangeBufferDecoder } from '../protocol/exchange-buffer-decoder.ts';
import { FileReason } from '../protocol/reason-codes.ts';
import type { NegotiatedParameters } from '../session/types.ts';

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
  /** True when this identity was already delivered (a resend after a lost EFPA). */
  alreadyDelivered(identity: VirtualFileIdentity): boolean;
}

export type SfidDecision =
  | { accept: true; transfer: IncomingTransfer; restartPosition: number }
  | { accept: false; reason: number; retry: boolean; reasonText: string };

/** Each of the partial's two write buffers: one is written in the background while DATA fills the other. */
const WRITE_BUFFER_SIZE = 1024 * 1024;

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
  // File services (§6) arrive with the security issue; until then refuse them with their own reasons.
  if (sfid.cipherSuite !== 0) return refuse(FileReason.cipherSuiteNotSupported, false, 'no cipher suites are configured');
  if (sfid.securityLevel === 1 || sfid.securityLevel === 3) {
    return refuse(FileReason.encryptedNotAllowed, false, 'encrypted files are not accepted');
  }
  if (sfid.securityLevel === 2) return refuse(FileReason.signedNotAllowed, false, 'signed files are not accepted');
  if (sfid.compression !== 0) return refuse(FileReason.compressionNotAllowed, false, 'compressed files are not accepted');
  if (sfid.envelope !== 0 || sfid.signedReceipt) {
    return refuse(FileReason.unspecified, false, 'enveloped files and signed receipts are not accepted');
  }
  if (policy.alreadyDelivered(identity)) {
    // Delivered before, but our EFPA was lost: take the data again, discard it, answer EFPA (§4.3.3).
    // Resume where the sender offers, whose counts before that point are implied (U/T blocks, F
    // records), except for V, where the octets before a record number are unknown: from 0.
    const restartPosition = sfid.format === 'V' ? 0 : sfid.restartPosition;
    const transfer = new IncomingTransfer(sfid, identity, undefined, parameters, policy.checkpointIntervalBytes, restartPosition);
    return { accept: true, transfer, restartPosition };
  }
  await mkdir(policy.inboxDir, { recursive: true, mode: 0o750 });
  const partialDir = defaultPartialDir(policy.inboxDir);
  const space = await checkIncomingSpace(policy.inboxDir, sfid.fileSize, policy.space, {
    alreadyStoredBytes: await durablePartialOctets(partialDir, identity),
  });
  if (!space.accept) return refuse(space.reason, space.retry, space.text);
  let file: IncomingFile;
  try {
    file = await openIncoming(
      partialDir,
      identity,
      { ...sfid, restartPosition: parameters.restart ? sfid.restartPosition : 0 },
      { bufferSize: WRITE_BUFFER_SIZE },
    );
  } catch (err) {
    if (err instanceof FileRefusedError) return refuse(err.fileReason, err.retry, err.message);
    throw err;
  }
  const transfer = new IncomingTransfer(sfid, identity, file, parameters, policy.checkpointIntervalBytes);
  await transfer.hashDurablePrefix();
  return { accept: true, transfer, restartPosition: file.restartPosition };
}

export type EndFileOutcome =
  | { ok: true; path: string | undefined; octets: number; duplicate: boolean; sha256: string | undefined }
  | { ok: false; reason: number; reasonText: string };

export class IncomingTransfer {
  readonly sfid: Sfid;
  readonly identity: VirtualFileIdentity;
  readonly key: string;
  /** Undefined for a duplicate of a file already delivered: data is checked and discarded. */
  readonly #file: IncomingFile | undefined;
  readonly #decoder: ExchangeBufferDecoder;
  /** SHA-256 of the local file as written (U/T/F, whose local bytes are the decoded bytes). */
  readonly #hash: Hash | undefined;
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
    this.#hash = file && format !== 'V' ? createHash('sha256') : undefined;
  }

  /** The durable partial file being written; undefined for a duplicate. */
  get partial(): IncomingFile | undefined {
    return this.#file;
  }

  get duplicate(): boolean {
    return this.#file === undefined;
  }

  /** On a resumed file, the hash must start from the octets already on disk. */
  async hashDurablePrefix(): Promise<void> {
    const file = this.#file;
    const hash = this.#hash;
    if (!file || !hash || !file.resumed) return;
    const octets = file.progress().octets;
    if (octets === 0) return;
    for await (const chunk of createReadStream(file.partPath, { start: 0, end: octets - 1 })) hash.update(chunk as Buffer);
  }

  /** Stores what one DATA buffer carries. Throws RemoteProtocolError for a malformed buffer. */
  async data(payload: Uint8Array): Promise<void> {
    const decoded = this.#decoder.decode(payload);
    if (!this.#file) return;
    this.#hash?.update(decoded.data);
    await this.#file.writeDecoded(decoded.data, decoded.recordEnds);
    this.#sinceCheckpoint += decoded.data.length;
    if (this.#sinceCheckpoint >= this.#checkpointInterval) {
      this.#sinceCheckpoint = 0;
      await this.#file.checkpoint();
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
      return { ok: true, path: undefined, octets: decoder.unitCount, duplicate: true, sha256: undefined };
    }
    const check = this.#file.verifyCounts(recordCount, unitCount);
    if (!check.ok) {
      await this.#file.discard();
      return { ok: false, reason: check.reason, reasonText: check.message };
    }
    const committed = await this.#file.commit(finalDir, finalName);
    const sha256 = this.#hash ? this.#hash.digest('hex') : Buffer.from(await sha256File(committed.path)).toString('hex');
    return { ok: true, path: committed.path, octets: committed.octets, duplicate: false, sha256 };
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
