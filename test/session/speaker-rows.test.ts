// RFC 5024 §9.10 (Speaker State Table 1) and §9.11 (Speaker State Table 2), row by row.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dataBuffer, eerp, nerp, reach, readyInitiator, sfid } from './probe.ts';

function esidReason(sent: { cmd: string; reason?: number }[]): number | undefined {
  const esid = sent.find((c) => c.cmd === 'ESID');
  return esid?.reason;
}

describe('§9.10 speaker state table 1', () => {
  test('row A: F_EERP_RQ in IDLESP and IDLESPCD → EERP, WF_RTR', () => {
    for (const state of ['AwaitSpeakerRequest', 'AwaitSpeakerRequestAfterCd'] as const) {
      const p = reach(state);
      p.act((e) => e.sendReceipt(eerp()));
      assert.deepEqual(p.take().sent, [eerp()]);
      assert.equal(p.state, 'ExpectRtr');
    }
  });

  test('row Y: F_NERP_RQ in IDLESP → NERP, WF_RTR', () => {
    const p = reach('AwaitSpeakerRequestAfterCd');
    p.act((e) => e.sendReceipt(nerp()));
    assert.deepEqual(p.take().sent, [nerp()]);
    assert.equal(p.state, 'ExpectRtr');
  });

  test('row B: F_START_FILE_RQ in IDLESP → SFID, OPOP', () => {
    const p = reach('AwaitSpeakerRequest');
    p.act((e) => e.offerFile(sfid({ restartPosition: 7 })));
    assert.deepEqual(p.take().sent, [sfid({ restartPosition: 7 })]);
    assert.equal(p.state, 'ExpectSfidAnswer');
  });

  test('row B (P1): restart position without negotiated restart, or receive-only mode → user error', () => {
    const p = readyInitiator({}, { restart: false });
    assert.throws(() => p.engine.offerFile(sfid({ restartPosition: 3 })), { code: 'OFTP_ERR_INVALID_ARGUMENT' });
    assert.equal(p.state, 'AwaitSpeakerRequest');
    const q = readyInitiator({ local: { sendReceive: 'R' } }, { sendReceive: 'S' });
    assert.equal(q.engine.parameters?.mode, 'receiveOnly');
    assert.throws(() => q.engine.offerFile(sfid()), { code: 'OFTP_ERR_STATE' });
    assert.deepEqual(q.take().sent, []);
  });

  test('row C: a command the speaker does not expect → ESID 02 (e.g. SFPA in IDLESP, RTR in OPOP)', () => {
    const cases = [
      ['AwaitSpeakerRequest', { cmd: 'SFPA', answerCount: 0 }],
      ['AwaitSpeakerRequestAfterCd', { cmd: 'CD' }],
      ['ExpectRtr', { cmd: 'CD' }],
      ['ExpectSfidAnswer', { cmd: 'RTR' }],
      ['ExpectCredit', { cmd: 'SFPA', answerCount: 0 }],
      ['ExpectCd', { cmd: 'SFPA', answerCount: 0 }],
    ] as const;
    for (const [state, command] of cases) {
      const p = reach(state);
      p.feed(command);
      const { sent } = p.take();
      assert.equal(esidReason(sent), 2, `${command.cmd} in ${state}`);
      assert.equal(p.state, 'ExpectDisconnect');
      const violation = p.ended()?.error as unknown as { state: string; got: string; expected: string[] };
      assert.equal(violation.state, state);
      assert.equal(violation.got, command.cmd);
      assert.ok(Array.isArray(violation.expected));
    }
  });

  test('row D: F_CD_RQ in IDLESP → CD, IDLELICD', () => {
    const p = reach('AwaitSpeakerRequest');
    p.act((e) => e.changeDirection());
    assert.deepEqual(p.takeNames().sent, ['CD']);
    assert.equal(p.state, 'ExpectFileOrRelease');
  });

  test('row E: F_RELEASE_RQ(normal) in IDLESPCD → ESID 00, WF_NDISC', () => {
    const p = reach('AwaitSpeakerRequestAfterCd');
    p.act((e) => e.release());
    const { sent, events } = p.take();
    assert.deepEqual(sent, [{ cmd: 'ESID', reason: 0, reasonText: 'Normal session termination' }]);
    assert.equal(p.state, 'ExpectDisconnect');
    assert.deepEqual(events, [
      {
        type: 'sessionEnded',
        normal: true,
        origin: 'local',
        reason: 0,
        reasonText: 'Normal session termination',
        error: undefined,
        state: 'AwaitSpeakerRequestAfterCd',
      },
    ]);
  });

  test('rows D/E via nothingToSend: CD in IDLESP, ESID 00 in IDLESPCD', () => {
    const a = reach('AwaitSpeakerRequest').act((e) => e.nothingToSend());
    assert.deepEqual(a.takeNames().sent, ['CD']);
    const b = reach('AwaitSpeakerRequestAfterCd').act((e) => e.nothingToSend());
    assert.deepEqual(b.takeNames().sent, ['ESID']);
  });

  test('rows F, Z, G, T: requests made in WF_CD are stored, nothing is sent', () => {
    for (const request of [
      (e: import('../../src/session/engine.ts').OftpSession) => e.sendReceipt(eerp()),
      (e: import('../../src/session/engine.ts').OftpSession) => e.sendReceipt(nerp()),
      (e: import('../../src/session/engine.ts').OftpSession) => e.offerFile(sfid()),
      (e: import('../../src/session/engine.ts').OftpSession) => e.changeDirection(),
    ]) {
      const p = reach('ExpectCd');
      p.act(request);
      assert.deepEqual(p.take().sent, []);
      assert.equal(p.state, 'ExpectCd');
    }
  });

  test('row W: a second request in WF_CD is a user error', () => {
    const p = reach('ExpectCd').act((e) => e.offerFile(sfid()));
    assert.throws(() => p.engine.sendReceipt(eerp()), { code: 'OFTP_ERR_STATE' });
  });

  test('row H: CD in WF_CD with nothing stored → IDLESP (solicited: CD may go straight back)', () => {
    const p = reach('ExpectCd');
    p.feed({ cmd: 'CD' });
    assert.deepEqual(p.take().events, [{ type: 'turnToSpeak', releaseAllowed: false }]);
    assert.equal(p.state, 'AwaitSpeakerRequest');
    p.act((e) => e.changeDirection());
    assert.deepEqual(p.takeNames().sent, ['CD']);
  });

  test('row I: CD in SFSTWFCD → the stored SFID, OPOP', () => {
    const p = reach('ExpectCd').act((e) => e.offerFile(sfid({ datasetName: 'STORED' })));
    p.feed({ cmd: 'CD' });
    assert.deepEqual(p.take().sent, [sfid({ datasetName: 'STORED' })]);
    assert.equal(p.state, 'ExpectSfidAnswer');
  });

  test('row J: CD in CDSTWFCD → CD, IDLELICD', () => {
    const p = reach('ExpectCd').act((e) => e.changeDirection());
    p.feed({ cmd: 'CD' });
    assert.deepEqual(p.takeNames().sent, ['CD']);
    assert.equal(p.state, 'ExpectFileOrRelease');
  });

  test('row R: CD in ERSTWFCD → the stored EERP, WF_RTR', () => {
    const p = reach('ExpectCd').act((e) => e.sendReceipt(eerp()));
    p.feed({ cmd: 'CD' });
    assert.deepEqual(p.take().sent, [eerp()]);
    assert.equal(p.state, 'ExpectRtr');
  });

  test('row Z1: CD in NRSTWFCD → the stored NERP, WF_RTR', () => {
    const p = reach('ExpectCd').act((e) => e.sendReceipt(nerp()));
    p.feed({ cmd: 'CD' });
    assert.deepEqual(p.take().sent, [nerp()]);
    assert.equal(p.state, 'ExpectRtr');
  });

  test('row K (!P2): SFPA with answer count ≤ the offered position → credit = window, OPO', () => {
    const p = reach('AwaitSpeakerRequest').act((e) => e.offerFile(sfid({ restartPosition: 10 })));
    p.take();
    p.feed({ cmd: 'SFPA', answerCount: 6 });
    assert.deepEqual(p.take().events, [{ type: 'startFileAccepted', restartPosition: 6, credit: 4 }]);
    assert.equal(p.state, 'AwaitData');
    assert.equal(p.engine.credit, 4);
  });

  test('row K (P2): SFPA with answer count above the offered position → ESID 02', () => {
    const p = reach('AwaitSpeakerRequest').act((e) => e.offerFile(sfid({ restartPosition: 10 })));
    p.take();
    p.feed({ cmd: 'SFPA', answerCount: 11 });
    assert.equal(esidReason(p.take().sent), 2);
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_PROTOCOL_VIOLATION');
  });

  test('row L: SFNA → F_START_FILE_CF(−) with reason and retry, IDLESP', () => {
    for (const retry of [true, false]) {
      const p = reach('ExpectSfidAnswer');
      p.feed({ cmd: 'SFNA', reason: 13, retry, reasonText: 'Duplicate file' });
      assert.deepEqual(p.take().events, [
        { type: 'startFileRefused', reason: 13, retry, reasonText: 'Duplicate file' },
        { type: 'turnToSpeak', releaseAllowed: false },
      ]);
      assert.equal(p.state, 'AwaitSpeakerRequest');
    }
  });

  test('row M (!P3): F_DATA_RQ with credit left → DATA, OPO; (P3) the last credit → OPOWFC', () => {
    const p = reach('AwaitData');
    const left: number[] = [];
    for (let i = 0; i < 4; i++) left.push(p.engine.sendData(dataBuffer(`buffer ${i}`)));
    assert.deepEqual(left, [3, 2, 1, 0]);
    const { sent } = p.take();
    assert.deepEqual(
      sent.map((c) => c.cmd === 'DATA' && new TextDecoder().decode(c.payload)),
      ['buffer 0', 'buffer 1', 'buffer 2', 'buffer 3'],
    );
    assert.equal(p.state, 'ExpectCredit');
    assert.equal(p.engine.credit, 0);
  });

  test('row M: data without credit, or not a data buffer, or too big → our misuse, nothing sent', () => {
    const p = reach('ExpectCredit');
    assert.throws(() => p.engine.sendData(dataBuffer('x')), { code: 'OFTP_ERR_STATE' });
    const q = reach('AwaitData');
    assert.throws(() => q.engine.sendData(new TextEncoder().encode('Xnot data')), { code: 'OFTP_ERR_INVALID_ARGUMENT' });
    assert.throws(() => q.engine.sendData(dataBuffer('y'.repeat(4096))), { code: 'OFTP_ERR_INVALID_ARGUMENT' });
    assert.deepEqual(q.take().sent, []);
    assert.equal(q.engine.credit, 4);
  });

  test('row N: RTR in WF_RTR → F_RTR_CF, IDLESP (even after an unsolicited CD, §3.3.5)', () => {
    const p = reach('AwaitSpeakerRequestAfterCd').act((e) => e.sendReceipt(eerp()));
    p.take();
    p.feed({ cmd: 'RTR' });
    assert.deepEqual(p.take().events, [{ type: 'receiptAcknowledged' }, { type: 'turnToSpeak', releaseAllowed: false }]);
    assert.equal(p.state, 'AwaitSpeakerRequest');
    assert.throws(() => p.engine.release(), { code: 'OFTP_ERR_STATE' });
  });

  test('row O: CDT in OPOWFC → credit = window, OPO (F_DATA_CF)', () => {
    const p = reach('ExpectCredit');
    p.feed({ cmd: 'CDT' });
    assert.deepEqual(p.take().events, [{ type: 'creditAvailable', credit: 4 }]);
    assert.equal(p.state, 'AwaitData');
    assert.equal(p.engine.credit, 4);
  });

  test('row P: CDT in OPO (credit not used up) → ESID 02', () => {
    const p = reach('AwaitData');
    p.engine.sendData(dataBuffer('x'));
    p.feed({ cmd: 'CDT' });
    assert.equal(esidReason(p.take().sent), 2);
  });

  test('row Q: F_RELEASE_RQ(error) in any speaker state → ESID(R), WF_NDISC', () => {
    for (const state of [
      'AwaitSpeakerRequest',
      'AwaitSpeakerRequestAfterCd',
      'ExpectRtr',
      'ExpectCd',
      'ExpectSfidAnswer',
      'AwaitData',
      'ExpectCredit',
      'ExpectEfidAnswer',
    ] as const) {
      const p = reach(state);
      p.act((e) => e.abort(5, 'emergency'));
      const { sent } = p.take();
      assert.deepEqual(sent, [{ cmd: 'ESID', reason: 5, reasonText: 'emergency' }], state);
      assert.equal(p.state, 'ExpectDisconnect');
      assert.equal(p.ended()?.reason, 5);
    }
  });

  test('row S: anything in WF_NDISC is ignored', () => {
    const p = reach('ExpectDisconnect');
    p.feed({ cmd: 'SFPA', answerCount: 0 });
    p.feed({ cmd: 'CDT' });
    assert.deepEqual(p.takeNames(), { sent: [], events: [] });
    assert.throws(() => p.engine.offerFile(sfid()), { code: 'OFTP_ERR_SESSION_CLOSED' });
  });

  test('row U: requests the speaker state does not allow are user errors and change nothing', () => {
    const cases = [
      ['AwaitSpeakerRequestAfterCd', (e: Engine) => e.changeDirection()],
      ['AwaitSpeakerRequest', (e: Engine) => e.release()],
      ['ExpectRtr', (e: Engine) => e.offerFile(sfid())],
      ['ExpectSfidAnswer', (e: Engine) => e.sendData(dataBuffer('x'))],
      ['AwaitData', (e: Engine) => e.offerFile(sfid())],
      ['ExpectEfidAnswer', (e: Engine) => e.endFile({ recordCount: 0, unitCount: 0 })],
      ['ExpectFileOrTurn', (e: Engine) => e.sendReceipt(eerp())],
      ['ExpectCd', (e: Engine) => e.release()],
    ] as const;
    for (const [state, request] of cases) {
      const p = reach(state);
      assert.throws(() => request(p.engine), { code: 'OFTP_ERR_STATE' }, state);
      assert.equal(p.state, state);
      assert.deepEqual(p.takeNames(), { sent: [], events: [] });
    }
  });
});

