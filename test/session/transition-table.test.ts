// Iterates the transition tables as data: every state × every command and every application
// command, so nothing outside the tables slips through and nothing inside them is refused.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CommandName, OdetteCommand } from '../../src/protocol/command-types.ts';
import { OftpError } from '../../src/errors.ts';
import type { OftpSession } from '../../src/session/engine.ts';
import { STATE_TIMER } from '../../src/session/timers.ts';
import { APP_COMMANDS, type AppCommand, findTransition, PEER_TRANSITIONS } from '../../src/session/transitions.ts';
import { SESSION_STATES, type SessionState } from '../../src/session/types.ts';
import { dataBuffer, eerp, nerp, RESPONDER_ID, reach, sfid, ssid } from './probe.ts';

const STATES = Object.keys(SESSION_STATES) as SessionState[];

/** One command of each type that is valid wherever its table row applies. */
function commandFor(name: CommandName, state: SessionState): OdetteCommand {
  switch (name) {
    case 'SSRM':
      return { cmd: 'SSRM' };
    case 'SSID':
      return state === 'ExpectSsidAnswer' ? ssid({ identificationCode: RESPONDER_ID }) : ssid();
    case 'SFID':
      return sfid();
    case 'SFPA':
      return { cmd: 'SFPA', answerCount: 0 };
    case 'SFNA':
      return { cmd: 'SFNA', reason: 1, retry: false, reasonText: '' };
    case 'DATA':
      return { cmd: 'DATA', payload: new Uint8Array([0x80, 0x41]) };
    case 'CDT':
      return { cmd: 'CDT' };
    case 'EFID':
      return { cmd: 'EFID', recordCount: 0, unitCount: 0 };
    case 'EFPA':
      return { cmd: 'EFPA', changeDirection: false };
    case 'EFNA':
      return { cmd: 'EFNA', reason: 1, reasonText: '' };
    case 'ESID':
      return { cmd: 'ESID', reason: 99, reasonText: '' };
    case 'CD':
      return { cmd: 'CD' };
    case 'EERP':
      return eerp();
    case 'NERP':
      return nerp();
    case 'RTR':
      return { cmd: 'RTR' };
    case 'SECD':
      return { cmd: 'SECD' };
    case 'AUCH':
      return { cmd: 'AUCH', challenge: new Uint8Array([1]) };
    case 'AURP':
      return { cmd: 'AURP', response: new Uint8Array(20) };
  }
}

const COMMANDS: CommandName[] = [
  'SSRM',
  'SSID',
  'SFID',
  'SFPA',
  'SFNA',
  'DATA',
  'CDT',
  'EFID',
  'EFPA',
  'EFNA',
  'ESID',
  'CD',
  'EERP',
  'NERP',
  'RTR',
  'SECD',
  'AUCH',
  'AURP',
];

describe('peer transitions', () => {
  for (const state of STATES) {
    test(`${state}: listed commands are taken, others → ESID 02, ESID ends the session`, () => {
      for (const name of COMMANDS) {
        const p = reach(state);
        const command = commandFor(name, state);
        if (state === 'ExpectConnected') {
          assert.throws(() => p.feed(command), { code: 'OFTP_ERR_STATE' });
          continue;
        }
        p.feed(command);
        const { sent } = p.take();
        const esid = sent.find((c) => c.cmd === 'ESID');
        const where = `${name} in ${state}`;
        if (state === 'Closed' || state === 'ExpectDisconnect') {
          assert.equal(esid, undefined, where);
        } else if (name === 'ESID') {
          assert.equal(p.state, 'Closed', where);
          assert.equal(p.ended()?.reason, 99, where);
        } else if (findTransition(state, name) && !findTransition(state, name)?.violation) {
          assert.notEqual(esid?.cmd === 'ESID' && esid.reason, 2, `${where} is in the table`);
        } else {
          assert.equal(esid?.cmd === 'ESID' && esid.reason, 2, `${where} is not in the table`);
          assert.equal(p.state, 'ExpectDisconnect', where);
        }
      }
    });
  }

  test('every table row names its RFC row and a reachable state', () => {
    for (const t of PEER_TRANSITIONS) {
      assert.match(t.rows, /^9\.(8|10|11|12) /);
      assert.ok(t.state in SESSION_STATES);
    }
  });

  test('every state has a timer but the ones that wait for nobody', () => {
    for (const state of STATES) {
      const waits = SESSION_STATES[state].waitsFor;
      if (waits === 'nothing' || state === 'ExpectConnected') assert.equal(STATE_TIMER[state], undefined, state);
      else assert.ok(STATE_TIMER[state], state);
    }
  });
});

const ARGS: Record<AppCommand, (e: OftpSession) => unknown> = {
  sendChallenge: (e) => e.sendChallenge(new Uint8Array([1]), new Uint8Array(20)),
  answerChallenge: (e) => e.answerChallenge(new Uint8Array(20)),
  offerFile: (e) => e.offerFile(sfid()),
  sendReceipt: (e) => e.sendReceipt(eerp()),
  changeDirection: (e) => e.changeDirection(),
  release: (e) => e.release(),
  nothingToSend: (e) => e.nothingToSend(),
  sendData: (e) => e.sendData(dataBuffer('x')),
  endFile: (e) => e.endFile({ recordCount: 0, unitCount: 0 }),
  acceptFile: (e) => e.acceptFile(0),
  refuseFile: (e) => e.refuseFile({ reason: 1, retry: false }),
  dataConsumed: (e) => e.dataConsumed(),
  acceptEndFile: (e) => e.acceptEndFile({ changeDirection: false }),
  refuseEndFile: (e) => e.refuseEndFile({ reason: 1 }),
  acknowledgeReceipt: (e) => e.acknowledgeReceipt(),
};

describe('application commands', () => {
  for (const command of Object.keys(APP_COMMANDS) as AppCommand[]) {
    test(`${command}: valid exactly in ${APP_COMMANDS[command].states.join(', ')}`, () => {
      const allowed: readonly SessionState[] = APP_COMMANDS[command].states;
      for (const state of STATES) {
        const p = reach(state);
        let error: unknown;
        try {
          ARGS[command](p.engine);
        } catch (e) {
          error = e;
        }
        const code = error instanceof OftpError ? error.code : undefined;
        if (allowed.includes(state)) {
          assert.equal(error, undefined, `${command} in ${state}: ${String(error)}`);
        } else if (state === 'Closed' || state === 'ExpectDisconnect') {
          if (command !== 'dataConsumed') assert.equal(code, 'OFTP_ERR_SESSION_CLOSED', `${command} in ${state}`);
        } else {
          assert.equal(code, 'OFTP_ERR_STATE', `${command} in ${state}`);
          assert.equal(p.state, state, 'a refused command changes nothing');
          assert.deepEqual(p.take().sent, []);
        }
      }
    });
  }
});
