// The station's side of one OFTP session: it answers the engine's events with the spool, incoming
// files, pending receipts and history. As speaker it sends receipts first, then queued files, then
// gives up the turn; as listener it receives files durably and queues their EERPs (RFC 5024 §3.3).
import { datasetFileName, identityKey, type PendingReceiptStore, type Spool, type SpoolEntry, type StoredReceipt, sfidFor } from '../files/index.ts';
import { RemoteProtocolError } from '../errors.ts';
import type { Eerp, Nerp, Sfid } from '../protocol/command-types.ts';
import { describeEfna, describeNerp, describeSfna } from '../protocol/reason-codes.ts';
import type { OftpSession } from '../session/engine.ts';
import type { NegotiatedParameters, SessionEvent } from '../session/types.ts';
import type { PartnerConfig } from '../store/station-config.ts';
import type { TransferHistory, TransferUpdate } from '../store/transfer-history.ts';
import type { DriverIo, SessionHandler } from '../transports/session-driver.ts';
import type { DeliveryJournal } from './delivery-journal.ts';
import { decideIncoming, type IncomingTransfer, inboxFor, type ReceivingPolicy } from './incoming-transfer.ts';
import { OutgoingTransfer } from './outgoing-transfer.ts';

export interface StationServices {
  stationId: string;
  partners: readonly PartnerConfig[];
  spool: Spool;
  receipts: PendingReceiptStore;
  history: TransferHistory;
  journal: DeliveryJournal;
  inboxRoot: string;
  reserveBytes: number;
  checkpointIntervalBytes: number;
  log: Log;
  /** Where and under which name received files are delivered; default `<inboxRoot>/<partner>/<DSN>`. */
  inbox?: InboxLayout;
  /** The gateway's part in receiving (src/gateway/share-receiving.ts): forwarding and receipt policy. */
  receiving?: ReceivingHooks;
}

export interface InboxLayout {
  /** The folder a file offered by `partner` is received into (its partial in the folder's .oftp-partial). */
  dirFor(partner: string, sfid?: Sfid): string | Promise<string>;
  nameFor(sfid: Sfid): string;
}

/** A file durably delivered (or a duplicate of one received again), as `ReceivingHooks.delivered` sees it. */
export interface DeliveredFile {
  partner: string;
  identity: FileIdentityFields;
  userData: string;
  /** The delivered file; undefined for a duplicate, or when a crash left only the journal to say it was delivered. */
  path: string | undefined;
  /** The folder it was received into (InboxLayout.dirFor). */
  dir: string | undefined;
  duplicate: boolean;
  /** The EERP the station would queue. */
  eerp: Eerp;
}

export interface ReceivingHooks {
  /** Odette IDs accepted as SFIDORIG beside the partners' own (stations reached through a partner). */
  knownOriginators(): Iterable<string>;
  /** Whether a file for `destination`, which is not us, is received from `partner` to be forwarded (§4.7.3). */
  forwards(partner: string, destination: string): boolean;
  /**
   * Takes over a delivered file: the receipt to queue now (none while it is held or forwarded) and a
   * history change. Called again at start-up for a delivery a crash interrupted: must be idempotent.
   */
  delivered(file: DeliveredFile): Promise<{ receipt: Eerp | Nerp | undefined; history?: Partial<TransferUpdate> }>;
  /** A receipt for a file we sent is recorded (called again when the partner resends it before our RTR). */
  receiptReceived(partner: string, receipt: Eerp | Nerp): Promise<void>;
}

export const defaultInboxLayout = (inboxRoot: string): InboxLayout => ({
  dirFor: (partner) => inboxFor(inboxRoot, partner),
  nameFor: (sfid) => datasetFileName(sfid.datasetName),
});

export interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  /** Command traces ('Inbound:'/'Outbound:'); pino's, when the daemon logs at debug level. */
  debug?(obj: object, msg: string): void;
  /** A logger whose lines carry `bindings` ({session, partner}); pino's child(). */
  child?(bindings: Record<string, unknown>): Log;
  isLevelEnabled?(level: string): boolean;
}

