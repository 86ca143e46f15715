// The station's side of one OFTP session: it answers the engine's events with the spool, incoming
// files, pending receipts and history. As speaker it sends receipts first, then queued files, then
// gives up the turn; as listener it receives files durably and queues their EERPs (RFC 5024 §3.3).
import { datasetFileName, identityKey, type PendingReceiptStore, type Spool, type SpoolEntry, type StoredReceipt, sfidFor, sha256File } from '../files/index.ts';
import { ConfigError, RemoteProtocolError } from '../errors.ts';
import type { Eerp, Nerp, Sfid } from '../protocol/command-types.ts';
import { describeEfna, describeNerp, describeSfna, EsidReason } from '../protocol/reason-codes.ts';
import { CmsError, hashFile } from '../security/cms/index.ts';
import type { OftpSession } from '../session/engine.ts';
import type { NegotiatedParameters, SessionEvent } from '../session/types.ts';
import { fileServicesOf, type PartnerConfig } from '../store/station-config.ts';
import type { TransferHistory, TransferUpdate } from '../store/transfer-history.ts';
import type { DriverIo, SessionHandler } from '../transports/session-driver.ts';
import type { DeliveryJournal } from './delivery-journal.ts';
import type { IncomingProcessor, ProcessingJob } from './incoming-processing.ts';
import { decideIncoming, type IncomingTransfer, inboxFor, isSecuredForUs, type ReceivingPolicy } from './incoming-transfer.ts';
import { OutgoingTransfer } from './outgoing-transfer.ts';
import type { StationSecurity } from './station-security.ts';

/**
 * When we get the turn, the partner's received files still being opened are waited for this long, so
 * their EERP/NERP goes out in the same session (later ones go in the next). The partner waits for our
 * next command meanwhile: StationServices.receiptWaitMs keeps it within half our own response timer.
 */
