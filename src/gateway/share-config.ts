// The `gateway` section of station.json: the LAN share (outbox drop folders, inbox delivery folders)
// and routing by destination code (RFC 5024 §4.3.4 destinations, §4.7.3 clearing centres). The JSON
// schema below is part of the station's schema (src/store/station-config.ts), so it is validated once,
// at load, with the rest; checkGatewayConfig adds the checks a schema cannot say. Every default is
// written in GATEWAY_DEFAULTS beside its unit and reason. Partners named here are not required to
// exist: a partner removed from the config leaves its folders logged and untouched, never a station
// that refuses to start.
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';

export type PickupRule = 'stable' | 'rename' | 'marker';
export type ReceiptPolicy = 'on-delivery' | 'on-consume';

export const GATEWAY_DEFAULTS = {
  /** The share's root, relative to the data directory (one filesystem with the spool: pickup links, no copy). */
  shareRoot: 'share',
  /**
   * Milliseconds between two full rescans of every watched folder. fs.watch (inotify) is the fast path,
   * but events are lost on CIFS/NFS mounts and once the inotify watch limit is reached; a rescan bounds
   * the delay a lost event costs. 2 s is a readdir of a few folders: nothing for the box.
   */
  rescanIntervalMs: 2000,
  /**
   * 'stable': a file is taken once its size, mtime and ctime have not changed for `stableMs`. It needs
   * nothing from the writer (a PLC copying over SMB does not rename), so it is the default.
   */
  pickup: 'stable' as PickupRule,
  /**
   * Milliseconds a file must stay unchanged before the 'stable' rule takes it. An SMB client writes a
   * file in one stream of requests with gaps of a few milliseconds; 500 ms is far above those gaps and
   * keeps the median drop-to-SFID under a second (event + 500 ms + spool + dial). A writer that pauses
   * longer mid-file (a slow PLC appending records) must use 'rename' or 'marker' instead.
   */
  stableMs: 500,
  /** Marker names for the 'marker' rule: FILE is taken once FILE.ready or FILE.done exists. */
  markerSuffixes: ['.ready', '.done'] as readonly string[],
  /** Most of what a PLC drops is unstructured: U unless the folder says otherwise (§5.3.3 SFIDFMT). */
  format: 'U' as const,
  /** A signed EERP needs certificates on both sides: off unless agreed. */
  signedReceipt: false,
  /**
   * Every partner without an explicit outbox gets `<shareRoot>/<partner>/out` with the defaults above,
   * beside its inbox `<shareRoot>/<partner>/in`: adding a partner is enough to get its two folders.
   */
  outboxPerPartner: true,
  /** Inbox folder of a partner without an `inboxes` entry, relative to shareRoot ({partner} replaced). */
  inboxFolder: '{partner}/in',
  /** Outbox folder made by outboxPerPartner, relative to shareRoot. */
  outboxFolder: '{partner}/out',
  /**
   * The EERP (§4.3.6) says the file reached its final destination: on delivery into the inbox, since
   * the file is complete and synced there. 'on-consume' holds it until the application takes the file.
   */
  receipt: 'on-delivery' as ReceiptPolicy,
  /**
   * A route forwards files received for its destination only when it says so: relaying for partners
   * (clearing centre, §4.7.3) is an agreement, not something a partner may use us for unasked.
   */
  forward: false,
  /** First wait before a file whose pickup failed for a passing reason (disk full) is tried again, ms; doubles up to 5 min. */
  retryMs: 5000,
} as const;

/**
 * File services for the files of an outbox (SFIDSEC/SFIDCIPH/SFIDCOMP, §6), applied when a file is
 * spooled (Station.enqueue seals it). Each one left out is the partner agreement's
 * (`fileServices.send`); a sidecar may override each for its file (sidecar.ts).
 */
export interface OutboxSecurity {
  sign?: boolean;
  encrypt?: boolean;
  compress?: boolean;
  /** SFIDCIPH; default: the partner's agreed suite. */
  cipherSuite?: number;
}

export interface OutboxConfig {
  /** The drop folder, relative to shareRoot. */
  folder: string;
  /** The adjacent partner to send to; absent: chosen by destination code (routes). */
  partner?: string;
  /** SFIDDEST; default: the partner's Odette ID. */
  destination?: string;
  /** SFIDORIG; default: our Odette ID. */
  originator?: string;
  format: 'U' | 'T' | 'F' | 'V';
  /** SFIDLRECL: required for F, optional for V (default: the longest record). */
  recordLength?: number;
  /** SFIDUSER, up to 8 characters. */
  userData?: string;
  signedReceipt: boolean;
  security?: OutboxSecurity;
  pickup: PickupRule;
  stableMs: number;
  markerSuffixes: string[];
}

export interface InboxConfig {
  partner: string;
  /** Relative to shareRoot; default `<partner>/in`. */
  folder?: string;
  receipt: ReceiptPolicy;
}

export interface RouteConfig {
  /** SFIDDEST this route is for (an Odette ID, §5.4). */
  destination: string;
  /** The adjacent partner files for that destination go to. */
  partner: string;
  /** Accept files for this destination from other partners and forward them (clearing centre). */
  forward: boolean;
}

export interface GatewayConfig {
  shareRoot: string;
  rescanIntervalMs: number;
  outboxPerPartner: boolean;
  retryMs: number;
  outboxes: OutboxConfig[];
  inboxes: InboxConfig[];
  routes: RouteConfig[];
}

/** SFIDCIPH values an outbox or a sidecar may ask for (src/security/cipher-suites.ts). */
export const OUTBOX_CIPHER_SUITES = [1, 2, 3, 4, 5, 6];

