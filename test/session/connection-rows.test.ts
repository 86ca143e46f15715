// RFC 5024 §9.8 (Session Connection) and §9.9 (Error and Abort) rows, one engine at a time.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeCommand } from '../../src/protocol/command-codec.ts';
import { DEFAULT_TIMERS } from '../../src/session/types.ts';
import { INITIATOR_ID, Probe, RESPONDER_ID, reach, readyInitiator, readyResponder, ssid } from './probe.ts';

const challenge = new Uint8Array([0xa1, 0xa2, 0xa3]);
const response = Uint8Array.from({ length: 20 }, (_, i) => i + 1);

describe('§9.8 session connection', () => {
  test('row B: responder sends SSRM on connection and waits for SSID (A_NC_ONLY)', () => {
    const p = new Probe('responder');
    p.act((e) => e.connected(0));
    assert.deepEqual(p.takeNames().sent, ['SSRM']);
    assert.equal(p.state, 'ExpectSsid');
  });

  test('row C: initiator waits for the ready message on connection (I_WF_RM)', () => {
    const p = new Probe('initiator');
    p.act((e) => e.connected(0));
    assert.deepEqual(p.takeNames().sent, []);
    assert.equal(p.state, 'ExpectSsrm');
  });

  test('row H: SSRM in I_WF_RM → SSID with the local parameters (I_WF_SSID)', () => {
    const p = reach('ExpectSsrm', { local: { credit: 7, exchangeBufferSize: 2048, restart: false } });
    p.feed({ cmd: 'SSRM' });
    const { sent } = p.take();
    assert.equal(p.state, 'ExpectSsidAnswer');
    assert.deepEqual(sent, [
      ssid({ credit: 7, exchangeBufferSize: 2048, restart: false, password: 'IPASS', identificationCode: INITIATOR_ID }),
    ]);
  });

  test('row D (P2 & !P11): acceptable SSID answer → F_CONNECT_CF, IDLESP, turn to speak', () => {
    const p = reach('ExpectSsidAnswer');
    p.feed(ssid({ identificationCode: RESPONDER_ID, credit: 2, exchangeBufferSize: 1024, restart: false }));
    const { sent, events } = p.take();
    assert.deepEqual(sent, []);
    assert.equal(p.state, 'AwaitSpeakerRequest');
    assert.deepEqual(
      events.map((e) => e.type),
      ['sessionReady', 'turnToSpeak'],
    );
    const ready = events[0]!;
    assert.ok(ready.type === 'sessionReady');
    assert.equal(ready.parameters.credit, 2);
    assert.equal(ready.parameters.exchangeBufferSize, 1024);
    assert.equal(ready.parameters.restart, false);
    assert.equal(ready.parameters.mode, 'both');
  });

  test('row D (P2 & P8 & P11): authentication agreed → SECD, WF_AUCH', () => {
    const p = reach('ExpectSsidAnswer', { local: { secureAuthentication: true } });
    p.feed(ssid({ identificationCode: RESPONDER_ID, secureAuthentication: true }));
    assert.deepEqual(p.takeNames(), { sent: ['SECD'], events: [] });
    assert.equal(p.state, 'ExpectAuch');
  });

  test('row D (P2 & !P8): authentication mismatch → ESID 12', () => {
    const p = reach('ExpectSsidAnswer', { local: { secureAuthentication: true } });
    p.feed(ssid({ identificationCode: RESPONDER_ID, secureAuthentication: false }));
    const { sent } = p.take();
    assert.equal(sent[0]?.cmd === 'ESID' && sent[0].reason, 12);
    assert.equal(p.state, 'ExpectDisconnect');
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_NEGOTIATION');
  });

  for (const [what, answer] of [
    ['a larger credit', { credit: 5 }],
    ['a larger exchange buffer', { exchangeBufferSize: 4097 }],
    ['a higher level', { level: 5 as const }],
    ['send only against our send only', { sendReceive: 'S' as const }],
  ] as const) {
    test(`row D (else): an answer with ${what} → ESID 10`, () => {
      const local = what === 'a higher level' ? { level: 4 as const } : what.startsWith('send') ? { sendReceive: 'S' as const } : {};
      const p = reach('ExpectSsidAnswer', { local });
      p.feed(ssid({ identificationCode: RESPONDER_ID, ...answer }));
      const esid = p.take().sent[0];
      assert.equal(esid?.cmd === 'ESID' && esid.reason, 10);
      assert.equal(p.state, 'ExpectDisconnect');
    });
  }

  test('row D: the initiator may check the responder too (wrong password → ESID 04)', () => {
    const p = reach('ExpectSsidAnswer', {
      checkPeer: (s) => (s.password === 'RPASS' ? { accept: true } : { accept: false, esidReason: 4 }),
    });
    p.feed(ssid({ identificationCode: RESPONDER_ID, password: 'WRONG' }));
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 4);
  });

  test('rows E+G (P2 & !P9 & P10): SSID accepted → SSID answer with the lower values, IDLELI', () => {
    const p = reach('ExpectSsid', { local: { credit: 10, exchangeBufferSize: 8192, bufferCompression: true } });
    p.feed(ssid({ credit: 4, exchangeBufferSize: 99999, bufferCompression: false, sendReceive: 'S' }));
    const { sent, events } = p.take();
    assert.equal(p.state, 'ExpectFileOrTurn');
    const answer = sent[0];
    assert.ok(answer?.cmd === 'SSID');
    assert.equal(answer.identificationCode, RESPONDER_ID);
    assert.equal(answer.password, 'RPASS');
    assert.equal(answer.credit, 4);
    assert.equal(answer.exchangeBufferSize, 8192);
    assert.equal(answer.bufferCompression, false);
    assert.equal(answer.sendReceive, 'R');
    assert.deepEqual(
      events.map((e) => e.type),
      ['sessionReady'],
    );
  });

  test('rows E+G (P2 & P9 & P10): authentication agreed → SSID, WF_SECD', () => {
    const p = reach('ExpectSsid', { local: { secureAuthentication: true } });
    p.feed(ssid({ secureAuthentication: true }));
    assert.deepEqual(p.takeNames(), { sent: ['SSID'], events: [] });
    assert.equal(p.state, 'ExpectSecd');
  });

  test('row G: the station checks code and password before saying anything about itself (ESID 03, 04)', () => {
    const checkPeer = (s: { identificationCode: string; password: string }) =>
      s.identificationCode !== INITIATOR_ID
        ? { accept: false as const, esidReason: 3 }
        : s.password !== 'IPASS'
          ? { accept: false as const, esidReason: 4, text: 'bad password' }
          : { accept: true as const };
    for (const [peer, reason] of [
      [{ identificationCode: 'O0013000000STRANGER' }, 3],
      [{ password: 'NOPE' }, 4],
    ] as const) {
      const p = reach('ExpectSsid', { checkPeer });
      p.feed(ssid(peer));
      const { sent } = p.take();
      assert.deepEqual(
        sent.map((c) => c.cmd),
        ['ESID'],
        'no SSID of ours goes out',
      );
      assert.equal(sent[0]?.cmd === 'ESID' && sent[0].reason, reason);
      assert.equal(p.ended()?.reason, reason);
    }
  });

  test('row G (!P10): secure authentication requirements differ → ESID 12', () => {
    const p = reach('ExpectSsid', { local: { secureAuthentication: true } });
    p.feed(ssid({ secureAuthentication: false }));
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 12);
  });

  test('row G (else): both send only → ESID 10', () => {
    const p = reach('ExpectSsid', { local: { sendReceive: 'S' } });
    p.feed(ssid({ sendReceive: 'S' }));
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 10);
  });

  test('row G: checkPeer overrides apply per partner', () => {
    const p = reach('ExpectSsid', { checkPeer: () => ({ accept: true, overrides: { credit: 2, restart: false } }) });
    p.feed(ssid({ credit: 50 }));
    const answer = p.take().sent[0];
    assert.ok(answer?.cmd === 'SSID');
    assert.equal(answer.credit, 2);
    assert.equal(answer.restart, false);
  });

  test('row G: a throwing checkPeer ends the session with ESID 99', () => {
    const p = reach('ExpectSsid', {
      checkPeer: () => {
        throw new Error('store down');
      },
    });
    p.feed(ssid());
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 99);
  });

  test('row F: ESID in I_WF_SSID → F_ABORT_IND and disconnect', () => {
    const p = reach('ExpectSsidAnswer');
    p.feed({ cmd: 'ESID', reason: 3, reasonText: 'who are you' });
    const { sent, events } = p.take();
    assert.deepEqual(sent, []);
    assert.deepEqual(
      events.map((e) => e.type),
      ['sessionEnded', 'closeTransport'],
    );
    assert.equal(p.ended()?.reason, 3);
    assert.equal(p.ended()?.origin, 'remote');
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_PEER_REFUSED');
    assert.equal(p.state, 'Closed');
  });

  test('row F: a 1.x ESID (no reason text) refusing our level-5 SSID is understood', () => {
    const p = reach('ExpectSsidAnswer');
    p.feedExchangeBuffer(new TextEncoder().encode('F04\r'));
    assert.equal(p.ended()?.reason, 4);
    assert.equal(p.state, 'Closed');
  });

  test('row F: ESID in WF_AUCH, WF_AURP and WF_SECD ends the session', () => {
    for (const state of ['ExpectAuch', 'ExpectAurp', 'ExpectSecd'] as const) {
      const p = reach(state);
      p.feed({ cmd: 'ESID', reason: 11, reasonText: '' });
      assert.equal(p.state, 'Closed', state);
      assert.equal(p.ended()?.reason, 11);
    }
  });

  test('row J: SECD in WF_SECD → the application builds the challenge → AUCH, WF_AURP', () => {
    const p = reach('ExpectSecd');
    p.feed({ cmd: 'SECD' });
    const first = p.take();
    assert.deepEqual(first.sent, []);
    assert.deepEqual(first.events, [{ type: 'authChallengeRequired', peerIdentificationCode: INITIATOR_ID }]);
    assert.equal(p.state, 'AwaitChallenge');
    p.act((e) => e.sendChallenge(challenge, response));
    assert.deepEqual(p.take().sent, [{ cmd: 'AUCH', challenge }]);
    assert.equal(p.state, 'ExpectAurp');
  });

  test('row I (P5): AUCH at the initiator → the application answers → AURP, WF_SECD', () => {
    const p = reach('ExpectAuch');
    p.feed({ cmd: 'AUCH', challenge });
    assert.deepEqual(p.take().events, [{ type: 'authChallengeReceived', challenge }]);
    p.act((e) => e.answerChallenge(response));
    assert.deepEqual(p.take().sent, [{ cmd: 'AURP', response }]);
    assert.equal(p.state, 'ExpectSecd');
  });

  test('row I (!P5): AUCH at the responder → AURP, IDLELI, session ready', () => {
    const p = reach('ExpectAurp');
    p.feed({ cmd: 'AURP', response: new Uint8Array(20) });
    assert.deepEqual(p.takeNames(), { sent: ['SECD'], events: ['peerAuthenticated'] });
    p.feed({ cmd: 'AUCH', challenge });
    p.act((e) => e.answerChallenge(response));
    assert.deepEqual(p.takeNames(), { sent: ['AURP'], events: ['authChallengeReceived', 'sessionReady'] });
    assert.equal(p.state, 'ExpectFileOrTurn');
  });

  test('row K (P6): matching AURP at the initiator → F_CONNECT_CF, IDLESP', () => {
    const p = reach('ExpectAuch');
    p.feed({ cmd: 'AUCH', challenge }).act((e) => e.answerChallenge(response));
    p.feed({ cmd: 'SECD' }).act((e) => e.sendChallenge(challenge, response));
    p.take();
    p.feed({ cmd: 'AURP', response });
    assert.deepEqual(p.takeNames(), { sent: [], events: ['peerAuthenticated', 'sessionReady', 'turnToSpeak'] });
    assert.equal(p.state, 'AwaitSpeakerRequest');
  });

  test('row K (P7): matching AURP at the responder → SECD, WF_AUCH', () => {
    const p = reach('AwaitChallenge').act((e) => e.sendChallenge(challenge, response));
    p.take();
    p.feed({ cmd: 'AURP', response });
    assert.deepEqual(p.takeNames().sent, ['SECD']);
    assert.equal(p.state, 'ExpectAuch');
  });

  test('row K (else): a wrong challenge response → ESID 11', () => {
    const p = reach('AwaitChallenge').act((e) => e.sendChallenge(challenge, response));
    p.take();
    const wrong = response.slice();
    wrong[19] ^= 1;
    p.feed({ cmd: 'AURP', response: wrong });
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 11);
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_AUTHENTICATION');
  });

  test('row L: anything but the awaited authentication command → ESID 02', () => {
    for (const [state, cmd] of [
      ['ExpectAuch', { cmd: 'AURP', response }],
      ['ExpectAurp', { cmd: 'SECD' }],
      ['ExpectSecd', { cmd: 'AUCH', challenge }],
      ['ExpectSecd', { cmd: 'SSRM' }],
    ] as const) {
      const p = reach(state);
      p.feed(cmd);
      const esid = p.take().sent[0];
      assert.equal(esid?.cmd === 'ESID' && esid.reason, 2, `${cmd.cmd} in ${state}`);
    }
  });

  test('sendChallenge/answerChallenge insist on 20-octet responses (our misuse)', () => {
    const a = reach('AwaitChallenge');
    assert.throws(() => a.engine.sendChallenge(challenge, new Uint8Array(19)), { code: 'OFTP_ERR_INVALID_ARGUMENT' });
    assert.equal(a.state, 'AwaitChallenge');
    const b = reach('AwaitChallengeAnswer');
    assert.throws(() => b.engine.answerChallenge(new Uint8Array(21)), { code: 'OFTP_ERR_INVALID_ARGUMENT' });
  });

  test('a responder needs checkPeer', () => {
    assert.throws(
      () => new Probe('responder', { checkPeer: undefined }),
      (e: Error & { code?: string }) => e.code === 'OFTP_ERR_INVALID_ARGUMENT',
    );
  });
});

