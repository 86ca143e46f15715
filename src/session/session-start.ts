// Start session phase (RFC 5024 §4.2, §9.8): SSRM, the SSID exchange and its negotiation, and
// secure authentication (§4.2.3–4.2.4: SECD, AUCH, AURP in both directions). The crypto is the
// application's: the engine asks for a challenge to send or a challenge to answer, and compares
// the AURP with the expected response in constant time.
import { LocalUsageError, OftpError, RemoteProtocolError } from '../errors.ts';
import type { Auch, Aurp, Secd, Ssid, Ssrm } from '../protocol/command-types.ts';
import { EsidReason } from '../protocol/reason-codes.ts';
import type { SessionCore } from './core.ts';
import { buildSsid, checkResponderAnswer, negotiateAsResponder, negotiateLevel, resolveLocal } from './negotiation.ts';
import type { NegotiatedParameters } from './types.ts';

/** AURPRSP is exactly 20 octets (§5.3.18). */
export const CHALLENGE_RESPONSE_LENGTH = 20;

/** N_CON_IND / N_CON_CF (§9.8 rows B and C). */
export function onConnected(core: SessionCore): void {
  if (core.role === 'responder') {
    const ssrm: Ssrm = { cmd: 'SSRM' };
    core.send(ssrm);
    core.enter('ExpectSsid');
  } else {
    core.enter('ExpectSsrm');
  }
}

/** §9.8 row H: SSRM in I_WF_RM → our SSID. */
export function onSsrm(core: SessionCore, _ssrm: Ssrm): void {
  const ssid = buildSsid(core.local);
  core.send(ssid);
  core.sentSsid = ssid;
  core.enter('ExpectSsidAnswer');
}

function negotiationError(esidReason: number, text: string): RemoteProtocolError {
  return new RemoteProtocolError('OFTP_ERR_NEGOTIATION', text, esidReason);
}

/** Asks the station about the peer's SSID; a throwing callback ends the session with ESID 99. */
function decide(core: SessionCore, ssid: Ssid) {
  try {
    return core.checkPeer?.(ssid) ?? { accept: true as const };
  } catch (cause) {
    core.endLocally(
      EsidReason.unspecified,
      'internal error checking the peer',
      new OftpError('OFTP_ERR_NEGOTIATION', 'checkPeer threw', { cause }),
    );
    return undefined;
  }
}

/**
 * §9.8 rows E and G in one step (the F_CONNECT_IND/RS round trip is the synchronous checkPeer):
 * identity first (ESID 03/04 before we say anything about ourselves), then negotiation.
 */
export function onSsidAsResponder(core: SessionCore, ssid: Ssid): void {
  core.peerIdentificationCode = ssid.identificationCode;
  // Answer at a level the peer can read, whatever happens next.
  core.level = negotiateLevel(ssid.level, core.local.level) ?? 1;
  const decision = decide(core, ssid);
  if (decision === undefined) return;
  if (!decision.accept) {
    core.fail(negotiationError(decision.esidReason, decision.text ?? `peer ${ssid.identificationCode.trim()} refused`));
    return;
  }
  const local = decision.overrides ? resolveLocal({ ...core.local, ...decision.overrides }) : core.local;
  const result = negotiateAsResponder(ssid, local);
  if (!result.ok) {
    core.fail(negotiationError(result.esidReason, result.text));
    return;
  }
  core.level = result.parameters.level;
  core.send(result.parameters.localSsid);
  core.parameters = result.parameters;
  if (result.parameters.secureAuthentication) core.enter('ExpectSecd');
  else ready(core);
}

/** §9.8 row D: the responder's SSID in I_WF_SSID. */
export function onSsidAnswer(core: SessionCore, ssid: Ssid): void {
  core.peerIdentificationCode = ssid.identificationCode;
  core.level = negotiateLevel(ssid.level, core.local.level) ?? 1;
  const decision = decide(core, ssid);
  if (decision === undefined) return;
  if (!decision.accept) {
    core.fail(negotiationError(decision.esidReason, decision.text ?? `responder ${ssid.identificationCode.trim()} refused`));
    return;
  }
  const result = checkResponderAnswer(core.sentSsid!, ssid);
  if (!result.ok) {
    core.fail(negotiationError(result.esidReason, result.text));
    return;
  }
  core.level = result.parameters.level;
  core.parameters = result.parameters;
  if (result.parameters.secureAuthentication) {
    const secd: Secd = { cmd: 'SECD' };
    core.send(secd);
    core.enter('ExpectAuch');
  } else {
    ready(core);
  }
}