const partnerName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' };
// One or more '/'-separated components; none empty, none starting with '.' (so never '.', '..' or a
// hidden folder), no '\', ':', wildcard or control characters; never absolute.
const COMPONENT = '[^/\\\\.:*?"<>|\\x00-\\x1f][^/\\\\:*?"<>|\\x00-\\x1f]*';
export const FOLDER_PATTERN = `^${COMPONENT}(?:/${COMPONENT})*$`;
const folder = { type: 'string', minLength: 1, maxLength: 400, pattern: FOLDER_PATTERN };
const odetteId = { type: 'string', format: 'odette-id' };

/** The JSON schema of the section; compiled with the station's (its 'odette-id' format). */
export const GATEWAY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    shareRoot: { type: 'string', minLength: 1, default: GATEWAY_DEFAULTS.shareRoot },
    rescanIntervalMs: { type: 'integer', minimum: 100, maximum: 600_000, default: GATEWAY_DEFAULTS.rescanIntervalMs },
    outboxPerPartner: { type: 'boolean', default: GATEWAY_DEFAULTS.outboxPerPartner },
    retryMs: { type: 'integer', minimum: 100, maximum: 3_600_000, default: GATEWAY_DEFAULTS.retryMs },
    outboxes: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['folder'],
        properties: {
          folder,
          partner: partnerName,
          destination: odetteId,
          originator: odetteId,
          format: { enum: ['U', 'T', 'F', 'V'], default: GATEWAY_DEFAULTS.format },
          recordLength: { type: 'integer', minimum: 1, maximum: 99999 },
          userData: { type: 'string', maxLength: 8, pattern: '^[0-9A-Z/\\-.&() ]*$' },
          signedReceipt: { type: 'boolean', default: GATEWAY_DEFAULTS.signedReceipt },
          security: {
            type: 'object',
            additionalProperties: false,
            properties: {
              sign: { type: 'boolean' },
              encrypt: { type: 'boolean' },
              compress: { type: 'boolean' },
              cipherSuite: { enum: OUTBOX_CIPHER_SUITES },
            },
          },
          pickup: { enum: ['stable', 'rename', 'marker'], default: GATEWAY_DEFAULTS.pickup },
          stableMs: { type: 'integer', minimum: 0, maximum: 3_600_000, default: GATEWAY_DEFAULTS.stableMs },
          markerSuffixes: {
            type: 'array',
            minItems: 1,
            items: { type: 'string', pattern: '^\\.[A-Za-z0-9_-]{1,16}$' },
            default: [...GATEWAY_DEFAULTS.markerSuffixes],
          },
        },
      },
    },
    inboxes: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['partner'],
        properties: {
          partner: partnerName,
          folder,
          receipt: { enum: ['on-delivery', 'on-consume'], default: GATEWAY_DEFAULTS.receipt },
        },
      },
    },
    routes: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['destination', 'partner'],
        properties: { destination: odetteId, partner: partnerName, forward: { type: 'boolean', default: GATEWAY_DEFAULTS.forward } },
      },
    },
  },
} as const;

/** Checks a schema cannot express; `stationId` is our own Odette ID. Throws ConfigError. */
export function checkGatewayConfig(gateway: GatewayConfig, stationId: string, source: string): void {
  const fail = (message: string) => new ConfigError('OFTP_ERR_CONFIG', `${source}: gateway: ${message}`);
  const folders = new Map<string, string>();
  const claim = (path: string, what: string) => {
    const key = normalizeFolder(path);
    const other = folders.get(key);
    if (other) throw fail(`${what} folder "${path}" is also ${other}`);
    for (const [existing, owner] of folders) {
      if (key.startsWith(`${existing}/`) || existing.startsWith(`${key}/`)) throw fail(`${what} folder "${path}" and ${owner} are nested`);
    }
    folders.set(key, `${what} folder "${path}"`);
  };
  gateway.outboxes.forEach((o, i) => {
    claim(o.folder, `outboxes[${i}]`);
    if (o.partner === undefined && o.destination === undefined) throw fail(`outboxes[${i}] needs a partner or a destination to route by`);
    if (o.format === 'F' && o.recordLength === undefined) throw fail(`outboxes[${i}] has format F and needs a recordLength`);
    if ((o.format === 'U' || o.format === 'T') && o.recordLength !== undefined) throw fail(`outboxes[${i}]: a recordLength is only for F and V`);
    if (o.format === 'V' && o.recordLength !== undefined && o.recordLength > 65535) throw fail(`outboxes[${i}]: a V record length is at most 65535`);
    const sec = o.security;
    if (o.originator !== undefined && o.originator !== stationId && (sec?.sign || sec?.encrypt || sec?.compress)) {
      throw fail(`outboxes[${i}]: files sent as originator ${o.originator} are not ours to sign, compress or encrypt (security)`);
    }
  });
  const inboxPartners = new Set<string>();
  gateway.inboxes.forEach((b, i) => {
    if (inboxPartners.has(b.partner)) throw fail(`inboxes[${i}]: partner "${b.partner}" has two inboxes`);
    inboxPartners.add(b.partner);
    if (b.folder) claim(b.folder, `inboxes[${i}]`);
  });
  const destinations = new Set<string>();
  gateway.routes.forEach((r, i) => {
    if (destinations.has(r.destination)) throw fail(`routes[${i}]: destination ${r.destination} has two routes`);
    if (r.destination === stationId) throw fail(`routes[${i}]: destination ${r.destination} is this station`);
    destinations.add(r.destination);
  });
  if (isAbsolute(gateway.shareRoot) && resolve(gateway.shareRoot) === '/') throw fail('shareRoot may not be /');
}

/** 'a//b/' → 'a/b', case kept (Linux paths are case-sensitive; Samba maps case on its side). */
export function normalizeFolder(path: string): string {
  return path.split('/').filter((c) => c.length > 0).join('/');
}
