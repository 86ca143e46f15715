// A connected TLS pair through our own listenTls/connectTls (mutual authentication with a test CA):
// the station's accepted socket and a partner's dialled one, closed in t.after. For transport tests
// that need real TLS sockets (keepalive, reading into reused memory).
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { connectTls, listenTls } from '../../src/transports/tls.ts';
import { contextOf, partnerTrust, trustOf } from '../tls/helpers.ts';
import { type Issued, TestPki } from '../tls/pki.ts';

export interface TlsPairPki {
  pki: TestPki;
  ca: Issued;
  station: Issued;
  acme: Issued;
}

/** A CA, the station's certificate and partner acme's (remove with pki.remove()). */
export function tlsPairPki(prefix: string): TlsPairPki {
  const pki = new TestPki(prefix);
  const ca = pki.rootCa('ca', 'Test CA');
  const station = pki.issue('station', ca, { cn: 'O0013000000STATION', extendedKeyUsage: 'serverAuth,clientAuth' });
  const acme = pki.issue('acme', ca, { cn: 'O0013000000ACME', extendedKeyUsage: 'clientAuth,serverAuth' });
  return { pki, ca, station, acme };
}

export async function tlsPair(t: TestContext, p: TlsPairPki, maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<{ accepted: TLSSocket; dialled: TLSSocket }> {
  const trust = trustOf(partnerTrust('acme', 'O0013000000ACME', { cas: [p.ca] }));
  let resolveAccepted!: (s: TLSSocket) => void;
  const acceptedP = new Promise<TLSSocket>((r) => (resolveAccepted = r));
  const server = await listenTls({
    host: '127.0.0.1',
    port: 0,
    secureContext: contextOf(p.station),
    verify: (c) => trust.bindClient(c),
    onSecureSocket: (socket) => resolveAccepted(socket),
    onRefused: (err) => assert.fail(err),
    handshakeTimeoutMs: 5000,
  });
  const port = (server.address() as { port: number }).port;
  const { socket: dialled } = await connectTls({ host: '127.0.0.1', port, partner: 'acme', secureContext: contextOf(p.acme, { maxVersion }), verify: (c) => trust.checkServer('acme', c) });
  const accepted = await acceptedP;
  t.after(() => {
    dialled.destroy();
    accepted.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { accepted, dialled };
}
