// The transition tables as data (RFC 5024 §9.8–9.12). PEER_TRANSITIONS says which received command
// is valid in which state, under which RFC row, and what handles it; anything else is a protocol
// violation (ESID 02, rows 'B', 'C', 'L'), except ESID, valid in every open state (rows D, F).
// APP_COMMANDS says in which states each application command is valid; elsewhere it is our own
// misuse (the RFC's 'U' and 'W' user errors) and throws LocalUsageError without touching the session.
import type { CommandName, OdetteCommand } from '../protocol/command-types.ts';
import type { SessionCore } from './core.ts';
import * as listener from './listener.ts';
import * as start from './session-start.ts';
import * as speaker from './speaker.ts';
import type { SessionState } from './types.ts';

export interface PeerTransition {
  state: SessionState;
  command: CommandName;
  /** The RFC rows this transition implements, e.g. '9.10 K'. */
  rows: string;
  handle: (core: SessionCore, command: OdetteCommand) => void;
  /** The row's action is the protocol error itself (ESID 02), with a more precise reason. */
  violation?: true;
}

function on<C extends CommandName>(
  states: SessionState | readonly SessionState[],
  command: C,
  rows: string,
  handle: (core: SessionCore, command: Extract<OdetteCommand, { cmd: C }>) => void,
): PeerTransition[] {
  const list = typeof states === 'string' ? [states] : states;
  return list.map((state) => ({ state, command, rows, handle: handle as PeerTransition['handle'] }));
}

function violation(rows: PeerTransition[]): PeerTransition[] {
  return rows.map((t) => ({ ...t, violation: true }));
}

const IDLE_LISTENER = ['ExpectFileOrTurn', 'ExpectFileOrRelease'] as const;

export const PEER_TRANSITIONS: readonly PeerTransition[] = [
  // §9.8 Session connection
  ...on('ExpectSsrm', 'SSRM', '9.8 H', start.onSsrm),
  ...on('ExpectSsid', 'SSID', '9.8 E+G', start.onSsidAsResponder),
  ...on('ExpectSsidAnswer', 'SSID', '9.8 D', start.onSsidAnswer),
  ...on('ExpectAuch', 'AUCH', '9.8 I', start.onAuch),
  ...on('ExpectAurp', 'AURP', '9.8 K', start.onAurp),
  ...on('ExpectSecd', 'SECD', '9.8 J', start.onSecd),
  // §9.10 Speaker 1
  ...on('ExpectSfidAnswer', 'SFPA', '9.10 K', speaker.onSfpa),
  ...on('ExpectSfidAnswer', 'SFNA', '9.10 L', speaker.onSfna),
  ...on('ExpectRtr', 'RTR', '9.10 N', speaker.onRtr),
  ...on('ExpectCredit', 'CDT', '9.10 O', speaker.onCdt),
  ...violation(on('AwaitData', 'CDT', '9.10 P', speaker.onCdtWithCredit)),
  ...on('ExpectCd', 'CD', '9.10 H/I/J/R/Z1', speaker.onSolicitedCd),
  // §9.11 Speaker 2
  ...on('ExpectEfidAnswer', 'EFPA', '9.11 C', speaker.onEfpa),
  ...on('ExpectEfidAnswer', 'EFNA', '9.11 D', speaker.onEfna),
  // §9.12 Listener
  ...on(IDLE_LISTENER, 'SFID', '9.12 A', listener.onSfid),
  ...on('ExpectFileOrTurn', 'CD', '9.12 C', listener.onUnsolicitedCd),
  ...on(IDLE_LISTENER, 'EERP', '9.12 E', listener.onReceipt),
  ...on(IDLE_LISTENER, 'NERP', '9.12 L', listener.onReceipt),
  ...on('ExpectData', 'DATA', '9.12 I', listener.onData),
  ...violation(on('AwaitDataConsumed', 'DATA', '9.12 I (P6)', listener.onDataBeyondCredit)),
  ...on(['ExpectData', 'AwaitDataConsumed'], 'EFID', '9.12 J', listener.onEfid),
];

const BY_KEY = new Map(PEER_TRANSITIONS.map((t) => [`${t.state}:${t.command}`, t]));

export function findTransition(state: SessionState, command: CommandName): PeerTransition | undefined {
  return BY_KEY.get(`${state}:${command}`);
}

/** The commands a state accepts (ESID aside), for ProtocolViolation.expected. */
export function expectedCommands(state: SessionState): CommandName[] {
  return PEER_TRANSITIONS.filter((t) => t.state === state).map((t) => t.command);
}

/**
 * The lowest level at which a command exists, where that is above 1: NERP came with OFTP 1.4
 * (RFC 5024 §1.2), secure authentication with 2.0. Received below it → ESID 01.
 */
export const MIN_LEVEL: Partial<Readonly<Record<CommandName, number>>> = { NERP: 4, SECD: 5, AUCH: 5, AURP: 5 };

export function existsAtLevel(command: CommandName, level: number): boolean {
  return level >= (MIN_LEVEL[command] ?? 1);
}

const SPEAKER_IDLE = ['AwaitSpeakerRequest', 'AwaitSpeakerRequestAfterCd'] as const;

/** Application commands and the states where they are valid, with the RFC rows they implement. */
export const APP_COMMANDS = {
  sendChallenge: { states: ['AwaitChallenge'], rows: '9.8 J' },
  answerChallenge: { states: ['AwaitChallengeAnswer'], rows: '9.8 I' },
  offerFile: { states: [...SPEAKER_IDLE, 'ExpectCd'], rows: '9.10 B, G' },
  sendReceipt: { states: [...SPEAKER_IDLE, 'ExpectCd'], rows: '9.10 A, Y, F, Z' },
  changeDirection: { states: ['AwaitSpeakerRequest', 'ExpectCd'], rows: '9.10 D, T' },
  release: { states: ['AwaitSpeakerRequestAfterCd'], rows: '9.10 E' },
  nothingToSend: { states: [...SPEAKER_IDLE, 'ExpectCd'], rows: '9.10 D, E, T' },
  sendData: { states: ['AwaitData'], rows: '9.10 M' },
  endFile: { states: ['AwaitData'], rows: '9.11 A' },
  acceptFile: { states: ['AwaitSfidDecision'], rows: '9.12 H' },
  refuseFile: { states: ['AwaitSfidDecision'], rows: '9.12 H' },
  dataConsumed: { states: ['ExpectData', 'AwaitDataConsumed', 'AwaitEfidDecision'], rows: '9.12 I note 1' },
  acceptEndFile: { states: ['AwaitEfidDecision'], rows: '9.12 K' },
  refuseEndFile: { states: ['AwaitEfidDecision'], rows: '9.12 K' },
  acknowledgeReceipt: { states: ['AwaitReceiptStored'], rows: '9.12 M' },
} as const satisfies Record<string, { states: readonly SessionState[]; rows: string }>;

export type AppCommand = keyof typeof APP_COMMANDS;
