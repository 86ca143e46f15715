// Types of the session engine: states, options, negotiated parameters, events and timers.
// States are named after what they wait for: `Expect…` waits for the peer, `Await…` for the local
// application. Each maps to one RFC 5024 §9.3 state (see SESSION_STATES below).
import type { OftpError } from '../errors.ts';
import type {
  Eerp,
  Nerp,
  OdetteCommand,
  ProtocolLevel,
  SendReceiveCapability,
  Sfid,
  Ssid,
} from '../protocol/command-types.ts';
import type { Framer } from './framer.ts';

export type Role = 'initiator' | 'responder';

/** Every state with its RFC 5024 §9.3 name and whom it waits for. Iterable by tests. */
export const SESSION_STATES = {
  ExpectConnected: { rfc: 'IDLE / I_WF_NC', waitsFor: 'transport' },
  ExpectSsrm: { rfc: 'I_WF_RM', waitsFor: 'peer' },
  ExpectSsid: { rfc: 'A_NC_ONLY', waitsFor: 'peer' },
  ExpectSsidAnswer: { rfc: 'I_WF_SSID', waitsFor: 'peer' },
  ExpectSecd: { rfc: 'WF_SECD', waitsFor: 'peer' },
  ExpectAuch: { rfc: 'WF_AUCH', waitsFor: 'peer' },
  ExpectAurp: { rfc: 'WF_AURP', waitsFor: 'peer' },
  /** SECD received; the application builds the AUCH (async crypto). Part of §9.8 row J. */
  AwaitChallenge: { rfc: 'WF_SECD→WF_AURP', waitsFor: 'application' },
  /** AUCH received; the application decrypts it. Part of §9.8 row I. */
  AwaitChallengeAnswer: { rfc: 'WF_AUCH→WF_SECD|IDLELI', waitsFor: 'application' },
  AwaitSpeakerRequest: { rfc: 'IDLESP', waitsFor: 'application' },
  /** Speaker after an unsolicited CD: may release the session normally, may not send CD. */
  AwaitSpeakerRequestAfterCd: { rfc: 'IDLESPCD', waitsFor: 'application' },
  ExpectRtr: { rfc: 'WF_RTR', waitsFor: 'peer' },
  ExpectSfidAnswer: { rfc: 'OPOP', waitsFor: 'peer' },
  /** Speaker with credit: waits for a data buffer or the end of the file. */
  AwaitData: { rfc: 'OPO', waitsFor: 'application' },
  ExpectCredit: { rfc: 'OPOWFC', waitsFor: 'peer' },
  ExpectEfidAnswer: { rfc: 'CLOP', waitsFor: 'peer' },
  /** Listener sent EFPA(CD=Y); an early speaker request is stored (ERSTWFCD/NRSTWFCD/SFSTWFCD/CDSTWFCD). */
  ExpectCd: { rfc: 'WF_CD', waitsFor: 'peer' },
  ExpectFileOrTurn: { rfc: 'IDLELI', waitsFor: 'peer' },
  /** Listener after sending CD: a normal ESID is valid here. */
  ExpectFileOrRelease: { rfc: 'IDLELICD', waitsFor: 'peer' },
  AwaitSfidDecision: { rfc: 'OPIP', waitsFor: 'application' },
  ExpectData: { rfc: 'OPI', waitsFor: 'peer' },
  /** Window used up; CDT is held until the application reports the delivered data consumed. */
  AwaitDataConsumed: { rfc: 'OPI (Credit_L = 0)', waitsFor: 'application' },
  AwaitEfidDecision: { rfc: 'CLIP', waitsFor: 'application' },
  AwaitReceiptStored: { rfc: 'RTRP', waitsFor: 'application' },
  ExpectDisconnect: { rfc: 'WF_NDISC', waitsFor: 'transport' },
  Closed: { rfc: 'IDLE', waitsFor: 'nothing' },
} as const;

export type SessionState = keyof typeof SESSION_STATES;

