// TLS transport (RFC 5024 §2.3, §2.4: port 6619 'odette-ftps'). ODETTE-FTP is layered over TLS exactly
// as over TCP: we are the TLS server when called and the TLS client when calling, and the responder
// sends its Ready Message once the handshake is done. Mirrors src/transports/tcp.ts: connectTls and
// listenTls hand a connected TLSSocket (a Duplex) to the session driver.
//
// Policy:
// - TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1); forward-secret suites only by default
//   (TLS 1.3 suites, then ECDHE, then DHE for TLS 1.2), in our order (honorCipherOrder).
// - Mutual authentication: the server asks for and (by default) requires a client certificate.
// - OpenSSL's own verification is off (rejectUnauthorized: false) because each partner has its own
//   trusted CAs or pinned certificate: the caller's `verify` decides, after the handshake, with the
//   peer's chain, and the socket is destroyed when it refuses. The verdict carries what the
//   connection is bound to (on the server side, the partners this certificate may log in as).
// - Failures are TlsError (OFTP_ERR_TLS) with a cause the operator can act on; a TCP failure before
//   the handshake stays OFTP_ERR_TRANSPORT as for plain TCP.
import { createServer, type Server, type Socket } from 'node:net';
import { connect, type SecureContext, type SecureContextOptions, TLSSocket } from 'node:tls';
import { OftpError } from '../errors.ts';
import { enableKeepAlive } from './tcp.ts';

export const DEFAULT_TLS_PORT = 6619;

/**
 * The default cipher list: every entry forward-secret, AEAD first. TLS 1.3 names are handed to
 * OpenSSL's ciphersuites by Node. CBC-SHA2 ECDHE suites stay for older partner stacks that lack GCM.
 */
export const DEFAULT_TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
].join(':');

