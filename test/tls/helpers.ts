// Helpers for the TLS tests: contexts from test PKI entities, partner trusts, and a server on
// 127.0.0.1:0 (listenTls) whose accepted and refused connections are collected. Everything opened is
// closed in t.after.
import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { connect, createSecureContext, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { parseCertificates, parseRevocationList } from '../../src/security/certificates.ts';
import { type PartnerTlsTrust, type TlsBinding, TlsTrust } from '../../src/security/certificates-tls.ts';
import { listenTls, type TlsError, tlsContextOptions } from '../../src/transports/tls.ts';
import type { Issued } from './pki.ts';

/** A SecureContext with the entity's key and certificate (and chain), our protocol settings on top. */
export function contextOf(entity: Issued | undefined, options: SecureContextOptions = {}, chain: Issued[] = []): SecureContext {
  const base = { ...tlsContextOptions(), ...options };
  if (!entity) return createSecureContext(base);
  return createSecureContext({ ...base, key: readFileSync(entity.keyPath), cert: [entity, ...chain].map((c) => c.certPem).join('') });
}

export interface TrustSpec {
  cas?: Issued[];
  pins?: string[];
  crls?: string[];
  requireClientCertificate?: boolean;
}

export function partnerTrust(partner: string, odetteId: string, spec: TrustSpec): PartnerTlsTrust {
  return {
    partner,
    odetteId,
    anchors: (spec.cas ?? []).flatMap((c) => parseCertificates(c.certPem)),
    crls: (spec.crls ?? []).map((path) => parseRevocationList(readFileSync(path), path)),
    pins: new Set(spec.pins ?? []),
    roleCertificates: {},
    requireClientCertificate: spec.requireClientCertificate ?? true,
    problems: [],
  };
}

export interface TestServer {
  server: Server;
  port: number;
  accepted: { binding: TlsBinding; socket: TLSSocket }[];
  refused: TlsError[];
  /** Resolves with the next accepted binding or refusal. */
  next(): Promise<{ binding: TlsBinding } | { refused: TlsError }>;
}

/** listenTls on 127.0.0.1:0 with `identity` and `trust`; accepted sockets answer "ok" and close. */
export async function startServer(t: TestContext, identity: Issued, trust: TlsTrust, options: SecureContextOptions = {}, chain: Issued[] = []): Promise<TestServer> {
  const waiters: ((r: { binding: TlsBinding } | { refused: TlsError }) => void)[] = [];
  const events: ({ binding: TlsBinding } | { refused: TlsError })[] = [];
  const push = (e: { binding: TlsBinding } | { refused: TlsError }) => {
    const w = waiters.shift();
    if (w) w(e);
    else events.push(e);
  };
  const result: Partial<TestServer> = { accepted: [], refused: [] };
  const server = await listenTls({
    host: '127.0.0.1',
    port: 0,
    secureContext: contextOf(identity, options, chain),
    verify: (c) => trust.bindClient(c),
    onSecureSocket: (socket, binding) => {
      result.accepted!.push({ binding, socket });
      socket.on('error', () => {});
      socket.end('ok');
      push({ binding });
    },
    onRefused: (err) => {
      result.refused!.push(err);
      push({ refused: err });
    },
    handshakeTimeoutMs: 5000,
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  result.server = server;
  result.port = (server.address() as { port: number }).port;
  result.next = () => {
    const e = events.shift();
    return e ? Promise.resolve(e) : new Promise((r) => waiters.push(r));
  };
  return result as TestServer;
}

/** A plain node:tls client (not our connectTls) with full control of versions and ciphers. */
export function rawClient(t: TestContext, port: number, context: SecureContext): Promise<{ ok: true; socket: TLSSocket; data: Promise<string> } | { ok: false; error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, secureContext: context, rejectUnauthorized: false });
    t.after(() => socket.destroy());
    let data = '';
    const ended = new Promise<string>((r) => {
      socket.on('data', (d) => (data += d));
      socket.on('close', () => r(data));
    });
    socket.once('secureConnect', () => resolve({ ok: true, socket, data: ended }));
    socket.once('error', (error) => resolve({ ok: false, error }));
  });
}

export function trustOf(...partners: PartnerTlsTrust[]): TlsTrust {
  return new TlsTrust(partners);
}
