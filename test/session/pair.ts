// A simulated session pair: two engines, a virtual clock, a link that splits, merges and delays
// bytes (seeded, reproducible, order-preserving like TCP), and a scripted application on each side.
// The driver loop is the one a real transport driver runs: feed input, write output, act on
// events, arm the timer for nextDeadline().
import type { Eerp, Nerp, Sfid, Ssid } from '../../src/protocol/command-types.ts';
import { OftpSession } from '../../src/session/engine.ts';
import type { Framer } from '../../src/session/framer.ts';
import type {
  LocalParameters,
  PeerDecision,
  SessionEvent,
  SessionOptions,
  SessionState,
} from '../../src/session/types.ts';
import { INITIATOR_ID, RESPONDER_ID } from './probe.ts';

/** mulberry32: a small seeded PRNG. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

export interface LinkProfile {
  /** ms added to each chunk, uniformly 0..maxDelayMs (order is kept) */
  maxDelayMs: number;
  /** probability that a write is cut into several chunks */
  splitProbability: number;
  /** probability that a write is merged into the previous, not yet delivered chunk */
  mergeProbability: number;
}

export const CLEAN_LINK: LinkProfile = { maxDelayMs: 0, splitProbability: 0, mergeProbability: 0 };
export const ROUGH_LINK: LinkProfile = { maxDelayMs: 40, splitProbability: 0.5, mergeProbability: 0.5 };

interface InFlight {
  at: number;
  bytes?: Uint8Array;
  fin?: true;
}

/** One direction of a connection. */
export class Link {
  readonly #rng: Rng;
  readonly #profile: LinkProfile;
  #queue: InFlight[] = [];
  #lastAt = 0;
  #finished = false;
  octets = 0;

  constructor(rng: Rng, profile: LinkProfile) {
    this.#rng = rng;
    this.#profile = profile;
  }

  #at(now: number): number {
    this.#lastAt = Math.max(this.#lastAt, now + this.#rng.int(this.#profile.maxDelayMs + 1));
    return this.#lastAt;
  }

  send(bytes: Uint8Array, now: number): void {
    if (this.#finished) return;
    this.octets += bytes.length;
    const last = this.#queue.at(-1);
    if (last?.bytes && last.at >= now && this.#rng.next() < this.#profile.mergeProbability) {
      const merged = new Uint8Array(last.bytes.length + bytes.length);
      merged.set(last.bytes);
      merged.set(bytes, last.bytes.length);
      last.bytes = merged;
      return;
    }
    if (bytes.length > 1 && this.#rng.next() < this.#profile.splitProbability) {
      let pos = 0;
      while (pos < bytes.length) {
        const size = 1 + this.#rng.int(Math.min(bytes.length - pos, 1 + this.#rng.int(64)));
        this.#queue.push({ at: this.#at(now), bytes: bytes.slice(pos, pos + size) });
        pos += size;
      }
      return;
    }
    this.#queue.push({ at: this.#at(now), bytes });
  }

  fin(now: number): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#queue.push({ at: this.#at(now), fin: true });
  }

  nextAt(): number | undefined {
    return this.#queue[0]?.at;
  }

  due(now: number): InFlight[] {
    const out: InFlight[] = [];
    while (this.#queue.length > 0 && this.#queue[0]!.at <= now) out.push(this.#queue.shift()!);
    return out;
  }
}

export interface OutgoingFile {
  sfid: Sfid;
  /** The data buffers' payload texts, one data exchange buffer each. Restart positions count buffers. */
  buffers: string[];
}

export interface AppScript {
  /** Files to offer, in order, when we hold the turn. */
  files?: OutgoingFile[];
  /** Receipts to send when we hold the turn (before files). */
  receipts?: (Eerp | Nerp)[];
  /** Listener: answer to an SFID (default: accept at the offered position). */
  onStartFile?: (sfid: Sfid, attempt: number) => { accept: number } | { refuse: { reason: number; retry: boolean; reasonText?: string } };
  /** Listener: answer to an EFID once the data is on disk (default: accept). */
  onEndFile?: (sfid: Sfid, counts: { recordCount: number; unitCount: number }, received: string[]) =>
    | 'accept'
    | { refuse: { reason: number; reasonText?: string } };
  /** Listener: make an EERP for every file accepted (default true). */
  eerpOnReceive?: boolean;
  /** Offer a refused file again when SFNA said retry (at most once more). */
  retryRefused?: boolean;
  /** ms the "disk" takes per data buffer; the CDT waits for it (default 0: synchronous). */
  consumeDelayMs?: number;
  /** ms to fsync before answering EFID. */
  syncDelayMs?: number;
  /** Fake crypto keys: our private key and the one we believe the peer has. */
  keys?: { own: number; peer: number };
  /** Secure authentication: ms the application's crypto takes. */
  cryptoDelayMs?: number;
}

