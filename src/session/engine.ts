// OftpSession: the ODETTE-FTP session engine (RFC 5024 §3, §4, §9; RFC 2204 for levels 1–4).
//
// Theory of operation
// -------------------
// The engine does no I/O and reads no clock (sans-I/O, after h11 and quinn-proto). It is a state
// machine fed by four kinds of input and drained by three kinds of output:
//
//   inputs   connected(now) · transportClosed(now) · receiveBytes(bytes, now) · handleTimeout(now)
//            and the application commands (offerFile, sendData, acceptFile, …), each with optional now
//   outputs  takeOutput(): framed bytes to write, in order
//            takeEvents(): SessionEvent[] for the application and the driver
//            nextDeadline(): when to call handleTimeout (undefined: no timer)
//
// A driver loops: feed an input, write takeOutput(), act on takeEvents(), arm a timer for
// nextDeadline(). On 'closeTransport' it flushes and closes; when the socket closes it calls
// transportClosed(). Times are milliseconds on any monotonic clock.
//
// Rules:
// 1. States are named after what they wait for: Expect… (the peer), Await… (the application).
//    Received commands are dispatched through PEER_TRANSITIONS (transitions.ts), the §9 tables as
//    data. A command a state does not list is a ProtocolViolation {state, expected, got}: the engine
//    sends ESID 02, reports 'sessionEnded', and never leaves the closed states again.
// 2. Peer errors end the session the same way every time: DecodeError → ESID with its reason
//    (01/06/07), FramingError → its reason (07 for sizes), negotiation → 03/04/10/12, bad challenge
//    response → 11, timer expiry → 09. Our own misuse (a command in the wrong state, sending data
//    without credit, EFPA for data not reported consumed) throws LocalUsageError and changes nothing.
// 3. Flow control is engine state. The Speaker sees its credit (`credit`, sendData's return value,
//    'creditAvailable'); zero credit is the state ExpectCredit, not an exception or a queue. The
//    Listener holds the CDT until the application reports the delivered data consumed.
// 4. Nothing durable is promised on the application's behalf: EFPA waits for acceptEndFile (the file
//    is synced), RTR waits for acknowledgeReceipt (the receipt is stored).
// 5. Only whole exchange buffers cross the engine: the Framer (STB for TCP by default) cuts bytes,
//    the codec turns buffers into commands. Data buffers are built by the application; the engine
//    frames, counts and meters them without copying their content into any queue of its own.
import { LocalUsageError, OftpError, RemoteProtocolError } from '../errors.ts';
import { decodeCommand, encodeCommand } from '../protocol/command-codec.ts';
import type { Eerp, Esid, Nerp, OdetteCommand, Sfid } from '../protocol/command-types.ts';
import { describeEsid, EsidReason } from '../protocol/reason-codes.ts';
import { MAX_EXCHANGE_BUFFER_SIZE } from '../protocol/stream-transmission-buffer.ts';
import { SessionCore } from './core.ts';
import { StbFramer } from './framer.ts';
import * as listener from './listener.ts';
import { resolveLocal } from './negotiation.ts';
import { ProtocolViolation } from './protocol-violation.ts';
import * as start from './session-start.ts';
import * as speaker from './speaker.ts';
import { APP_COMMANDS, type AppCommand, existsAtLevel, expectedCommands, findTransition } from './transitions.ts';
import {
  DEFAULT_TIMERS,
  type NegotiatedParameters,
  type Role,
  SESSION_STATES,
  type SessionEvent,
  type SessionOptions,
  type SessionState,
} from './types.ts';

/** 'D': the command octet of a data exchange buffer (§5.3.6). */
const DATA_COMMAND_OCTET = 0x44;

export class OftpSession {
  readonly #core: SessionCore;