export interface SessionSummary {
  sent: number;
  received: number;
  failed: number;
  receiptsSent: number;
  receiptsReceived: number;
}

export interface Progress {
  datasetName: string;
  direction: 'out' | 'in';
  octets: number;
  total: number;
}

export const outId = (key: string) => `out:${key}`;
export const inId = (key: string) => `in:${key}`;

export class StationSessionHandler implements SessionHandler {
  readonly #services: StationServices;
  readonly #session: OftpSession;
  /** Known at the start for an initiator; set by the SSID check for a responder. */
  partner: PartnerConfig | undefined;
  readonly summary: SessionSummary = { sent: 0, received: 0, failed: 0, receiptsSent: 0, receiptsReceived: 0 };
  onProgress: ((p: Progress) => void) | undefined;
  /** The session's logger; a child carrying {session, partner} when the station's log has child(). */
  log: Log;
  /** Admitted through the station's SessionGate (told when the session ends). */
  gated = false;
  #parameters: NegotiatedParameters | undefined;
  #offered: { entry: SpoolEntry; sfid: Sfid } | undefined;
  #outgoing: OutgoingTransfer | undefined;
  #incoming: IncomingTransfer | undefined;
  /** The folder #incoming is received into. */
  #incomingDir: string | undefined;
  #receiptInFlight: StoredReceipt | undefined;
  /** Spool entries refused with retry in this session: offered again next session. */
  readonly #deferred = new Set<string>();

  constructor(services: StationServices, session: OftpSession, partner?: PartnerConfig) {
    this.#services = services;
    this.#session = session;
    this.partner = partner;
    this.log = services.log;
  }