/** The session is set up: F_CONNECT_CF (initiator → IDLESP) or F_CONNECT_RS done (responder → IDLELI). */
function ready(core: SessionCore): void {
  const parameters = core.parameters as NegotiatedParameters;
  core.framer.negotiated?.({ exchangeBufferSize: parameters.exchangeBufferSize, specialLogic: parameters.specialLogic });
  core.emit({ type: 'sessionReady', parameters });
  if (core.role === 'initiator') {
    core.enter('AwaitSpeakerRequest');
    core.emit({ type: 'turnToSpeak', releaseAllowed: false });
  } else {
    core.enter('ExpectFileOrTurn');
  }
}

/** §9.8 row J, first half: SECD in WF_SECD → the application builds the challenge. */
export function onSecd(core: SessionCore, _secd: Secd): void {
  core.enter('AwaitChallenge');
  core.emit({ type: 'authChallengeRequired', peerIdentificationCode: core.peerIdentificationCode });
}

/** §9.8 row J, second half: AUCH out, wait for AURP. `expectedResponse` is V.Challenge (20 octets). */
export function sendChallenge(core: SessionCore, challenge: Uint8Array, expectedResponse: Uint8Array): void {
  if (expectedResponse.length !== CHALLENGE_RESPONSE_LENGTH) {
    throw new LocalUsageError(
      'OFTP_ERR_INVALID_ARGUMENT',
      `expected challenge response must be ${CHALLENGE_RESPONSE_LENGTH} octets, got ${expectedResponse.length}`,
    );
  }
  const auch: Auch = { cmd: 'AUCH', challenge };
  core.send(auch);
  core.expectedResponse = Uint8Array.from(expectedResponse);
  core.enter('ExpectAurp');
}

/** §9.8 row I, first half: AUCH in WF_AUCH → the application decrypts it. */
export function onAuch(core: SessionCore, auch: Auch): void {
  core.enter('AwaitChallengeAnswer');
  core.emit({ type: 'authChallengeReceived', challenge: auch.challenge });
}

/** §9.8 row I, second half: AURP out; the initiator then waits for SECD (P5), the responder is ready. */
export function answerChallenge(core: SessionCore, response: Uint8Array): void {
  if (response.length !== CHALLENGE_RESPONSE_LENGTH) {
    throw new LocalUsageError(
      'OFTP_ERR_INVALID_ARGUMENT',
      `challenge response must be ${CHALLENGE_RESPONSE_LENGTH} octets, got ${response.length}`,
    );
  }
  const aurp: Aurp = { cmd: 'AURP', response };
  core.send(aurp);
  if (core.role === 'initiator') core.enter('ExpectSecd');
  else ready(core);
}

/** §9.8 row K: compare; the initiator is then ready (P6), the responder sends SECD (P7); else ESID 11. */
export function onAurp(core: SessionCore, aurp: Aurp): void {
  const expected = core.expectedResponse ?? new Uint8Array(CHALLENGE_RESPONSE_LENGTH);
  const matches = constantTimeEqual(aurp.response, expected);
  expected.fill(0);
  core.expectedResponse = undefined;
  if (!matches) {
    core.fail(
      new RemoteProtocolError(
        'OFTP_ERR_AUTHENTICATION',
        `challenge response from ${core.peerIdentificationCode.trim()} does not match`,
        EsidReason.invalidChallengeResponse,
      ),
    );
    return;
  }
  core.emit({ type: 'peerAuthenticated', peerIdentificationCode: core.peerIdentificationCode });
  if (core.role === 'initiator') {
    ready(core);
  } else {
    const secd: Secd = { cmd: 'SECD' };
    core.send(secd);
    core.enter('ExpectAuch');
  }
}

/**
 * Compares without an early exit: the time depends only on the length of `expected`.
 * A length mismatch still walks the whole expected value and fails.
 */
export function constantTimeEqual(actual: Uint8Array, expected: Uint8Array): boolean {
  let diff = actual.length ^ expected.length;
  for (let i = 0; i < expected.length; i++) {
    diff |= (actual[i % Math.max(actual.length, 1)] ?? 0) ^ expected[i]!;
  }
  return diff === 0;
}
