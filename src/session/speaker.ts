// The Speaker (RFC 5024 §9.10 Speaker State Table 1, §9.11 Speaker State Table 2; §3.3, §4.3–4.5):
// start file, data under the credit window, end file, EERP/NERP waiting for RTR, the turn (CD) and
// the normal release. App commands validate before sending, so a refused request changes nothing.
import { LocalUsageError } from '../errors.ts';
import type { Cd, Cdt, Eerp, Efid, Efna, Efpa, Nerp, Rtr, Sfid, Sfna, Sfpa } from '../protocol/command-types.ts';
import { EsidReason } from '../protocol/reason-codes.ts';
import type { SessionCore } from './core.ts';
import { ProtocolViolation } from './protocol-violation.ts';

/** The 'D' command octet every data exchange buffer starts with (§5.3.6). */
const DATA_COMMAND_OCTET = 0x44;

function turnToSpeak(core: SessionCore, afterUnsolicitedCd: boolean): void {
  core.enter(afterUnsolicitedCd ? 'AwaitSpeakerRequestAfterCd' : 'AwaitSpeakerRequest');
  core.emit({ type: 'turnToSpeak', releaseAllowed: afterUnsolicitedCd });
}

/** Checks a request before storing it in WF_CD: a second one is a user error (§9.10 'W'). */
function storeRequest(core: SessionCore, request: NonNullable<SessionCore['storedRequest']>): void {
  if (core.storedRequest !== undefined) {
    throw new LocalUsageError('OFTP_ERR_STATE', `a ${core.storedRequest.kind} request is already waiting for the CD`);
  }
  core.storedRequest = request;
}

/** §9.10 rows B (IDLESP/IDLESPCD → SFID, OPOP) and G (WF_CD → stored, SFSTWFCD). Predicate P1 is a user error. */
export function offerFile(core: SessionCore, sfid: Sfid): void {
  const p = core.parameters!;
  if (p.mode === 'receiveOnly') {
    throw new LocalUsageError('OFTP_ERR_STATE', 'the session is receive only for us: no SFID (§9.10 P1)');
  }
  if (sfid.restartPosition > 0 && !p.restart) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', 'restart position > 0 but restart was not negotiated (§9.10 P1)');
  }
  const command: Sfid = { ...sfid, cmd: 'SFID' };
  if (core.state === 'ExpectCd') {
    core.codec.encode(command, core.level); // refuse now what the level cannot carry
    storeRequest(core, { kind: 'sfid', command });
    return;
  }
  startFile(core, command);
}

function startFile(core: SessionCore, sfid: Sfid): void {
  core.send(sfid);
  core.restartPosition = sfid.restartPosition;
  core.enter('ExpectSfidAnswer');
}

/** §9.10 rows A/Y (EERP/NERP → WF_RTR) and F/Z (stored in WF_CD: ERSTWFCD/NRSTWFCD). */
export function sendReceipt(core: SessionCore, receipt: Eerp | Nerp): void {
  if (receipt.cmd === 'NERP' && core.level < 4) {
    throw new LocalUsageError('OFTP_ERR_STATE', `NERP does not exist at level ${core.level} (it came with 1.4)`);
  }
  if (receipt.cmd !== 'EERP' && receipt.cmd !== 'NERP') {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', 'a receipt is an EERP or a NERP');
  }
  if (core.state === 'ExpectCd') {
    core.codec.encode(receipt, core.level);
    storeRequest(core, { kind: 'receipt', command: receipt });
    return;
  }
  core.send(receipt);
  core.enter('ExpectRtr');
}

/** §9.10 rows D (IDLESP → CD, IDLELICD) and T (WF_CD → stored, CDSTWFCD). */
export function changeDirection(core: SessionCore): void {
  if (core.state === 'ExpectCd') {
    storeRequest(core, { kind: 'cd' });
    return;
  }
  const cd: Cd = { cmd: 'CD' };
  core.send(cd);
  core.enter('ExpectFileOrRelease');
}

/** §9.10 row E: F_RELEASE_RQ(normal) in IDLESPCD → ESID 00, WF_NDISC. */
export function release(core: SessionCore): void {
  core.endLocally(EsidReason.normal, 'Normal session termination', undefined);
}

/** The application has nothing more: release after an unsolicited CD, otherwise hand over the turn (§3.4.1). */
export function nothingToSend(core: SessionCore): void {
  if (core.state === 'AwaitSpeakerRequestAfterCd') release(core);
  else changeDirection(core);
}

/**
 * §9.10 row M: one data exchange buffer out, one credit used (P3: the last one → OPOWFC).
 * Returns the credit left; 0 means wait for 'creditAvailable'.
 */
