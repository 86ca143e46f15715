// Session set-up latency for the session benchmark: the bench itself dials the `oftp2 serve` process
// as station A with the real engine and driver (src/session, src/transports), and times from just
// before the TCP connect to the 'sessionReady' event (SSRM, SSID out, SSID back). It then has nothing
// to send and the session is released normally, as `oftp2 send` with an empty spool would do.
import { OftpSession } from '../../src/session/engine.ts';
import type { SessionEvent } from '../../src/session/types.ts';
import { type DriverIo, SessionDriver } from '../../src/transports/session-driver.ts';
import { connectTcp } from '../../src/transports/tcp.ts';
import { A_ID, B_PASSWORD } from './bench-stations.ts';

export interface SetupRun {
  /** connect() called → sessionReady, ms. */
  readyMs: number;
  /** connect() called → the transport closed after the normal release, ms. */
  totalMs: number;
}

export async function timeSessionSetup(port: number): Promise<SetupRun> {
  const started = performance.now();
  let readyAt = Number.NaN;
  const socket = await connectTcp('127.0.0.1', port);
  const session = new OftpSession({ role: 'initiator', local: { identificationCode: A_ID, password: B_PASSWORD, credit: 16 } });
  const handler = {
    handle(event: SessionEvent, io: DriverIo): void {
      if (event.type === 'sessionReady') readyAt = performance.now();
      else if (event.type === 'turnToSpeak') session.nothingToSend(io.now());
    },
  };
  const ended = await new SessionDriver(socket, session, handler).run();
  if (!ended.normal || Number.isNaN(readyAt)) throw new Error(`set-up session did not end normally: ${ended.reasonText} (${ended.reason})`);
  return { readyMs: readyAt - started, totalMs: performance.now() - started };
}
