// A partner calling while its previous session is still running at the responder (the usual sign of a
// connection that died without a FIN): the new session is refused with ESID 08 "Resources not
// available" (retry later; RFC 5024 has no take-over), the old connection is probed at once (keepalive
// after 1 s, see probePeer), and once the old session is gone the retry is admitted and delivers.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { test } from 'node:test';
import { OftpSession } from '../../src/session/engine.ts';
import { type SessionHandler, SessionDriver } from '../../src/transports/session-driver.ts';
import { KEEPALIVE_TIMER, kernelTimer, kernelTimersReadable } from '../transports/kernel-timers.ts';
import { ID_B, PASSWORD_B, StationPair, sha256, sha256Of, unstructured, visibleFiles, writeLocal } from './harness.ts';

/** Seconds until the keepalive timer of A's end of the connection from `clientPort` fires, if armed. */
function keepaliveSecondsAtA(portA: number, clientPort: number): number | undefined {
  const timer = kernelTimer(portA, clientPort);
  return timer?.kind === KEEPALIVE_TIMER ? timer.seconds : undefined;
}

test('a second session of a partner whose session is still open: ESID 08, the old connection probed, the retry admitted once it is gone', async (t) => {
  const pair = await StationPair.create(t);
  const file = unstructured(5000);
  await pair.b.enqueue('a', { path: await writeLocal(pair.root, 'queued.bin', file) });

  // The "old" session: B's identity, past the SSID exchange, then silent (as a peer that vanished is).
  const socket = createConnection({ host: '127.0.0.1', port: pair.portA });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  t.after(() => socket.destroy());
  const session = new OftpSession({
    role: 'initiator',
    local: { identificationCode: ID_B, password: PASSWORD_B },
    timers: { response: { durationMs: 10_000, onExpiry: 'esid' } },
  });
  let speaking!: () => void;
  const turn = new Promise<void>((r) => (speaking = r));
  const silent: SessionHandler = {
    handle(event) {
      if (event.type === 'turnToSpeak') speaking();
    },
  };
  const oldRun = new SessionDriver(socket, session, silent, { closeGraceMs: 500 }).run();
  await turn;
  await new Promise((r) => setTimeout(r, 200)); // the last segments acknowledged: the idle timer is the one armed
  const onLinux = kernelTimersReadable;
  if (onLinux) {
    const before = keepaliveSecondsAtA(pair.portA, socket.localPort!);
    assert.ok(before !== undefined && before > 5, `A's end has the usual keepalive armed (${before} s)`);
  }

  // B calls again meanwhile: refused with 08, the file stays queued.
  const refused = await pair.sendFromB();
  assert.equal(refused.b.ended.origin, 'remote');
  assert.equal(refused.b.ended.reason, 8, `ESID 08: ${refused.b.ended.reasonText}`);
  assert.match(refused.b.ended.reasonText ?? '', /already running; retry later/);
  assert.equal(refused.a.ended.reason, 8);
  assert.equal((await pair.b.services.spool.list('a')).length, 1, 'B keeps the file queued');
  if (onLinux) {
    const probing = keepaliveSecondsAtA(pair.portA, socket.localPort!);
    assert.ok(probing !== undefined && probing <= 1, `A probes the old connection now (keepalive in ${probing} s)`);
  }
  assert.equal(socket.destroyed, false, 'the old connection, alive, is not ended by the probe');

  // The old connection goes: A ends that session and admits the retry.
  socket.destroy();
  await oldRun;
  await pair.waitForSessionsA(2);
  const retry = await pair.sendFromB();
  assert.equal(retry.b.ended.normal, true, retry.b.ended.reasonText);
  assert.equal(retry.a.partner, 'b');
  const delivered = await visibleFiles(pair.inboxA());
  assert.equal(delivered.length, 1);
  assert.equal(await sha256Of(`${pair.inboxA()}/${delivered[0]}`), sha256(file.bytes));
});
