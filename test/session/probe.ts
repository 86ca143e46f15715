// A single engine driven command by command: the test plays the peer, with the real codec and STB.
// `feed` encodes and frames a command into the engine; `take` returns the commands the engine sent
// (decoded) and its events since the last take. `reach(state)` drives a fresh engine to any state.
import { decodeCommand, encodeCommand } from '../../src/protocol/command-codec.ts';
import type { Eerp, Nerp, OdetteCommand, ProtocolLevel, Sfid, Ssid } from '../../src/protocol/command-types.ts';
import { encodeStb, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';
import { OftpSession } from '../../src/session/engine.ts';
import type { LocalParameters, SessionEvent, SessionOptions, SessionState } from '../../src/session/types.ts';

export const INITIATOR_ID = 'O0013000000INITIATOR';
export const RESPONDER_ID = 'O0013000000RESPONDER';

export function ssid(overrides: Partial<Ssid> = {}): Ssid {
  return {
    cmd: 'SSID',
    level: 5,
    identificationCode: INITIATOR_ID,
    password: 'IPASS',
    exchangeBufferSize: 4096,
    sendReceive: 'B',
    bufferCompression: false,
    restart: true,
    specialLogic: false,
    credit: 4,
    secureAuthentication: false,
    userData: '',
    ...overrides,
  };
}

export function sfid(overrides: Partial<Sfid> = {}, level: ProtocolLevel = 5): Sfid {
  return {
    cmd: 'SFID',
    datasetName: 'INVOICES.2024',
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
  };
}

export function eerp(overrides: Partial<Eerp> = {}, level: ProtocolLevel = 5): Eerp {
  return {
    cmd: 'EERP',
    datasetName: 'INVOICES.2024',
    date: '20240229',
    time: level >= 4 ? '1430150001' : '1430150000',
    userData: '',
    destination: INITIATOR_ID,
    originator: RESPONDER_ID,
    fileHash: new Uint8Array(0),
    signature: new Uint8Array(0),
    ...overrides,
  };
}

export function nerp(overrides: Partial<Nerp> = {}): Nerp {
  return {
    cmd: 'NERP',
    datasetName: 'INVOICES.2024',
    date: '20240229',
    time: '1430150001',
    destination: INITIATOR_ID,
    originator: RESPONDER_ID,
    creator: RESPONDER_ID,
    reason: 35,
    reasonText: '',
    fileHash: new Uint8Array(0),
    signature: new Uint8Array(0),
    ...overrides,
  };
}

/** A data exchange buffer: 'D' + one unsubrecorded payload, enough for the engine. */
export function dataBuffer(text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const out = new Uint8Array(body.length + 1);
  out[0] = 0x44;
  out.set(body, 1);
  return out;
}

export type ProbeOptions = Omit<SessionOptions, 'role' | 'local'> & { local?: Partial<LocalParameters> };

export class Probe {
  readonly engine: OftpSession;
  now = 0;
  #deframer = new StbDeframer({ maxExchangeBufferSize: 99999 });
  #sent: OdetteCommand[] = [];
  #events: SessionEvent[] = [];
  readonly allSent: OdetteCommand[] = [];
  readonly allEvents: SessionEvent[] = [];
  /** The level the probe (the peer) encodes at before the engine has negotiated. */
  peerLevel: ProtocolLevel = 5;

  constructor(role: 'initiator' | 'responder', options: ProbeOptions = {}) {
    const id = role === 'initiator' ? INITIATOR_ID : RESPONDER_ID;
    this.engine = new OftpSession({
      checkPeer: role === 'responder' ? () => ({ accept: true }) : undefined,
      ...options,
      role,
      local: { identificationCode: id, password: role === 'initiator' ? 'IPASS' : 'RPASS', credit: 4, exchangeBufferSize: 4096, ...options.local },
    });
  }

  get state(): SessionState {
    return this.engine.state;
  }

  get level(): ProtocolLevel {
    return this.engine.parameters?.level ?? this.peerLevel;
  }

  /** The peer sends `command` (encoded at the session's level, framed in an STB). */
  feed(command: OdetteCommand): this {
    return this.feedExchangeBuffer(encodeCommand(command, this.level));
  }

  feedExchangeBuffer(buffer: Uint8Array): this {
    return this.feedBytes(encodeStb(buffer));
  }

  feedBytes(bytes: Uint8Array): this {
    this.engine.receiveBytes(bytes, this.now);
    return this.collect();
  }

  /** Runs an application command and collects what it produced. */
  act(f: (engine: OftpSession) => unknown): this {
    f(this.engine);
    return this.collect();
  }

  /** Advances the virtual clock by `ms` and fires the timer if due. */
  advance(ms: number): this {
    this.now += ms;
    this.engine.handleTimeout(this.now);
    return this.collect();
  }

  collect(): this {
    for (const bytes of this.engine.takeOutput()) {
      for (const buffer of this.#deframer.push(bytes)) {
        const command = decodeCommand(buffer, this.engine.parameters?.level ?? 5);
        this.#sent.push(command);
        this.allSent.push(command);
      }
    }
    for (const event of this.engine.takeEvents()) {
      this.#events.push(event);
      this.allEvents.push(event);
    }
    return this;
  }

  /** Commands sent and events emitted since the last take. */
  take(): { sent: OdetteCommand[]; events: SessionEvent[] } {
    this.collect();
    const out = { sent: this.#sent, events: this.#events };
    this.#sent = [];
    this.#events = [];
    return out;
  }

  /** Names of the commands sent and the event types since the last take, for compact asserts. */
  takeNames(): { sent: string[]; events: string[] } {
    const { sent, events } = this.take();
    return { sent: sent.map((c) => c.cmd), events: events.map((e) => e.type) };
  }

  /** The last 'sessionEnded' event, if any. */
  ended(): (SessionEvent & { type: 'sessionEnded' }) | undefined {
    return this.allEvents.findLast((e): e is SessionEvent & { type: 'sessionEnded' } => e.type === 'sessionEnded');
  }
}

/** A responder after SSRM and the initiator's SSID: IDLELI. */
export function readyResponder(options: ProbeOptions = {}, peer: Partial<Ssid> = {}): Probe {
  const p = new Probe('responder', options);
  p.engine.connected(0);
  p.feed(ssid(peer));
  p.take();
  return p;
}

/** An initiator after SSRM and the responder's SSID: IDLESP. */
export function readyInitiator(options: ProbeOptions = {}, answer: Partial<Ssid> = {}): Probe {
  const p = new Probe('initiator', options);
  p.engine.connected(0);
  p.feed({ cmd: 'SSRM' });
  p.feed(ssid({ identificationCode: RESPONDER_ID, password: 'RPASS', ...answer }));
  p.take();
  return p;
}

/** Drives a fresh engine to `state` (level 5, credit 4 unless options say otherwise); queues emptied. */
export function reach(state: SessionState, options: ProbeOptions = {}): Probe {
  const p = drive(state, options);
  p.take();
  return p;
}

function drive(state: SessionState, options: ProbeOptions): Probe {
  const auth = { ...options, local: { ...options.local, secureAuthentication: true } };
  switch (state) {
    case 'ExpectConnected':
      return new Probe('initiator', options);
    case 'ExpectSsrm': {
      const p = new Probe('initiator', options);
      p.engine.connected(0);
      return p;
    }
    case 'ExpectSsid': {
      const p = new Probe('responder', options);
      p.engine.connected(0);
      return p;
    }
    case 'ExpectSsidAnswer':
      return reach('ExpectSsrm', options).feed({ cmd: 'SSRM' });
    case 'ExpectAuch':
      return readyInitiator(auth, { secureAuthentication: true });
    case 'AwaitChallengeAnswer':
      return reach('ExpectAuch', options).feed({ cmd: 'AUCH', challenge: new Uint8Array([1, 2, 3]) });
    case 'ExpectSecd':
      return readyResponder(auth, { secureAuthentication: true });
    case 'AwaitChallenge':
      return reach('ExpectSecd', options).feed({ cmd: 'SECD' });
    case 'ExpectAurp':
      return reach('AwaitChallenge', options).act((e) => e.sendChallenge(new Uint8Array([9]), new Uint8Array(20)));
    case 'AwaitSpeakerRequest':
      return readyInitiator(options);
    case 'AwaitSpeakerRequestAfterCd':
      return readyResponder(options).feed({ cmd: 'CD' });
    case 'ExpectRtr':
      return readyInitiator(options).act((e) => e.sendReceipt(eerp()));
    case 'ExpectSfidAnswer':
      return readyInitiator(options).act((e) => e.offerFile(sfid()));
    case 'AwaitData':
      return reach('ExpectSfidAnswer', options).feed({ cmd: 'SFPA', answerCount: 0 });
    case 'ExpectCredit': {
      const p = reach('AwaitData', options);
      while (p.engine.credit > 0) p.act((e) => e.sendData(dataBuffer('x')));
      return p;
    }
    case 'ExpectEfidAnswer':
      return reach('AwaitData', options).act((e) => e.endFile({ recordCount: 0, unitCount: 0 }));
    case 'ExpectCd':
      return reach('AwaitEfidDecision', options).act((e) => e.acceptEndFile({ changeDirection: true }));
    case 'ExpectFileOrTurn':
      return readyResponder(options);
    case 'ExpectFileOrRelease':
      return readyInitiator(options).act((e) => e.changeDirection());
    case 'AwaitSfidDecision':
      return readyResponder(options).feed(sfid());
    case 'ExpectData':
      return reach('AwaitSfidDecision', options).act((e) => e.acceptFile(0));
    case 'AwaitDataConsumed': {
      const p = reach('ExpectData', options);
      while (p.state === 'ExpectData') p.feedExchangeBuffer(dataBuffer('x'));
      return p;
    }
    case 'AwaitEfidDecision':
      return reach('ExpectData', options).feed({ cmd: 'EFID', recordCount: 0, unitCount: 0 });
    case 'AwaitReceiptStored':
      return readyResponder(options).feed(eerp());
    case 'ExpectDisconnect':
      return readyInitiator(options).act((e) => e.abort(8));
    case 'Closed':
      return readyInitiator(options).feed({ cmd: 'ESID', reason: 0, reasonText: '' });
  }
}
