// The station's configuration: its own identity and its trading partners. Validated once, at load,
// against a strict JSON schema (ajv); every default is written here beside its unit and reason.
import type { ValidateFunction } from 'ajv';
import { ConfigError } from '../errors.ts';
import { isTimeZone, parseCron, parseWindow, ScheduleSyntaxError } from '../gateway/scheduler-calendar.ts';
import { checkGatewayConfig, GATEWAY_SCHEMA, type GatewayConfig } from '../gateway/share-config.ts';
import { type Pkcs11StoreConfig, parsePkcs11Config } from '../keystore/pkcs11-config.ts';
import { validate as generatedValidate } from './station-config-validator.generated.ts';

export const STATION_DEFAULTS = {
  /** RFC 5024 §2.4: 3305 is ODETTE-FTP's registered TCP port (6619 is for TLS). */
  port: 3305,
  /** Listen on every interface: the box sits on the plant network and partners dial in. */
  host: '0.0.0.0',
  /** Octets (SSIDSDEB, 128..99999). The largest buffer keeps per-buffer overhead lowest on TCP. */
  exchangeBufferSize: 99999,
  /**
   * Buffers in flight before a CDT (SSIDCRED, 1..999). The listener answers CDT only once a window is
   * used up (§9 state table, row I), so the sender stalls for a round trip at the end of each window:
   * the most the RFC allows, 999 × 99999 ≈ 100 MB, makes that once per 100 MB (64, ~6.4 MB, cost TLS
   * about 5% on loopback; 16 another 10%). The window is in the sockets, never in our memory: TCP's
   * own flow control bounds it. A partner asking for less gets less (the smaller credit is used).
   */
  credit: 999,
  /** Buffer compression (SSIDCMPR) costs CPU on every octet; off by default, on per partner. */
  bufferCompression: false,
  /** Restart (SSIDREST): always offered; broken transfers resume. */
  restart: true,
  /** Largest file accepted, octets. 0 = no limit beyond free disk space. */
  maxFileSizeBytes: 0,
  /** Disk space kept free, octets: a file that would eat into it is refused (SFNA 06, retry Y). */
  diskReserveBytes: 64 * 1024 * 1024,
  /**
   * The Odette ID `oftp2 serve` uses when it finds no station (so it runs on embedded defaults).
   * No partner will know it: `oftp2 init --odette-id` replaces it while the station has no partners.
   */
  placeholderOdetteId: 'O0000LOCALSTATION',
  /** Seconds to wait for the peer's answer (RFC 5024 §4.7.2 response timer). */
  responseTimeoutSeconds: 180,
  /**
   * Octets received between two restart checkpoints (fsync + checkpoint file). After a crash the
   * transfer resumes from the last one; smaller means less resent, larger means fewer fsyncs.
   */
  checkpointIntervalBytes: 64 * 1024 * 1024,
  /** RFC 5024 §2.4: 6619 is 'odette-ftps', ODETTE-FTP over TLS (§2.3). */
  tlsPort: 6619,
  /**
   * TLS 1.2 is the floor (RFC 8996 retires 1.0 and 1.1) and still what many partner stacks speak;
   * 'TLSv1.3' may be set once every TLS partner has it.
   */
  tlsMinVersion: 'TLSv1.2',
  /** Seconds a caller may take to finish its TLS handshake before the connection is closed. */
  tlsHandshakeTimeoutSeconds: 30,
  /**
   * Days before a certificate's end from which `oftp2 cert list`, the log at start and the status
   * page warn: 30 days leaves time to obtain a new certificate and hand it to partners.
   */
  certificateWarningDays: 30,
} as const;