type Engine = import('../../src/session/engine.ts').OftpSession;

describe('§9.11 speaker state table 2', () => {
  test('row A: F_CLOSE_FILE_RQ in OPO → EFID, credit zeroed, CLOP', () => {
    const p = reach('AwaitData');
    p.act((e) => e.endFile({ recordCount: 0, unitCount: 1234 }));
    assert.deepEqual(p.take().sent, [{ cmd: 'EFID', recordCount: 0, unitCount: 1234 }]);
    assert.equal(p.state, 'ExpectEfidAnswer');
    assert.equal(p.engine.credit, 0);
  });

  test('row B: EFPA or EFNA in OPO/OPOWFC → ESID 02', () => {
    for (const state of ['AwaitData', 'ExpectCredit'] as const) {
      for (const answer of [
        { cmd: 'EFPA', changeDirection: false },
        { cmd: 'EFNA', reason: 11, reasonText: '' },
      ] as const) {
        const p = reach(state);
        p.feed(answer);
        assert.equal(esidReason(p.take().sent), 2, `${answer.cmd} in ${state}`);
      }
    }
  });

  test('row C (P1): EFPA asking for the turn → CD sent, IDLELI', () => {
    const p = reach('ExpectEfidAnswer');
    p.feed({ cmd: 'EFPA', changeDirection: true });
    const { sent, events } = p.take();
    assert.deepEqual(sent, [{ cmd: 'CD' }]);
    assert.deepEqual(events, [{ type: 'endFileAccepted', changeDirection: true }]);
    assert.equal(p.state, 'ExpectFileOrTurn');
  });

  test('row C (!P1): EFPA without CD → IDLESP, still speaker', () => {
    const p = reach('ExpectEfidAnswer');
    p.feed({ cmd: 'EFPA', changeDirection: false });
    const { sent, events } = p.take();
    assert.deepEqual(sent, []);
    assert.deepEqual(events, [
      { type: 'endFileAccepted', changeDirection: false },
      { type: 'turnToSpeak', releaseAllowed: false },
    ]);
    assert.equal(p.state, 'AwaitSpeakerRequest');
  });

  test('row D: EFNA → F_CLOSE_FILE_CF(−), IDLESP (the turn never changes)', () => {
    const p = reach('ExpectEfidAnswer');
    p.feed({ cmd: 'EFNA', reason: 10, reasonText: 'Invalid record count' });
    assert.deepEqual(p.take().events, [
      { type: 'endFileRefused', reason: 10, reasonText: 'Invalid record count' },
      { type: 'turnToSpeak', releaseAllowed: false },
    ]);
    assert.equal(p.state, 'AwaitSpeakerRequest');
  });

  test('row E (note 1): F_CLOSE_FILE_RQ in OPOWFC is refused — EFID only with credit', () => {
    const p = reach('ExpectCredit');
    assert.throws(() => p.engine.endFile({ recordCount: 0, unitCount: 0 }), { code: 'OFTP_ERR_STATE' });
    p.feed({ cmd: 'CDT' }).act((e) => e.endFile({ recordCount: 0, unitCount: 4 }));
    assert.deepEqual(p.takeNames().sent, ['EFID']);
  });

  test('row U: F_CLOSE_FILE_RQ in CLOP is a user error', () => {
    const p = reach('ExpectEfidAnswer');
    assert.throws(() => p.engine.endFile({ recordCount: 0, unitCount: 0 }), { code: 'OFTP_ERR_STATE' });
  });
});