export function sendData(core: SessionCore, exchangeBuffer: Uint8Array): number {
  const size = core.parameters!.exchangeBufferSize;
  if (exchangeBuffer.length < 1 || exchangeBuffer[0] !== DATA_COMMAND_OCTET) {
    throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', "a data exchange buffer starts with the command octet 'D'");
  }
  if (exchangeBuffer.length > size) {
    throw new LocalUsageError(
      'OFTP_ERR_INVALID_ARGUMENT',
      `data exchange buffer of ${exchangeBuffer.length} octets exceeds the negotiated ${size}`,
    );
  }
  core.sendExchangeBuffer(exchangeBuffer);
  core.speakerCredit -= 1;
  core.enter(core.speakerCredit === 0 ? 'ExpectCredit' : 'AwaitData');
  return core.speakerCredit;
}

/** §9.11 row A: EFID out, V.Credit_S = 0, CLOP. (In OPOWFC it is refused: §9.11 note 1.) */
export function endFile(core: SessionCore, counts: { recordCount: number; unitCount: number }): void {
  const efid: Efid = { cmd: 'EFID', recordCount: counts.recordCount, unitCount: counts.unitCount };
  core.send(efid);
  core.speakerCredit = 0;
  core.enter('ExpectEfidAnswer');
}

/** §9.10 row K: SFPA in OPOP. P2 (answer count above our restart position) is a protocol error. */
export function onSfpa(core: SessionCore, sfpa: Sfpa): void {
  if (sfpa.answerCount > core.restartPosition) {
    core.fail(
      new ProtocolViolation({
        state: core.state,
        expected: [`SFPA with answer count <= ${core.restartPosition}`],
        got: `SFPA answer count ${sfpa.answerCount}`,
        why: 'restart position above the one offered',
      }),
    );
    return;
  }
  core.speakerCredit = core.parameters!.credit;
  core.enter('AwaitData');
  core.emit({ type: 'startFileAccepted', restartPosition: sfpa.answerCount, credit: core.speakerCredit });
}

/** §9.10 row L: SFNA in OPOP → IDLESP. */
export function onSfna(core: SessionCore, sfna: Sfna): void {
  core.emit({ type: 'startFileRefused', reason: sfna.reason, retry: sfna.retry, reasonText: sfna.reasonText });
  turnToSpeak(core, false);
}

/** §9.10 row N: RTR in WF_RTR → IDLESP (an EERP/NERP ends the "after CD" condition, §3.3.5). */
export function onRtr(core: SessionCore, _rtr: Rtr): void {
  core.emit({ type: 'receiptAcknowledged' });
  turnToSpeak(core, false);
}

/** §9.10 row O: CDT in OPOWFC → V.Credit_S = V.Window, OPO (F_DATA_CF). */
export function onCdt(core: SessionCore, _cdt: Cdt): void {
  core.speakerCredit = core.parameters!.credit;
  core.enter('AwaitData');
  core.emit({ type: 'creditAvailable', credit: core.speakerCredit });
}

/** §9.10 row P: CDT in OPO, while credit remains, is a protocol error. */
export function onCdtWithCredit(core: SessionCore, _cdt: Cdt): void {
  core.fail(
    new ProtocolViolation({
      state: core.state,
      expected: ['DATA or EFID from us first'],
      got: `CDT with ${core.speakerCredit} credit left`,
      why: 'credit renewed before it was used up',
    }),
  );
}

/** §9.11 row C: EFPA in CLOP. With CD requested (P1) we send CD and become the Listener (IDLELI). */
export function onEfpa(core: SessionCore, efpa: Efpa): void {
  if (efpa.changeDirection) {
    const cd: Cd = { cmd: 'CD' };
    core.send(cd);
    core.enter('ExpectFileOrTurn');
    core.emit({ type: 'endFileAccepted', changeDirection: true });
    return;
  }
  core.emit({ type: 'endFileAccepted', changeDirection: false });
  turnToSpeak(core, false);
}

/** §9.11 row D: EFNA in CLOP → IDLESP; the turn never changes on a negative answer (§3.3.4.2). */
export function onEfna(core: SessionCore, efna: Efna): void {
  core.emit({ type: 'endFileRefused', reason: efna.reason, reasonText: efna.reasonText });
  turnToSpeak(core, false);
}

/**
 * CD in WF_CD (the CD we asked for with EFPA(CD=Y)): row H (nothing stored → IDLESP, a solicited
 * CD, so CD may be sent straight back, §3.3.4.2 rule 4), or the stored request goes out: row I
 * (SFID), R/Z1 (EERP/NERP), J (CD).
 */
export function onSolicitedCd(core: SessionCore, _cd: Cd): void {
  const stored = core.storedRequest;
  core.storedRequest = undefined;
  if (stored === undefined) turnToSpeak(core, false);
  else if (stored.kind === 'sfid') startFile(core, stored.command);
  else if (stored.kind === 'receipt') {
    core.send(stored.command);
    core.enter('ExpectRtr');
  } else {
    const cd: Cd = { cmd: 'CD' };
    core.send(cd);
    core.enter('ExpectFileOrRelease');
  }
}