  constructor(options: SessionOptions) {
    if (options.role !== 'initiator' && options.role !== 'responder') {
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `role must be initiator or responder, got ${options.role}`);
    }
    if (options.role === 'responder' && options.checkPeer === undefined) {
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', 'a responder needs checkPeer to decide about SSIDCODE/SSIDPSWD');
    }
    const local = resolveLocal(options.local);
    validateLocal(local);
    this.#core = new SessionCore({
      role: options.role,
      local,
      timers: { ...DEFAULT_TIMERS, ...options.timers },
      codec: options.codec ?? { decode: decodeCommand, encode: encodeCommand },
      framer: options.framer ?? new StbFramer({ maxExchangeBufferSize: MAX_EXCHANGE_BUFFER_SIZE }),
      checkPeer: options.checkPeer,
      trace: options.trace,
    });
  }

  // ---- state, for the application and the driver ----

  get state(): SessionState {
    return this.#core.state;
  }

  get role(): Role {
    return this.#core.role;
  }

  /** Negotiated parameters, once the SSIDs are exchanged. */
  get parameters(): NegotiatedParameters | undefined {
    return this.#core.parameters;
  }

  /** The Speaker's available credit (V.Credit_S): data buffers sendData may send now. */
  get credit(): number {
    return this.#core.state === 'AwaitData' ? this.#core.speakerCredit : 0;
  }

  /** Data buffers delivered by 'data' events and not yet reported with dataConsumed(). */
  get unconsumedData(): number {
    return this.#core.unconsumed;
  }

  /** True once the session has ended (ESID sent or received, or the transport gone). */
  get isClosed(): boolean {
    return !this.#core.open;
  }

  nextDeadline(): number | undefined {
    return this.#core.deadline;
  }

  takeOutput(): Uint8Array[] {
    return this.#core.takeOutput();
  }

  takeEvents(): SessionEvent[] {
    return this.#core.takeEvents();
  }

  // ---- transport inputs ----

  /** The network connection is up (N_CON_IND for a responder, N_CON_CF for an initiator). */
  connected(now: number): void {
    const core = this.#core;
    if (core.state !== 'ExpectConnected') {
      throw new LocalUsageError('OFTP_ERR_STATE', `connected() in state ${core.state}`);
    }
    core.now = now;
    start.onConnected(core);
  }

  /** The connection is closed or lost (N_DISC_IND). */
  transportClosed(now: number): void {
    const core = this.#core;
    if (core.state === 'Closed') return;
    this.#tick(now);
    core.transportLost();
  }

  /** Bytes from the transport, any size. */
  receiveBytes(bytes: Uint8Array, now: number): void {
    const core = this.#core;
    if (core.state === 'Closed') return;
    if (core.state === 'ExpectConnected') {
      throw new LocalUsageError('OFTP_ERR_STATE', 'receiveBytes() before connected()');
    }
    this.#tick(now);
    let buffers: Uint8Array[];
    try {
      buffers = core.framer.push(bytes);
    } catch (error) {
      if (core.open) core.fail(asRemoteError(error, EsidReason.bufferSizeError, 'OFTP_ERR_TRANSPORT'));
      return;
    }
    for (const buffer of buffers) {
      if ((core.state as SessionState) === 'Closed') return;
      this.#receiveExchangeBuffer(buffer);
    }
  }

  /** Call at (or after) nextDeadline(). Expiry: ESID 09 and close, or just close (§9.9 rows A/B). */
  handleTimeout(now: number): void {
    const core = this.#core;
    if (core.state === 'Closed' || core.deadline === undefined) return;
    core.now = Math.max(core.now, now);
    if (now < core.deadline) return;
    const kind = core.timerKind!;
    const state = core.state;
    const waitsFor = SESSION_STATES[state].waitsFor;
    const error = new OftpError('OFTP_ERR_TIMEOUT', `${kind} timer expired in state ${state} waiting for the ${waitsFor}`);
    if (state === 'ExpectDisconnect') {
      core.emit({ type: 'closeTransport' });
      core.enter('Closed');
    } else if (core.timers[kind].onExpiry === 'esid') {
      core.endLocally(EsidReason.timeOut, `Time out waiting for the ${waitsFor === 'peer' ? 'peer' : 'application'}`, error, true);
    } else {
      core.closeQuietly(error);
      core.emit({ type: 'closeTransport' });
    }
  }

  // ---- application commands: session start ----

  /** After 'authChallengeRequired': the AUCH content (CMS) and the 20 octets its AURP must return. */
  sendChallenge(challenge: Uint8Array, expectedResponse: Uint8Array, now?: number): void {
    this.#app('sendChallenge', now);
    start.sendChallenge(this.#core, challenge, expectedResponse);
  }

  /** After 'authChallengeReceived': the decrypted 20 octets. */
  answerChallenge(response: Uint8Array, now?: number): void {
    this.#app('answerChallenge', now);
    start.answerChallenge(this.#core, response);
  }

  // ---- application commands: speaker ----

  /** F_START_FILE_RQ: SFID out ('startFileAccepted' / 'startFileRefused' follow). */
  offerFile(sfid: Omit<Sfid, 'cmd'> & { cmd?: 'SFID' }, now?: number): void {
    this.#app('offerFile', now);
    speaker.offerFile(this.#core, { ...sfid, cmd: 'SFID' });
  }

  /** F_EERP_RQ / F_NERP_RQ: the receipt out ('receiptAcknowledged' follows on RTR). NERP from level 4. */
  sendReceipt(receipt: Eerp | Nerp, now?: number): void {
    this.#app('sendReceipt', now);
    speaker.sendReceipt(this.#core, receipt);
  }

  /** F_CD_RQ: give the turn to the peer. Not after an unsolicited CD (§3.3.4.2 rule 4). */
  changeDirection(now?: number): void {
    this.#app('changeDirection', now);
    speaker.changeDirection(this.#core);
  }

  /** F_RELEASE_RQ(normal): ESID 00. Only right after an unsolicited CD (§3.4.1). */
  release(now?: number): void {
    this.#app('release', now);
    speaker.release(this.#core);
  }

  /** Nothing more to send: normal release after an unsolicited CD, CD otherwise. */
  nothingToSend(now?: number): void {
    this.#app('nothingToSend', now);
    speaker.nothingToSend(this.#core);
  }

  /**
   * F_DATA_RQ: one complete data exchange buffer ('D' + subrecords, at most the negotiated size).
   * Returns the credit left; at 0 wait for 'creditAvailable'. Without credit: LocalUsageError.
   */
  sendData(exchangeBuffer: Uint8Array, now?: number): number {
    if (this.#core.state === 'ExpectCredit') {
      throw new LocalUsageError('OFTP_ERR_STATE', 'no credit: wait for creditAvailable before sending data');
    }
    this.#app('sendData', now);
    return speaker.sendData(this.#core, exchangeBuffer);
  }

  /** F_CLOSE_FILE_RQ: EFID with the exact counts. Not while waiting for credit (§9.11 note 1). */
  endFile(counts: { recordCount: number; unitCount: number }, now?: number): void {
    if (this.#core.state === 'ExpectCredit') {
      throw new LocalUsageError('OFTP_ERR_STATE', 'EFID is not allowed while waiting for credit (§9.11 note 1)');
    }
    this.#app('endFile', now);
    speaker.endFile(this.#core, counts);
  }

  // ---- application commands: listener ----

  /** F_START_FILE_RS(+): SFPA with the restart position (≤ the offered one; 0 without restart). */
  acceptFile(restartPosition = 0, now?: number): void {
    this.#app('acceptFile', now);
    listener.acceptFile(this.#core, restartPosition);
  }

  /** F_START_FILE_RS(−): SFNA. */
  refuseFile(refusal: { reason: number; retry: boolean; reasonText?: string }, now?: number): void {
    this.#app('refuseFile', now);
    listener.refuseFile(this.#core, refusal);
  }

  /** `count` delivered data buffers are written (default all); may release the held CDT. */
  dataConsumed(count?: number, now?: number): void {
    if (!this.#core.open) return;
    this.#app('dataConsumed', now);
    listener.dataConsumed(this.#core, count);
  }

  /** F_CLOSE_FILE_RS(+): EFPA; call only once the file is durable. `changeDirection` asks for the turn. */
  acceptEndFile(answer: { changeDirection: boolean }, now?: number): void {
    this.#app('acceptEndFile', now);
    listener.acceptEndFile(this.#core, answer);
  }

  /** F_CLOSE_FILE_RS(−): EFNA. */
  refuseEndFile(refusal: { reason: number; reasonText?: string }, now?: number): void {
    this.#app('refuseEndFile', now);
    listener.refuseEndFile(this.#core, refusal);
  }

  /** F_RTR_RS: the received EERP/NERP is stored; RTR out. */
  acknowledgeReceipt(now?: number): void {
    this.#app('acknowledgeReceipt', now);
    listener.acknowledgeReceipt(this.#core);
  }

  // ---- either side ----

  /**
   * F_RELEASE_RQ(error) / F_ABORT_RQ: ESID with `reason` (not 00), then wait for the peer to
   * disconnect. Before the connection exists it just closes. After the end it does nothing.
   */
  abort(reason: number = EsidReason.unspecified, reasonText?: string, now?: number): void {
    const core = this.#core;
    if (!core.open) return;
    if (reason === EsidReason.normal) {
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', 'abort with reason 00: use release() or nothingToSend()');
    }
    if (!Number.isInteger(reason) || reason < 1 || reason > 99) {
      throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `ESID reason ${reason} is not a code from 01 to 99`);
    }
    if (now !== undefined) this.#tick(now);
    const text = reasonText ?? describeEsid(reason);
    const error = new OftpError('OFTP_ERR_SESSION_CLOSED', `aborted by the application: ESID ${reason} ${text}`);
    if (core.state === 'ExpectConnected') core.closeQuietly(error);
    else core.endLocally(reason, text, error);
  }

  // ---- internals ----

  #tick(now: number): void {
    if (now > this.#core.now) this.#core.now = now;
  }

  #app(command: AppCommand, now: number | undefined): void {
    const core = this.#core;
    if (!core.open) {
      throw new LocalUsageError('OFTP_ERR_SESSION_CLOSED', `${command}() after the session ended`);
    }
    const allowed: readonly SessionState[] = APP_COMMANDS[command].states;
    if (!allowed.includes(core.state)) {
      throw new LocalUsageError(
        'OFTP_ERR_STATE',
        `${command}() is not valid in state ${core.state} (valid in ${allowed.join(', ')})`,
      );
    }
    if (now !== undefined) this.#tick(now);
  }

  #receiveExchangeBuffer(buffer: Uint8Array): void {
    const core = this.#core;
    // SSIDSDEB bounds data exchange buffers (§5.3.2); a command may be longer (a level-5 SFID is at
    // least 165 octets, more than the smallest buffer of 128), bounded by the STB's own maximum.
    const size = core.parameters?.exchangeBufferSize;
    if (core.open && size !== undefined && buffer.length > size && buffer[0] === DATA_COMMAND_OCTET) {
      core.fail(
        new RemoteProtocolError(
          'OFTP_ERR_BUFFER_SIZE',
          `exchange buffer of ${buffer.length} octets exceeds the negotiated ${size}`,
          EsidReason.bufferSizeError,
        ),
      );
      return;
    }
    let command: OdetteCommand;
    try {
      command = core.codec.decode(buffer, core.level);
    } catch (error) {
      if (core.open) core.fail(asRemoteError(error, EsidReason.commandNotRecognised, 'OFTP_ERR_UNKNOWN_COMMAND'));
      return;
    }
    core.trace?.({ direction: 'inbound', command, state: core.state });
    if (core.state === 'ExpectDisconnect') {
      // §9.9 row H and §9.10 row S: ignored, except that the peer's ESID lets us drop the line now.
      if (command.cmd === 'ESID') {
        core.emit({ type: 'closeTransport' });
        core.enter('Closed');
      }
      return;
    }
    if (!existsAtLevel(command.cmd, core.level)) {
      core.fail(
        new RemoteProtocolError(
          'OFTP_ERR_UNKNOWN_COMMAND',
          `${command.cmd} does not exist at level ${core.level}`,
          EsidReason.commandNotRecognised,
        ),
      );
      return;
    }
    if (command.cmd === 'ESID') {
      this.#onEsid(command);
      return;
    }
    const transition = findTransition(core.state, command.cmd);
    if (transition === undefined) {
      core.fail(new ProtocolViolation({ state: core.state, expected: expectedCommands(core.state), got: command.cmd }));
      return;
    }
    core.restartTimer();
    transition.handle(core, command);
  }

  /**
   * ESID received: a normal end only in IDLELICD (§9.12 row F: we gave the turn and the peer has
   * nothing either); anywhere else it is an abort indication with the peer's reason (§9.12 row D,
   * §9.8 row F). The speaker tables do not list ESID; we accept it there too, as an abort.
   */
  #onEsid(esid: Esid): void {
    const core = this.#core;
    const normal = esid.reason === EsidReason.normal && core.state === 'ExpectFileOrRelease';
    core.endByPeer(esid, normal);
  }
}

function asRemoteError(
  error: unknown,
  fallbackReason: number,
  fallbackCode: 'OFTP_ERR_UNKNOWN_COMMAND' | 'OFTP_ERR_TRANSPORT',
): RemoteProtocolError {
  if (error instanceof RemoteProtocolError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RemoteProtocolError(fallbackCode, `undecodable input: ${message}`, fallbackReason, { cause: error });
}

function validateLocal(local: ReturnType<typeof resolveLocal>): void {
  const bad = (what: string) => new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `local parameters: ${what}`);
  if (!Number.isInteger(local.exchangeBufferSize) || local.exchangeBufferSize < 128 || local.exchangeBufferSize > 99999) {
    throw bad(`exchangeBufferSize ${local.exchangeBufferSize} outside 128..99999`);
  }
  if (!Number.isInteger(local.credit) || local.credit < 1 || local.credit > 999) {
    throw bad(`credit ${local.credit} outside 1..999`);
  }
  if (![1, 2, 4, 5].includes(local.level)) throw bad(`level ${local.level} is not 1, 2, 4 or 5`);
}