export interface TlsSettings {
  /** OpenSSL cipher string (TLS 1.2) and TLS 1.3 suite names; default DEFAULT_TLS_CIPHERS. */
  ciphers?: string;
  /** 'TLSv1.2' (default) or 'TLSv1.3'. Never lower. */
  minVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** SecureContext options for both sides: versions, ciphers, our preference order. */
export function tlsContextOptions(settings: TlsSettings = {}): SecureContextOptions {
  return {
    minVersion: settings.minVersion ?? 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: settings.ciphers ?? DEFAULT_TLS_CIPHERS,
    honorCipherOrder: true,
    ecdhCurve: 'X25519:prime256v1:secp384r1',
  };
}

export type TlsFailure =
  /** The peer offered or accepted only protocol versions below TLS 1.2. */
  | 'protocol-version'
  /** The peer does not speak TLS at all (plain ODETTE-FTP on the TLS port, or TLS dialled to 3305). */
  | 'not-tls'
  /** No cipher suite in common. */
  | 'cipher'
  /** The peer's certificate was refused by our check (the message says why). */
  | 'certificate'
  /** The peer sent no certificate and one is required. */
  | 'no-certificate'
  /** The peer refused us with an alert (e.g. it does not trust our certificate). */
  | 'peer-alert'
  | 'handshake-timeout'
  /** The connection closed during the handshake. */
  | 'closed'
  | 'handshake';

/** A TLS handshake or peer check failed. `partner` is set when we know whom it concerns. */
export class TlsError extends OftpError {
  readonly reason: TlsFailure;
  readonly partner: string | undefined;
  /** `host:port` of the peer. */
  readonly remote: string | undefined;
  constructor(reason: TlsFailure, message: string, details: { partner?: string; remote?: string; cause?: unknown } = {}) {
    super('OFTP_ERR_TLS', message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.partner = details.partner;
    this.remote = details.remote;
  }
}

/** The peer check's answer: what the connection is bound to, or why it is refused. */
export type PeerVerdict<T> = { ok: true; binding: T } | { ok: false; reason: TlsFailure; message: string };

/** Facts about an established TLS connection, for logs. */
export interface TlsConnectionInfo {
  protocol: string;
  cipher: string;
  remote: string;
}

export function connectionInfo(socket: TLSSocket): TlsConnectionInfo {
  return { protocol: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher()?.standardName ?? 'unknown', remote: `${socket.remoteAddress}:${socket.remotePort}` };
}

/** The peer's certificates as DER, leaf first, in the order they chain (as far as the peer sent them). */
export function peerChain(socket: TLSSocket): Buffer[] {
  const chain: Buffer[] = [];
  let cert = socket.getPeerCertificate(true) as ReturnType<TLSSocket['getPeerCertificate']> & { issuerCertificate?: unknown };
  const seen = new Set<string>();
  while (cert?.raw && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(cert.raw);
    cert = cert.issuerCertificate as typeof cert;
  }
  return chain;
}

export interface ConnectTlsOptions<T> {
  host: string;
  port: number;
  /** Our certificate and key (FileKeyStore.secureContext), with tlsContextOptions. */
  secureContext: SecureContext;
  /** Checks the server's chain against the partner we are calling. */
  verify: (chain: Buffer[]) => PeerVerdict<T>;
  /** For messages: `partner acme: …`. */
  partner?: string;
  /** SNI; default none (partners are addressed by their own trust, not by host name). */
  servername?: string;
  timeoutMs?: number;
}

/** Dials host:port over TLS and checks the server's certificate; resolves once both are done. */
export function connectTls<T>(options: ConnectTlsOptions<T>): Promise<{ socket: TLSSocket; binding: T; info: TlsConnectionInfo }> {
  const { host, port, partner } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const remote = `${host}:${port}`;
  const prefix = partner ? `partner ${partner}: ` : '';
  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    const socket = connect({
      host,
      port,
      secureContext: options.secureContext,
      rejectUnauthorized: false,
      servername: options.servername,
      // No host name check: the partner is identified by its own CAs or pinned certificate.
      checkServerIdentity: () => undefined,
    });
    const fail = (err: OftpError) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(
        connected
          ? new TlsError('handshake-timeout', `${prefix}TLS handshake with ${remote} did not finish within ${timeoutMs / 1000} s`, { partner, remote })
          : new OftpError('OFTP_ERR_TRANSPORT', `cannot connect to ${remote}: no answer within ${timeoutMs / 1000} s`),
      ),
    );
    socket.once('connect', () => {
      connected = true;
    });
    const onError = (err: NodeJS.ErrnoException) => {
      if (!connected && !isTlsErrorCode(err.code)) {
        fail(new OftpError('OFTP_ERR_TRANSPORT', `cannot connect to ${remote}: ${err.code ?? err.message}`, { cause: err }));
        return;
      }
      const { reason, text } = describeHandshakeError(err, 'client');
      fail(new TlsError(reason, `${prefix}TLS handshake with ${remote} failed: ${text}`, { partner, remote, cause: err }));
    };
    const onClose = () => fail(new TlsError('closed', `${prefix}${remote} closed the connection during the TLS handshake`, { partner, remote }));
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.once('secureConnect', () => {
      if (settled) return;
      const verdict = options.verify(peerChain(socket));
      if (!verdict.ok) {
        fail(new TlsError(verdict.reason, `${prefix}${verdict.message}`, { partner, remote }));
        return;
      }
      settled = true;
      socket.setTimeout(0);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.setNoDelay(true);
      enableKeepAlive(socket); // reaches the TCP socket below (see KEEPALIVE_IDLE_MS)
      resolve({ socket, binding: verdict.binding, info: connectionInfo(socket) });
    });
  });
}

export interface ListenTlsOptions<T> {
  host: string;
  port: number;
  /** Our certificate and key with tlsContextOptions; a function is asked for each connection (reload). */
  secureContext: SecureContext | (() => SecureContext);
  /** Checks the client's chain ([] when it sent none); the binding goes to onSecureSocket. */
  verify: (chain: Buffer[], remote: string) => PeerVerdict<T>;
  onSecureSocket: (socket: TLSSocket, binding: T, info: TlsConnectionInfo) => void;
  /** A connection refused during or right after the handshake, with the cause. */
  onRefused: (error: TlsError) => void;
  /** Default 30 s: a TCP connection that never finishes its handshake is closed. */
  handshakeTimeoutMs?: number;
}

/**
 * Listens on host:port for TLS. Each accepted TCP socket is wrapped in a server-side TLSSocket (so
 * the SecureContext built by the key store is used as it is), asked for a client certificate, and
 * handed on only once `verify` accepts the chain.
 */