/** What this station puts in its SSID (§5.3.2). Defaults are in `DEFAULT_LOCAL_PARAMETERS`. */
export interface LocalParameters {
  /** SSIDCODE: our identification code (§5.4). */
  identificationCode: string;
  /** SSIDPSWD: the password we present. */
  password: string;
  /** SSIDLEV: highest level we speak. */
  level?: ProtocolLevel;
  /** SSIDSDEB: largest exchange buffer we accept, octets incl. the command octet, 128..99999. */
  exchangeBufferSize?: number;
  /** SSIDSR */
  sendReceive?: SendReceiveCapability;
  /** SSIDCMPR: we can handle data buffer compression. */
  bufferCompression?: boolean;
  /** SSIDREST: we can restart files. */
  restart?: boolean;
  /** SSIDSPEC */
  specialLogic?: boolean;
  /** SSIDCRED: data buffers the speaker may send before it needs a CDT, 1..999. */
  credit?: number;
  /** SSIDAUTH: we require secure authentication (level 5 only). */
  secureAuthentication?: boolean;
  /** SSIDUSER */
  userData?: string;
}

export const DEFAULT_LOCAL_PARAMETERS = {
  level: 5,
  /** octets: the maximum SSIDSDEB fits any file system block multiple and the STB's 24-bit length */
  exchangeBufferSize: 99999,
  sendReceive: 'B',
  bufferCompression: false,
  restart: true,
  specialLogic: false,
  /** exchange buffers: the usual OFTP2 window */
  credit: 999,
  secureAuthentication: false,
  userData: '',
} as const satisfies Omit<Required<LocalParameters>, 'identificationCode' | 'password'>;

/** Our effective mode after negotiation (V.Mode, §9.6). */
export type SessionMode = 'sendOnly' | 'receiveOnly' | 'both';

/** What both sides agreed in the SSID exchange; carried by the 'sessionReady' event. */
export interface NegotiatedParameters {
  level: ProtocolLevel;
  /** octets, incl. the command octet, excl. the STB header */
  exchangeBufferSize: number;
  /** data buffers per CDT (V.Window) */
  credit: number;
  bufferCompression: boolean;
  restart: boolean;
  specialLogic: boolean;
  secureAuthentication: boolean;
  mode: SessionMode;
  /** The SSID we sent and the one we received, as they were on the wire. */
  localSsid: Ssid;
  peerSsid: Ssid;
}

/** The station's answer to the peer's SSID (the F_CONNECT_RS decision, §9.8 row G). */
export type PeerDecision =
  | {
      accept: true;
      /** Per-partner values replacing `options.local` for this session (buffer size, credit, quirks…). */
      overrides?: Partial<LocalParameters>;
    }
  | {
      accept: false;
      /** ESID reason: 03 unknown code, 04 bad password, 08 no resources, 10, 12, 99… */
      esidReason: number;
      text?: string;
    };

export interface CommandCodec {
  decode(buffer: Uint8Array, level: ProtocolLevel): OdetteCommand;
  encode(command: OdetteCommand, level: ProtocolLevel): Uint8Array;
}

/** Inactivity timers (§4.7.2, §9 actions "start/stop inactivity timer"). */
export type TimerKind = 'response' | 'application' | 'disconnect';

export interface TimerSpec {
  /** milliseconds from the last transition */
  durationMs: number;
  /**
   * 'esid': send ESID 09 and close the transport; 'disconnect': close the transport (§9.9 row A).
   * The disconnect timer (WF_NDISC, after our ESID) always just closes.
   */
  onExpiry: 'esid' | 'disconnect';
}

export type TimerTable = Record<TimerKind, TimerSpec>;

export const DEFAULT_TIMERS: TimerTable = {
  /** Waiting for the peer (the RFC's inactivity timer): 120 s covers slow links and disks at the far end. */
  response: { durationMs: 120_000, onExpiry: 'esid' },
  /** Waiting for our own application (a decision, a data buffer, an fsync, the crypto): 300 s. */
  application: { durationMs: 300_000, onExpiry: 'esid' },
  /** After our ESID, waiting for the peer to drop the connection (WF_NDISC): 10 s, then we drop it. */
  disconnect: { durationMs: 10_000, onExpiry: 'disconnect' },
};

