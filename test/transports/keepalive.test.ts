// TCP keepalive on session connections (src/transports/tcp.ts KEEPALIVE_IDLE_MS): dialled and accepted,
// plain and under TLS, seen where it counts, in the kernel (kernel-timers.ts: /proc/net/tcp).
// probePeer() shortens the wait to 1 s and a live peer survives its probes. (That a dead peer's connection then closes with ETIMEDOUT, about 40 s after
// its last segment or 11 s after a probePeer, was measured in a network namespace with the peer's
// route blackholed; it needs root, so it is not a test here.)
import assert from 'node:assert/strict';
import type { Server, Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { connectTcp, KEEPALIVE_IDLE_MS, listenTcp, probePeer } from '../../src/transports/tcp.ts';
import { KEEPALIVE_TIMER, kernelTimer, kernelTimersReadable } from './kernel-timers.ts';
import { type TlsPairPki, tlsPair, tlsPairPki } from './tls-pair.ts';

const skip = kernelTimersReadable ? false : 'needs /proc/net/tcp (Linux)';

function assertKeepAlive(socket: Socket, maxSeconds: number, minSeconds: number, side: string): void {
  const timer = kernelTimer(socket.localPort!, socket.remotePort!);
  assert.ok(timer, `${side}: the connection is in /proc/net/tcp`);
  assert.equal(timer.kind, KEEPALIVE_TIMER, `${side}: the kernel has a keepalive timer armed`);
  assert.ok(timer.seconds <= maxSeconds && timer.seconds >= minSeconds, `${side}: it fires in ${timer.seconds} s (expected ${minSeconds}..${maxSeconds})`);
}

const idleSeconds = KEEPALIVE_IDLE_MS / 1000;
/** Lets the handshakes' segments be acknowledged, so the idle timer is the one armed. */
const settle = () => new Promise((r) => setTimeout(r, 100));

async function tcpPair(t: TestContext): Promise<{ dialled: Socket; accepted: Socket }> {
  let resolveAccepted!: (s: Socket) => void;
  const acceptedP = new Promise<Socket>((r) => (resolveAccepted = r));
  const server: Server = await listenTcp('127.0.0.1', 0, resolveAccepted);
  const dialled = await connectTcp('127.0.0.1', (server.address() as { port: number }).port);
  const accepted = await acceptedP;
  t.after(() => {
    dialled.destroy();
    accepted.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { dialled, accepted };
}

test('KEEPALIVE_IDLE_MS: a dead peer is noticed well inside the 180 s response timer', () => {
  // idle + 10 probes 1 s apart (libuv's fixed TCP_KEEPINTVL and TCP_KEEPCNT)
  assert.ok(KEEPALIVE_IDLE_MS / 1000 + 10 <= 60);
});

test('plain TCP: the dialled and the accepted socket both have keepalive armed', { skip }, async (t) => {
  const { dialled, accepted } = await tcpPair(t);
  await settle();
  assertKeepAlive(dialled, idleSeconds, idleSeconds - 5, 'dialled');
  assertKeepAlive(accepted, idleSeconds, idleSeconds - 5, 'accepted');
});

test('probePeer: keepalive probes start after 1 s of silence, a live peer answers them, the usual setting comes back', { skip }, async (t) => {
  const { dialled, accepted } = await tcpPair(t);
  await settle();
  probePeer(accepted);
  assertKeepAlive(accepted, 1, 0, 'probed');
  await new Promise((r) => setTimeout(r, 3500)); // probes at 1 s, 2 s, 3 s, each answered
  assert.equal(accepted.destroyed, false, 'a live peer survives the probes');
  assert.equal(dialled.destroyed, false);
  assertKeepAlive(accepted, 1, 0, 'still probing');
  // After the probe window (mocked clock: probePeer's own timer) the usual idle time is back.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  probePeer(accepted);
  t.mock.timers.tick(15_000);
  t.mock.timers.reset();
  await settle();
  assertKeepAlive(accepted, idleSeconds, idleSeconds - 5, 'restored');
});

let certs: TlsPairPki;
before(() => {
  certs = tlsPairPki('oftp-keepalive-');
});
after(() => certs?.pki.remove());

test('TLS: keepalive and probePeer reach the TCP sockets under both TLS ends', { skip }, async (t) => {
  const { accepted, dialled } = await tlsPair(t, certs);
  await settle();
  assertKeepAlive(dialled, idleSeconds, idleSeconds - 5, 'TLS dialled');
  assertKeepAlive(accepted, idleSeconds, idleSeconds - 5, 'TLS accepted');
  // The station probes the TLSSocket it holds: that reaches the TCP socket too.
  probePeer(accepted);
  assertKeepAlive(accepted, 1, 0, 'TLS accepted, probed');
});