export const PARTNER_DEFAULTS = {
  port: 3305,
  /** Protocol level offered to this partner (SSIDLEV): 5 = OFTP 2.0; 4, 2, 1 for 1.x partners. */
  level: 5,
  /** SSIDSR: both send and receive. */
  sendReceive: 'B',
  /** Plain TCP unless agreed otherwise: TLS needs certificates on both sides first. */
  tls: false,
  /** Port dialled when `tls` is true and no port is given (RFC 5024 §2.4). */
  tlsPort: 6619,
  /**
   * A partner calling us over TLS must present a certificate we trust for it (mutual authentication).
   * false lets it log in with a TLS connection and its password only (RFC 5024 §1.7: a hub's partners
   * may have no certificate).
   */
  requireClientCertificate: true,
  /**
   * Secure authentication (RFC 5024 §4.2.3, SSIDAUTH): off unless agreed, since both sides need each
   * other's authentication certificate first. 'optional': as initiator we ask for it when both
   * authentication certificates are configured; as responder we answer what the initiator asked for.
   */
  secureAuthentication: 'off',
} as const;

/**
 * The file services agreement with a partner (RFC 5024 §6): what we apply to the files we queue for it
 * (`send`) and what we accept from it (`receive`). Missing values take these defaults.
 */
export const FILE_SERVICES_DEFAULTS = {
  send: {
    /** SFIDSEC for files queued for the partner: 0 none, 1 encrypted, 2 signed, 3 both (§6.2–6.3). Off until agreed. */
    securityLevel: 0,
    /**
     * SFIDCIPH for signing, encrypting, signed receipts and our AUCH challenges: 02 (AES-256-CBC, SHA-1)
     * is one of the two suites every RFC 5024 station must support (§10.2); set 04 (AES-256-CBC,
     * SHA-256) when the partner knows ODETTE's extended list.
     */
    cipherSuite: 2,
    /** SFIDCOMP 1 (zlib, §6.4) before encryption. Off: many files are compressed already. */
    compression: false,
    /** SFIDSIGN: ask for signed EERPs/NERPs (§5.3.13). Off until the partner's signing certificate is known. */
    signedReceipt: false,
  },
  receive: {
    /** SFIDCIPH values accepted (others: SFNA 15). Every suite we implement (01–06). */
    cipherSuites: [1, 2, 3, 4, 5, 6] as number[],
    /** Encrypted files (SFIDSEC 01/03): 'allowed' (SFNA 16 only when 'refused' or we hold no decryption key), 'required' (else SFNA 17). */
    encryption: 'allowed',
    /** Signed files (SFIDSEC 02/03): 'allowed' (SFNA 19 when 'refused' or no signing certificate of the partner is configured), 'required' (else SFNA 20). */
    signature: 'allowed',
    /** Compressed files (SFIDCOMP 1): 'allowed' or 'refused' (SFNA 18). */
    compression: 'allowed',
    /** Signed EERP requests (SFIDSIGN Y): 'allowed' when we hold a signing key, else or when 'refused' SFNA 99. */
    signedReceipts: 'allowed',
    /** Unsecured CMS files carrying certificates (§10.4: SFIDENV 1 alone), kept for the operator's approval; 'refused': SFNA 99. */
    certificateExchange: 'allowed',
  },
} as const;

export type SecureAuthenticationMode = 'required' | 'optional' | 'off';
export type Acceptance = 'required' | 'allowed' | 'refused';
export type Permission = 'allowed' | 'refused';

/** What we apply to files we queue for the partner. */
export interface FileServicesSend {
  securityLevel: 0 | 1 | 2 | 3;
  cipherSuite: number;
  compression: boolean;
  signedReceipt: boolean;
}

/** What we accept from the partner (SFNA 15–20 otherwise). */
export interface FileServicesReceive {
  cipherSuites: number[];
  encryption: Acceptance;
  signature: Acceptance;
  compression: Permission;
  signedReceipts: Permission;
  certificateExchange: Permission;
}

export interface FileServicesAgreement {
  send: FileServicesSend;
  receive: FileServicesReceive;
}