describe('§9.9 error and abort', () => {
  test('TIME-OUT in an open state (row B): ESID 09 and close', () => {
    const p = readyResponder();
    const deadline = p.engine.nextDeadline();
    assert.equal(deadline, DEFAULT_TIMERS.response.durationMs);
    p.advance(DEFAULT_TIMERS.response.durationMs - 1);
    assert.equal(p.state, 'ExpectFileOrTurn');
    p.advance(1);
    const { sent, events } = p.take();
    assert.equal(sent[0]?.cmd === 'ESID' && sent[0].reason, 9);
    assert.deepEqual(
      events.map((e) => e.type),
      ['sessionEnded', 'closeTransport'],
    );
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_TIMEOUT');
    assert.equal(p.state, 'Closed');
    assert.equal(p.engine.nextDeadline(), undefined);
  });

  test('TIME-OUT waiting for our own application uses the application timer', () => {
    const p = reach('AwaitSfidDecision', { timers: { application: { durationMs: 5000, onExpiry: 'esid' } } });
    assert.equal(p.engine.nextDeadline(), p.now + 5000);
    p.advance(5000);
    assert.equal(p.ended()?.reason, 9);
  });

  test('TIME-OUT with onExpiry "disconnect" closes without ESID', () => {
    const p = readyResponder({ timers: { response: { durationMs: 1000, onExpiry: 'disconnect' } } });
    p.advance(1000);
    assert.deepEqual(p.takeNames(), { sent: [], events: ['sessionEnded', 'closeTransport'] });
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_TIMEOUT');
  });

  test('TIME-OUT in WF_NDISC (row A): the transport is closed, no second ESID', () => {
    const p = reach('ExpectDisconnect');
    p.take();
    p.advance(DEFAULT_TIMERS.disconnect.durationMs);
    assert.deepEqual(p.takeNames(), { sent: [], events: ['closeTransport'] });
    assert.equal(p.state, 'Closed');
  });

  test('N_DISC_IND in WF_NDISC (row F): closed quietly', () => {
    const p = reach('ExpectDisconnect');
    p.take();
    p.act((e) => e.transportClosed(1));
    assert.deepEqual(p.takeNames(), { sent: [], events: [] });
    assert.equal(p.state, 'Closed');
  });

  test('N_DISC_IND in an open state (row G): F_ABORT_IND', () => {
    const p = reach('ExpectData');
    p.act((e) => e.transportClosed(1));
    assert.equal(p.ended()?.origin, 'transport');
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_SESSION_CLOSED');
    assert.equal(p.ended()?.state, 'ExpectData');
    assert.equal(p.state, 'Closed');
  });

  test('N_DISC_IND before the connection completes (row E): F_ABORT_IND', () => {
    const p = new Probe('initiator');
    p.act((e) => e.transportClosed(0));
    assert.equal(p.ended()?.origin, 'transport');
  });

  test('F_ABORT_RQ before connection (row A): closed without ESID', () => {
    const p = new Probe('initiator');
    p.act((e) => e.abort(5));
    assert.deepEqual(p.takeNames().sent, []);
    assert.equal(p.state, 'Closed');
  });

  test('invalid buffer in WF_NDISC (row H): ignored', () => {
    const p = reach('ExpectDisconnect');
    p.take();
    p.feedExchangeBuffer(new TextEncoder().encode('Zgarbage'));
    assert.deepEqual(p.takeNames(), { sent: [], events: [] });
    assert.equal(p.state, 'ExpectDisconnect');
  });

  test('invalid buffer (row I): unknown command octet → ESID 01', () => {
    const p = readyResponder();
    p.feedExchangeBuffer(new TextEncoder().encode('Zgarbage'));
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 1);
    assert.equal(p.ended()?.error?.code, 'OFTP_ERR_UNKNOWN_COMMAND');
  });

  test('invalid buffer: a field with invalid data → ESID 06', () => {
    const p = readyResponder();
    p.feedExchangeBuffer(new TextEncoder().encode('EFIDxxxxxxxxx'));
    const esid = p.take().sent[0];
    assert.ok(esid?.cmd === 'ESID');
    assert.ok([6, 7].includes(esid.reason));
    const q = reach('ExpectData');
    const efid = encodeCommand({ cmd: 'EFID', recordCount: 1, unitCount: 2 }, 5);
    efid[3] = 0x58; // 'X' inside EFIDRCNT
    q.feedExchangeBuffer(efid);
    const esid2 = q.take().sent[0];
    assert.equal(esid2?.cmd === 'ESID' && esid2.reason, 6);
  });

  test('invalid buffer: a wrong length for the command → ESID 07', () => {
    const p = readyResponder();
    p.feedExchangeBuffer(new TextEncoder().encode('RR'));
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 7);
  });

  test('framing: an STB longer than the negotiated exchange buffer size → ESID 07', () => {
    const p = readyResponder({ local: { exchangeBufferSize: 256 } });
    const big = new Uint8Array(300).fill(0x41);
    big[0] = 0x44;
    p.feedExchangeBuffer(big);
    const esid = p.take().sent[0];
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 7);
  });

  test('framing: a broken stream transmission header ends with its reason', () => {
    const p = readyResponder();
    p.feedBytes(new Uint8Array([0x20, 0, 0, 9, 0x52]));
    const esid = p.take().sent[0];
    assert.ok(esid?.cmd === 'ESID');
    assert.equal(p.ended()?.error?.name, 'FramingError');
  });

  test('a buffer within the local limit but above the negotiated size → ESID 07', () => {
    const p = readyResponder({ local: { exchangeBufferSize: 4096 } }, { exchangeBufferSize: 200 });
    p.feed({ cmd: 'SFID', ...sfidLite() }).act((e) => e.acceptFile(0));
    const big = new Uint8Array(201).fill(0x41);
    big[0] = 0x44;
    p.feedExchangeBuffer(big);
    const esid = p.take().sent.at(-1);
    assert.equal(esid?.cmd === 'ESID' && esid.reason, 7);
  });

  test('a command longer than the negotiated buffer size is taken: SSIDSDEB bounds data buffers (§5.3.2)', () => {
    const p = readyResponder({ local: { exchangeBufferSize: 128 } }, { exchangeBufferSize: 128 });
    const long = encodeCommand({ cmd: 'SFID', ...sfidLite(), description: 'D'.repeat(300) }, 5);
    assert.ok(long.length > 128);
    p.feedExchangeBuffer(long);
    assert.deepEqual(p.take().sent, []);
    assert.equal(p.engine.state, 'AwaitSfidDecision');
  });

  test('after the end, input is ignored and commands are our misuse', () => {
    const p = reach('Closed');
    p.take();
    p.feed({ cmd: 'CD' });
    p.act((e) => e.handleTimeout(1e12));
    p.act((e) => e.transportClosed(1));
    p.act((e) => e.abort());
    p.act((e) => e.dataConsumed());
    assert.deepEqual(p.takeNames(), { sent: [], events: [] });
    assert.throws(() => p.engine.offerFile(sfidLite()), { code: 'OFTP_ERR_SESSION_CLOSED' });
    const q = readyInitiator();
    q.act((e) => e.abort(8, 'disk full'));
    const { sent } = q.take();
    assert.deepEqual(sent, [{ cmd: 'ESID', reason: 8, reasonText: 'disk full' }]);
    assert.throws(() => q.engine.offerFile(sfidLite()), { code: 'OFTP_ERR_SESSION_CLOSED' });
    q.feed({ cmd: 'CD' });
    assert.deepEqual(q.takeNames(), { sent: [], events: [] });
    q.feed({ cmd: 'ESID', reason: 0, reasonText: '' });
    assert.deepEqual(q.takeNames(), { sent: [], events: ['closeTransport'] });
  });
});

function sfidLite() {
  return {
    datasetName: 'F',
    date: '20240229',
    time: '1430150001',
    userData: '',
    destination: RESPONDER_ID,
    originator: INITIATOR_ID,
    format: 'U' as const,
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
  };
}