export interface TraceEntry {
  direction: 'inbound' | 'outbound';
  command: OdetteCommand;
  state: SessionState;
}

export interface SessionOptions {
  role: Role;
  local: LocalParameters;
  /**
   * Decides about the peer's SSID before we say anything about ourselves. Required for a responder
   * (it checks SSIDCODE and SSIDPSWD); optional for an initiator (checks the responder's answer).
   * Must be synchronous and must not throw (a throw ends the session with ESID 99).
   */
  checkPeer?: (ssid: Ssid) => PeerDecision;
  timers?: Partial<TimerTable>;
  /** Defaults to the STB (TCP). */
  framer?: Framer;
  /** Defaults to src/protocol/command-codec.ts. */
  codec?: CommandCodec;
  /** Called for every command sent or received, for logs ('Inbound:'/'Outbound:'). */
  trace?: (entry: TraceEntry) => void;
}

/** Why and how the session ended. Emitted exactly once. */
export interface SessionEnded {
  type: 'sessionEnded';
  /** ESID 00 exchanged at the right moment (§3.4.1). */
  normal: boolean;
  /** Who ended it: we (ESID sent, timeout), the peer (ESID received), or the transport (lost). */
  origin: 'local' | 'remote' | 'transport';
  /** ESID reason sent or received; undefined when the transport dropped without one. */
  reason: number | undefined;
  reasonText: string;
  /** The typed cause for the operator; undefined for a normal end. */
  error: OftpError | undefined;
  /** The state the session was in when it ended. */
  state: SessionState;
}

export type SessionEvent =
  /** Negotiation (and secure authentication, if agreed) finished. */
  | { type: 'sessionReady'; parameters: NegotiatedParameters }
  /** SECD received: build an AUCH for the peer and call sendChallenge(auch, expectedResponse). */
  | { type: 'authChallengeRequired'; peerIdentificationCode: string }
  /** AUCH received: decrypt it with our key and call answerChallenge(response). */
  | { type: 'authChallengeReceived'; challenge: Uint8Array }
  /** The peer's AURP matched our challenge. */
  | { type: 'peerAuthenticated'; peerIdentificationCode: string }
  /**
   * We hold the turn and nothing is in progress: offerFile, sendReceipt, changeDirection, or
   * nothingToSend (release is only allowed when `releaseAllowed`, i.e. after an unsolicited CD).
   */
  | { type: 'turnToSpeak'; releaseAllowed: boolean }
  /** SFPA: send data from `restartPosition` (answer count); `credit` buffers may go before a CDT. */
  | { type: 'startFileAccepted'; restartPosition: number; credit: number }
  /** SFNA: `retry` says whether to offer it again later. */
  | { type: 'startFileRefused'; reason: number; retry: boolean; reasonText: string }
  /** CDT: the window is open again. */
  | { type: 'creditAvailable'; credit: number }
  /** EFPA: the file is delivered; with `changeDirection` the engine already sent CD. */
  | { type: 'endFileAccepted'; changeDirection: boolean }
  /** EFNA */
  | { type: 'endFileRefused'; reason: number; reasonText: string }
  /** RTR: the EERP/NERP we sent is taken. */
  | { type: 'receiptAcknowledged' }
  /** SFID: answer acceptFile(restartPosition) or refuseFile(...). */
  | { type: 'startFileRequested'; sfid: Sfid }
  /**
   * DATA: the data exchange buffer after the command octet (§7), possibly a view into the bytes given
   * to receiveBytes (copy it to keep it). Report it written with dataConsumed().
   */
  | { type: 'data'; payload: Uint8Array }
  /** EFID: make the file durable, then acceptEndFile(...) or refuseEndFile(...). */
  | { type: 'endFileRequested'; recordCount: number; unitCount: number }
  /** EERP/NERP: store it, then acknowledgeReceipt() sends RTR. */
  | { type: 'receiptReceived'; receipt: Eerp | Nerp }
  /** Flush the output, then close the connection (N_DISC_RQ). */
  | { type: 'closeTransport' }
  | SessionEnded;

export type SessionEventType = SessionEvent['type'];