type Engine = OftpSession;

/** The application of one side: reacts to events the way the gateway will. */
export class ScriptedApp {
  readonly name: string;
  readonly script: AppScript;
  readonly files: OutgoingFile[];
  readonly receipts: (Eerp | Nerp)[];
  readonly events: SessionEvent[] = [];
  readonly received = new Map<string, string[]>();
  readonly delivered: string[] = [];
  readonly refused: { dsn: string; reason: number; retry: boolean; at: 'start' | 'end' }[] = [];
  readonly acknowledged: (Eerp | Nerp)[] = [];
  readonly gotReceipts: (Eerp | Nerp)[] = [];
  readonly statesSeen = new Set<SessionState>();
  maxUnconsumed = 0;
  #pair: SessionPair;
  #engine!: Engine;
  #sending: { file: OutgoingFile; next: number } | undefined;
  #incoming: { sfid: Sfid; buffers: string[] } | undefined;
  #attempts = new Map<string, number>();
  #diskFreeAt = 0;
  #diskQueue = 0;
  #pendingEfid: { recordCount: number; unitCount: number } | undefined;

  constructor(name: string, script: AppScript, pair: SessionPair) {
    this.name = name;
    this.script = script;
    this.files = [...(script.files ?? [])];
    this.receipts = [...(script.receipts ?? [])];
    this.#pair = pair;
  }

  attach(engine: Engine): void {
    this.#engine = engine;
  }

