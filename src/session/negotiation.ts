// SSID negotiation (RFC 5024 §3.2.1, §5.3.2; §9.8 rows D and G, predicates P2, P8, P10).
// Pure functions: the responder computes its answer from the initiator's SSID and its own
// parameters; the initiator checks that answer. Failures carry the ESID reason to end with.
import {
  PROTOCOL_LEVELS,
  type ProtocolLevel,
  type SendReceiveCapability,
  type Ssid,
} from '../protocol/command-types.ts';
import { EsidReason } from '../protocol/reason-codes.ts';
import {
  DEFAULT_LOCAL_PARAMETERS,
  type LocalParameters,
  type NegotiatedParameters,
  type SessionMode,
} from './types.ts';

export type NegotiationResult =
  | { ok: true; parameters: NegotiatedParameters }
  | { ok: false; esidReason: number; text: string };

export type ResolvedLocalParameters = Required<LocalParameters>;

export function resolveLocal(local: LocalParameters): ResolvedLocalParameters {
  const resolved = { ...DEFAULT_LOCAL_PARAMETERS, ...definedOnly(local) } as ResolvedLocalParameters;
  // SSIDAUTH does not exist below level 5 (RFC 2204 §5.3.2).
  if (resolved.level < 5 && resolved.secureAuthentication) resolved.secureAuthentication = false;
  return resolved;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Our SSID as the initiator sends it (§9.8 action 3). */
export function buildSsid(local: ResolvedLocalParameters): Ssid {
  return {
    cmd: 'SSID',
    level: local.level,
    identificationCode: local.identificationCode,
    password: local.password,
    exchangeBufferSize: local.exchangeBufferSize,
    sendReceive: local.sendReceive,
    bufferCompression: local.bufferCompression,
    restart: local.restart,
    specialLogic: local.specialLogic,
    credit: local.credit,
    secureAuthentication: local.level >= 5 ? local.secureAuthentication : false,
    userData: local.userData,
  };
}

/** The highest level both speak: the lower of the two, rounded down to one we know (1, 2, 4, 5). */
export function negotiateLevel(a: number, b: number): ProtocolLevel | undefined {
  const lowest = Math.min(a, b);
  let best: ProtocolLevel | undefined;
  for (const level of PROTOCOL_LEVELS) if (level <= lowest) best = level;
  return best;
}

/** V.Mode from our capability and the peer's SSIDSR; undefined when both send only or both receive only. */
export function negotiateMode(ours: SendReceiveCapability, peers: SendReceiveCapability): SessionMode | undefined {
  if (ours === peers && ours !== 'B') return undefined;
  if (ours === 'S') return 'sendOnly';
  if (ours === 'R') return 'receiveOnly';
  if (peers === 'S') return 'receiveOnly';
  if (peers === 'R') return 'sendOnly';
  return 'both';
}

const MODE_CAPABILITY: Record<SessionMode, SendReceiveCapability> = { sendOnly: 'S', receiveOnly: 'R', both: 'B' };

function fail(esidReason: number, text: string): NegotiationResult {
  return { ok: false, esidReason, text };
}

/**
 * Responder (§9.8 row G): the answer SSID carries the lower level, the smaller buffer and credit,
 * compression/restart/special logic only if both, our effective mode. Authentication must match
 * exactly (!P10 → ESID 12, checked first as the row lists it); other incompatibilities → ESID 10.
 */
export function negotiateAsResponder(peer: Ssid, local: ResolvedLocalParameters): NegotiationResult {
  const level = negotiateLevel(peer.level, local.level);
  const ourAuth = local.secureAuthentication;
  const peerAuth = peer.level >= 5 && peer.secureAuthentication;
  if (ourAuth !== peerAuth || (ourAuth && level !== 5)) {
    return fail(
      EsidReason.authenticationIncompatible,
      `secure authentication: peer ${peerAuth ? 'requires' : 'does not use'} it, we ${ourAuth ? 'require' : 'do not use'} it`,
    );
  }
  if (level === undefined) return fail(EsidReason.capabilitiesIncompatible, `protocol level ${peer.level} not supported`);
  const mode = negotiateMode(local.sendReceive, peer.sendReceive);
  if (mode === undefined) {
    return fail(EsidReason.capabilitiesIncompatible, `both sides are ${peer.sendReceive === 'S' ? 'send' : 'receive'} only`);
  }
  const answer: Ssid = {
    cmd: 'SSID',
    level,
    identificationCode: local.identificationCode,
    password: local.password,
    exchangeBufferSize: Math.min(peer.exchangeBufferSize, local.exchangeBufferSize),
    sendReceive: MODE_CAPABILITY[mode],
    bufferCompression: peer.bufferCompression && local.bufferCompression,
    restart: peer.restart && local.restart,
    specialLogic: peer.specialLogic && local.specialLogic,
    credit: Math.min(peer.credit, local.credit),
    secureAuthentication: ourAuth,
    userData: local.userData,
  };
  return { ok: true, parameters: fromSsids(answer, peer, mode, answer) };
}

/**
 * Initiator (§9.8 row D): the responder's answer may only lower what we offered (§5.3.2 SSIDSDEB,
 * SSIDCRED "n ≤ m"); a larger value or an incompatible mode → ESID 10 (!P2), then an
 * authentication mismatch → ESID 12 (P2 & !P8).
 */
export function checkResponderAnswer(sent: Ssid, answer: Ssid): NegotiationResult {
  const level = negotiateLevel(answer.level, sent.level);
  if (level === undefined || answer.level > sent.level || level !== answer.level) {
    return fail(EsidReason.capabilitiesIncompatible, `answer level ${answer.level} not acceptable (we offered ${sent.level})`);
  }
  if (answer.exchangeBufferSize > sent.exchangeBufferSize) {
    return fail(
      EsidReason.capabilitiesIncompatible,
      `answer exchange buffer size ${answer.exchangeBufferSize} above our ${sent.exchangeBufferSize}`,
    );
  }
  if (answer.credit > sent.credit) {
    return fail(EsidReason.capabilitiesIncompatible, `answer credit ${answer.credit} above our ${sent.credit}`);
  }
  const mode = negotiateMode(sent.sendReceive, answer.sendReceive);
  if (mode === undefined) {
    return fail(EsidReason.capabilitiesIncompatible, `both sides are ${sent.sendReceive === 'S' ? 'send' : 'receive'} only`);
  }
  const answerAuth = answer.level >= 5 && answer.secureAuthentication;
  if (answerAuth !== sent.secureAuthentication) {
    return fail(
      EsidReason.authenticationIncompatible,
      `secure authentication: we ${sent.secureAuthentication ? 'require' : 'do not use'} it, the answer says ${answerAuth ? 'Y' : 'N'}`,
    );
  }
  return {
    ok: true,
    parameters: fromSsids(
      {
        ...answer,
        bufferCompression: answer.bufferCompression && sent.bufferCompression,
        restart: answer.restart && sent.restart,
        specialLogic: answer.specialLogic && sent.specialLogic,
      },
      answer,
      mode,
      sent,
    ),
  };
}

function fromSsids(agreed: Ssid, peerSsid: Ssid, mode: SessionMode, localSsid: Ssid): NegotiatedParameters {
  return {
    level: agreed.level,
    exchangeBufferSize: agreed.exchangeBufferSize,
    credit: agreed.credit,
    bufferCompression: agreed.bufferCompression,
    restart: agreed.restart,
    specialLogic: agreed.specialLogic,
    secureAuthentication: agreed.level >= 5 && agreed.secureAuthentication,
    mode,
    localSsid,
    peerSsid,
  };
}