  get #inbox(): InboxLayout {
    return this.#services.inbox ?? defaultInboxLayout(this.#services.inboxRoot);
  }

  async handle(event: SessionEvent, io: DriverIo): Promise<void> {
    const s = this.#session;
    switch (event.type) {
      case 'sessionReady':
        this.#parameters = event.parameters;
        this.#log('info', { level: event.parameters.level, mode: event.parameters.mode }, 'session ready');
        return;
      case 'turnToSpeak':
        return this.#speak(io);
      case 'startFileAccepted':
        return this.#startSending(event.restartPosition, io);
      case 'creditAvailable':
        if (this.#outgoing) await this.#sendWindow(io);
        return;
      case 'endFileAccepted':
        return this.#sent();
      case 'endFileRefused':
        return this.#sendFailed(`EFNA ${event.reason}`, event.reasonText || describeEfna(event.reason), true);
      case 'startFileRefused':
        if (event.retry) {
          const offered = this.#offered!;
          this.#deferred.add(offered.entry.meta.id);
          this.#offered = undefined;
          await this.#record(offered.sfid, 'out', { state: 'queued', reason: `SFNA ${event.reason}`, reasonText: `${event.reasonText || describeSfna(event.reason)} (will retry)` });
          return;
        }
        return this.#sendFailed(`SFNA ${event.reason}`, event.reasonText || describeSfna(event.reason), true);
      case 'receiptAcknowledged':
        return this.#receiptAcknowledged();
      case 'receiptReceived':
        await this.#receiptReceived(event.receipt);
        s.acknowledgeReceipt(io.now());
        return;
      case 'startFileRequested':
        return this.#fileOffered(event.sfid, io);
      case 'data':
        return this.#data(event.payload, io);
      case 'endFileRequested':
        return this.#endFile(event.recordCount, event.unitCount, io);
      case 'authChallengeRequired':
      case 'authChallengeReceived':
        s.abort(12, 'secure authentication is not configured for this partner', io.now());
        return;
      default:
        return;
    }
  }

  /** The session ended: an unfinished incoming file keeps its durable part for the restart. */
  async close(): Promise<void> {
    await this.#incoming?.abandon();
    this.#incoming = undefined;
    await this.#outgoing?.close();
    this.#outgoing = undefined;
  }

  // ---- speaker ----

  async #speak(io: DriverIo): Promise<void> {
    const partner = this.partner!;
    const [receipt] = await this.#services.receipts.list(partner.name);
    if (receipt) {
      this.#receiptInFlight = receipt;
      this.#session.sendReceipt(receipt.receipt, io.now());
      return;
    }
    for (const entry of await this.#services.spool.list(partner.name)) {
      if (this.#deferred.has(entry.meta.id)) continue;
      if (this.#services.history.get(outId(identityKey(entry.meta)))?.state === 'delivered') {
        // Its EERP arrived, so the file is at its destination: a crash only cost us the spool removal
        // at EFPA. Sending it again would turn 'delivered' back into 'sending' for a whole resend.
        await this.#services.spool.remove(entry);
        this.#log('info', { dataset: entry.meta.datasetName }, 'Outbound: already delivered (EERP received), removed from the spool');
        continue;
      }
      const restart = this.#parameters!.restart ? await this.#services.spool.restartOffer(entry) : 0;
      const sfid = sfidAtLevel(sfidFor(entry.meta, restart), this.#parameters!.level);
      this.#offered = { entry, sfid };
      this.#session.offerFile(sfid, io.now());
      return;
    }
    this.#session.nothingToSend(io.now());
  }

  async #startSending(restartPosition: number, io: DriverIo): Promise<void> {
    const { entry, sfid } = this.#offered!;
    this.#outgoing = await OutgoingTransfer.start(entry, this.#services.spool, this.#parameters!, restartPosition);
    await this.#record(sfid, 'out', { state: 'sending', size: entry.meta.octets, sha256: entry.meta.sha256 });
    this.#log('info', { dataset: sfid.datasetName, restartPosition }, 'Outbound: sending file');
    await this.#sendWindow(io);
  }

  async #sendWindow(io: DriverIo): Promise<void> {
    const out = this.#outgoing!;
    await out.sendWindow(this.#session, io);
    this.onProgress?.({ datasetName: out.entry.meta.datasetName, direction: 'out', octets: out.unitsSent, total: out.entry.meta.unitCount });
  }

  async #sent(): Promise<void> {
    const { entry, sfid } = this.#offered!;
    await this.#record(sfid, 'out', { state: 'sent', size: entry.meta.octets, sha256: entry.meta.sha256 });
    await this.#services.spool.remove(entry);
    this.#offered = undefined;
    this.#outgoing = undefined;
    this.summary.sent++;
  }

  async #sendFailed(reason: string, reasonText: string, removeFromSpool: boolean): Promise<void> {
    const { entry, sfid } = this.#offered!;
    await this.#outgoing?.close();
    this.#outgoing = undefined;
    await this.#record(sfid, 'out', { state: 'failed', reason, reasonText });
    if (removeFromSpool) await this.#services.spool.remove(entry);
    this.#offered = undefined;
    this.summary.failed++;
    this.#log('warn', { dataset: sfid.datasetName, reason, reasonText }, 'Outbound: file refused');
  }

  async #receiptAcknowledged(): Promise<void> {
    const sent = this.#receiptInFlight;
    this.#receiptInFlight = undefined;
    if (!sent) return;
    this.summary.receiptsSent++;
    const r = sent.receipt;
    if (r.cmd === 'EERP') {
      // Our EERP names the file's originator as DEST and us as ORIG (§5.3.13).
      const key = identityKey({ datasetName: r.datasetName, date: r.date, time: r.time, originator: r.destination, destination: r.originator });
      const known = this.#services.history.get(inId(key));
      if (known) await this.#services.history.record({ ...known, state: 'acknowledged' });
    }
    await this.#services.receipts.remove(sent.partner, sent.id);
  }

  async #receiptReceived(receipt: Eerp | Nerp): Promise<void> {
    // The receipt's DEST is the file's originator (us) and its ORIG the final recipient (§5.3.13).
    const key = identityKey({ datasetName: receipt.datasetName, date: receipt.date, time: receipt.time, originator: receipt.destination, destination: receipt.originator });
    const known = this.#services.history.get(outId(key));
    this.summary.receiptsReceived++;
    if (!known) {
      this.#log('warn', { dataset: receipt.datasetName, cmd: receipt.cmd }, 'Inbound: receipt for a file we have no record of');
      return;
    }
    const update: TransferUpdate =
      receipt.cmd === 'EERP'
        ? { ...known, state: 'delivered' }
        : { ...known, state: 'failed', reason: `NERP ${receipt.reason}`, reasonText: receipt.reasonText || describeNerp(receipt.reason) };
    await this.#services.history.record(update);
    await this.#services.receiving?.receiptReceived(this.partner!.name, receipt);
    this.#log('info', { dataset: receipt.datasetName, cmd: receipt.cmd }, `Inbound: ${receipt.cmd}`);
  }

  // ---- listener ----

  async #fileOffered(sfid: Sfid, io: DriverIo): Promise<void> {
    const partner = this.partner!;
    const services = this.#services;
    const receiving = services.receiving;
    const inboxDir = await this.#inbox.dirFor(partner.name, sfid);
    const policy: ReceivingPolicy = {
      stationId: services.stationId,
      knownOriginators: new Set([...services.partners.map((p) => p.odetteId), ...(receiving?.knownOriginators() ?? [])]),
      forwards: receiving ? (destination) => receiving.forwards(partner.name, destination) : undefined,
      inboxDir,
      deliveryName: (offered) => this.#inbox.nameFor(offered),
      space: { reserveBytes: services.reserveBytes, maxFileSizeBlocks: partner.maxFileSizeBytes ? Math.floor(partner.maxFileSizeBytes / 1024) : undefined },
      checkpointIntervalBytes: services.checkpointIntervalBytes,
      alreadyDelivered: (identity) => {
        const state = services.history.get(inId(identityKey(identity)))?.state;
        return state === 'received' || state === 'acknowledged';
      },
    };
    const decision = await decideIncoming(sfid, policy, this.#parameters!);
    if (!decision.accept) {
      await this.#record(sfid, 'in', { state: 'failed', reason: `SFNA ${decision.reason}`, reasonText: decision.reasonText });
      this.#log('warn', { dataset: sfid.datasetName, reason: decision.reason, text: decision.reasonText }, 'Inbound: file refused');
      this.#session.refuseFile({ reason: decision.reason, retry: decision.retry, reasonText: decision.reasonText }, io.now());
      return;
    }
    this.#incoming = decision.transfer;
    this.#incomingDir = inboxDir;
    if (!decision.transfer.duplicate) await this.#record(sfid, 'in', { state: 'receiving' });
    this.#log('info', { dataset: sfid.datasetName, restartPosition: decision.restartPosition, duplicate: decision.transfer.duplicate }, 'Inbound: receiving file');
    this.#session.acceptFile(decision.restartPosition, io.now());
  }

  async #data(payload: Uint8Array, io: DriverIo): Promise<void> {
    try {
      await this.#incoming!.data(payload);
    } catch (err) {
      if (err instanceof RemoteProtocolError) {
        this.#session.abort(err.esidReason, err.message.slice(0, 200), io.now());
        return;
      }
      throw err;
    }
    this.#session.dataConsumed(1, io.now());
  }

  async #endFile(recordCount: number, unitCount: number, io: DriverIo): Promise<void> {
    const transfer = this.#incoming!;
    const partner = this.partner!;
    const sfid = transfer.sfid;
    const inboxDir = this.#incomingDir ?? (await this.#inbox.dirFor(partner.name, sfid));
    if (!transfer.duplicate) {
      const file = transfer.partial!;
      await this.#services.journal.begin({ key: transfer.key, partner: partner.name, identity: transfer.identity, userData: sfid.userData, partPath: file.partPath, inboxDir, octets: file.progress().octets });
    }
    const outcome = await transfer.end(recordCount, unitCount, inboxDir, this.#inbox.nameFor(sfid)).catch(async (err) => {
      if (!transfer.duplicate) await this.#services.journal.finish(transfer.key);
      throw err;
    });
    this.#incoming = undefined;
    if (!outcome.ok) {
      if (!transfer.duplicate) await this.#services.journal.finish(transfer.key);
      await this.#record(sfid, 'in', { state: 'failed', reason: `EFNA ${outcome.reason}`, reasonText: outcome.reasonText });
      this.#session.refuseEndFile({ reason: outcome.reason, reasonText: outcome.reasonText }, io.now());
      return;
    }
    await recordDelivery(this.#services, partner.name, sfid, sfid.userData, { ...outcome, dir: inboxDir }, transfer.duplicate);
    if (!transfer.duplicate) await this.#services.journal.finish(transfer.key);
    this.summary.received++;
    this.#log('info', { dataset: sfid.datasetName, path: outcome.path, duplicate: outcome.duplicate }, 'Inbound: file delivered');
    this.#session.acceptEndFile({ changeDirection: false }, io.now());
  }

  #record(sfid: FileIdentityFields, direction: 'in' | 'out', update: Partial<TransferUpdate>): Promise<void> {
    return recordTransfer(this.#services, sfid, direction, update, this.partner!.name);
  }

  #log(level: 'info' | 'warn', obj: object, msg: string): void {
    if (this.log === this.#services.log) this.#services.log[level]({ partner: this.partner?.name, ...obj }, msg);
    else this.log[level](obj, msg);
  }
}