  get #now(): number {
    return this.#pair.now;
  }

  #hasWork(): boolean {
    return this.files.length > 0 || this.receipts.length > 0;
  }

  handle(event: SessionEvent): void {
    this.events.push(event);
    const e = this.#engine;
    const now = this.#now;
    switch (event.type) {
      case 'authChallengeRequired': {
        const keys = this.script.keys ?? { own: 1, peer: 1 };
        const secret = Uint8Array.from({ length: 20 }, () => this.#pair.rng.int(256));
        const auch = secret.map((b) => b ^ keys.peer);
        this.#later(this.script.cryptoDelayMs ?? 0, () => e.sendChallenge(auch, secret, this.#now));
        break;
      }
      case 'authChallengeReceived': {
        const keys = this.script.keys ?? { own: 1, peer: 1 };
        const answer = event.challenge.map((b) => b ^ keys.own);
        this.#later(this.script.cryptoDelayMs ?? 0, () => e.answerChallenge(answer, this.#now));
        break;
      }
      case 'turnToSpeak':
        if (this.receipts.length > 0) e.sendReceipt(this.receipts[0]!, now);
        else if (this.files.length > 0) e.offerFile(this.files[0]!.sfid, now);
        else e.nothingToSend(now);
        break;
      case 'startFileAccepted':
        this.#sending = { file: this.files[0]!, next: event.restartPosition };
        this.#pump();
        break;
      case 'creditAvailable':
        this.#pump();
        break;
      case 'startFileRefused': {
        const file = this.files.shift()!;
        this.refused.push({ dsn: file.sfid.datasetName, reason: event.reason, retry: event.retry, at: 'start' });
        const attempts = this.#attempts.get(file.sfid.datasetName) ?? 0;
        if (event.retry && this.script.retryRefused && attempts < 1) {
          this.#attempts.set(file.sfid.datasetName, attempts + 1);
          this.files.push(file);
        }
        break;
      }
      case 'endFileAccepted':
        this.delivered.push(this.files.shift()!.sfid.datasetName);
        this.#sending = undefined;
        break;
      case 'endFileRefused': {
        const file = this.files.shift()!;
        this.refused.push({ dsn: file.sfid.datasetName, reason: event.reason, retry: false, at: 'end' });
        this.#sending = undefined;
        break;
      }
      case 'receiptAcknowledged':
        this.acknowledged.push(this.receipts.shift()!);
        break;
      case 'startFileRequested': {
        const dsn = event.sfid.datasetName;
        const attempt = (this.#attempts.get(`in:${dsn}`) ?? 0) + 1;
        this.#attempts.set(`in:${dsn}`, attempt);
        const decision = this.script.onStartFile?.(event.sfid, attempt) ?? { accept: event.sfid.restartPosition };
        if ('accept' in decision) {
          const kept = (this.received.get(dsn) ?? []).slice(0, decision.accept);
          this.#incoming = { sfid: event.sfid, buffers: kept };
          e.acceptFile(decision.accept, now);
        } else {
          e.refuseFile(decision.refuse, now);
        }
        break;
      }
      case 'data': {
        const incoming = this.#incoming!;
        incoming.buffers.push(new TextDecoder().decode(event.payload));
        this.received.set(incoming.sfid.datasetName, incoming.buffers);
        this.maxUnconsumed = Math.max(this.maxUnconsumed, e.unconsumedData);
        const delay = this.script.consumeDelayMs ?? 0;
        if (delay === 0) {
          e.dataConsumed(1, now);
        } else {
          this.#diskQueue += 1;
          this.#diskFreeAt = Math.max(this.#diskFreeAt, now) + delay;
          this.#pair.schedule(this.#diskFreeAt, () => {
            this.#diskQueue -= 1;
            if (!this.#engine.isClosed) this.#engine.dataConsumed(1, this.#now);
            this.#maybeAnswerEfid();
          });
        }
        break;
      }
      case 'endFileRequested':
        this.#pendingEfid = { recordCount: event.recordCount, unitCount: event.unitCount };
        this.#maybeAnswerEfid();
        break;
      case 'receiptReceived':
        this.gotReceipts.push(event.receipt);
        e.acknowledgeReceipt(now);
        break;
      default:
        break;
    }
    this.statesSeen.add(e.state);
  }

  #later(delayMs: number, action: () => void): void {
    if (delayMs === 0) action();
    else this.#pair.schedule(this.#now + delayMs, () => !this.#engine.isClosed && action());
  }

  /** Sends data while there is credit; ends the file once all buffers went out with credit left. */
  #pump(): void {
    const e = this.#engine;
    const sending = this.#sending!;
    const buffers = sending.file.buffers;
    while (e.state === 'AwaitData' && sending.next < buffers.length) {
      const text = buffers[sending.next++]!;
      const bytes = new TextEncoder().encode(`D${text}`);
      e.sendData(bytes, this.#now);
    }
    if (e.state === 'AwaitData' && sending.next === buffers.length) {
      const unitCount = buffers.reduce((n, b) => n + new TextEncoder().encode(b).length, 0);
      e.endFile({ recordCount: 0, unitCount }, this.#now);
    }
  }

  /** EFPA only once every delivered buffer is "on disk" and synced. */
  #maybeAnswerEfid(): void {
    if (this.#pendingEfid === undefined || this.#diskQueue > 0) return;
    const counts = this.#pendingEfid;
    this.#pendingEfid = undefined;
    this.#later(this.script.syncDelayMs ?? 0, () => {
      const e = this.#engine;
      const incoming = this.#incoming!;
      const answer = this.script.onEndFile?.(incoming.sfid, counts, incoming.buffers) ?? 'accept';
      if (answer === 'accept') {
        if (this.script.eerpOnReceive ?? true) this.receipts.push(eerpFor(incoming.sfid, e.parameters!.level));
        e.acceptEndFile({ changeDirection: this.#hasWork() }, this.#now);
      } else {
        e.refuseEndFile(answer.refuse, this.#now);
      }
    });
  }
}

export function eerpFor(sfid: Sfid, level: number): Eerp {
  return {
    cmd: 'EERP',
    datasetName: sfid.datasetName,
    date: sfid.date,
    time: sfid.time,
    userData: '',
    destination: sfid.originator,
    originator: sfid.destination,
    fileHash: level >= 5 ? new Uint8Array([1, 2, 3]) : new Uint8Array(0),
    signature: new Uint8Array(0),
  };
}

export interface SideConfig {
  local?: Partial<LocalParameters>;
  script?: AppScript;
  checkPeer?: (ssid: Ssid) => PeerDecision;
  timers?: SessionOptions['timers'];
  framer?: () => Framer;
}

export interface PairConfig {
  seed?: number;
  link?: LinkProfile;
  initiator?: SideConfig;
  responder?: SideConfig;
  /** Stop after this much virtual time, ms. */
  limitMs?: number;
}

export interface Side {
  name: 'I' | 'R';
  engine: Engine;
  app: ScriptedApp;
  out: Link;
  open: boolean;
}

export class SessionPair {
  now = 0;
  readonly rng: Rng;
  readonly initiator: Side;
  readonly responder: Side;
  /** Every command on the wire, in the order sent: 'I SSID', 'R SSRM', … (DATA included). */
  readonly transcript: string[] = [];
  #scheduled: { at: number; action: () => void }[] = [];
  readonly #limitMs: number;

  constructor(config: PairConfig = {}) {
    this.rng = new Rng(config.seed ?? 1);
    this.#limitMs = config.limitMs ?? 3_600_000;
    const link = config.link ?? CLEAN_LINK;
    this.initiator = this.#side('I', 'initiator', config.initiator ?? {}, new Link(this.rng, link));
    this.responder = this.#side('R', 'responder', config.responder ?? {}, new Link(this.rng, link));
  }

  #side(name: 'I' | 'R', role: 'initiator' | 'responder', config: SideConfig, out: Link): Side {
    const app = new ScriptedApp(name, config.script ?? {}, this);
    const engine = new OftpSession({
      role,
      local: {
        identificationCode: role === 'initiator' ? INITIATOR_ID : RESPONDER_ID,
        password: role === 'initiator' ? 'IPASS' : 'RPASS',
        ...config.local,
      },
      checkPeer:
        config.checkPeer ??
        (role === 'responder'
          ? (s) =>
              s.identificationCode !== INITIATOR_ID
                ? { accept: false, esidReason: 3 }
                : s.password !== 'IPASS'
                  ? { accept: false, esidReason: 4 }
                  : { accept: true }
          : undefined),
      timers: config.timers,
      framer: config.framer?.(),
      trace: (t) => {
        if (t.direction === 'outbound') this.transcript.push(`${name} ${t.command.cmd}`);
      },
    });
    app.attach(engine);
    return { name, engine, app, out, open: true };
  }

  schedule(at: number, action: () => void): void {
    this.#scheduled.push({ at, action });
    this.#scheduled.sort((a, b) => a.at - b.at);
  }

  #peer(side: Side): Side {
    return side === this.initiator ? this.responder : this.initiator;
  }

  /** Writes output and hands events to the application until both sides are quiet. */
  #settle(): void {
    for (let busy = true; busy; ) {
      busy = false;
      for (const side of [this.initiator, this.responder]) {
        for (const bytes of side.engine.takeOutput()) {
          busy = true;
          if (side.open) side.out.send(bytes, this.now);
        }
        for (const event of side.engine.takeEvents()) {
          busy = true;
          if (event.type === 'closeTransport') this.#close(side);
          else side.app.handle(event);
        }
      }
    }
  }

  /** The driver closes its socket: the peer sees the FIN after the bytes already sent. */
  #close(side: Side): void {
    if (!side.open) return;
    side.open = false;
    side.out.fin(this.now);
    side.engine.transportClosed(this.now);
  }

  /** The side's machine loses the connection silently: it sees the loss, its peer sees nothing. */
  vanish(side: Side): void {
    side.open = false;
    side.engine.transportClosed(this.now);
  }

  /** Runs until both engines are closed, nothing more can happen, or the time limit. */
  run(): this {
    this.initiator.engine.connected(this.now);
    this.responder.engine.connected(this.now);
    for (let steps = 0; steps < 1_000_000; steps++) {
      this.#settle();
      if (this.initiator.engine.state === 'Closed' && this.responder.engine.state === 'Closed') break;
      const candidates = [
        this.initiator.out.nextAt(),
        this.responder.out.nextAt(),
        this.#scheduled[0]?.at,
        this.initiator.engine.nextDeadline(),
        this.responder.engine.nextDeadline(),
      ].filter((t): t is number => t !== undefined);
      if (candidates.length === 0) break;
      const next = Math.max(this.now, Math.min(...candidates));
      if (next > this.#limitMs) break;
      this.now = next;
      for (const side of [this.initiator, this.responder]) {
        const peer = this.#peer(side);
        for (const item of side.out.due(this.now)) {
          if (!peer.open) continue;
          if (item.fin) {
            peer.open = false;
            peer.engine.transportClosed(this.now);
          } else {
            peer.engine.receiveBytes(item.bytes!, this.now);
          }
        }
      }
      while (this.#scheduled.length > 0 && this.#scheduled[0]!.at <= this.now) this.#scheduled.shift()!.action();
      for (const side of [this.initiator, this.responder]) {
        const deadline = side.engine.nextDeadline();
        if (deadline !== undefined && deadline <= this.now) side.engine.handleTimeout(this.now);
      }
    }
    this.#settle();
    return this;
  }

  /** The 'sessionEnded' event of a side. */
  ended(side: Side): (SessionEvent & { type: 'sessionEnded' }) | undefined {
    return side.app.events.find((e): e is SessionEvent & { type: 'sessionEnded' } => e.type === 'sessionEnded');
  }

  /** The transcript without DATA lines, for compact flow asserts. */
  flow(): string[] {
    return this.transcript.filter((l) => !l.endsWith(' DATA'));
  }
}

/** A file of `count` buffers "name-0" … for a pair test. */
export function file(name: string, count: number, overrides: Partial<Sfid> = {}, level = 5): OutgoingFile {
  return {
    sfid: {
      cmd: 'SFID',
      datasetName: name,
      date: '20240229',
      time: level >= 4 ? '1430150001' : '1430150000',
      userData: '',
      destination: RESPONDER_ID,
      originator: INITIATOR_ID,
      format: 'U',
      maxRecordSize: 0,
      fileSize: 1,
      originalFileSize: 0,
      restartPosition: 0,
      securityLevel: 0,
      cipherSuite: 0,
      compression: 0,
      envelope: 0,
      signedReceipt: false,
      description: '',
      ...overrides,
    },
    buffers: Array.from({ length: count }, (_, i) => `${name}-${i}`),
  };
}
