// RFC 5024 §9.12 (Listener State Table), row by row, plus the credit/backpressure rules.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OftpSession } from '../../src/session/engine.ts';
import { dataBuffer, eerp, nerp, reach, readyResponder, sfid } from './probe.ts';

type Engine = OftpSession;

function esidReason(sent: { cmd: string; reason?: number }[]): number | undefined {
  return sent.find((c) => c.cmd === 'ESID')?.reason;
}

describe('§9.12 listener state table', () => {
  test('row A (!P1): SFID in IDLELI and IDLELICD → F_START_FILE_IND, OPIP', () => {
    for (const state of ['ExpectFileOrTurn', 'ExpectFileOrRelease'] as const) {
      const p = reach(state);
      p.feed(sfid({ restartPosition: 5 }));
      const { sent, events } = p.take();
      assert.deepEqual(sent, []);
      assert.deepEqual(events, [{ type: 'startFileRequested', sfid: sfid({ restartPosition: 5 }) }]);
      assert.equal(p.state, 'AwaitSfidDecision');
    }
  });

  test('row A (P1): SFID with a restart position when restart was not agreed → ESID 02', () => {
    const p = readyResponder({}, { restart: false });
    p.feed(sfid({ restartPosition: 1 }));
    assert.equal(esidReason(p.take().sent), 2);
  });

  test('row A (P1): SFID to a send-only location → ESID 02', () => {
    const p = readyResponder({ local: { sendReceive: 'S' } }, { sendReceive: 'R' });
    assert.equal(p.engine.parameters?.mode, 'sendOnly');
    p.feed(sfid());
    assert.equal(esidReason(p.take().sent), 2);
  });

  test('row B: a command the listener does not expect → ESID 02', () => {
    const cases = [
      ['ExpectFileOrTurn', { cmd: 'DATA', payload: new Uint8Array([1]) }],
      ['ExpectFileOrTurn', { cmd: 'EFID', recordCount: 0, unitCount: 0 }],
      ['ExpectFileOrRelease', { cmd: 'CD' }],
      ['AwaitSfidDecision', { cmd: 'CD' }],
      ['ExpectData', sfid()],
      ['ExpectData', eerp()],
      ['AwaitEfidDecision', { cmd: 'DATA', payload: new Uint8Array([1]) }],
      ['AwaitReceiptStored', eerp()],
    ] as const;
    for (const [state, command] of cases) {
      const p = reach(state);
      p.feed(command);
      assert.equal(esidReason(p.take().sent), 2, `${command.cmd} in ${state}`);
      assert.equal(p.state, 'ExpectDisconnect');
    }
  });

  test('row C: CD in IDLELI → F_CD_IND, IDLESPCD (release allowed)', () => {
    const p = reach('ExpectFileOrTurn');
    p.feed({ cmd: 'CD' });
    assert.deepEqual(p.take(), { sent: [], events: [{ type: 'turnToSpeak', releaseAllowed: true }] });
    assert.equal(p.state, 'AwaitSpeakerRequestAfterCd');
  });

  test('row D: ESID(error) in any listener state, ESID(normal) outside IDLELICD → F_ABORT_IND, disconnect', () => {
    for (const state of [
      'ExpectFileOrTurn',
      'ExpectFileOrRelease',
      'AwaitSfidDecision',
      'ExpectData',
      'AwaitEfidDecision',
      'AwaitReceiptStored',
    ] as const) {
      const p = reach(state);
      p.feed({ cmd: 'ESID', reason: 8, reasonText: 'no disk' });
      const { sent, events } = p.take();
      assert.deepEqual(sent, []);
      assert.deepEqual(
        events.map((e) => e.type),
        ['sessionEnded', 'closeTransport'],
      );
      assert.equal(p.ended()?.reason, 8);
      assert.equal(p.ended()?.reasonText, 'no disk');
      assert.equal(p.ended()?.normal, false);
      assert.equal(p.state, 'Closed');
    }
    const q = reach('ExpectFileOrTurn');
    q.feed({ cmd: 'ESID', reason: 0, reasonText: '' });
    assert.equal(q.ended()?.normal, false, 'ESID 00 without our CD is an abort indication');
  });

  test('row F: ESID(normal) in IDLELICD → F_RELEASE_IND, disconnect', () => {
    const p = reach('ExpectFileOrRelease');
    p.feed({ cmd: 'ESID', reason: 0, reasonText: '' });
    const ended = p.ended();
    assert.equal(ended?.normal, true);
    assert.equal(ended?.origin, 'remote');
    assert.equal(ended?.error, undefined);
    assert.deepEqual(p.takeNames().events, ['sessionEnded', 'closeTransport']);
    assert.equal(p.state, 'Closed');
  });

  test('row E: EERP in IDLELI/IDLELICD → F_EERP_IND, RTRP; nothing sent until stored', () => {
    for (const state of ['ExpectFileOrTurn', 'ExpectFileOrRelease'] as const) {
      const p = reach(state);
      p.feed(eerp());
      assert.deepEqual(p.take(), { sent: [], events: [{ type: 'receiptReceived', receipt: eerp() }] });
      assert.equal(p.state, 'AwaitReceiptStored');
    }
  });

  test('row L: NERP in IDLELI → F_NERP_IND, RTRP', () => {
    const p = reach('ExpectFileOrTurn');
    p.feed(nerp());
    assert.deepEqual(p.take().events, [{ type: 'receiptReceived', receipt: nerp() }]);
    assert.equal(p.state, 'AwaitReceiptStored');
  });

  test('row M: F_RTR_RS in RTRP → RTR, IDLELI', () => {
    const p = reach('AwaitReceiptStored');
    p.act((e) => e.acknowledgeReceipt());
    assert.deepEqual(p.take().sent, [{ cmd: 'RTR' }]);
    assert.equal(p.state, 'ExpectFileOrTurn');
  });

  test('row H (P2): F_START_FILE_RS(+) → SFPA with the restart position, OPI', () => {
    const p = reach('ExpectFileOrTurn').feed(sfid({ restartPosition: 9 }));
    p.take();
    p.act((e) => e.acceptFile(4));
    assert.deepEqual(p.take().sent, [{ cmd: 'SFPA', answerCount: 4 }]);
    assert.equal(p.state, 'ExpectData');
  });

  test('row H (!P2): F_START_FILE_RS(−) → SFNA with reason and retry, IDLELI', () => {
    for (const retry of [true, false]) {
      const p = reach('AwaitSfidDecision');
      p.act((e) => e.refuseFile({ reason: 2, retry, reasonText: 'Invalid destination' }));
      assert.deepEqual(p.take().sent, [{ cmd: 'SFNA', reason: 2, retry, reasonText: 'Invalid destination' }]);
      assert.equal(p.state, 'ExpectFileOrTurn');
    }
  });

  test('row H (P4): a restart position above the offered one is a user error', () => {
    const p = reach('AwaitSfidDecision');
    assert.throws(() => p.engine.acceptFile(1), { code: 'OFTP_ERR_INVALID_ARGUMENT' });
    assert.equal(p.state, 'AwaitSfidDecision');
  });

  test('row I (!P6, !P7): DATA in OPI → F_DATA_IND, credit counted down', () => {
    const p = reach('ExpectData');
    p.feedExchangeBuffer(dataBuffer('hello'));
    const { sent, events } = p.take();
    assert.deepEqual(sent, []);
    assert.equal(events.length, 1);
    const data = events[0]!;
    assert.ok(data.type === 'data');
    assert.equal(new TextDecoder().decode(data.payload), 'hello');
    assert.equal(p.state, 'ExpectData');
    assert.equal(p.engine.unconsumedData, 1);
  });

  test('row I (P7): the last credit used → CDT only once the application consumed the data', () => {
    const p = reach('ExpectData');
    for (let i = 0; i < 4; i++) p.feedExchangeBuffer(dataBuffer(`b${i}`));
    assert.equal(p.state, 'AwaitDataConsumed');
    assert.deepEqual(p.takeNames().sent, [], 'no CDT while data is unconsumed');
    p.act((e) => e.dataConsumed(3));
    assert.deepEqual(p.takeNames().sent, []);
    p.act((e) => e.dataConsumed(1));
    assert.deepEqual(p.takeNames().sent, ['CDT']);
    assert.equal(p.state, 'ExpectData');
  });

  test('row I (P7): data consumed early → CDT as soon as the window is used up', () => {
    const p = reach('ExpectData');
    for (let i = 0; i < 3; i++) p.feedExchangeBuffer(dataBuffer(`b${i}`)).act((e) => e.dataConsumed());
    assert.deepEqual(p.takeNames().sent, []);
    p.feedExchangeBuffer(dataBuffer('b3'));
    p.act((e) => e.dataConsumed());
    assert.deepEqual(p.takeNames().sent, ['CDT']);
  });

  test('row I (P6): DATA beyond the credit → ESID 02', () => {
    const p = reach('AwaitDataConsumed');
    p.feedExchangeBuffer(dataBuffer('too much'));
    assert.equal(esidReason(p.take().sent), 2);
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_PROTOCOL_VIOLATION');
  });

  test('dataConsumed with more than delivered is our misuse', () => {
    const p = reach('ExpectData').feedExchangeBuffer(dataBuffer('x'));
    assert.throws(() => p.engine.dataConsumed(2), { code: 'OFTP_ERR_INVALID_ARGUMENT' });
  });

  test('row J: EFID in OPI → F_CLOSE_FILE_IND, CLIP; nothing sent until the application answers', () => {
    for (const state of ['ExpectData', 'AwaitDataConsumed'] as const) {
      const p = reach(state);
      p.feed({ cmd: 'EFID', recordCount: 3, unitCount: 300 });
      assert.deepEqual(p.take(), {
        sent: [],
        events: [{ type: 'endFileRequested', recordCount: 3, unitCount: 300 }],
      });
      assert.equal(p.state, 'AwaitEfidDecision');
      p.advance(60_000);
      assert.deepEqual(p.takeNames().sent, [], 'still nothing: the file is not on disk yet');
    }
  });

  test('row K (P2 & P3): EFPA asking for the turn → WF_CD', () => {
    const p = reach('AwaitEfidDecision');
    p.act((e) => e.acceptEndFile({ changeDirection: true }));
    assert.deepEqual(p.take().sent, [{ cmd: 'EFPA', changeDirection: true }]);
    assert.equal(p.state, 'ExpectCd');
  });

  test('row K (P2 & !P3): EFPA without CD → IDLELI', () => {
    const p = reach('AwaitEfidDecision');
    p.act((e) => e.acceptEndFile({ changeDirection: false }));
    assert.deepEqual(p.take().sent, [{ cmd: 'EFPA', changeDirection: false }]);
    assert.equal(p.state, 'ExpectFileOrTurn');
  });

  test('row K (!P2): EFNA → IDLELI', () => {
    const p = reach('AwaitEfidDecision');
    p.act((e) => e.refuseEndFile({ reason: 11, reasonText: 'Invalid byte count' }));
    assert.deepEqual(p.take().sent, [{ cmd: 'EFNA', reason: 11, reasonText: 'Invalid byte count' }]);
    assert.equal(p.state, 'ExpectFileOrTurn');
  });

  test('row K: EFPA is refused while delivered data is not reported consumed', () => {
    const p = reach('ExpectData').feedExchangeBuffer(dataBuffer('x')).feed({ cmd: 'EFID', recordCount: 0, unitCount: 1 });
    p.take();
    assert.throws(() => p.engine.acceptEndFile({ changeDirection: false }), { code: 'OFTP_ERR_STATE' });
    p.act((e) => e.dataConsumed()).act((e) => e.acceptEndFile({ changeDirection: false }));
    assert.deepEqual(p.takeNames().sent, ['EFPA']);
  });

  test('row U: responses the listener state does not allow are user errors', () => {
    const cases = [
      ['ExpectFileOrTurn', (e: Engine) => e.acceptFile(0)],
      ['ExpectData', (e: Engine) => e.acceptEndFile({ changeDirection: false })],
      ['AwaitSfidDecision', (e: Engine) => e.acknowledgeReceipt()],
      ['AwaitReceiptStored', (e: Engine) => e.refuseFile({ reason: 1, retry: false })],
      ['AwaitEfidDecision', (e: Engine) => e.acceptFile(0)],
    ] as const;
    for (const [state, response] of cases) {
      const p = reach(state);
      assert.throws(() => response(p.engine), { code: 'OFTP_ERR_STATE' }, state);
      assert.equal(p.state, state);
    }
  });
});
