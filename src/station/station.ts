// A running station: its configuration, spool, pending receipts, history and delivery journal, and the
// sessions it runs as responder (serve) or initiator (send). One process owns a data directory at a
// time (a lock file says which); at open, deliveries a crash interrupted are settled first.
import { timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import { removeInterruptedWrites } from '../files/durable-fs.ts';
import { ioError } from '../files/file-errors.ts';
import { defaultPartialDir, identityKey, PendingReceiptStore, Spool, type SpoolEntry, TimestampAllocator, type Transfer } from '../files/index.ts';
import type { Ssid, VirtualFileFormat } from '../protocol/command-types.ts';
import { EsidReason } from '../protocol/reason-codes.ts';
import { OftpSession } from '../session/engine.ts';
import type { PeerDecision, SessionEnded } from '../session/types.ts';
import { type PendingCertificate, storePendingCertificate } from '../security/certificates-store.ts';
import type { TlsBinding } from '../security/certificates-tls.ts';
import { hashFile } from '../security/cms/index.ts';
import { effectivePartnerSettings, fileServicesOf, type PartnerConfig, tlsListenAddress } from '../store/station-config.ts';
import { StationStore } from '../store/station-store.ts';
import { TransferHistory } from '../store/transfer-history.ts';
import { PooledStbFramer } from '../transports/pooled-stb-framer.ts';
import { SessionDriver } from '../transports/session-driver.ts';
import { connectTcp, listenTcp, probePeer } from '../transports/tcp.ts';
import type { TlsError } from '../transports/tls.ts';
import { openShareReceiving } from '../gateway/share-receiving.ts';
import { datasetNameFor } from './dataset-name.ts';
import { releaseLock, takeLock } from './data-dir-lock.ts';
import { DeliveryJournal } from './delivery-journal.ts';
import { IncomingProcessor } from './incoming-processing.ts';
import { sealFile } from './outgoing-envelope.ts';
import { StationSecurity } from './station-security.ts';
import { StationTls, stationKeyStore } from './station-tls.ts';
import { type Log, outId, plainReceipt, type Progress, recordDelivery, type SessionSummary, StationSessionHandler, type StationServices } from './session-handler.ts';

export interface SessionResult {
  partner: string | undefined;
  ended: SessionEnded;
  summary: SessionSummary;
}

export interface EnqueueRequest {
  path: string;
  datasetName?: string;
  format?: VirtualFileFormat;
  recordLength?: number;
  description?: string;
  /** SFIDORIG (default: this station) and SFIDDEST (default: the partner's Odette ID, §4.3.4). */
  originator?: string;
  destination?: string;
  /** SFIDDATE/SFIDTIME, both or neither (default: allocated): kept when forwarding, allocated ahead by the outbox pickup. */
  date?: string;
  time?: string;
  /** SFIDUSER */
  userData?: string;
  /** SFIDSIGN: ask for a signed EERP. */
  signedReceipt?: boolean;
  /**
   * File services to apply (§6), each overriding the partner's agreement (`fileServices.send`) for
   * this file. Applied only to files we originate, never to a file passing through (`secured`, or an
   * originator other than us).
   */
  security?: { sign?: boolean; encrypt?: boolean; compress?: boolean; cipherSuite?: number };
  /** A file already secured by its originator, passing through (forwarding): its SFID fields as received. */
  secured?: { securityLevel: number; cipherSuite: number; compression: number; envelope: number; originalFileSize: number };
  /** 'link' when the caller deletes `path` right after (a move), 'share' to link a file that stays (see Spool.enqueue); default 'copy'. */
  transfer?: Transfer;
  /** The path history shows as the file's source (default: `path`), e.g. its place in an outbox. */
  origin?: string;
}

export const silentLog: Log = { info() {}, warn() {} };

/**
 * Lets the gateway's scheduler take part in admitting partners that call in (dial-in windows,
 * session limits) and hear when their sessions end. Set `station.gate` before serving.
 */
export interface SessionGate {
  /** The partner passed its SSID checks: undefined admits it; a refusal is answered with that ESID (e.g. 08). */
  admit(partner: string): { esidReason: number; text: string } | undefined;
  /** A session `admit` let in has ended (however it ended). */
  released(partner: string, ended: SessionEnded | undefined): void;
}

let sessionCounter = 0;

export class Station {
  readonly store: StationStore;
  readonly services: StationServices;
  readonly #lockPath: string;
  readonly #allocator: TimestampAllocator;
  /** Partners with a session running, and its connection: a second one is refused with ESID 08 (§5.3.11). */
  readonly #busy = new Map<string, Socket>();
  readonly #sessions = new Set<OftpSession>();
  /** Our TLS certificate and key and the partners' TLS trust, read at first use (restart to reload). */
  #tls: Promise<StationTls> | undefined;
  /** Sessions running, with what close() needs to end them and wait for their checkpoints. */
  readonly #running = new Map<OftpSession, { driver: SessionDriver; socket: Socket; done: Promise<unknown> }>();
  /** See SessionGate. */
  gate: SessionGate | undefined;

  private constructor(store: StationStore, services: StationServices, lockPath: string, allocator: TimestampAllocator) {
    this.store = store;
    this.services = services;
    this.#lockPath = lockPath;
    this.#allocator = allocator;
  }

  /**
   * `options.detachedRemoval`: sent files leave the spool through a detached process (see
   * SpoolOptions), for a process that exits right after its session (`oftp2 send`).
   */
  static async open(dataDir: string, log: Log = silentLog, options: { detachedRemoval?: boolean } = {}): Promise<Station> {
    const store = await StationStore.open(dataDir);
    const { state, spool, inbox } = store.paths;
    const lockPath = join(state, 'station.lock');
    await takeLock(lockPath);
    try {
      const allocator = await TimestampAllocator.open(join(state, 'timestamp.json'));
      const services: StationServices = {
        stationId: store.config.station.odetteId,
        partners: store.config.partners,
        spool: await Spool.open(spool, { allocator, detachedRemoval: options.detachedRemoval }),
        receipts: await PendingReceiptStore.open(join(state, 'receipts')),
        history: await TransferHistory.open({ dir: join(state, 'history') }),
        journal: new DeliveryJournal(join(state, 'deliveries')),
        inboxRoot: inbox,
        reserveBytes: store.config.station.diskReserveBytes,
        checkpointIntervalBytes: store.config.station.checkpointIntervalBytes,
        log,
        security: new StationSecurity(store.config, store.paths.dataDir),
        receiptWaitMs: Math.min(60_000, store.config.station.responseTimeoutSeconds * 500),
      };
      services.processor = new IncomingProcessor(state, store.paths.dataDir, services);
      const station = new Station(store, services, lockPath, allocator);
      // The LAN share (src/gateway): inbox folders, receipts held until consumed, forwarding.
      if (store.config.gateway) await openShareReceiving(station);
      await sweepInterruptedWrites(state, inbox);
      // Envelopes a crash left half-made at enqueue (never spooled).
      await rm(join(state, SEALING_DIR), { recursive: true, force: true });
      await station.#settleLeftovers();
      // Received secured files whose opening a stop interrupted (see incoming-processing.ts).
      await services.processor.recover();
      return station;
    } catch (err) {
      await releaseLock(lockPath);
      throw err;
    }
  }

  async #settleLeftovers(): Promise<void> {
    for (const settled of await this.services.journal.settleLeftovers()) {
      const { entry } = settled;
      if (settled.delivered) {
        const sealed = entry.signedReceipt ? await plainReceipt(this.services, entry.identity, entry.userData, settled.path, entry.signedReceipt.cipherSuite) : undefined;
        await recordDelivery(this.services, entry.partner, entry.identity, entry.userData, { path: settled.path, octets: entry.octets, dir: entry.inboxDir }, false, sealed);
        await this.services.journal.finish(entry.key);
        this.services.log.info({ partner: entry.partner, dataset: entry.identity.datasetName }, 'recovered a delivery interrupted by a crash');
      }
    }
  }

  partner(name: string): PartnerConfig {
    const p = this.store.partner(name);
    if (!p) throw new ConfigError('OFTP_ERR_CONFIG', `no partner named "${name}" (see oftp2 partner list)`);
    return p;
  }

  /**
   * Spools a local file for a partner (atomic copy, metadata, history 'queued'). A file we originate
   * gets the file services of the partner's agreement (or of `request.security`) here, before it is
   * spooled (§6.3): signed, compressed and encrypted into one CMS envelope, sent as U.
   */
  async enqueue(partnerName: string, request: EnqueueRequest): Promise<SpoolEntry> {
    const partner = this.partner(partnerName);
    const format = request.format ?? 'U';
    const ours = request.secured === undefined && (request.originator === undefined || request.originator === this.services.stationId);
    const agreed = fileServicesOf(partner).send;
    const s = request.security;
    const sign = ours && (s?.sign ?? (agreed.securityLevel & 2) !== 0);
    const encrypt = ours && (s?.encrypt ?? (agreed.securityLevel & 1) !== 0);
    const compress = ours && (s?.compress ?? agreed.compression);
    const cipherSuite = s?.cipherSuite ?? agreed.cipherSuite;
    const signedReceipt = request.signedReceipt ?? (ours && partner.level >= 5 && agreed.signedReceipt);
    if ((sign || encrypt || compress) && partner.level < 5) {
      throw new ConfigError('OFTP_ERR_CONFIG', `partner "${partner.name}" speaks level ${partner.level}: signing, compressing and encrypting files need OFTP 2 (level 5)`);
    }
    if (sign || encrypt || compress) return this.#enqueueSealed(partner, request, { sign, encrypt, compress, cipherSuite, signedReceipt });
    // A plain file with a signed receipt: SFIDCIPH names the receipt's suite; EERPHSH is the hash of the file as sent.
    const plainSigned = signedReceipt && ours ? { cipherSuite, receiptHash: Buffer.from(await hashFile(request.path, cipherSuite)).toString('hex') } : {};
    const entry = await this.services.spool.enqueue(
      request.path,
      {
        partner: partner.name,
        datasetName: request.datasetName ?? datasetNameFor(request.path),
        originator: request.originator ?? this.services.stationId,
        destination: request.destination ?? partner.odetteId,
        date: request.date,
        time: request.time,
        format,
        maxRecordSize: format === 'F' || format === 'V' ? request.recordLength : 0,
        userData: request.userData,
        description: request.description ?? (partner.level >= 5 ? baseName(request.path) : ''),
        signedReceipt,
        ...plainSigned,
        ...request.secured,
        // RFC 2204 levels carry SFIDTIME as HHMMSS: the counter would be cut off on the wire and two
        // files of one second would share an identity (the second discarded as a duplicate).
        wholeSecondStamp: partner.level < 4,
      },
      { transfer: request.transfer },
    );
    await this.recordQueued(entry, request.origin ?? request.path);
    return entry;
  }

  /** Envelopes the file (outgoing-envelope.ts) into a work file, spools that (linked, not copied) and removes it. */
  async #enqueueSealed(partner: PartnerConfig, request: EnqueueRequest, o: { sign: boolean; encrypt: boolean; compress: boolean; cipherSuite: number; signedReceipt: boolean }): Promise<SpoolEntry> {
    const security = this.services.security!;
    const signers = o.sign ? await security.keys.signers() : undefined;
    let recipient: Uint8Array | undefined;
    if (o.encrypt) {
      const certs = await security.partnerCertificates(partner, 'encryption');
      if (!certs.use) {
        throw new ConfigError('OFTP_ERR_CONFIG', `partner "${partner.name}": no usable encryption certificate to encrypt for it (${certs.problems.join('; ') || 'oftp2 cert import --partner NAME --role encryption'})`);
      }
      recipient = certs.use;
    }
    const format = request.format ?? 'U';
    const workDir = join(this.store.paths.state, SEALING_DIR);
    await mkdir(workDir, { recursive: true, mode: 0o700 });
    // As the plain copy does (Spool.enqueue): a source written to while it was read (a writer still at
    // it after an outbox's stability wait) is not spooled; the caller may try again.
    const before = await stat(request.path);
    const sealed = await sealFile(
      { path: request.path, format, recordLength: request.recordLength, cipherSuite: o.cipherSuite, sign: signers, encryptFor: recipient, compress: o.compress, hashForReceipt: o.signedReceipt },
      workDir,
    );
    const after = await stat(request.path).catch(() => undefined);
    if (after?.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      await rm(sealed.path, { force: true });
      throw ioError('seal', request.path, Object.assign(new Error('source changed while sealed'), { code: 'ECHANGED' }));
    }
    let entry: SpoolEntry;
    try {
      entry = await this.services.spool.enqueue(
        sealed.path,
        {
          partner: partner.name,
          datasetName: request.datasetName ?? datasetNameFor(request.path),
          originator: this.services.stationId,
          destination: request.destination ?? partner.odetteId,
          date: request.date,
          time: request.time,
          format,
          maxRecordSize: sealed.maxRecordSize,
          userData: request.userData,
          description: request.description ?? baseName(request.path),
          securityLevel: sealed.securityLevel,
          cipherSuite: sealed.cipherSuite,
          compression: sealed.compression,
          envelope: sealed.envelope,
          originalFileSize: sealed.originalFileSize,
          signedReceipt: o.signedReceipt,
          receiptHash: o.signedReceipt ? sealed.receiptHash : undefined,
        },
        { transfer: 'link' },
      );
    } finally {
      await rm(sealed.path, { force: true });
    }
    this.services.log.info(
      { partner: partner.name, dataset: entry.meta.datasetName, octets: sealed.originalBytes, enveloped: sealed.envelopedBytes, securityLevel: sealed.securityLevel, compression: sealed.compression, cipherSuite: sealed.cipherSuite },
      'Outbound: file secured and queued',
    );
    // The source may go now (the outbox's 'link' moves it): the spool holds the envelope only.
    await this.recordQueued(entry, request.origin ?? request.path);
    return entry;
  }

  /** SFIDDATE/SFIDTIME for a file that will be queued for the partner (unique, durable; see TimestampAllocator). */
  allocateStamp(partnerName: string): Promise<{ date: string; time: string }> {
    return this.#allocator.allocate({ wholeSecond: this.partner(partnerName).level < 4 });
  }

  /** History 'queued' for a spool entry; `path` is where it came from. */
  async recordQueued(entry: SpoolEntry, path: string): Promise<void> {
    const m = entry.meta;
    await this.services.history.record({
      id: outId(identityKey(m)),
      direction: 'out',
      state: 'queued',
      partner: m.partner,
      datasetName: m.datasetName,
      date: m.date,
      time: m.time,
      originator: m.originator,
      destination: m.destination,
      size: m.octets,
      sha256: m.sha256,
      path,
      ...(m.signedReceipt ? { signedReceipt: true, cipherSuite: m.cipherSuite, receiptHash: m.receiptHash } : {}),
    });
  }

  #newSession(role: 'initiator' | 'responder', partner: PartnerConfig | undefined, tls: TlsBinding | undefined, socket: Socket) {
    const station = this.store.config.station;
    const base = partner ? effectivePartnerSettings(station, partner) : effectivePartnerSettings(station, { level: 5, sendReceive: 'B' } as PartnerConfig);
    let handler!: StationSessionHandler;
    const id = (++sessionCounter).toString(36);
    const log = this.services.log;
    // A child logger per session carries {session, partner} (the responder's partner is known at its SSID).
    const sessionLog = (name: string | undefined): Log => log.child?.({ session: id, partner: name }) ?? log;
    let traceLog = sessionLog(partner?.name);
    const checkPeer = (ssid: Ssid): PeerDecision => {
      const known = role === 'responder' ? this.store.partnerByOdetteId(ssid.identificationCode) : partner;
      if (!known || known.odetteId !== ssid.identificationCode) {
        return { accept: false, esidReason: EsidReason.userCodeNotKnown, text: `unknown identification code ${ssid.identificationCode}` };
      }
      const wrongTransport = role === 'responder' ? transportRefusal(known, tls) : undefined;
      if (wrongTransport) return wrongTransport;
      if (!samePassword(ssid.password, known.passwordExpected)) {
        return { accept: false, esidReason: EsidReason.invalidPassword, text: 'invalid password' };
      }
      if (role === 'responder') {
        // SSIDAUTH must match (§5.3.2): 'optional' answers what the initiator asked; a mismatch is ESID 12.
        const secureAuthentication = ssid.level >= 5 && (this.services.security?.responderAuthentication(known, ssid.secureAuthentication) ?? false);
        // One session per partner: two would both send its queued files and write its partial files.
        // The partner calling again while its session runs is often a sign that the old connection is
        // dead (it rebooted, or a NAT dropped the state, and no FIN came). RFC 5024 has no "duplicate
        // session" answer and no take-over: ESID 08 "Resources not available" (§5.3.11) is for a
        // connection "denied due to a resource shortage", to be "retried later". Ending the old session
        // instead would abort a live one of a partner that runs sessions in parallel, and admitting the
        // new one before the old has closed its files would overlap them. So the new one is refused
        // with 08, and the old connection is probed now (probePeer: a dead one closes within about 11 s,
        // which ends its session and frees the partner for the retry; a live one is not disturbed).
        const running = this.#busy.get(known.name);
        if (running) {
          probePeer(running);
          return { accept: false, esidReason: EsidReason.resourcesNotAvailable, text: 'a session with this partner is already running; retry later' };
        }
        const refused = this.gate?.admit(known.name);
        if (refused) return { accept: false, ...refused };
        this.#busy.set(known.name, socket);
        handler.partner = known;
        handler.gated = this.gate !== undefined;
        traceLog = sessionLog(known.name);
        if (traceLog !== log) handler.log = traceLog;
        const s = effectivePartnerSettings(station, known);
        return {
          accept: true,
          overrides: { password: known.passwordToSend, level: s.level, exchangeBufferSize: s.exchangeBufferSize, credit: s.credit, bufferCompression: s.bufferCompression, restart: s.restart, sendReceive: s.sendReceive, secureAuthentication },
        };
      }
      return { accept: true };
    };
    // The STB framing with reused frame and assembly buffers (the driver releases written frames).
    const framer = new PooledStbFramer({ exchangeBufferSize: base.exchangeBufferSize });
    const session = new OftpSession({
      role,
      framer,
      local: {
        identificationCode: station.odetteId,
        password: partner?.passwordToSend ?? '',
        level: base.level,
        exchangeBufferSize: base.exchangeBufferSize,
        credit: base.credit,
        bufferCompression: base.bufferCompression,
        restart: base.restart,
        sendReceive: base.sendReceive,
        secureAuthentication: partner !== undefined && (this.services.security?.initiatorWantsAuthentication(partner) ?? false),
      },
      checkPeer,
      timers: { response: { durationMs: station.responseTimeoutSeconds * 1000, onExpiry: 'esid' } },
      // Command traces at debug level, 'Inbound:'/'Outbound:' (only when debug is on: DATA is hot).
      trace: log.isLevelEnabled?.('debug') ? (e) => traceLog.debug?.(traceFields(e.command, e.state), `${e.direction === 'inbound' ? 'Inbound' : 'Outbound'}: ${e.command.cmd}`) : undefined,
    });
    handler = new StationSessionHandler(this.services, session, partner);
    if (traceLog !== log) handler.log = traceLog;
    return { session, handler, framer };
  }

  async #run(socket: Socket, role: 'initiator' | 'responder', partner: PartnerConfig | undefined, onProgress?: (p: Progress) => void, tls?: TlsBinding): Promise<SessionResult> {
    const { session, handler, framer } = this.#newSession(role, partner, tls, socket);
    handler.onProgress = onProgress;
    this.#sessions.add(session);
    const driver = new SessionDriver(socket, session, handler, {
      onHandlerError: (err) => this.services.log.warn({ partner: handler.partner?.name, err: String(err) }, 'session aborted by a local failure'),
      written: (frame) => framer.release(frame),
    });
    let ended: SessionEnded | undefined;
    const done = (async () => {
      try {
        ended = await driver.run();
        return { partner: handler.partner?.name, ended, summary: handler.summary };
      } finally {
        await handler.close();
        this.#sessions.delete(session);
        this.#running.delete(session);
        if (role === 'responder' && handler.partner) this.#busy.delete(handler.partner.name);
        if (handler.gated && handler.partner) this.gate?.released(handler.partner.name, ended);
      }
    })();
    this.#running.set(session, { driver, socket, done: done.catch(() => {}) });
    return done;
  }

  /** Dials a partner, sends what is queued for it, takes what it has for us, exchanges receipts. */
  async send(partnerName: string, onProgress?: (p: Progress) => void): Promise<SessionResult> {
    const partner = this.partner(partnerName);
    if (!partner.host) throw new ConfigError('OFTP_ERR_CONFIG', `partner "${partner.name}" has no host to dial (it only dials in)`);
    if (partner.tls) {
      const tls = await this.tls();
      const { socket, binding, info } = await tls.dial(partner);
      this.services.log.info({ partner: partner.name, remote: info.remote, protocol: info.protocol, cipher: info.cipher, peer: binding.certificate?.subject }, 'TLS connection established');
      return explainTlsClose(await this.#run(socket, 'initiator', partner, onProgress, binding), tls.hasCertificate);
    }
    const socket = await connectTcp(partner.host, partner.port);
    return this.#run(socket, 'initiator', partner, onProgress);
  }

  /** Accepts sessions on the station's listen address until closed. */
  async serve(onSession?: (result: SessionResult) => void, address = this.store.config.station.listen): Promise<Server> {
    return listenTcp(address.host, address.port, (socket) => {
      this.#run(socket, 'responder', undefined).then(
        (result) => onSession?.(result),
        (err) => this.services.log.warn({ err: String(err) }, 'session failed'),
      );
    });
  }

  /**
   * Accepts sessions over TLS (RFC 5024 §2.3, port 6619) until closed. A caller refused during or
   * right after the handshake is logged with its cause and told to `onRefused`.
   */
  async serveTls(onSession?: (result: SessionResult) => void, address: { host: string; port: number } = tlsListenAddress(this.store.config.station), onRefused?: (error: TlsError) => void): Promise<Server> {
    const tls = await this.tls();
    return tls.listen(
      address,
      (socket, binding, info) => {
        const peer = binding.certificate;
        this.services.log.info({ remote: info.remote, protocol: info.protocol, cipher: info.cipher, peer: peer?.subject, sha256: peer?.sha256, partners: [...binding.partners] }, 'TLS connection accepted');
        this.#run(socket, 'responder', undefined, undefined, binding).then(
          (result) => onSession?.(result),
          (err) => this.services.log.warn({ err: String(err) }, 'session failed'),
        );
      },
      (err) => {
        this.services.log.warn({ remote: err.remote, reason: err.reason }, err.message);
        onRefused?.(err);
      },
    );
  }

  /** The station's TLS side: read once, at first use. */
  tls(): Promise<StationTls> {
    if (!this.#tls) {
      const config = this.store.config;
      const dataDir = this.store.paths.dataDir;
      this.#tls = StationTls.open(config, dataDir, stationKeyStore(config, dataDir));
      this.#tls.catch(() => {
        this.#tls = undefined;
      });
    }
    return this.#tls;
  }

  /** Keeps a certificate a partner sent (RFC 5024 §10.4, an unsecured CMS file) for the operator's approval. */
  storePendingCertificate(partner: string, der: Uint8Array, source?: string): Promise<PendingCertificate> {
    return storePendingCertificate(this.store.paths.dataDir, partner, der, source);
  }

  /**
   * Ends running sessions with ESID 05 (their durable parts stay for the restart), waits up to
   * `graceMs` for them to save their checkpoints (a receiver's partial file, a sender's progress),
   * then flushes history and unlocks.
   */
  async close(graceMs = 10_000): Promise<void> {
    for (const [session, run] of this.#running) {
      if (session.isClosed) continue;
      session.abort(EsidReason.emergencyCloseDown, 'station shutting down', run.driver.io.now());
      // The driver writes the ESID now; a peer that does not close after it is cut off after the grace.
      run.driver.io.flush().catch(() => {});
    }
    for (const session of this.#sessions) {
      if (!session.isClosed) session.abort(EsidReason.emergencyCloseDown, 'station shutting down');
    }
    const runs = [...this.#running.values()];
    if (runs.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      });
      const cutOff = setTimeout(() => {
        for (const run of runs) run.socket.destroy();
      }, Math.min(graceMs / 2, 5000));
      const timedOut = await Promise.race([Promise.all(runs.map((r) => r.done)).then(() => false), expired]);
      clearTimeout(timer);
      clearTimeout(cutOff);
      if (timedOut) this.services.log.warn({ sessions: this.#running.size }, 'sessions still saving their state at shutdown');
    }
    await this.services.processor?.close();
    await this.services.security?.close();
    await this.services.history.close();
    await this.services.spool.close();
    await this.services.receipts.close();
    await releaseLock(this.#lockPath);
  }
}

/** Where files are enveloped at enqueue before they are spooled (in the state directory; cleared at open). */
const SEALING_DIR = 'sealing';

/**
 * As responder: a TLS connection may carry only the SSID of a partner its certificate is bound to
 * (src/security/certificates-tls.ts), and a partner configured for TLS may not log in over plain TCP.
 * Either is refused with ESID 03 (user code not known) before the password is looked at.
 */
function transportRefusal(partner: PartnerConfig, tls: TlsBinding | undefined): PeerDecision | undefined {
  if (tls && !tls.partners.has(partner.name)) {
    return { accept: false, esidReason: EsidReason.userCodeNotKnown, text: `the TLS certificate is not trusted for ${partner.odetteId}` };
  }
  if (!tls && partner.tls) return { accept: false, esidReason: EsidReason.userCodeNotKnown, text: `${partner.odetteId} must connect over TLS` };
  return undefined;
}

/** A TLS 1.3 server checks our certificate after our handshake is done: a refusal shows as a close before SSRM. */
function explainTlsClose(result: SessionResult, haveCertificate: boolean): SessionResult {
  const e = result.ended;
  if (e.origin !== 'transport' || e.state !== 'ExpectSsrm') return result;
  const why = haveCertificate ? 'it may not accept our certificate (see its log)' : 'we have no TLS certificate to show it (oftp2 cert import --own --role tls)';
  return { ...result, ended: { ...e, reasonText: `the partner closed the TLS connection before its Ready Message: ${why}` } };
}

/**
 * Temp files of atomic writes a crash interrupted (checkpoints of partial files, the timestamp file)
 * are never read, and nothing else would remove them: the partial folders would collect them forever.
 */
async function sweepInterruptedWrites(state: string, inbox: string): Promise<void> {
  await removeInterruptedWrites(state);
  for (const partner of await readdir(inbox).catch(() => [] as string[])) {
    await removeInterruptedWrites(defaultPartialDir(join(inbox, partner)));
  }
}

/** A traced command for the log: binary fields as their length, the password masked (SSIDPSWD). */
function traceFields(command: object, state: string): Record<string, unknown> {
  const out: Record<string, unknown> = { state };
  for (const [k, v] of Object.entries(command)) {
    if (v instanceof Uint8Array) out[k] = `<${v.length} octets>`;
    else if (k === 'password') out[k] = '********';
    else out[k] = v;
  }
  return out;
}

function samePassword(given: string, expected: string): boolean {
  const a = Buffer.from(given.padEnd(8));
  const b = Buffer.from(expected.padEnd(8));
  return a.length === b.length && timingSafeEqual(a, b);
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}
