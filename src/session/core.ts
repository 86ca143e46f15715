// The engine's mutable context (RFC 5024 §9.6 local variables) and the few actions every
// transition uses: send a command, emit an event, enter a state (restarting the inactivity timer,
// §9 actions 1 and 2), and end the session (ESID out, or ESID in, or the transport gone).
import { type LocalUsageError, OftpError, RemoteProtocolError } from '../errors.ts';
import type { Esid, OdetteCommand, ProtocolLevel, Ssid } from '../protocol/command-types.ts';
import { describeEsid, EsidReason } from '../protocol/reason-codes.ts';
import type { Framer } from './framer.ts';
import type { ResolvedLocalParameters } from './negotiation.ts';
import { STATE_TIMER } from './timers.ts';
import type {
  CommandCodec,
  NegotiatedParameters,
  PeerDecision,
  Role,
  SessionEvent,
  SessionState,
  TimerKind,
  TimerTable,
  TraceEntry,
} from './types.ts';

/** An early speaker request made while waiting for the solicited CD (§9.10 V.Req-buf). */
export type StoredRequest =
  | { kind: 'sfid'; command: OdetteCommand & { cmd: 'SFID' } }
  | { kind: 'receipt'; command: OdetteCommand & { cmd: 'EERP' | 'NERP' } }
  | { kind: 'cd' };

const MAX_REASON_TEXT_OCTETS = 999;

export class SessionCore {
  readonly role: Role;
  readonly local: ResolvedLocalParameters;
  readonly timers: TimerTable;
  readonly codec: CommandCodec;
  readonly framer: Framer;
  readonly checkPeer: ((ssid: Ssid) => PeerDecision) | undefined;
  readonly trace: ((entry: TraceEntry) => void) | undefined;

  state: SessionState = 'ExpectConnected';
  /** The latest time given to any input, ms. */
  now = 0;
  deadline: number | undefined;
  timerKind: TimerKind | undefined;
  /** Level commands are encoded and decoded at: ours until the SSID exchange settles it. */
  level: ProtocolLevel;
  parameters: NegotiatedParameters | undefined;
  /** Initiator: the SSID we sent. */
  sentSsid: Ssid | undefined;
  /** The peer's identification code, once its SSID arrived. */
  peerIdentificationCode = '';

  // Speaker (§9.6): V.Restart-pos, V.Credit_S, V.Req-buf.
  restartPosition = 0;
  speakerCredit = 0;
  storedRequest: StoredRequest | undefined;

  // Listener: V.Credit_L, and data buffers delivered to the application but not reported consumed.
  listenerCredit = 0;
  unconsumed = 0;

  /** V.Challenge: the response our AUCH must produce. Zeroed after use. */
  expectedResponse: Uint8Array | undefined;

  #output: Uint8Array[] = [];
  #events: SessionEvent[] = [];
  #ended = false;

  constructor(init: {
    role: Role;
    local: ResolvedLocalParameters;
    timers: TimerTable;
    codec: CommandCodec;
    framer: Framer;
    checkPeer: ((ssid: Ssid) => PeerDecision) | undefined;
    trace: ((entry: TraceEntry) => void) | undefined;
  }) {
    this.role = init.role;
    this.local = init.local;
    this.timers = init.timers;
    this.codec = init.codec;
    this.framer = init.framer;
    this.checkPeer = init.checkPeer;
    this.trace = init.trace;
    this.level = init.local.level;
  }

  get open(): boolean {
    return this.state !== 'Closed' && this.state !== 'ExpectDisconnect';
  }

  /** Encodes and frames a command. Throws (before any state change) if the level cannot carry it. */
  send(command: OdetteCommand): void {
    const buffer = this.codec.encode(command, this.level);
    this.#output.push(this.framer.encode(buffer));
    this.trace?.({ direction: 'outbound', command, state: this.state });
  }

  /** Frames a data exchange buffer built by the application. */
  sendExchangeBuffer(buffer: Uint8Array): void {
    this.#output.push(this.framer.encode(buffer));
    this.trace?.({ direction: 'outbound', command: { cmd: 'DATA', payload: buffer.subarray(1) }, state: this.state });
  }