/** The gateway's scheduler (src/gateway/scheduler-core.ts), station-wide. */
export const SCHEDULER_DEFAULTS = {
  /** Sessions at once, dial-outs and dial-ins together: each holds buffers and file handles. */
  maxSessions: 8,
  /** Sessions at once with one partner: OFTP partners expect one (a second call is refused with ESID 08). */
  maxSessionsPerPartner: 1,
  /** ms after the last drop of a burst before dialling: a burst of drops makes one session. */
  debounceMs: 100,
  /**
   * ms after the first drop of a burst at most: a steady trickle still dials within a quarter second,
   * so with the outbox's 500 ms stability rule a drop reaches its SFID in under a second.
   */
  maxDebounceMs: 250,
  /** Retry backoff, seconds (see src/gateway/retry-policy.ts for the decision per ESID reason). */
  retryBaseSeconds: 30,
  retryFactor: 2,
  retryMaxSeconds: 3600,
  /** ± fraction of the delay, so partners restarted together do not all dial at once. */
  retryJitter: 0.2,
  /** Seconds to wait after a partner ends with ESID 05 (it is shutting down on purpose). */
  retryLaterSeconds: 300,
} as const;

/** Hooks run on transfer state changes (src/gateway/hooks.ts). */
export const HOOK_DEFAULTS = {
  /** Seconds a command or a webhook request may take; the command is killed after it. */
  timeoutSeconds: 30,
  /** Further tries of a webhook after a failure (network error, 5xx, timeout); commands run once. */
  webhookRetries: 3,
  /** Seconds before the first webhook retry; doubled each time. */
  webhookRetryDelaySeconds: 2,
} as const;

/** The daemon (`oftp2 serve`). */
export const DAEMON_DEFAULTS = {
  /**
   * Seconds from SIGTERM to exit: sessions are ended with ESID 05 and given this long to save their
   * checkpoints. Below systemd's TimeoutStopSec (90 s) so we exit on our own.
   */
  stopTimeoutSeconds: 20,
} as const;

/** A transmission or dial-in window: `{days, from, to}` or `{cron}` (syntax: src/gateway/scheduler-calendar.ts). */
export interface ScheduleWindow {
  days?: string;
  from?: string;
  to?: string;
  cron?: string;
}

/** When to dial a partner and when to take its calls (README, "Scheduler"). */
export interface PartnerSchedule {
  /** Dial as soon as files are queued (debounced). Default true for a partner with a host. */
  dialOnQueue?: boolean;
  /** Dial-outs only inside these windows; none: any time. */
  windows?: ScheduleWindow[];
  /** Cron expressions: dial at these times when files are queued (batch sending). */
  dialAt?: string[];
  /** Dial to collect every N seconds after the last session with the partner (and once at start). */
  pollEverySeconds?: number;
  /** Cron expressions: dial to collect at these times. */
  pollAt?: string[];
  /** Take the partner's calls only inside these windows (outside: ESID 08); none: always. */
  dialInWindows?: ScheduleWindow[];
  /** Per-partner retry backoff overrides (seconds). */
  retry?: { baseSeconds?: number; factor?: number; maxSeconds?: number; jitter?: number; laterSeconds?: number };
}

export interface SchedulerSettings {
  /** IANA time zone for windows and cron (e.g. "Europe/Berlin"); default: the machine's. */
  timeZone?: string;
  maxSessions: number;
  maxSessionsPerPartner: number;
  debounceMs: number;
  maxDebounceMs: number;
  retry: { baseSeconds: number; factor: number; maxSeconds: number; jitter: number; laterSeconds: number };
}

export type HookEvent = 'queued' | 'sending' | 'sent' | 'delivered' | 'failed' | 'receiving' | 'received' | 'acknowledged';

/** A command or webhook run when a transfer reaches one of the `on` states. */
export interface HookConfig {
  /** Transfer states that trigger it: received (file in the inbox), delivered (EERP), acknowledged, failed… */
  on: HookEvent[];
  /** Only this partner's transfers. */
  partner?: string;
  direction?: 'in' | 'out';
  /** argv of a program (no shell): the transfer as JSON on stdin, OFTP2_* variables in its environment. */
  command?: string[];
  /** POSTed the transfer as JSON. */
  url?: string;
  timeoutSeconds: number;
  retries: number;
}

/** Certificate roles (see src/security/certificates.ts): a partner may use a different one for each. */
export type CertificateRoleName = 'tls' | 'authentication' | 'signing' | 'encryption';
export const CERTIFICATE_ROLE_NAMES: readonly CertificateRoleName[] = ['tls', 'authentication', 'signing', 'encryption'];

