// Whole sessions between two engines over a simulated link (test/session/pair.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OftpSession } from '../../src/session/engine.ts';
import { BoundaryFramer } from '../../src/session/framer.ts';
import { INITIATOR_ID, RESPONDER_ID } from './probe.ts';
import { file, ROUGH_LINK, SessionPair } from './pair.ts';

const reverse = { destination: INITIATOR_ID, originator: RESPONDER_ID };

describe('simulated session pair', () => {
  test('one file, then the EERP comes back in the same session, then the normal close', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('F1', 3)] }, local: { credit: 8 } },
    }).run();
    assert.deepEqual(pair.flow(), [
      'R SSRM',
      'I SSID',
      'R SSID',
      'I SFID',
      'R SFPA',
      'I EFID',
      'R EFPA', // the listener has an EERP to send: it asks for the turn
      'I CD',
      'R EERP',
      'I RTR',
      'R CD', // nothing more on R's side
      'I ESID', // I had asked nothing (unsolicited CD): normal release
    ]);
    assert.deepEqual(pair.responder.app.received.get('F1'), ['F1-0', 'F1-1', 'F1-2']);
    assert.deepEqual(pair.initiator.app.delivered, ['F1']);
    assert.equal(pair.initiator.app.gotReceipts[0]?.datasetName, 'F1');
    assert.equal(pair.ended(pair.initiator)?.normal, true);
    assert.equal(pair.ended(pair.responder)?.normal, true);
    assert.equal(pair.ended(pair.responder)?.origin, 'remote');
    assert.equal(pair.initiator.engine.state, 'Closed');
    assert.equal(pair.responder.engine.state, 'Closed');
  });

  test('both directions in one session: initiator sends, then the responder sends after CD', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('TO-R', 2)], eerpOnReceive: false } },
      responder: { script: { files: [file('TO-I', 2, reverse)], eerpOnReceive: false } },
    }).run();
    assert.deepEqual(pair.flow(), [
      'R SSRM',
      'I SSID',
      'R SSID',
      'I SFID',
      'R SFPA',
      'I EFID',
      'R EFPA',
      'I CD',
      'R SFID',
      'I SFPA',
      'R EFID',
      'I EFPA',
      'R CD',
      'I ESID',
    ]);
    assert.deepEqual(pair.responder.app.received.get('TO-R'), ['TO-R-0', 'TO-R-1']);
    assert.deepEqual(pair.initiator.app.received.get('TO-I'), ['TO-I-0', 'TO-I-1']);
  });

  test('the responder takes the turn by plain CD when the listener did not ask for it', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('A', 1)], eerpOnReceive: false } },
      responder: { script: { eerpOnReceive: false } },
    }).run();
    assert.deepEqual(pair.flow().slice(3), ['I SFID', 'R SFPA', 'I EFID', 'R EFPA', 'I CD', 'R ESID']);
  });

  test('receipts with RTR: EERP and NERP each answered before the next command', () => {
    const pair = new SessionPair({
      initiator: { script: { receipts: [eerpReceipt('X1'), nerpReceipt('X2'), eerpReceipt('X3')] } },
    }).run();
    assert.deepEqual(pair.flow().slice(3), ['I EERP', 'R RTR', 'I NERP', 'R RTR', 'I EERP', 'R RTR', 'I CD', 'R ESID']);
    assert.deepEqual(
      pair.responder.app.gotReceipts.map((r) => `${r.cmd} ${r.datasetName}`),
      ['EERP X1', 'NERP X2', 'EERP X3'],
    );
    assert.equal(pair.initiator.app.acknowledged.length, 3);
  });

  test('SFNA with retry Y: offered again later in the session; with retry N: dropped', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('BUSY', 1), file('BAD', 1)], retryRefused: true } },
      responder: {
        script: {
          eerpOnReceive: false,
          onStartFile: (sfid, attempt) =>
            sfid.datasetName === 'BAD'
              ? { refuse: { reason: 1, retry: false, reasonText: 'Invalid filename' } }
              : attempt === 1
                ? { refuse: { reason: 99, retry: true } }
                : { accept: 0 },
        },
      },
    }).run();
    assert.deepEqual(pair.flow().slice(3), [
      'I SFID',
      'R SFNA',
      'I SFID',
      'R SFNA',
      'I SFID',
      'R SFPA',
      'I EFID',
      'R EFPA',
      'I CD',
      'R ESID',
    ]);
    assert.deepEqual(pair.initiator.app.refused, [
      { dsn: 'BUSY', reason: 99, retry: true, at: 'start' },
      { dsn: 'BAD', reason: 1, retry: false, at: 'start' },
    ]);
    assert.deepEqual(pair.initiator.app.delivered, ['BUSY']);
    const refusal = pair.initiator.app.events.find((e) => e.type === 'startFileRefused' && !e.retry);
    assert.deepEqual(refusal, { type: 'startFileRefused', reason: 1, retry: false, reasonText: 'Invalid filename' });
  });

  test('EFNA: the file is refused at the end, the turn stays with the speaker', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('WRONG', 2), file('RIGHT', 1)] } },
      responder: {
        script: {
          eerpOnReceive: false,
          onEndFile: (sfid) => (sfid.datasetName === 'WRONG' ? { refuse: { reason: 11, reasonText: 'Invalid byte count' } } : 'accept'),
        },
      },
    }).run();
    assert.deepEqual(pair.flow().slice(3, 9), ['I SFID', 'R SFPA', 'I EFID', 'R EFNA', 'I SFID', 'R SFPA']);
    assert.deepEqual(pair.initiator.app.refused, [{ dsn: 'WRONG', reason: 11, retry: false, at: 'end' }]);
    assert.deepEqual(pair.initiator.app.delivered, ['RIGHT']);
  });

  test('restart: the listener answers a lower position and the speaker resumes from it', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('BIG', 6, { restartPosition: 4 })] } },
      responder: {
        script: {
          eerpOnReceive: false,
          onStartFile: (sfid) => {
            assert.equal(sfid.restartPosition, 4);
            return { accept: 2 };
          },
        },
      },
    });
    // The responder already holds the first 3 buffers from an earlier, interrupted session.
    pair.responder.app.received.set('BIG', ['BIG-0', 'BIG-1', 'BIG-2']);
    pair.run();
    assert.deepEqual(pair.responder.app.received.get('BIG'), ['BIG-0', 'BIG-1', 'BIG-2', 'BIG-3', 'BIG-4', 'BIG-5']);
    const accepted = pair.initiator.app.events.find((e) => e.type === 'startFileAccepted');
    assert.deepEqual(accepted, { type: 'startFileAccepted', restartPosition: 2, credit: 999 });
    assert.equal(pair.transcript.filter((l) => l === 'I DATA').length, 4);
  });

  test('restart not negotiated: positions are 0 on both sides', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('F', 2)] } },
      responder: { local: { restart: false }, script: { eerpOnReceive: false } },
    }).run();
    assert.equal(pair.initiator.engine.parameters?.restart, false);
    assert.deepEqual(pair.initiator.app.delivered, ['F']);
  });

  test('credit exhaustion and renewal: CDT after every window, EFID only with credit', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('W', 7)] }, local: { credit: 3 } },
      responder: { script: { eerpOnReceive: false } },
    }).run();
    const flow = pair.transcript.slice(3, -3);
    assert.deepEqual(flow, [
      'I SFID',
      'R SFPA',
      'I DATA',
      'I DATA',
      'I DATA',
      'R CDT',
      'I DATA',
      'I DATA',
      'I DATA',
      'R CDT',
      'I DATA',
      'I EFID',
    ]);
    const credits = pair.initiator.app.events.filter((e) => e.type === 'creditAvailable');
    assert.equal(credits.length, 2);
  });

  test('the window used up by the last buffer: EFID waits for the CDT (§9.11 note 1)', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('EXACT', 4)] }, local: { credit: 2 } },
      responder: { script: { eerpOnReceive: false } },
    }).run();
    assert.deepEqual(pair.transcript.slice(5, 12), ['I DATA', 'I DATA', 'R CDT', 'I DATA', 'I DATA', 'R CDT', 'I EFID']);
  });

  test('a slow consumer holds the credit: the speaker waits, nothing piles up in memory', () => {
    const pair = new SessionPair({
      initiator: { script: { files: [file('SLOW', 10)] }, local: { credit: 2 } },
      responder: { script: { consumeDelayMs: 1000, syncDelayMs: 500, eerpOnReceive: false } },
    }).run();
    assert.deepEqual(pair.initiator.app.delivered, ['SLOW']);
    assert.ok(pair.responder.app.maxUnconsumed <= 2, 'never more unconsumed buffers than the window');
    assert.ok(pair.initiator.app.statesSeen.has('ExpectCredit'));
    // 10 buffers at 1 s each, serialized by the CDT: the session lasts at least 10 s.
    assert.ok(pair.now >= 10_500, `took ${pair.now} ms`);
    // EFPA only after the last buffer is on disk and synced.
    const efpaAt = pair.transcript.indexOf('R EFPA');
    assert.ok(efpaAt > pair.transcript.lastIndexOf('I DATA'));
  });

  test('a consumer slower than the peer’s response timer makes the speaker time out (ESID 09)', () => {
    const pair = new SessionPair({
      initiator: {
        script: { files: [file('STUCK', 4)] },
        local: { credit: 2 },
        timers: { response: { durationMs: 5000, onExpiry: 'esid' } },
      },
      responder: { script: { consumeDelayMs: 10_000 } },
    }).run();
    assert.equal(pair.ended(pair.initiator)?.reason, 9);
    assert.equal(pair.ended(pair.initiator)?.state, 'ExpectCredit');
    assert.equal(pair.ended(pair.responder)?.reason, 9);
    assert.equal(pair.ended(pair.responder)?.origin, 'remote');
  });

  test('secure authentication both ways with the application’s (fake) crypto', () => {
    const pair = new SessionPair({
      initiator: { local: { secureAuthentication: true }, script: { files: [file('SECRET', 1)], cryptoDelayMs: 20 } },
      responder: { local: { secureAuthentication: true }, script: { cryptoDelayMs: 30 } },
    }).run();
    assert.deepEqual(pair.flow().slice(0, 10), [
      'R SSRM',
      'I SSID',
      'R SSID',
      'I SECD',
      'R AUCH',
      'I AURP',
      'R SECD',
      'I AUCH',
      'R AURP',
      'I SFID',
    ]);
    assert.deepEqual(pair.initiator.app.delivered, ['SECRET']);
    assert.ok(pair.initiator.app.events.some((e) => e.type === 'peerAuthenticated'));
    assert.ok(pair.responder.app.events.some((e) => e.type === 'peerAuthenticated'));
  });

  test('secure authentication with the wrong key → ESID 11', () => {
    const pair = new SessionPair({
      initiator: { local: { secureAuthentication: true }, script: { keys: { own: 7, peer: 1 } } },
      responder: { local: { secureAuthentication: true } },
    }).run();
    assert.deepEqual(pair.flow(), ['R SSRM', 'I SSID', 'R SSID', 'I SECD', 'R AUCH', 'I AURP', 'R ESID']);
    assert.equal(pair.ended(pair.responder)?.reason, 11);
    assert.equal(pair.ended(pair.initiator)?.reason, 11);
    assert.equal(pair.ended(pair.initiator)?.error?.code, 'OFTP_ERR_PEER_REFUSED');
  });

  test('unknown user code → ESID 03, bad password → ESID 04, before the responder says anything', () => {
    const a = new SessionPair({ initiator: { local: { identificationCode: 'O0013000000STRANGER' } } }).run();
    assert.deepEqual(a.flow(), ['R SSRM', 'I SSID', 'R ESID']);
    assert.equal(a.ended(a.initiator)?.reason, 3);
    const b = new SessionPair({ initiator: { local: { password: 'GUESS' } } }).run();
    assert.deepEqual(b.flow(), ['R SSRM', 'I SSID', 'R ESID']);
    assert.equal(b.ended(b.initiator)?.reason, 4);
  });

  test('incompatible modes (both send only) → ESID 10; authentication mismatch → ESID 12', () => {
    const a = new SessionPair({ initiator: { local: { sendReceive: 'S' } }, responder: { local: { sendReceive: 'S' } } }).run();
    assert.equal(a.ended(a.initiator)?.reason, 10);
    const b = new SessionPair({ initiator: { local: { secureAuthentication: true } } }).run();
    assert.equal(b.ended(b.initiator)?.reason, 12);
  });

  for (const [initiatorLevel, responderLevel, agreed] of [
    [1, 5, 1],
    [5, 1, 1],
    [4, 5, 4],
    [5, 4, 4],
    [2, 4, 2],
    [5, 5, 5],
  ] as const) {
    test(`levels ${initiatorLevel} and ${responderLevel} negotiate down to ${agreed}; files and receipts both ways`, () => {
      const pair = new SessionPair({
        initiator: { local: { level: initiatorLevel }, script: { files: [file('UP', 2, {}, agreed)] } },
        responder: { local: { level: responderLevel }, script: { files: [file('DOWN', 1, reverse, agreed)] } },
      }).run();
      assert.equal(pair.initiator.engine.parameters?.level, agreed);
      assert.equal(pair.responder.engine.parameters?.level, agreed);
      assert.deepEqual(pair.initiator.app.delivered, ['UP']);
      assert.deepEqual(pair.responder.app.delivered, ['DOWN']);
      assert.deepEqual(
        pair.initiator.app.gotReceipts.map((r) => r.datasetName),
        ['UP'],
      );
      assert.deepEqual(
        pair.responder.app.gotReceipts.map((r) => r.datasetName),
        ['DOWN'],
      );
      assert.equal(pair.ended(pair.initiator)?.normal, true);
      assert.equal(pair.ended(pair.responder)?.normal, true);
    });
  }

  test('NERP below level 4 is refused as our misuse (RFC 2204 has none)', () => {
    const pair = new SessionPair({
      initiator: { local: { level: 2 }, script: { receipts: [nerpReceipt('N')] } },
    });
    assert.throws(() => pair.run(), { code: 'OFTP_ERR_STATE' });
  });

  test('the rough link (split, merged, delayed bytes) changes nothing, whatever the seed', () => {
    for (let seed = 1; seed <= 25; seed++) {
      const pair = new SessionPair({
        seed,
        link: ROUGH_LINK,
        initiator: { script: { files: [file('A', 5), file('B', 3)], receipts: [eerpReceipt('OLD')] }, local: { credit: 2 } },
        responder: { script: { files: [file('C', 4, reverse)], consumeDelayMs: seed % 3 === 0 ? 30 : 0 }, local: { credit: 3 } },
      }).run();
      const where = `seed ${seed}`;
      assert.deepEqual(pair.initiator.app.delivered, ['A', 'B'], where);
      assert.deepEqual(pair.responder.app.delivered, ['C'], where);
      assert.deepEqual(pair.responder.app.received.get('A'), ['A-0', 'A-1', 'A-2', 'A-3', 'A-4'], where);
      assert.deepEqual(pair.initiator.app.received.get('C'), ['C-0', 'C-1', 'C-2', 'C-3'], where);
      assert.deepEqual(
        pair.initiator.app.gotReceipts.map((r) => r.datasetName).sort(),
        ['A', 'B'],
        where,
      );
      assert.equal(pair.ended(pair.initiator)?.normal, true, where);
      assert.equal(pair.ended(pair.responder)?.normal, true, where);
    }
  });

  test('same seed, same session: the simulation is reproducible', () => {
    const run = () =>
      new SessionPair({
        seed: 42,
        link: ROUGH_LINK,
        initiator: { script: { files: [file('A', 9)] }, local: { credit: 2 } },
        responder: { script: { consumeDelayMs: 7 } },
      }).run();
    const a = run();
    const b = run();
    assert.deepEqual(a.transcript, b.transcript);
    assert.equal(a.now, b.now);
  });

  test('a transport that keeps message boundaries (X.25 style) plugs in as a Framer', () => {
    const pair = new SessionPair({
      initiator: { framer: () => new BoundaryFramer(), script: { files: [file('X25', 3)] } },
      responder: { framer: () => new BoundaryFramer(), script: { files: [file('BACK', 1, reverse)] } },
    }).run();
    assert.deepEqual(pair.initiator.app.delivered, ['X25']);
    assert.deepEqual(pair.responder.app.delivered, ['BACK']);
    assert.equal(pair.ended(pair.initiator)?.normal, true);
    // No stream transmission header: what goes on the wire is the SSRM exchange buffer itself.
    const lone = new OftpSession({
      role: 'responder',
      local: { identificationCode: RESPONDER_ID, password: 'RPASS' },
      checkPeer: () => ({ accept: true }),
      framer: new BoundaryFramer(),
    });
    lone.connected(0);
    assert.equal(new TextDecoder().decode(lone.takeOutput()[0]), 'IODETTE FTP READY \r');
  });

  test('the peer vanishes mid-file: the transport loss ends the session on the other side', () => {
    const pair = new SessionPair({
      initiator: {
        script: { files: [file('CUT', 5)] },
        local: { credit: 1 },
        timers: { response: { durationMs: 5000, onExpiry: 'esid' } },
      },
      responder: { script: { consumeDelayMs: 100 } },
      limitMs: 60_000,
    });
    pair.schedule(150, () => pair.vanish(pair.responder));
    pair.run();
    assert.equal(pair.ended(pair.responder)?.origin, 'transport');
    assert.equal(pair.ended(pair.initiator)?.reason, 9, 'the initiator times out waiting for the CDT');
  });
});

function eerpReceipt(name: string) {
  return {
    cmd: 'EERP' as const,
    datasetName: name,
    date: '20240101',
    time: '1200000001',
    userData: '',
    destination: RESPONDER_ID,
    originator: INITIATOR_ID,
    fileHash: new Uint8Array(0),
    signature: new Uint8Array(0),
  };
}

function nerpReceipt(name: string) {
  return {
    cmd: 'NERP' as const,
    datasetName: name,
    date: '20240101',
    time: '1200000001',
    destination: RESPONDER_ID,
    originator: INITIATOR_ID,
    creator: INITIATOR_ID,
    reason: 35,
    reasonText: '',
    fileHash: new Uint8Array(0),
    signature: new Uint8Array(0),
  };
}
