// The Listener (RFC 5024 §9.12; §3.3, §4.3–4.5): start file answers, data under the credit window
// with end-to-end backpressure, end file answers only once the application made the file durable,
// EERP/NERP answered by RTR once stored, and the turn taken on CD.
//
// Credit (§4.4.1, §9.12 row I, note 1): the engine sends CDT only when the window is used up
// (V.Credit_L = 0) AND every data buffer delivered so far was reported consumed by the
// application. A slow disk therefore holds the CDT, and the Speaker waits: nothing buffers a file.
import { LocalUsageError } from '../errors.ts';
import type { Cd, Cdt, Data, Eerp, Efid, Efna, Efpa, Nerp, Rtr, Sfid, Sfna, Sfpa } from '../protocol/command-types.ts';
import type { SessionCore } from './core.ts';
import { ProtocolViolation } from './protocol-violation.ts';

/** §9.12 row A: SFID in IDLELI/IDLELICD. P1 (restart without agreement, or we only send) → ESID 02. */
export function onSfid(core: SessionCore, sfid: Sfid): void {
  const p = core.parameters!;
  if (p.mode === 'sendOnly' || (sfid.restartPosition > 0 && !p.restart)) {
    core.fail(
      new ProtocolViolation({
        state: core.state,
        expected: p.mode === 'sendOnly' ? ['no SFID: we only send'] : ['SFID with restart position 0'],
        got: `SFID restart position ${sfid.restartPosition}`,
        why: p.mode === 'sendOnly' ? 'start file to a send-only location' : 'restart not negotiated',
      }),
    );
    return;
  }
  core.restartPosition = sfid.restartPosition;
  core.enter('AwaitSfidDecision');
  core.emit({ type: 'startFileRequested', sfid });
}

/** §9.12 row H (+): SFPA, V.Credit_L = V.Window, OPI. P4 (position above the offer) is a user error. */
export function acceptFile(core: SessionCore, restartPosition: number): void {
  if (!Number.isInteger(restartPosition) || restartPosition < 0 || restartPosition > core.restartPosition) {
    throw new LocalUsageError(
      'OFTP_ERR_INVALID_ARGUMENT',
      `restart position ${restartPosition} must be an integer from 0 to the offered ${core.restartPosition}`,
    );
  }
  const sfpa: Sfpa = { cmd: 'SFPA', answerCount: restartPosition };
  core.send(sfpa);
  core.listenerCredit = core.parameters!.credit;
  core.unconsumed = 0;
  core.enter('ExpectData');
}

/** §9.12 row H (−): SFNA → IDLELI. */
export function refuseFile(core: SessionCore, refusal: { reason: number; retry: boolean; reasonText?: string }): void {
  const sfna: Sfna = {
    cmd: 'SFNA',
    reason: refusal.reason,
    retry: refusal.retry,
    reasonText: core.reasonText(refusal.reasonText ?? ''),
  };
  core.send(sfna);
  core.enter('ExpectFileOrTurn');
}

/** §9.12 row I: DATA in OPI (V.Credit_L - 1 ≥ 0). At 0 the CDT waits for the application. */
export function onData(core: SessionCore, data: Data): void {
  core.listenerCredit -= 1;
  core.unconsumed += 1;
  core.enter(core.listenerCredit === 0 ? 'AwaitDataConsumed' : 'ExpectData');
  core.emit({ type: 'data', payload: data.payload });
}

/** §9.12 row I, P6: DATA after the window is used up and before our CDT → ESID 02. */
export function onDataBeyondCredit(core: SessionCore, _data: Data): void {
  core.fail(
    new ProtocolViolation({
      state: core.state,
      expected: ['EFID, or DATA after our CDT'],
      got: 'DATA',
      why: 'speaker exceeded its credit',
    }),
  );
}

/**
 * The application wrote `count` delivered data buffers (default: all of them). When the window is
 * used up and nothing remains unconsumed, CDT goes out (§9.12 action 8: V.Credit_L = V.Window).
 */
export function dataConsumed(core: SessionCore, count: number | undefined): void {
  const n = count ?? core.unconsumed;
  if (!Number.isInteger(n) || n < 0 || n > core.unconsumed) {
    throw new LocalUsageError(
      'OFTP_ERR_INVALID_ARGUMENT',
      `dataConsumed(${count}) but ${core.unconsumed} data buffers are unconsumed`,
    );
  }
  core.unconsumed -= n;
  if (core.state === 'AwaitDataConsumed' && core.unconsumed === 0) {
    const cdt: Cdt = { cmd: 'CDT' };
    core.send(cdt);
    core.listenerCredit = core.parameters!.credit;
    core.enter('ExpectData');
  }
}

/** §9.12 row J: EFID in OPI → F_CLOSE_FILE_IND, CLIP. Nothing goes out until the application answers. */
export function onEfid(core: SessionCore, efid: Efid): void {
  core.enter('AwaitEfidDecision');
  core.emit({ type: 'endFileRequested', recordCount: efid.recordCount, unitCount: efid.unitCount });
}

/** §9.12 row K (+): EFPA; with changeDirection (P3) wait for the CD (WF_CD), else IDLELI. */
export function acceptEndFile(core: SessionCore, answer: { changeDirection: boolean }): void {
  if (core.unconsumed > 0) {
    throw new LocalUsageError(
      'OFTP_ERR_STATE',
      `${core.unconsumed} data buffers not reported consumed: EFPA only for data on disk`,
    );
  }
  const efpa: Efpa = { cmd: 'EFPA', changeDirection: answer.changeDirection };
  core.send(efpa);
  if (answer.changeDirection) {
    core.storedRequest = undefined;
    core.enter('ExpectCd');
  } else {
    core.enter('ExpectFileOrTurn');
  }
}

/** §9.12 row K (−): EFNA → IDLELI (the turn never changes on a negative answer). */
export function refuseEndFile(core: SessionCore, refusal: { reason: number; reasonText?: string }): void {
  const efna: Efna = { cmd: 'EFNA', reason: refusal.reason, reasonText: core.reasonText(refusal.reasonText ?? '') };
  core.send(efna);
  core.unconsumed = 0;
  core.enter('ExpectFileOrTurn');
}

/** §9.12 row C: CD in IDLELI → F_CD_IND, IDLESPCD (an unsolicited CD: release is now allowed). */
export function onUnsolicitedCd(core: SessionCore, _cd: Cd): void {
  core.enter('AwaitSpeakerRequestAfterCd');
  core.emit({ type: 'turnToSpeak', releaseAllowed: true });
}

/**
 * §9.12 rows E (EERP) and L (NERP) → RTRP. RFC 2204 (§8.12 rows E/G) sends RTR at once but lets the
 * Listener delay it (note 2); we wait for the application at every level, so a receipt is stored
 * before it is acknowledged.
 */
export function onReceipt(core: SessionCore, receipt: Eerp | Nerp): void {
  core.enter('AwaitReceiptStored');
  core.emit({ type: 'receiptReceived', receipt });
}

/** §9.12 row M: F_RTR_RS → RTR, IDLELI. */
export function acknowledgeReceipt(core: SessionCore): void {
  const rtr: Rtr = { cmd: 'RTR' };
  core.send(rtr);
  core.enter('ExpectFileOrTurn');
}