/** One of our own certificates: the certificate file and the name of its key in `station.keys`. */
export interface OwnCertificate {
  certificate: string;
  key: string;
}

/**
 * Our certificates per role; `next` holds our next signing certificate and key during our own rollover:
 * files and signed receipts then carry two signers, current and next (RFC 5024 §6.2), until
 * `oftp2 cert promote --own --role signing` makes the next one current.
 */
export type OwnCertificates = Partial<Record<CertificateRoleName, OwnCertificate>> & { next?: { signing?: OwnCertificate } };

/** A private key for the file KeyStore (src/keystore/file-key-store.ts). */
export interface KeyEntry {
  file: string;
  passphraseFile?: string;
  passphraseEnv?: string;
  certificate?: string;
}

export interface TlsListenConfig {
  /** Listen for TLS; when absent, TLS is on exactly when `certificates.tls` is configured. */
  enabled?: boolean;
  /** Default: listen.host. */
  host?: string;
  port: number;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher string; default: the forward-secret list in src/transports/tls.ts. */
  ciphers?: string;
  handshakeTimeoutSeconds: number;
}

/** How a partner's certificates are trusted (TLS, and signatures/receipts for the CMS layer). */
export interface PartnerTrust {
  /** CA certificates (PEM/DER files) this partner's certificates must chain to. */
  caFiles?: string[];
  /** SHA-256 fingerprints of certificates accepted as they are (hex, colons optional). */
  pinnedSha256?: string[];
  /** CRLs checked for certificates issued by their CA. */
  crlFiles?: string[];
  /** See PARTNER_DEFAULTS.requireClientCertificate. */
  requireClientCertificate?: boolean;
}

/** The partner's certificates per role (file paths); `next` holds the ones for a rollover. */
export type PartnerCertificates = Partial<Record<CertificateRoleName, string>> & { next?: Partial<Record<CertificateRoleName, string>> };

export interface StationIdentity {
  /** Our Odette identification code (SSIDCODE, §5.4). */
  odetteId: string;
  listen: { host: string; port: number };
  exchangeBufferSize: number;
  credit: number;
  bufferCompression: boolean;
  restart: boolean;
  maxFileSizeBytes: number;
  diskReserveBytes: number;
  responseTimeoutSeconds: number;
  checkpointIntervalBytes: number;
  /** ODETTE-FTP over TLS (RFC 5024 §2.3). */
  tls: TlsListenConfig;
  /** Our certificates per role; relative paths are in the data directory. */
  certificates?: OwnCertificates;
  /** Private keys by name (the file KeyStore). */
  keys?: Record<string, KeyEntry>;
  /**
   * Private keys on a PKCS#11 token (src/keystore/pkcs11-config.ts): a `certificates.<role>.key` not in
   * `keys` names a key here (in `pkcs11.keys`, or its CKA_LABEL without that map). Not for TLS, whose
   * key must be a file (see src/keystore/pkcs11-key-store.ts).
   */
  pkcs11?: Pkcs11StoreConfig;
  certificateWarningDays: number;
  scheduler: SchedulerSettings;
  daemon: { stopTimeoutSeconds: number };
}

export interface PartnerConfig {
  /** Local short name used on the command line and in folders. */
  name: string;
  /** The partner's Odette identification code (its SSIDCODE). */
  odetteId: string;
  /** Where to dial; absent for a partner that only dials in. */
  host?: string;
  port: number;
  /** SSIDPSWD we send to this partner. */
  passwordToSend: string;
  /** SSIDPSWD this partner must send to us. */
  passwordExpected: string;
  level: 1 | 2 | 4 | 5;
  sendReceive: 'S' | 'R' | 'B';
  /** Per-partner quirks overriding the station's values. */
  exchangeBufferSize?: number;
  credit?: number;
  bufferCompression?: boolean;
  restart?: boolean;
  maxFileSizeBytes?: number;
  /** Dial this partner over TLS; its logins over plain TCP are then refused. */
  tls: boolean;
  trust?: PartnerTrust;
  certificates?: PartnerCertificates;
  schedule?: PartnerSchedule;
  /** SSIDAUTH with this partner (default PARTNER_DEFAULTS.secureAuthentication). */
  secureAuthentication?: SecureAuthenticationMode;
  /** The file services agreement (defaults FILE_SERVICES_DEFAULTS; see fileServicesOf). */
  fileServices?: { send?: Partial<FileServicesSend>; receive?: Partial<FileServicesReceive> };
}