const RECEIPT_WAIT_MS = 60_000;

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
  /** Our keys and the partners' certificates (secure authentication, file services, signed receipts). */
  security?: StationSecurity;
  /** Opens received secured files after EFPA (src/station/incoming-processing.ts). */
  processor?: IncomingProcessor;
  /** Longest wait for files being opened when we get the turn, ms (default RECEIPT_WAIT_MS). */
  receiptWaitMs?: number;
  /** SHA-256 (hex) of a received file, for history (default: read and hashed here, see #endFile). */
  digestReceived?: (path: string) => Promise<string>;
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
/** Acknowledged receipts removed per batch (one history fsync and one directory fsync each). */
const BATCH = 64;
/** Sent files leave the spool with one folder fsync per this many ms (Spool.remove lingerMs). */
const SPOOL_REMOVAL_LINGER_MS = 10;
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
  /** Deliveries whose EERP and history are being written: the turn to speak waits for them. */
  readonly #recordings = new Set<Promise<void>>();
  /** The first of them that failed: the session ends on it (ESID 99), as if it had failed before EFPA. */
  #recordingFailed: unknown;
  /** Delivery journal entries whose delivery is recorded: removed together (#finishJournal). */
  #journalDone: string[] = [];
  /** Receipts the peer acknowledged (RTR), removed together once 'acknowledged' is durable (#finishAcks). */
  #acked: { partner: string; id: string; recorded: Promise<unknown> }[] = [];
  /** Deliveries of this session whose 'received' is still being recorded (behind their EERP), by identity key. */
  readonly #receiving = new Map<string, Promise<void>>();
  /** Spool entries sent (EFPA) whose removal is still being written: not offered again. */
  readonly #leaving = new Set<string>();
  /** Writes running behind the protocol (#inBackground). */
  readonly #background = new Set<Promise<void>>();
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
        return this.#challenge(io);
      case 'authChallengeReceived':
        return this.#answerChallenge(event.challenge, io);
      case 'peerAuthenticated':
        this.#log('info', { peer: event.peerIdentificationCode }, 'secure authentication: the partner answered our challenge');
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
    // Batches and lazy history changes are written before the session is reported ended; deliveries
    // still recording 'received' (behind their EERP) first, so their journal entries go below.
    await Promise.allSettled([...this.#recordings, ...this.#receiving.values()]);
    await this.#finishJournal().catch((err) => this.#log('warn', { err: String(err) }, 'removing delivery journal entries failed'));
    await this.#finishAcks().catch((err) => this.#log('warn', { err: String(err) }, 'removing acknowledged receipts failed'));
    await this.#services.history.flush().catch(() => {});
    while (this.#background.size > 0) await Promise.all(this.#background);
  }

  /**
   * Runs a write whose durability nothing in this session waits for (see the callers), without
   * holding up the protocol; close() waits for all of them, a failure is logged.
   */
  #inBackground(work: Promise<unknown>, what: string): void {
    const tracked = work.then(
      () => {},
      (err) => this.#log('warn', { err: String(err) }, `${what} failed`),
    );
    this.#background.add(tracked);
    tracked.then(() => this.#background.delete(tracked));
  }

  // ---- secure authentication (§4.2.3) ----

  /** SECD received: challenge the partner with its authentication certificate (ESID 12 without one). */
  async #challenge(io: DriverIo): Promise<void> {
    const security = this.#services.security;
    const partner = this.partner;
    try {
      if (!security || !partner) throw new ConfigError('OFTP_ERR_CONFIG', 'secure authentication is not configured');
      const challenge = await security.challengeFor(partner);
      this.#session.sendChallenge(challenge.auch, challenge.expected, io.now());
    } catch (err) {
      this.#log('warn', { err: String(err) }, 'secure authentication: cannot challenge the partner');
      this.#session.abort(EsidReason.authenticationIncompatible, `secure authentication: ${(err as Error).message}`.slice(0, 200), io.now());
    }
  }

  /** AUCH received: decrypt with our authentication key; one we cannot decrypt ends with ESID 11. */
  async #answerChallenge(challenge: Uint8Array, io: DriverIo): Promise<void> {
    const security = this.#services.security;
    try {
      if (!security) throw new ConfigError('OFTP_ERR_CONFIG', 'secure authentication is not configured');
      const response = await security.answerChallenge(challenge);
      this.#session.answerChallenge(response, io.now());
    } catch (err) {
      const reason = err instanceof CmsError ? EsidReason.invalidChallengeResponse : err instanceof ConfigError ? EsidReason.authenticationIncompatible : EsidReason.unspecified;
      this.#log('warn', { err: String(err), esid: reason }, 'secure authentication: cannot answer the partner\'s challenge');
      this.#session.abort(reason, `secure authentication: ${(err as Error).message}`.slice(0, 200), io.now());
    }
  }

  // ---- speaker ----

  async #speak(io: DriverIo): Promise<void> {
    const partner = this.partner!;
    // EERPs of files received in this session go out in this session: their recording must be done.
    // One that failed ends the session as a local failure (the journal completes it at the next start).
    while (this.#recordings.size > 0) await Promise.allSettled(this.#recordings);
    if (this.#recordingFailed !== undefined) throw this.#recordingFailed;
    await this.#finishJournal();
    // Files received in this session are opened after their EFPA: their receipts go out now if ready.
    await this.#services.processor?.idle(partner.name, this.#services.receiptWaitMs ?? RECEIPT_WAIT_MS);
    const [receipt] = await this.#services.receipts.list(partner.name);
    if (receipt) {
      this.#receiptInFlight = receipt;
      this.#session.sendReceipt(receipt.receipt, io.now());
      return;
    }
    for (const entry of await this.#services.spool.list(partner.name)) {
      if (this.#deferred.has(entry.meta.id) || this.#leaving.has(entry.meta.id)) continue;
      if (this.#services.history.get(outId(identityKey(entry.meta)))?.state === 'delivered') {
        // Its EERP arrived, so the file is at its destination: a crash only cost us the spool removal
        // at EFPA. Sending it again would turn 'delivered' back into 'sending' for a whole resend.
        await this.#services.spool.remove(entry);
        this.#log('info', { dataset: entry.meta.datasetName }, 'Outbound: already delivered (EERP received), removed from the spool');
        continue;
      }
      const changed = await this.#services.spool.sharedFileChanged(entry);
      if (changed !== undefined) {
        await this.#unsendable(entry, changed);
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
    // An in-progress mark: nothing depends on it being durable (a crash leaves the file queued either
    // way), so it costs no fsync of its own: it is written with the next durable change (lazy).
    this.#inBackground(this.#record(sfid, 'out', { state: 'sending', size: entry.meta.octets, sha256: entry.meta.sha256 }, { lazy: true }), 'history (sending)');
    this.#log('info', { dataset: sfid.datasetName, restartPosition }, 'Outbound: sending file');
    await this.#sendWindow(io);
  }

  async #sendWindow(io: DriverIo): Promise<void> {
    const out = this.#outgoing!;
    const outcome = await out.sendWindow(this.#session, io);
    this.onProgress?.({ datasetName: out.entry.meta.datasetName, direction: 'out', octets: out.unitsSent, total: out.entry.meta.unitCount });
    // The rest of the window after what arrived meanwhile (a peer's ESID ends the session first).
    if (outcome === 'yield') io.later(() => (this.#outgoing === out ? this.#sendWindow(io) : Promise.resolve()));
  }

  async #sent(): Promise<void> {
    const { entry, sfid } = this.#offered!;
    // The peer holds the file durably (EFPA). Recording 'sent' and taking the entry out of the spool
    // are written behind the next file: a crash before they land only means the file is offered again
    // next session, which the receiver answers as a duplicate (exactly-once is its side's journal).
    // This session does not offer it again (#leaving).
    this.#leaving.add(entry.meta.id);
    this.#inBackground(
      Promise.all([
        this.#record(sfid, 'out', { state: 'sent', size: entry.meta.octets, sha256: entry.meta.sha256 }, { lazy: true }),
        this.#services.spool.remove(entry, { lingerMs: SPOOL_REMOVAL_LINGER_MS }),
      ]),
      'recording a sent file',
    );
    this.#offered = undefined;
    this.#outgoing = undefined;
    this.summary.sent++;
  }

  /** A queued file that may not be sent (Spool.sharedFileChanged): failed in history, out of the spool. */
  async #unsendable(entry: SpoolEntry, why: string): Promise<void> {
    await this.#record(sfidFor(entry.meta, 0), 'out', { state: 'failed', reason: 'changed', reasonText: why });
    await this.#services.spool.remove(entry);
    this.summary.failed++;
    this.#log('warn', { dataset: entry.meta.datasetName, reason: why }, 'Outbound: not sent');
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
    let acknowledged: Promise<unknown> = Promise.resolve();
    /** The 'acknowledged' change has been recorded (lazily: durable with the next flush). */
    let recorded: Promise<void> = Promise.resolve();
    if (r.cmd === 'EERP') {
      // Our EERP names the file's originator as DEST and us as ORIG (§5.3.13).
      const key = identityKey({ datasetName: r.datasetName, date: r.date, time: r.time, originator: r.destination, destination: r.originator });
      const history = this.#services.history;
      const acknowledge = () => {
        const known = history.get(inId(key));
        return known ? history.record({ ...known, state: 'acknowledged' }, { lazy: true }) : undefined;
      };
      // A file received in this session may still be recording 'received' (its EERP went first).
      const receiving = this.#receiving.get(key);
      if (receiving) {
        let written: Promise<unknown> | undefined;
        recorded = receiving.then(() => {
          written = acknowledge();
        });
        acknowledged = recorded.then(() => written);
      } else {
        acknowledged = Promise.resolve(acknowledge());
      }
    }
    // The peer has the receipt. Recording that is not something the peer waits for: the next EERP
    // goes out at once; 'acknowledged' is recorded lazily and the receipt files are removed in
    // batches once it is durable (#finishAcks). A crash before they land only sends these receipts
    // again next session, which the peer takes as duplicates.
    this.#services.receipts.forget(sent.partner, sent.id);
    this.#inBackground(acknowledged, 'history (acknowledged)');
    this.#acked.push({ partner: sent.partner, id: sent.id, recorded });
    if (this.#acked.length >= BATCH) this.#inBackground(this.#finishAcks(), 'removing acknowledged receipts');
  }

  /** Removes the journal entries of recorded deliveries: one directory fsync for the batch. */
  async #finishJournal(): Promise<void> {
    const keys = this.#journalDone;
    this.#journalDone = [];
    await this.#services.journal.finishMany(keys);
  }

  /** Makes 'acknowledged' durable, then removes those receipts: one fsync each for the batch. */
  async #finishAcks(): Promise<void> {
    const acked = this.#acked;
    this.#acked = [];
    if (acked.length === 0) return;
    await Promise.allSettled(acked.map((a) => a.recorded));
    await this.#services.history.flush();
    const byPartner = new Map<string, string[]>();
    for (const { partner, id } of acked) byPartner.set(partner, [...(byPartner.get(partner) ?? []), id]);
    for (const [partner, ids] of byPartner) await this.#services.receipts.removeMany(partner, ids);
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
    if (known.signedReceipt && known.receiptHash !== undefined) {
      // We sent it asking for a signed receipt (SFIDSIGN Y): only a receipt signed by the final
      // recipient over its fields, with the hash of the file we transmitted, counts (§5.3.13). One that
      // fails is never a delivery: the file is marked failed with why (the RTR still goes out: it only
      // says the command was received).
      const signer = this.#services.partners.find((p) => p.odetteId === receipt.originator) ?? this.partner;
      const check = this.#services.security
        ? await this.#services.security.checkReceipt(receipt, signer, known.receiptHash)
        : ({ ok: false, why: 'the station has no security services' } as const);
      if (!check.ok && known.state === 'delivered') {
        this.#log('warn', { dataset: receipt.datasetName, cmd: receipt.cmd, why: check.why }, `Inbound: another ${receipt.cmd} for a file already delivered, not accepted; ignored`);
        return;
      }
      if (!check.ok) {
        const what = receipt.cmd === 'EERP' ? 'EERP' : `NERP ${receipt.reason}`;
        await this.#services.history.record({ ...known, state: 'failed', reason: `${receipt.cmd} unverified`, reasonText: `${what} received but not accepted: ${check.why}` });
        this.#log('warn', { dataset: receipt.datasetName, cmd: receipt.cmd, why: check.why }, `Inbound: ${receipt.cmd} with an invalid signature or hash, not recorded as a delivery`);
        return;
      }
      this.#log('info', { dataset: receipt.datasetName, cmd: receipt.cmd, signer: check.signer }, `Inbound: ${receipt.cmd} signature verified`);
    }
    const update: TransferUpdate =
      receipt.cmd === 'EERP'
        ? { ...known, state: 'delivered', reason: undefined, reasonText: undefined }
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
      alreadyDelivered: async (identity) => {
        const key = identityKey(identity);
        if (services.journal.isCommitted(key)) return true; // delivered, recording still being written
        const state = services.history.get(inId(key))?.state;
        if (state === 'received' || state === 'acknowledged') return true;
        // Received before and being opened, or opened and failed (NERP): a resend is a duplicate too.
        const processor = services.processor;
        return processor !== undefined && (processor.has(partner.name, key) || (await processor.failed(partner.name, key)) !== undefined);
      },
      security: services.security && {
        agreement: fileServicesOf(partner).receive,
        canDecrypt: services.security.keys.has('encryption'),
        canVerify: services.security.partnerHas(partner, 'signing'),
        canSignReceipts: services.security.keys.has('signing'),
      },
      processingDir: services.processor?.dirFor(partner.name),
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
    // An in-progress mark, like 'sending': written with the next durable change ('received').
    if (!decision.transfer.duplicate) this.#inBackground(this.#record(sfid, 'in', { state: 'receiving' }, { lazy: true }), 'history (receiving)');
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
    if (!transfer.duplicate && this.#services.processor && isSecuredForUs(sfid, this.#services.stationId)) {
      return this.#endSecuredFile(transfer, recordCount, unitCount, inboxDir, io);
    }
    // A plain file for us with SFIDSIGN Y: its EERP is signed over the hash of the file as received.
    const signReceipt = sfid.signedReceipt && sfid.destination === this.#services.stationId ? { cipherSuite: sfid.cipherSuite } : undefined;
    if (!transfer.duplicate) {
      const file = transfer.partial!;
      // The journal entry and the fsync of the data do not depend on each other: they run at once.
      // The commit (in end()) needs both.
      const [journal, data] = await Promise.allSettled([
        this.#services.journal.begin({ key: transfer.key, partner: partner.name, identity: transfer.identity, userData: sfid.userData, partPath: file.partPath, inboxDir, octets: file.progress().octets, signedReceipt: signReceipt }),
        file.sync(),
      ]);
      if (journal.status === 'rejected') throw journal.reason;
      if (data.status === 'rejected') {
        await this.#services.journal.finish(transfer.key);
        throw data.reason;
      }
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
    if (transfer.duplicate) {
      await this.#duplicateReceived(sfid, { ...outcome, dir: inboxDir });
    } else {
      // The file is durably in the inbox and the durable journal entry says so (it names the partial and
      // its inode): EFPA may go now. Its EERP and 'received' are written behind, then the entry goes.
      // A crash in between leaves the entry, and the next start records the delivery from it before
      // any session runs (Station.open settles leftovers), so a resend after EFPA is still a duplicate;
      // until then, in this process, the journal says the identity is committed (alreadyDelivered).
      const journal = this.#services.journal;
      journal.markCommitted(transfer.key);
      const key = transfer.key;
      const delivered = { ...outcome, dir: inboxDir };
      // The file's SHA-256, for history only, is computed from the delivered file, neither while it
      // streams in nor in the way of its EERP (half a second per GiB): the EERP is queued first and
      // 'received' is recorded with the hash once it is known (an RTR meanwhile waits for it, see
      // #receiptAcknowledged). A crash in between leaves the journal entry, as before.
      const services = this.#services;
      const path = outcome.path!;
      const digest = services.digestReceived ?? ((p: string) => sha256File(p).then((h) => Buffer.from(h).toString('hex')));
      const hashing = digest(path).catch((err) => {
        this.#log('warn', { dataset: sfid.datasetName, err: String(err) }, 'Inbound: cannot hash the received file; history goes without its SHA-256');
        return undefined;
      });
      let receiptQueued!: () => void;
      const queued = new Promise<void>((resolve) => {
        receiptQueued = resolve;
      });
      const recording = (async () => {
        const sealed = signReceipt ? await plainReceipt(services, sfid, sfid.userData, path, signReceipt.cipherSuite) : undefined;
        await recordDelivery(services, partner.name, sfid, sfid.userData, delivered, false, sealed, { sha256: hashing, receiptQueued });
      })();
      this.#receiving.set(key, recording.catch(() => {}));
      recording.then(
        () => this.#receiving.delete(key),
        () => this.#receiving.delete(key),
      );
      // What the turn to speak (the EERPs) waits for: the receipt queued, or the recording failed.
      const receipt = Promise.race([queued, recording]);
      this.#recordings.add(receipt);
      receipt.then(
        () => this.#recordings.delete(receipt),
        (err) => {
          this.#recordings.delete(receipt);
          this.#recordingFailed ??= err;
        },
      );
      // The entry goes once recorded, with others in one directory fsync (#finishJournal): at the latest
      // when we get the turn, before the EERPs go out, and at the end of the session.
      this.#inBackground(
        recording.then(() => {
          this.#journalDone.push(key);
          if (this.#journalDone.length >= BATCH) return this.#finishJournal();
        }),
        'recording a delivery (the journal keeps it for the next start)',
      );
    }
    this.summary.received++;
    this.#log('info', { dataset: sfid.datasetName, path: outcome.path, duplicate: outcome.duplicate }, 'Inbound: file delivered');
    this.#session.acceptEndFile({ changeDirection: false }, io.now());
  }

  /**
   * EFID of a secured file for us: committed into the processing area (not the inbox), EFPA, then
   * opened by the IncomingProcessor, which queues the EERP or NERP (incoming-processing.ts).
   */
  async #endSecuredFile(transfer: IncomingTransfer, recordCount: number, unitCount: number, inboxDir: string, io: DriverIo): Promise<void> {
    const processor = this.#services.processor!;
    const partner = this.partner!;
    const sfid = transfer.sfid;
    const job: ProcessingJob = {
      version: 1,
      key: transfer.key,
      partner: partner.name,
      identity: transfer.identity,
      userData: sfid.userData,
      format: sfid.format,
      maxRecordSize: sfid.maxRecordSize,
      securityLevel: sfid.securityLevel,
      cipherSuite: sfid.cipherSuite,
      compression: sfid.compression,
      envelope: sfid.envelope,
      signedReceipt: sfid.signedReceipt,
      deliveryDir: inboxDir,
      deliveryName: this.#inbox.nameFor(sfid),
      partPath: transfer.partial!.partPath,
      partInode: 0,
      state: 'committing',
    };
    await processor.begin(job);
    const outcome = await transfer.end(recordCount, unitCount, processor.dirFor(partner.name), processor.transmittedName(transfer.key)).catch(async (err) => {
      await processor.abandon(job);
      throw err;
    });
    this.#incoming = undefined;
    if (!outcome.ok) {
      await processor.abandon(job);
      await this.#record(sfid, 'in', { state: 'failed', reason: `EFNA ${outcome.reason}`, reasonText: outcome.reasonText });
      this.#session.refuseEndFile({ reason: outcome.reason, reasonText: outcome.reasonText }, io.now());
      return;
    }
    // History first: the job may finish (and record 'received') before this handler returns.
    await this.#record(sfid, 'in', { state: 'receiving', size: outcome.octets, reasonText: 'received; being opened (decrypt, decompress, verify)' });
    await processor.received(job, outcome.path!);
    this.summary.received++;
    this.#log('info', { dataset: sfid.datasetName, octets: outcome.octets }, 'Inbound: secured file received; opened after EFPA');
    this.#session.acceptEndFile({ changeDirection: false }, io.now());
  }

  /**
   * A file received again after a lost EFPA: its receipt again — none while it is still being opened
   * (the job answers), the NERP when opening it failed, else the EERP, signed again when it was.
   */
  async #duplicateReceived(sfid: Sfid, delivered: { path?: string; octets?: number; dir?: string }): Promise<void> {
    const services = this.#services;
    const partner = this.partner!.name;
    const key = identityKey(sfid);
    const processor = services.processor;
    if (processor?.has(partner, key)) return;
    const failed = await processor?.failed(partner, key);
    if (failed && services.security) {
      const nerp: Nerp = {
        cmd: 'NERP',
        datasetName: sfid.datasetName,
        date: sfid.date,
        time: sfid.time,
        destination: sfid.originator,
        originator: sfid.destination,
        creator: services.stationId,
        reason: failed.reason,
        reasonText: failed.text,
        fileHash: new Uint8Array(0),
        signature: new Uint8Array(0),
      };
      const hash = failed.receiptHash ? new Uint8Array(Buffer.from(failed.receiptHash, 'hex')) : new Uint8Array(0);
      await services.receipts.add(partner, await services.security.sealNerp(nerp, hash, failed.signedReceipt ? { cipherSuite: failed.cipherSuite } : undefined));
      return;
    }
    const known = services.history.get(inId(key));
    let sealed: SealedReceipt | undefined;
    if (known?.signedReceipt && known.receiptHash !== undefined && known.cipherSuite && services.security) {
      const eerp = emptyEerp(sfid, sfid.userData);
      sealed = { eerp: await services.security.sealEerp(eerp, new Uint8Array(Buffer.from(known.receiptHash, 'hex')), { cipherSuite: known.cipherSuite }) };
    }
    await recordDelivery(services, partner, sfid, sfid.userData, delivered, true, sealed);
  }

  #record(sfid: FileIdentityFields, direction: 'in' | 'out', update: Partial<TransferUpdate>, options: { lazy?: boolean } = {}): Promise<void> {
    return recordTransfer(this.#services, sfid, direction, update, this.partner!.name, options);
  }

  #log(level: 'info' | 'warn', obj: object, msg: string): void {
    if (this.log === this.#services.log) this.#services.log[level]({ partner: this.partner?.name, ...obj }, msg);
    else this.log[level](obj, msg);
  }
}

