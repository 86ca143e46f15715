// The station's TLS side (RFC 5024 §2.3): our TLS certificate and key (through the KeyStore, so the key
// never leaves it), every partner's TLS trust, and the two ways a TLS session starts: dialling a
// partner configured `tls: true`, and accepting callers on the TLS port (6619). How a connection is
// bound to a partner before its SSID is described in src/security/certificates-tls.ts.
import type { Server } from 'node:net';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { ConfigError } from '../errors.ts';
import { FileKeyStore } from '../keystore/file-key-store.ts';
import { resolveIn } from '../security/certificates-store.ts';
import { type TlsBinding, TlsTrust } from '../security/certificates-tls.ts';
import { readFile } from 'node:fs/promises';
import type { PartnerConfig, StationConfig } from '../store/station-config.ts';
import { connectTls, listenTls, type TlsConnectionInfo, tlsContextOptions, type TlsError } from '../transports/tls.ts';

export class StationTls {
  readonly trust: TlsTrust;
  /** Our context: certificate chain + key, or none (we then dial without a client certificate). */
  readonly context: SecureContext;
  readonly hasCertificate: boolean;
  readonly #handshakeTimeoutMs: number;

  private constructor(trust: TlsTrust, context: SecureContext, hasCertificate: boolean, handshakeTimeoutMs: number) {
    this.trust = trust;
    this.context = context;
    this.hasCertificate = hasCertificate;
    this.#handshakeTimeoutMs = handshakeTimeoutMs;
  }

  /** Reads our TLS certificate and key and every partner's trust. A broken key or certificate is a ConfigError. */
  static async open(config: StationConfig, dataDir: string, keyStore: FileKeyStore): Promise<StationTls> {
    const station = config.station;
    const settings = { minVersion: station.tls.minVersion, ciphers: station.tls.ciphers };
    const own = station.certificates?.tls;
    let context: SecureContext;
    if (own) {
      const path = resolveIn(dataDir, own.certificate);
      const chain = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new ConfigError('OFTP_ERR_CONFIG', `our TLS certificate ${path}: cannot read: ${err.code ?? err.message}`);
      });
      context = await keyStore.secureContext(own.key, chain, tlsContextOptions(settings));
    } else {
      context = createSecureContext(tlsContextOptions(settings));
    }
    const trust = await TlsTrust.load(config, dataDir);
    return new StationTls(trust, context, own !== undefined, station.tls.handshakeTimeoutSeconds * 1000);
  }

  /** Dials `partner` over TLS; its server certificate must satisfy the partner's trust. */
  dial(partner: PartnerConfig): Promise<{ socket: TLSSocket; binding: TlsBinding; info: TlsConnectionInfo }> {
    return connectTls({
      host: partner.host!,
      port: partner.port,
      secureContext: this.context,
      partner: partner.name,
      verify: (chain) => this.trust.checkServer(partner.name, chain),
      timeoutMs: this.#handshakeTimeoutMs,
    });
  }

  /** Accepts TLS callers; each accepted connection comes with the partners it may log in as. */
  listen(
    address: { host: string; port: number },
    onSecureSocket: (socket: TLSSocket, binding: TlsBinding, info: TlsConnectionInfo) => void,
    onRefused: (error: TlsError) => void,
  ): Promise<Server> {
    if (!this.hasCertificate) {
      throw new ConfigError('OFTP_ERR_CONFIG', 'cannot listen for TLS without our TLS certificate (oftp2 cert create-key --role tls, then oftp2 cert import --own --role tls)');
    }
    return listenTls({
      host: address.host,
      port: address.port,
      secureContext: this.context,
      verify: (chain) => this.trust.bindClient(chain),
      onSecureSocket,
      onRefused,
      handshakeTimeoutMs: this.#handshakeTimeoutMs,
    });
  }
}

/** The file KeyStore for a station's configured keys (relative paths in the data directory). */
export function stationKeyStore(config: StationConfig, dataDir: string): FileKeyStore {
  return new FileKeyStore(config.station.keys ?? {}, { baseDir: dataDir });
}