export interface StationConfig {
  version: 1;
  station: StationIdentity;
  partners: PartnerConfig[];
  hooks: HookConfig[];
  /** The LAN share and routing (src/gateway/share-config.ts); absent: files only through the CLI, inbox in the data directory. */
  gateway?: GatewayConfig;
}

// Identification codes (§5.4) and passwords (§5.3.2) are checked by the codec's own field rules.
const odetteId = { type: 'string', format: 'odette-id' };
const password = { type: 'string', minLength: 1, format: 'odette-password' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const bufferSize = { type: 'integer', minimum: 128, maximum: 99999 };
const credit = { type: 'integer', minimum: 1, maximum: 999 };
const bytes = { type: 'integer', minimum: 0 };
const filePath = { type: 'string', minLength: 1 };
const roleFiles = {
  type: 'object',
  additionalProperties: false,
  properties: { tls: filePath, authentication: filePath, signing: filePath, encryption: filePath },
};
const ownCertificate = {
  type: 'object',
  additionalProperties: false,
  required: ['certificate', 'key'],
  properties: { certificate: filePath, key: { type: 'string', minLength: 1 } },
};
const scheduleWindow = {
  type: 'object',
  additionalProperties: false,
  properties: { days: { type: 'string', minLength: 1 }, from: { type: 'string', pattern: '^\\d{1,2}:\\d{2}$' }, to: { type: 'string', pattern: '^\\d{1,2}:\\d{2}$' }, cron: { type: 'string', minLength: 9 } },
};
const cronList = { type: 'array', items: { type: 'string', minLength: 9 } };
const seconds = { type: 'number', exclusiveMinimum: 0 };
const HOOK_EVENTS = ['queued', 'sending', 'sent', 'delivered', 'failed', 'receiving', 'received', 'acknowledged'];
/** Cipher suites we implement (src/security/cipher-suites.ts). */
const suite = { enum: [1, 2, 3, 4, 5, 6] };
const fingerprint = { type: 'string', pattern: '^(?:[Ss][Hh][Aa]256[:=])?(?:[0-9A-Fa-f]{2}[: ]?){31}[0-9A-Fa-f]{2}$' };

/** The configuration's JSON schema. Compiled ahead of time into station-config-validator.generated.ts (npm run gen:config-validator). */
export const STATION_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'station', 'partners'],
  properties: {
    version: { const: 1 },
    gateway: GATEWAY_SCHEMA,
    station: {
      type: 'object',
      additionalProperties: false,
      required: ['odetteId'],
      properties: {
        odetteId,
        listen: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            host: { type: 'string', minLength: 1, default: STATION_DEFAULTS.host },
            port: { ...port, default: STATION_DEFAULTS.port },
          },
        },
        exchangeBufferSize: { ...bufferSize, default: STATION_DEFAULTS.exchangeBufferSize },
        credit: { ...credit, default: STATION_DEFAULTS.credit },
        bufferCompression: { type: 'boolean', default: STATION_DEFAULTS.bufferCompression },
        restart: { type: 'boolean', default: STATION_DEFAULTS.restart },
        maxFileSizeBytes: { ...bytes, default: STATION_DEFAULTS.maxFileSizeBytes },
        diskReserveBytes: { ...bytes, default: STATION_DEFAULTS.diskReserveBytes },
        responseTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: STATION_DEFAULTS.responseTimeoutSeconds },
        checkpointIntervalBytes: { type: 'integer', minimum: 1024, default: STATION_DEFAULTS.checkpointIntervalBytes },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            enabled: { type: 'boolean' },
            host: { type: 'string', minLength: 1 },
            port: { ...port, default: STATION_DEFAULTS.tlsPort },
            minVersion: { enum: ['TLSv1.2', 'TLSv1.3'], default: STATION_DEFAULTS.tlsMinVersion },
            ciphers: { type: 'string', minLength: 1 },
            handshakeTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 600, default: STATION_DEFAULTS.tlsHandshakeTimeoutSeconds },
          },
        },
        certificates: {
          type: 'object',
          additionalProperties: false,
          properties: {
            tls: ownCertificate,
            authentication: ownCertificate,
            signing: ownCertificate,
            encryption: ownCertificate,
            next: { type: 'object', additionalProperties: false, properties: { signing: ownCertificate } },
          },
        },
        keys: {
          type: 'object',
          propertyNames: { pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            required: ['file'],
            properties: { file: filePath, passphraseFile: filePath, passphraseEnv: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, certificate: filePath },
          },
        },
        pkcs11: { type: 'object' },
        certificateWarningDays: { type: 'integer', minimum: 0, maximum: 3650, default: STATION_DEFAULTS.certificateWarningDays },
        scheduler: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            timeZone: { type: 'string', minLength: 1 },
            maxSessions: { type: 'integer', minimum: 1, maximum: 1000, default: SCHEDULER_DEFAULTS.maxSessions },
            maxSessionsPerPartner: { type: 'integer', minimum: 1, maximum: 100, default: SCHEDULER_DEFAULTS.maxSessionsPerPartner },
            debounceMs: { type: 'integer', minimum: 0, maximum: 600_000, default: SCHEDULER_DEFAULTS.debounceMs },
            maxDebounceMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: SCHEDULER_DEFAULTS.maxDebounceMs },
            retry: {
              type: 'object',
              additionalProperties: false,
              default: {},
              properties: {
                baseSeconds: { ...seconds, default: SCHEDULER_DEFAULTS.retryBaseSeconds },
                factor: { type: 'number', minimum: 1, default: SCHEDULER_DEFAULTS.retryFactor },
                maxSeconds: { ...seconds, default: SCHEDULER_DEFAULTS.retryMaxSeconds },
                jitter: { type: 'number', minimum: 0, maximum: 1, default: SCHEDULER_DEFAULTS.retryJitter },
                laterSeconds: { ...seconds, default: SCHEDULER_DEFAULTS.retryLaterSeconds },
              },
            },
          },
        },
        daemon: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { stopTimeoutSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: DAEMON_DEFAULTS.stopTimeoutSeconds } },
        },
      },
    },
    hooks: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['on'],
        properties: {
          on: { type: 'array', minItems: 1, items: { enum: HOOK_EVENTS } },
          partner: { type: 'string', minLength: 1 },
          direction: { enum: ['in', 'out'] },
          command: { type: 'array', minItems: 1, items: { type: 'string' } },
          url: { type: 'string', pattern: '^https?://' },
          timeoutSeconds: { ...seconds, default: HOOK_DEFAULTS.timeoutSeconds },
          retries: { type: 'integer', minimum: 0, maximum: 20, default: HOOK_DEFAULTS.webhookRetries },
        },
      },
    },
    partners: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'odetteId', 'passwordToSend', 'passwordExpected'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
          odetteId,
          host: { type: 'string', minLength: 1 },
          port: { ...port, default: PARTNER_DEFAULTS.port },
          passwordToSend: password,
          passwordExpected: password,
          level: { enum: [1, 2, 4, 5], default: PARTNER_DEFAULTS.level },
          sendReceive: { enum: ['S', 'R', 'B'], default: PARTNER_DEFAULTS.sendReceive },
          exchangeBufferSize: bufferSize,
          credit,
          bufferCompression: { type: 'boolean' },
          restart: { type: 'boolean' },
          maxFileSizeBytes: bytes,
          tls: { type: 'boolean', default: PARTNER_DEFAULTS.tls },
          trust: {
            type: 'object',
            additionalProperties: false,
            properties: {
              caFiles: { type: 'array', items: filePath },
              pinnedSha256: { type: 'array', items: fingerprint },
              crlFiles: { type: 'array', items: filePath },
              requireClientCertificate: { type: 'boolean' },
            },
          },
          certificates: {
            type: 'object',
            additionalProperties: false,
            properties: { ...roleFiles.properties, next: roleFiles },
          },
          secureAuthentication: { enum: ['required', 'optional', 'off'] },
          fileServices: {
            type: 'object',
            additionalProperties: false,
            properties: {
              send: {
                type: 'object',
                additionalProperties: false,
                properties: { securityLevel: { enum: [0, 1, 2, 3] }, cipherSuite: suite, compression: { type: 'boolean' }, signedReceipt: { type: 'boolean' } },
              },
              receive: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  cipherSuites: { type: 'array', uniqueItems: true, items: suite },
                  encryption: { enum: ['required', 'allowed', 'refused'] },
                  signature: { enum: ['required', 'allowed', 'refused'] },
                  compression: { enum: ['allowed', 'refused'] },
                  signedReceipts: { enum: ['allowed', 'refused'] },
                  certificateExchange: { enum: ['allowed', 'refused'] },
                },
              },
            },
          },
          schedule: {
            type: 'object',
            additionalProperties: false,
            properties: {
              dialOnQueue: { type: 'boolean' },
              windows: { type: 'array', items: scheduleWindow },
              dialAt: cronList,
              pollEverySeconds: { type: 'integer', minimum: 10 },
              pollAt: cronList,
              dialInWindows: { type: 'array', items: scheduleWindow },
              retry: {
                type: 'object',
                additionalProperties: false,
                properties: { baseSeconds: seconds, factor: { type: 'number', minimum: 1 }, maxSeconds: seconds, jitter: { type: 'number', minimum: 0, maximum: 1 }, laterSeconds: seconds },
              },
            },
          },
        },
      },
    },
  },
} as const;