type FileIdentityFields = Pick<Sfid, 'datasetName' | 'date' | 'time' | 'originator' | 'destination'>;

/** Records a transfer's state change under its identity (out:/in: + identity key). */
export async function recordTransfer(
  services: StationServices,
  sfid: FileIdentityFields,
  direction: 'in' | 'out',
  update: Partial<TransferUpdate>,
  partner: string,
  options: { lazy?: boolean } = {},
): Promise<void> {
  const identity = { datasetName: sfid.datasetName, date: sfid.date, time: sfid.time, originator: sfid.originator, destination: sfid.destination };
  const key = identityKey(identity);
  const id = direction === 'out' ? outId(key) : inId(key);
  const previous = services.history.get(id);
  await services.history.record({ ...previous, ...identity, id, direction, partner, state: 'queued', ...update }, options);
}

/** An EERP prepared for a file (hash, signature) and what history should keep about it. */
export interface SealedReceipt {
  eerp: Eerp;
  history?: Partial<TransferUpdate>;
}

/** The EERP for a file, without hash or signature (§5.3.13: DEST is the originator, ORIG us). */
export function emptyEerp(sfid: FileIdentityFields, userData: string): Eerp {
  return {
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
}

/**
 * The signed EERP for a plain (unenveloped) file received with SFIDSIGN Y: EERPHSH is the suite's
 * digest of the file as stored. Without the file (consumed before a crash was settled) or without a
 * signing key, the EERP goes unsigned (§4.3.6 allows it) and the log says why.
 */
export async function plainReceipt(services: StationServices, sfid: FileIdentityFields, userData: string, path: string | undefined, cipherSuite: number): Promise<SealedReceipt> {
  const eerp = emptyEerp(sfid, userData);
  if (!services.security || path === undefined) return { eerp };
  try {
    const hash = await hashFile(path, cipherSuite);
    const sealed = await services.security.sealEerp(eerp, hash, { cipherSuite });
    return { eerp: sealed, history: { cipherSuite, signedReceipt: true, receiptHash: Buffer.from(hash).toString('hex') } };
  } catch (err) {
    services.log.warn({ dataset: sfid.datasetName, err: String(err) }, 'Inbound: cannot sign the EERP; it goes unsigned');
    return { eerp };
  }
}

/** Queues the EERP (§4.3.6) and records the delivery; also settles deliveries a crash interrupted. */
export async function recordDelivery(
  services: StationServices,
  partner: string,
  sfid: FileIdentityFields,
  userData: string,
  delivered: { path?: string; octets?: number; sha256?: string; dir?: string },
  duplicate: boolean,
  sealed?: SealedReceipt,
  /**
   * `sha256`: the file's hash, still being computed: the receipt is queued first (then
   * `receiptQueued` is called), 'received' is recorded once the hash is known.
   */
  behind?: { sha256: Promise<string | undefined>; receiptQueued: () => void },
): Promise<void> {
  const eerp = sealed?.eerp ?? emptyEerp(sfid, userData);
  const identity = { datasetName: sfid.datasetName, date: sfid.date, time: sfid.time, originator: sfid.originator, destination: sfid.destination };
  const taken = services.receiving
    ? await services.receiving.delivered({ partner, identity, userData, path: delivered.path, dir: delivered.dir, duplicate, eerp })
    : { receipt: eerp };
  if (behind && !duplicate) {
    // Batched with the receipts of the next few files (addSoon): the journal entry covers the delivery
    // until then, and the turn to speak waits for receiptQueued.
    if (taken.receipt) await services.receipts.addSoon(partner, taken.receipt);
    behind.receiptQueued();
    const sha256 = await behind.sha256;
    await recordTransfer(services, sfid, 'in', { state: 'received', path: delivered.path, size: delivered.octets, sha256, ...sealed?.history, ...taken.history }, partner);
    return;
  }
  // The receipt and the history are separate files: both are written (and fsynced) at once.
  await Promise.all([
    taken.receipt ? services.receipts.add(partner, taken.receipt) : undefined,
    duplicate ? undefined : recordTransfer(services, sfid, 'in', { state: 'received', path: delivered.path, size: delivered.octets, sha256: delivered.sha256, ...sealed?.history, ...taken.history }, partner),
  ]);
}

/** Shapes an SFID for what the negotiated level can carry (RFC 2204 has no description, OSIZ, or counter). */
export function sfidAtLevel(sfid: Sfid, level: number): Sfid {
  if (level >= 5) return sfid;
  const shaped = { ...sfid, description: '', originalFileSize: 0 };
  if (level < 4) shaped.time = `${sfid.time.slice(0, 6)}0000`;
  return shaped;
}
