// The station's configuration: its own identity and its trading partners. Validated once, at load,
// against a strict JSON schema (ajv); every default is written here beside its unit and reason.
import { Ajv } from 'ajv';
import { ConfigError } from '../errors.ts';
import { isIdentificationCode, isPassword } from '../protocol/fields.ts';

export const STATION_DEFAULTS = {
  /** RFC 5024 §2.4: 3305 is ODETTE-FTP's registered TCP port (6619 is for TLS). */
  port: 3305,
  /** Listen on every interface: the box sits on the plant network and partners dial in. */
  host: '0.0.0.0',
  /** Octets (SSIDSDEB, 128..99999). The largest buffer keeps per-buffer overhead lowest on TCP. */
  exchangeBufferSize: 99999,
  /** Buffers in flight before a CDT (SSIDCRED, 1..999). 16 × 99999 ≈ 1.6 MB keeps memory small. */
  credit: 16,
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
} as const;

export const PARTNER_DEFAULTS = {
  port: 3305,
  /** Protocol level offered to this partner (SSIDLEV): 5 = OFTP 2.0; 4, 2, 1 for 1.x partners. */
  level: 5,
  /** SSIDSR: both send and receive. */
  sendReceive: 'B',
} as const;

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
}

export interface StationConfig {
  version: 1;
  station: StationIdentity;
  partners: PartnerConfig[];
}

// Identification codes (§5.4) and passwords (§5.3.2) are checked by the codec's own field rules.
const odetteId = { type: 'string', format: 'odette-id' };
const password = { type: 'string', minLength: 1, format: 'odette-password' };
const port = { type: 'integer', minimum: 1, maximum: 65535 };
const bufferSize = { type: 'integer', minimum: 128, maximum: 99999 };
const credit = { type: 'integer', minimum: 1, maximum: 999 };
const bytes = { type: 'integer', minimum: 0 };

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'station', 'partners'],
  properties: {
    version: { const: 1 },
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
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: true });
ajv.addFormat('odette-id', isIdentificationCode);
ajv.addFormat('odette-password', isPassword);
const validate = ajv.compile(schema);

/** Validates (and fills defaults into) a parsed configuration. Throws ConfigError naming every problem. */
export function validateStationConfig(data: unknown, source: string): StationConfig {
  const copy = structuredClone(data);
  if (!validate(copy)) {
    const problems = (validate.errors ?? [])
      .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`)
      .join('; ');
    throw new ConfigError('OFTP_ERR_CONFIG', `${source}: ${problems}`);
  }
  const config = copy as unknown as StationConfig;
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