/** STATION_CONFIG_SCHEMA's validator (ajv, compiled ahead of time: fills defaults, reports every error). */
const validate = generatedValidate as unknown as ValidateFunction;

/** Checks the schedule syntax the schema cannot (windows, cron expressions, time zone). */
function scheduleProblem(config: StationConfig): string | undefined {
  const tz = config.station.scheduler.timeZone;
  if (tz !== undefined && !isTimeZone(tz)) return `/station/scheduler/timeZone "${tz}" is not a known time zone`;
  for (const [i, p] of config.partners.entries()) {
    const s = p.schedule;
    if (!s) continue;
    try {
      for (const w of [...(s.windows ?? []), ...(s.dialInWindows ?? [])]) parseWindow(w);
      for (const c of [...(s.dialAt ?? []), ...(s.pollAt ?? [])]) parseCron(c);
    } catch (err) {
      if (err instanceof ScheduleSyntaxError) return `/partners/${i}/schedule: ${err.message}`;
      throw err;
    }
  }
  return undefined;
}

/** Validates (and fills defaults into) a parsed configuration. Throws ConfigError naming every problem. */
export function validateStationConfig(data: unknown, source: string): StationConfig {
  const copy = structuredClone(data);
  // A TLS partner without a port is dialled on 6619, not 3305: note which ones before defaults fill it.
  const tlsWithoutPort = new Set<number>();
  const rawPartners = (copy as { partners?: unknown } | null)?.partners;
  if (Array.isArray(rawPartners)) {
    rawPartners.forEach((p, i) => {
      if (p && typeof p === 'object' && (p as { tls?: unknown }).tls === true && (p as { port?: unknown }).port === undefined) tlsWithoutPort.add(i);
    });
  }
  if (!validate(copy)) {
    const problems = (validate.errors ?? [])
      .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
      .join('; ');
    throw new ConfigError('OFTP_ERR_CONFIG', `${source}: ${problems}`);
  }
  const config = copy as unknown as StationConfig;
  for (const i of tlsWithoutPort) config.partners[i]!.port = PARTNER_DEFAULTS.tlsPort;
  const station = config.station;
  if (station.pkcs11 !== undefined) parsePkcs11Config(station.pkcs11, `${source}: station.pkcs11`);
  const ownEntries: [string, OwnCertificate][] = CERTIFICATE_ROLE_NAMES.flatMap((role) => {
    const own = station.certificates?.[role];
    return own ? [[role, own] as [string, OwnCertificate]] : [];
  });
  if (station.certificates?.next?.signing) ownEntries.push(['next.signing', station.certificates.next.signing]);
  for (const [role, own] of ownEntries) {
    const fileKey = station.keys !== undefined && Object.hasOwn(station.keys, own.key);
    if (fileKey) continue;
    if (role === 'tls') {
      throw new ConfigError('OFTP_ERR_CONFIG', `${source}: station.certificates.tls.key names "${own.key}", which is not in station.keys (the TLS key must be a key file, not a PKCS#11 key)`);
    }
    const tokenKeys = station.pkcs11?.keys;
    if (station.pkcs11 === undefined || (tokenKeys !== undefined && !Object.hasOwn(tokenKeys, own.key))) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${source}: station.certificates.${role}.key names "${own.key}", which is not in station.keys${station.pkcs11 ? ' nor in station.pkcs11.keys' : ''}`);
    }
  }
  for (const [i, hook] of config.hooks.entries()) {
    if ((hook.command === undefined) === (hook.url === undefined)) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${source}: /hooks/${i} needs either command or url`);
    }
  }
  if (config.gateway) checkGatewayConfig(config.gateway, station.odetteId, source);
  const problem = scheduleProblem(config);
  if (problem) throw new ConfigError('OFTP_ERR_CONFIG', `${source}: ${problem}`);
  if (station.tls.enabled === true && !station.certificates?.tls) {
    throw new ConfigError('OFTP_ERR_CONFIG', `${source}: station.tls.enabled needs our TLS certificate in station.certificates.tls (see oftp2 cert import --own --role tls)`);
  }
  const names = new Set<string>();
  const ids = new Set<string>();
  for (const p of config.partners) {
    if (names.has(p.name)) throw new ConfigError('OFTP_ERR_CONFIG', `${source}: partner name "${p.name}" appears twice`);
    if (ids.has(p.odetteId)) throw new ConfigError('OFTP_ERR_CONFIG', `${source}: Odette ID ${p.odetteId} is used by two partners`);
    if (p.odetteId === config.station.odetteId) {
      throw new ConfigError('OFTP_ERR_CONFIG', `${source}: partner "${p.name}" has the station's own Odette ID`);
    }
    names.add(p.name);
    ids.add(p.odetteId);
  }
  return config;
}