  emit(event: SessionEvent): void {
    this.#events.push(event);
  }

  /** Moves to `state` and restarts the inactivity timer that state uses (§9 actions 1, 2). */
  enter(state: SessionState): void {
    this.state = state;
    this.restartTimer();
  }

  restartTimer(): void {
    const kind = STATE_TIMER[this.state];
    this.timerKind = kind;
    this.deadline = kind === undefined ? undefined : this.now + this.timers[kind].durationMs;
  }

  takeOutput(): Uint8Array[] {
    const out = this.#output;
    this.#output = [];
    return out;
  }

  takeEvents(): SessionEvent[] {
    const out = this.#events;
    this.#events = [];
    return out;
  }

  /** ESID reason text: '' below level 5 (no ESIDREAST there), at most 999 UTF-8 octets. */
  reasonText(text: string): string {
    return this.level < 5 ? '' : truncateUtf8(text, MAX_REASON_TEXT_OCTETS);
  }

  /**
   * Ends the session from our side: ESID(reason) to the peer, 'sessionEnded' to the application,
   * then wait for the peer to disconnect (WF_NDISC). `closeNow` also asks the transport to close
   * (timeouts, §9.9 row B).
   */
  endLocally(reason: number, text: string, error: OftpError | undefined, closeNow = false): void {
    if (!this.open) return;
    const stateBefore = this.state;
    const esid: Esid = { cmd: 'ESID', reason, reasonText: this.reasonText(text) };
    try {
      this.send(esid);
    } catch {
      // Cannot happen with a sane codec; the session ends all the same.
    }
    this.#endEvent({ normal: reason === EsidReason.normal, origin: 'local', reason, reasonText: text, error, state: stateBefore });
    if (closeNow) {
      this.emit({ type: 'closeTransport' });
      this.enter('Closed');
    } else {
      this.enter('ExpectDisconnect');
    }
  }

  /** A peer error (ProtocolViolation, DecodeError, FramingError, negotiation failure) → ESID with its reason. */
  fail(error: RemoteProtocolError): void {
    this.endLocally(error.esidReason, error.message, error);
  }

  /** The peer sent ESID (§9.12 rows D and F, §9.8 row F). */
  endByPeer(esid: Esid, normal: boolean): void {
    const stateBefore = this.state;
    const text = esid.reasonText || describeEsid(esid.reason);
    const error = normal
      ? undefined
      : new RemoteProtocolError(
          'OFTP_ERR_PEER_REFUSED',
          `peer ended the session: ESID ${pad2(esid.reason)} ${text}`,
          esid.reason,
        );
    this.#endEvent({ normal, origin: 'remote', reason: esid.reason, reasonText: esid.reasonText, error, state: stateBefore });
    this.emit({ type: 'closeTransport' });
    this.enter('Closed');
  }

  /** The transport is gone (N_DISC_IND, §9.9 rows F and G). */
  transportLost(): void {
    const stateBefore = this.state;
    if (this.state !== 'ExpectDisconnect') {
      this.#endEvent({
        normal: false,
        origin: 'transport',
        reason: undefined,
        reasonText: '',
        error: new OftpError('OFTP_ERR_SESSION_CLOSED', `connection lost in state ${stateBefore}`),
        state: stateBefore,
      });
    }
    this.enter('Closed');
  }

  /** Our application's abort before any connection exists: nothing to tell the peer. */
  closeQuietly(error: OftpError | LocalUsageError | undefined): void {
    this.#endEvent({ normal: false, origin: 'local', reason: undefined, reasonText: '', error, state: this.state });
    this.enter('Closed');
  }

  #endEvent(e: Omit<SessionEvent & { type: 'sessionEnded' }, 'type'>): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit({ type: 'sessionEnded', ...e });
  }
}

export function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** Cuts `text` to at most `max` UTF-8 octets without splitting a character. */
export function truncateUtf8(text: string, max: number): string {
  let octets = 0;
  let end = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (octets + size > max) break;
    octets += size;
    end += ch.length;
  }
  return text.slice(0, end);
}
