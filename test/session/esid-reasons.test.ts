// Every ESID reason the engine produces by itself (RFC 5024 §5.3.11), each from one scenario.
// (05, 08 and 99 come from the application through abort(); 99 also from a throwing checkPeer.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand } from '../../src/protocol/command-codec.ts';
import type { Probe } from './probe.ts';
import { RESPONDER_ID, reach, readyResponder, sfid, ssid } from './probe.ts';

const scenarios: [number, string, () => Probe][] = [
  [0, 'normal release after an unsolicited CD', () => reach('AwaitSpeakerRequestAfterCd').act((e) => e.nothingToSend())],
  [1, 'unknown command octet', () => readyResponder().feedExchangeBuffer(new TextEncoder().encode('Q'))],
  [1, 'a command that does not exist at the level (SECD at level 4)', () => {
    const p = readyResponder({ local: { level: 4 } }, { level: 4 });
    return p.feedExchangeBuffer(new TextEncoder().encode('J'));
  }],
  [2, 'protocol violation (CD while data flows)', () => reach('ExpectData').feed({ cmd: 'CD' })],
  [3, 'user code not known', () =>
    reach('ExpectSsid', { checkPeer: () => ({ accept: false, esidReason: 3 }) }).feed(ssid())],
  [4, 'invalid password', () => reach('ExpectSsid', { checkPeer: () => ({ accept: false, esidReason: 4 }) }).feed(ssid())],
  [6, 'command contained invalid data', () => {
    const efid = encodeCommand({ cmd: 'EFID', recordCount: 1, unitCount: 2 }, 5);
    efid[2] = 0x3f;
    return reach('ExpectData').feedExchangeBuffer(efid);
  }],
  [7, 'exchange buffer size error', () => readyResponder().feedExchangeBuffer(new TextEncoder().encode('RX'))],
  [9, 'time out', () => readyResponder().advance(120_000)],
  [10, 'mode or capabilities incompatible', () =>
    reach('ExpectSsidAnswer').feed(ssid({ identificationCode: RESPONDER_ID, credit: 1000 - 1, exchangeBufferSize: 99999 }))],
  [11, 'invalid challenge response', () =>
    reach('AwaitChallenge')
      .act((e) => e.sendChallenge(new Uint8Array([1]), new Uint8Array(20).fill(7)))
      .feed({ cmd: 'AURP', response: new Uint8Array(20) })],
  [12, 'secure authentication requirements incompatible', () =>
    reach('ExpectSsid', { local: { secureAuthentication: true } }).feed(ssid())],
];

for (const [reason, what, run] of scenarios) {
  test(`ESID ${String(reason).padStart(2, '0')}: ${what}`, () => {
    const p = run();
    const esid = p.allSent.findLast((c) => c.cmd === 'ESID');
    assert.ok(esid?.cmd === 'ESID', 'an ESID was sent');
    assert.equal(esid.reason, reason);
    assert.equal(p.ended()?.reason, reason);
    assert.equal(p.ended()?.origin, 'local');
    assert.equal(p.engine.isClosed, true);
    // A closed engine never restarts: more input changes nothing.
    p.take();
    p.feed(sfid());
    assert.deepEqual(p.take(), { sent: [], events: [] });
  });
}