/** Whether and where the station listens for TLS: on when enabled, or by default when it has a TLS certificate. */
export function tlsListenAddress(station: StationIdentity): { enabled: boolean; host: string; port: number } {
  const enabled = station.tls.enabled ?? station.certificates?.tls !== undefined;
  return { enabled, host: station.tls.host ?? station.listen.host, port: station.tls.port };
}

/** The session parameters to offer a partner: the station's values with the partner's quirks on top. */
export function effectivePartnerSettings(station: StationIdentity, partner: PartnerConfig) {
  return {
    level: partner.level,
    exchangeBufferSize: partner.exchangeBufferSize ?? station.exchangeBufferSize,
    credit: partner.credit ?? station.credit,
    bufferCompression: partner.bufferCompression ?? station.bufferCompression,
    restart: partner.restart ?? station.restart,
    sendReceive: partner.sendReceive,
    maxFileSizeBytes: partner.maxFileSizeBytes ?? station.maxFileSizeBytes,
  };
}

/** The partner's file services agreement with every default filled in. */
export function fileServicesOf(partner: PartnerConfig): FileServicesAgreement {
  const d = FILE_SERVICES_DEFAULTS;
  return {
    send: { ...d.send, ...partner.fileServices?.send },
    receive: { ...d.receive, cipherSuites: [...d.receive.cipherSuites], ...partner.fileServices?.receive },
  };
}

/** SSIDAUTH mode with the partner (default 'off'). */
export function secureAuthenticationOf(partner: PartnerConfig): SecureAuthenticationMode {
  return partner.secureAuthentication ?? PARTNER_DEFAULTS.secureAuthentication;
}
