// SSID negotiation as pure functions (RFC 5024 §3.2.1, §5.3.2; §9.8 predicates P2, P8, P10).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SendReceiveCapability } from '../../src/protocol/command-types.ts';
import {
  buildSsid,
  checkResponderAnswer,
  negotiateAsResponder,
  negotiateLevel,
  negotiateMode,
  resolveLocal,
} from '../../src/session/negotiation.ts';
import { RESPONDER_ID, ssid } from './probe.ts';

const responder = resolveLocal({ identificationCode: RESPONDER_ID, password: 'RPASS' });

describe('negotiation', () => {
  test('level: the lowest, rounded down to a known one', () => {
    assert.equal(negotiateLevel(5, 5), 5);
    assert.equal(negotiateLevel(5, 4), 4);
    assert.equal(negotiateLevel(1, 5), 1);
    assert.equal(negotiateLevel(2, 4), 2);
    assert.equal(negotiateLevel(3, 5), 2);
    assert.equal(negotiateLevel(6, 5), 5, 'a future level negotiates down to ours');
    assert.equal(negotiateLevel(0, 5), undefined);
  });

  test('mode: §3.2.1 table; both S or both R are incompatible', () => {
    const table: [SendReceiveCapability, SendReceiveCapability, string | undefined][] = [
      ['B', 'B', 'both'],
      ['B', 'S', 'receiveOnly'],
      ['B', 'R', 'sendOnly'],
      ['S', 'R', 'sendOnly'],
      ['S', 'B', 'sendOnly'],
      ['R', 'S', 'receiveOnly'],
      ['R', 'B', 'receiveOnly'],
      ['S', 'S', undefined],
      ['R', 'R', undefined],
    ];
    for (const [ours, peers, mode] of table) assert.equal(negotiateMode(ours, peers), mode, `${ours}/${peers}`);
  });

  test('responder: smaller buffer and credit, features only if both, its own identity', () => {
    const local = resolveLocal({
      identificationCode: RESPONDER_ID,
      password: 'RPASS',
      exchangeBufferSize: 2048,
      credit: 50,
      bufferCompression: true,
      restart: false,
      specialLogic: true,
    });
    const r = negotiateAsResponder(ssid({ exchangeBufferSize: 4096, credit: 20, bufferCompression: true, restart: true }), local);
    assert.ok(r.ok);
    const answer = r.parameters.localSsid;
    assert.equal(answer.identificationCode, RESPONDER_ID);
    assert.equal(answer.exchangeBufferSize, 2048);
    assert.equal(answer.credit, 20);
    assert.equal(answer.bufferCompression, true);
    assert.equal(answer.restart, false);
    assert.equal(answer.specialLogic, false);
    assert.equal(r.parameters.exchangeBufferSize, 2048);
  });

  test('responder: level 1 peer → level 1 answer without SSIDAUTH', () => {
    const r = negotiateAsResponder(ssid({ level: 1, secureAuthentication: false }), responder);
    assert.ok(r.ok);
    assert.equal(r.parameters.level, 1);
    assert.equal(r.parameters.localSsid.level, 1);
    assert.equal(r.parameters.localSsid.secureAuthentication, false);
  });

  test('responder: authentication must match exactly (ESID 12), also when the level cannot carry it', () => {
    const auth = resolveLocal({ identificationCode: RESPONDER_ID, password: 'RPASS', secureAuthentication: true });
    assert.deepEqual(pick(negotiateAsResponder(ssid({ secureAuthentication: false }), auth)), 12);
    assert.deepEqual(pick(negotiateAsResponder(ssid({ secureAuthentication: true }), responder)), 12);
    assert.deepEqual(pick(negotiateAsResponder(ssid({ level: 4 }), auth)), 12);
    assert.equal(negotiateAsResponder(ssid({ secureAuthentication: true }), auth).ok, true);
  });

  test('initiator: the answer may only lower what we offered (ESID 10)', () => {
    const sent = buildSsid(resolveLocal({ identificationCode: 'ME', password: 'P', exchangeBufferSize: 4096, credit: 10 }));
    assert.equal(checkResponderAnswer(sent, ssid({ exchangeBufferSize: 4096, credit: 10 })).ok, true);
    assert.equal(pick(checkResponderAnswer(sent, ssid({ exchangeBufferSize: 4097, credit: 10 }))), 10);
    assert.equal(pick(checkResponderAnswer(sent, ssid({ exchangeBufferSize: 128, credit: 11 }))), 10);
    const level4 = buildSsid(resolveLocal({ identificationCode: 'ME', password: 'P', level: 4 }));
    assert.equal(pick(checkResponderAnswer(level4, ssid({ level: 5 }))), 10);
  });

  test('initiator: compression and restart only if both said Y', () => {
    const sent = buildSsid(resolveLocal({ identificationCode: 'ME', password: 'P', bufferCompression: false, restart: true }));
    const r = checkResponderAnswer(sent, ssid({ bufferCompression: true, restart: false, credit: 5, exchangeBufferSize: 128 }));
    assert.ok(r.ok);
    assert.equal(r.parameters.bufferCompression, false);
    assert.equal(r.parameters.restart, false);
  });

  test('initiator: a lower level answer is accepted (mixed levels negotiate down)', () => {
    const sent = buildSsid(resolveLocal({ identificationCode: 'ME', password: 'P' }));
    const r = checkResponderAnswer(sent, ssid({ level: 2, exchangeBufferSize: 1000, credit: 7 }));
    assert.ok(r.ok);
    assert.equal(r.parameters.level, 2);
  });
});

function pick(r: ReturnType<typeof negotiateAsResponder>): number | undefined {
  return r.ok ? undefined : r.esidReason;
}