export function listenTls<T>(options: ListenTlsOptions<T>): Promise<Server> {
  const { host, port } = options;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const server = createServer((raw: Socket) => {
      const remote = `${raw.remoteAddress}:${raw.remotePort}`;
      raw.on('error', () => {});
      raw.setNoDelay(true);
      enableKeepAlive(raw); // see KEEPALIVE_IDLE_MS
      let context: SecureContext;
      try {
        context = typeof options.secureContext === 'function' ? options.secureContext() : options.secureContext;
      } catch (err) {
        raw.destroy();
        options.onRefused(new TlsError('handshake', `TLS connection from ${remote} refused: ${(err as Error).message}`, { remote, cause: err }));
        return;
      }
      const socket = new TLSSocket(raw, { isServer: true, secureContext: context, requestCert: true, rejectUnauthorized: false });
      let done = false;
      const refuse = (err: TlsError) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        socket.destroy();
        options.onRefused(err);
      };
      const timer = setTimeout(
        () => refuse(new TlsError('handshake-timeout', `TLS handshake from ${remote} did not finish within ${handshakeTimeoutMs / 1000} s (a caller speaking plain ODETTE-FTP waits for our Ready Message: it belongs on port 3305)`, { remote })),
        handshakeTimeoutMs,
      );
      timer.unref();
      const onError = (err: NodeJS.ErrnoException) => {
        const { reason, text } = describeHandshakeError(err, 'server');
        refuse(new TlsError(reason, `TLS handshake from ${remote} failed: ${text}`, { remote, cause: err }));
      };
      const onClose = () => refuse(new TlsError('closed', `${remote} closed the connection during the TLS handshake`, { remote }));
      socket.once('error', onError);
      socket.once('close', onClose);
      socket.once('secure', () => {
        if (done) return;
        const verdict = options.verify(peerChain(socket), remote);
        if (!verdict.ok) {
          refuse(new TlsError(verdict.reason, `TLS connection from ${remote} refused: ${verdict.message}`, { remote }));
          return;
        }
        done = true;
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('close', onClose);
        options.onSecureSocket(socket, verdict.binding, connectionInfo(socket));
      });
    });
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new OftpError('OFTP_ERR_TRANSPORT', `cannot listen for TLS on ${host}:${port}: ${err.code ?? err.message}`, { cause: err })),
    );
    server.listen(port, host, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

function isTlsErrorCode(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'ECONNRESET');
}

/** Turns an OpenSSL handshake error into a cause the operator can act on. */
export function describeHandshakeError(err: NodeJS.ErrnoException, side: 'client' | 'server'): { reason: TlsFailure; text: string } {
  const code = err.code ?? '';
  const peer = side === 'server' ? 'the client' : 'the server';
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|HTTPS_PROXY_REQUEST|RECORD_LENGTH_MISMATCH|PACKET_LENGTH_TOO_LONG/.test(code)) {
    const hint = side === 'client' ? 'is this its TLS port? ODETTE-FTP over TLS listens on 6619, plain on 3305' : 'plain ODETTE-FTP goes to port 3305; this port is for TLS';
    return { reason: 'not-tls', text: `${peer} does not speak TLS (${hint})` };
  }
  if (/UNSUPPORTED_PROTOCOL|ALERT_PROTOCOL_VERSION|VERSION_TOO_LOW/.test(code)) {
    return { reason: 'protocol-version', text: `${peer} supports only protocol versions below TLSv1.2 (TLSv1.0/TLSv1.1 are refused, RFC 8996)` };
  }
  if (/NO_SHARED_CIPHER|NO_CIPHERS|ALERT_HANDSHAKE_FAILURE|NO_SUITABLE_SIGNATURE/.test(code)) {
    return { reason: 'cipher', text: `no cipher suite or signature algorithm in common with ${peer} (we offer forward-secret suites only; ${code})` };
  }
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/.test(code)) {
    return { reason: 'no-certificate', text: `${peer} wants a certificate (${code})` };
  }
  const alert = /ALERT_([A-Z_]+)$/.exec(code)?.[1];
  if (alert) {
    return { reason: 'peer-alert', text: `${peer} refused the handshake with alert "${alert.toLowerCase().replace(/_/g, ' ')}"${/CERTIFICATE|UNKNOWN_CA|ACCESS_DENIED/.test(alert) ? ' (it does not accept our certificate)' : ''}` };
  }
  if (code === 'ECONNRESET') return { reason: 'closed', text: `${peer} reset the connection during the handshake` };
  return { reason: 'handshake', text: `${err.message.split('\n')[0]?.replace(/^[0-9A-F]+:error:[0-9A-F]+:/, '').slice(0, 200)}${code ? ` (${code})` : ''}` };
}