type FileIdentityFields = Pick<Sfid, 'datasetName' | 'date' | 'time' | 'originator' | 'destination'>;

/** Records a transfer's state change under its identity (out:/in: + identity key). */
export async function recordTransfer(services: StationServices, sfid: FileIdentityFields, direction: 'in' | 'out', update: Partial<TransferUpdate>, partner: string): Promise<void> {
  const identity = { datasetName: sfid.datasetName, date: sfid.date, time: sfid.time, originator: sfid.originator, destination: sfid.destination };
  const key = identityKey(identity);
  const id = direction === 'out' ? outId(key) : inId(key);
  const previous = services.history.get(id);
  await services.history.record({ ...previous, ...identity, id, direction, partner, state: 'queued', ...update });
}

/** Queues the EERP (§4.3.6) and records the delivery; also settles deliveries a crash interrupted. */
export async function recordDelivery(services: StationServices, partner: string, sfid: FileIdentityFields, userData: string, delivered: { path?: string; octets?: number; sha256?: string; dir?: string }, duplicate: boolean): Promise<void> {
  const eerp: Eerp = {
    cmd: 'EERP',
    datasetName: sfid.datasetName,
    date: sfid.date,
    time: sfid.time,
    userData,
    destination: sfid.originator,
    originator: sfid.destination,
    fileHash: new Uint8Array(0),
    signature: new Uint8Array(0),
  };
  const identity = { datasetName: sfid.datasetName, date: sfid.date, time: sfid.time, originator: sfid.originator, destination: sfid.destination };
  const taken = services.receiving
    ? await services.receiving.delivered({ partner, identity, userData, path: delivered.path, dir: delivered.dir, duplicate, eerp })
    : { receipt: eerp };
  if (taken.receipt) await services.receipts.add(partner, taken.receipt);
  if (!duplicate) await recordTransfer(services, sfid, 'in', { state: 'received', path: delivered.path, size: delivered.octets, sha256: delivered.sha256, ...taken.history }, partner);
}

/** Shapes an SFID for what the negotiated level can carry (RFC 2204 has no description, OSIZ, or counter). */
export function sfidAtLevel(sfid: Sfid, level: number): Sfid {
  if (level >= 5) return sfid;
  const shaped = { ...sfid, description: '', originalFileSize: 0 };
  if (level < 4) shaped.time = `${sfid.time.slice(0, 6)}0000`;
  return shaped;
}
