// The station's certificates as configured: ours per role (with their keys), each partner's per role
// with an optional `next` one for a rollover, the partners' CAs and CRLs, and certificates received
// from partners that wait for the operator's approval (RFC 5024 §10.4: certificates may arrive as an
// unsecured CMS file; we never trust one without the operator saying so).
// Also here: which certificate each role uses now, and the status list with expiry warnings that
// `oftp2 cert list`, the log at start and the status page show.
// Files live in the data directory: certs/own/<role>.pem (signing-next.pem during our own rollover,
// certs/own/retired/ after it), certs/partners/<partner>/<role>[-next].pem,
// certs/partners/<partner>/ca-*.pem, certs/pending/<partner>/<sha256>.der (+ .json), keys/<name>.key.
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { writeFileAtomic } from '../files/durable-fs.ts';
import { OftpError } from '../errors.ts';
import { CERTIFICATE_ROLE_NAMES, type CertificateRoleName, type PartnerConfig, STATION_DEFAULTS, type StationConfig } from '../store/station-config.ts';
import {
  type CertificateInfo,
  type CertificateRole,
  checkDates,
  daysUntil,
  describeCertificate,
  isoDate,
  parseCertificate,
  readCertificateFile,
  readRevocationListFile,
} from './certificates.ts';

export const CERTS_DIR = 'certs';
export const KEYS_DIR = 'keys';

/** Relative configuration paths are relative to the data directory. */
export function resolveIn(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

/** A certificate file as read: its certificates (leaf first), or why it could not be read. */
export interface LoadedCertificate {
  path: string;
  leaf: CertificateInfo | undefined;
  /** Further certificates in the same file (a chain). */
  chain: CertificateInfo[];
  error: string | undefined;
}

/** Reads a certificate file; never throws (an unreadable file is reported, not fatal). */
export async function loadCertificate(baseDir: string, path: string): Promise<LoadedCertificate> {
  const full = resolveIn(baseDir, path);
  try {
    const [leaf, ...chain] = await readCertificateFile(full);
    return { path: full, leaf, chain, error: undefined };
  } catch (err) {
    return { path: full, leaf: undefined, chain: [], error: (err as Error).message };
  }
}

// ---- which certificate a role uses ----

export interface RoleChoice {
  role: CertificateRole;
  current: LoadedCertificate | undefined;
  next: LoadedCertificate | undefined;
  /**
   * What the role uses now: to encrypt for the partner (encryption), or the certificate expected first.
   * The current one while it is valid, else the next one once that is valid.
   */
  use: CertificateInfo | undefined;
  which: 'current' | 'next' | 'none';
  /** Certificates accepted now when verifying (tls, authentication, signing): current and next, when valid. */
  accepted: CertificateInfo[];
  /** Why, in one line. */
  note: string;
}

/** Chooses between a role's current and next certificate at `now` (rollover). */
export function chooseForRole(role: CertificateRole, current: LoadedCertificate | undefined, next: LoadedCertificate | undefined, now: Date): RoleChoice {
  const valid = (c: LoadedCertificate | undefined) => (c?.leaf && !checkDates(c.leaf, now) ? c.leaf : undefined);
  const currentValid = valid(current);
  const nextValid = valid(next);
  const accepted = [currentValid, nextValid].filter((c): c is CertificateInfo => c !== undefined);
  const why = (c: LoadedCertificate | undefined, label: string) =>
    !c ? `no ${label} certificate` : c.error ? `${label}: ${c.error}` : `${label}: ${checkDates(c.leaf!, now)?.message ?? 'valid'}`;
  if (currentValid) {
    const note = nextValid ? `current; next ${describeCertificate(nextValid)} also accepted` : 'current';
    return { role, current, next, use: currentValid, which: 'current', accepted, note };
  }
  if (nextValid) return { role, current, next, use: nextValid, which: 'next', accepted, note: `next (${why(current, 'current')})` };
  return { role, current, next, use: undefined, which: 'none', accepted, note: [why(current, 'current'), next ? why(next, 'next') : undefined].filter(Boolean).join('; ') };
}

/** The partner's certificate per role now (what `oftp2 cert show` prints and the CMS layer uses). */
export async function partnerCertificates(baseDir: string, partner: PartnerConfig, now = new Date()): Promise<Record<CertificateRole, RoleChoice>> {
  const out = {} as Record<CertificateRole, RoleChoice>;
  for (const role of CERTIFICATE_ROLE_NAMES) {
    const currentPath = partner.certificates?.[role];
    const nextPath = partner.certificates?.next?.[role];
    const current = currentPath ? await loadCertificate(baseDir, currentPath) : undefined;
    const next = nextPath ? await loadCertificate(baseDir, nextPath) : undefined;
    out[role] = chooseForRole(role, current, next, now);
  }
  return out;
}

// ---- status and expiry warnings ----

export type CertificateState = 'valid' | 'expiring' | 'expired' | 'not-yet-valid' | 'unreadable';

export interface CertificateStatusEntry {
  /** 'station' for ours, else the partner's name. */
  owner: string;
  kind: 'own' | 'own-next' | 'partner' | 'partner-next' | 'ca' | 'crl' | 'pending';
  role: CertificateRoleName | undefined;
  path: string;
  subject: string | undefined;
  issuer: string | undefined;
  sha256: string | undefined;
  notBefore: string | undefined;
  /** ISO 8601; for a CRL its next update. */
  notAfter: string | undefined;
  daysLeft: number | undefined;
  state: CertificateState;
  /** One line for the operator when the state is not 'valid'. */
  warning: string | undefined;
}

export interface StatusOptions {
  now?: Date;
  /** Default: station.certificateWarningDays. */
  warningDays?: number;
}

/**
 * Every configured certificate (ours, the partners' current and next, their CAs and CRLs, and those
 * pending approval) with its state at `now`. For the status page, `oftp2 cert list` and the log.
 */
export async function certificateStatus(config: StationConfig, dataDir: string, options: StatusOptions = {}): Promise<CertificateStatusEntry[]> {
  const now = options.now ?? new Date();
  const warningDays = options.warningDays ?? config.station.certificateWarningDays ?? STATION_DEFAULTS.certificateWarningDays;
  const entries: CertificateStatusEntry[] = [];
  const add = async (owner: string, kind: CertificateStatusEntry['kind'], role: CertificateRoleName | undefined, path: string) => {
    entries.push(statusOf(owner, kind, role, await loadCertificate(dataDir, path), now, warningDays));
  };
  for (const role of CERTIFICATE_ROLE_NAMES) {
    const own = config.station.certificates?.[role];
    if (own) await add('station', 'own', role, own.certificate);
  }
  const ownNext = config.station.certificates?.next?.signing;
  if (ownNext) await add('station', 'own-next', 'signing', ownNext.certificate);
  for (const partner of config.partners) {
    for (const role of CERTIFICATE_ROLE_NAMES) {
      const current = partner.certificates?.[role];
      if (current) await add(partner.name, 'partner', role, current);
      const next = partner.certificates?.next?.[role];
      if (next) await add(partner.name, 'partner-next', role, next);
    }
    for (const ca of partner.trust?.caFiles ?? []) await add(partner.name, 'ca', undefined, ca);
    for (const crlPath of partner.trust?.crlFiles ?? []) entries.push(await crlStatus(partner.name, resolveIn(dataDir, crlPath), now));
  }
  for (const pending of await new PendingCertificates(pendingDir(dataDir)).list()) {
    const entry = statusOf(pending.partner, 'pending', undefined, { path: pending.path, leaf: parseCertificate(await readFile(pending.path), pending.path), chain: [], error: undefined }, now, warningDays);
    entry.warning = `partner ${pending.partner}: certificate ${entry.subject ? `"${entry.subject}" ` : ''}received ${pending.receivedAt.slice(0, 10)} waits for approval (oftp2 cert approve ${pending.partner} ${pending.id.slice(0, 16)} --role ROLE)`;
    entries.push(entry);
  }
  return entries;
}

/** The warnings alone, one line each (for the log at start and the status page). */
export function certificateWarnings(entries: readonly CertificateStatusEntry[]): string[] {
  return entries.flatMap((e) => (e.warning ? [e.warning] : []));
}

function statusOf(owner: string, kind: CertificateStatusEntry['kind'], role: CertificateRoleName | undefined, loaded: LoadedCertificate, now: Date, warningDays: number): CertificateStatusEntry {
  const who = owner === 'station' ? 'our' : `partner ${owner}:`;
  const next = kind === 'partner-next' || kind === 'own-next';
  const what = kind === 'ca' ? 'CA certificate' : `${next ? 'next ' : ''}${role ?? ''} certificate`.trim();
  const base = { owner, kind, role, path: loaded.path };
  const leaf = loaded.leaf;
  if (!leaf) {
    return { ...base, subject: undefined, issuer: undefined, sha256: undefined, notBefore: undefined, notAfter: undefined, daysLeft: undefined, state: 'unreadable', warning: `${who} ${what} is unreadable: ${loaded.error}` };
  }
  const daysLeft = daysUntil(leaf.notAfter, now);
  let state: CertificateState = 'valid';
  let warning: string | undefined;
  if (now > leaf.notAfter) {
    state = 'expired';
    warning = `${who} ${what} ${describeCertificate(leaf)} expired on ${isoDate(leaf.notAfter)}`;
  } else if (now < leaf.notBefore) {
    state = 'not-yet-valid';
    // A next certificate waiting for its start date is normal; say so without alarm.
    warning = next ? undefined : `${who} ${what} ${describeCertificate(leaf)} is not valid before ${isoDate(leaf.notBefore)}`;
  } else if (daysLeft < warningDays) {
    state = 'expiring';
    warning = `${who} ${what} ${describeCertificate(leaf)} expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'} (${isoDate(leaf.notAfter)})`;
  }
  return {
    ...base,
    subject: leaf.subject,
    issuer: leaf.issuer,
    sha256: leaf.sha256,
    notBefore: leaf.notBefore.toISOString(),
    notAfter: leaf.notAfter.toISOString(),
    daysLeft,
    state,
    warning,
  };
}

async function crlStatus(owner: string, path: string, now: Date): Promise<CertificateStatusEntry> {
  const base = { owner, kind: 'crl' as const, role: undefined, path, sha256: undefined, subject: undefined };
  try {
    const crl = await readRevocationListFile(path);
    const stale = crl.nextUpdate !== undefined && crl.nextUpdate < now;
    return {
      ...base,
      issuer: crl.issuer,
      notBefore: crl.thisUpdate.toISOString(),
      notAfter: crl.nextUpdate?.toISOString(),
      daysLeft: crl.nextUpdate ? daysUntil(crl.nextUpdate, now) : undefined,
      state: stale ? 'expired' : 'valid',
      warning: stale ? `partner ${owner}: CRL ${path} is out of date (next update was due on ${isoDate(crl.nextUpdate!)}); certificates of its CA are refused until it is replaced` : undefined,
    };
  } catch (err) {
    return { ...base, issuer: undefined, notBefore: undefined, notAfter: undefined, daysLeft: undefined, state: 'unreadable', warning: `partner ${owner}: ${(err as Error).message}` };
  }
}

// ---- certificates pending approval (§10.4) ----

export function pendingDir(dataDir: string): string {
  return join(dataDir, CERTS_DIR, 'pending');
}

export interface PendingCertificate {
  /** SHA-256 of the certificate, hex without colons. */
  id: string;
  partner: string;
  /** ISO 8601. */
  receivedAt: string;
  /** Where it came from, e.g. 'CMS file CERT.P7C from acme'. */
  source: string;
  subject: string;
  issuer: string;
  notAfter: string;
  sha256: string;
  /** The DER file. */
  path: string;
}

/** Certificates received from partners, kept until the operator approves or rejects them. */
export class PendingCertificates {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Keeps `der` as pending for `partner` (idempotent: the same certificate again returns the stored
   * entry). A malformed certificate is refused with OFTP_ERR_CERTIFICATE. Nothing is trusted by this.
   */
  async store(partner: string, der: Uint8Array, source = 'received'): Promise<PendingCertificate> {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(partner)) throw new OftpError('OFTP_ERR_INVALID_ARGUMENT', `not a partner name: "${partner}"`);
    const info = parseCertificate(der, `certificate from partner ${partner}`);
    const id = info.sha256.replace(/:/g, '');
    const dir = join(this.dir, partner);
    const existing = (await this.list(partner)).find((p) => p.id === id);
    if (existing) return existing;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const entry: PendingCertificate = {
      id,
      partner,
      receivedAt: new Date().toISOString(),
      source,
      subject: info.subject,
      issuer: info.issuer,
      notAfter: info.notAfter.toISOString(),
      sha256: info.sha256,
      path: join(dir, `${id}.der`),
    };
    await writeFileAtomic(entry.path, info.der);
    await writeFileAtomic(join(dir, `${id}.json`), `${JSON.stringify(entry, null, 2)}\n`);
    return entry;
  }

  async list(partner?: string): Promise<PendingCertificate[]> {
    const partners = partner ? [partner] : await readdir(this.dir).catch(() => [] as string[]);
    const out: PendingCertificate[] = [];
    for (const p of partners) {
      const names = await readdir(join(this.dir, p)).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
        try {
          const entry = JSON.parse(await readFile(join(this.dir, p, name), 'utf8')) as PendingCertificate;
          out.push({ ...entry, path: join(this.dir, p, `${entry.id}.der`) });
        } catch {
          // a sidecar torn by a crash: the certificate is offered again when it next arrives
        }
      }
    }
    return out.sort((a, b) => a.receivedAt.localeCompare(b.receivedAt));
  }

  /** The pending certificate whose id (or fingerprint, any spelling) starts with `prefix`. */
  async find(partner: string, prefix: string): Promise<PendingCertificate> {
    const want = prefix.replace(/[:\s]/g, '').toUpperCase();
    const matches = (await this.list(partner)).filter((p) => p.id.startsWith(want));
    if (matches.length === 1) return matches[0]!;
    throw new OftpError(
      'OFTP_ERR_CERTIFICATE',
      matches.length === 0 ? `no pending certificate of partner ${partner} starts with ${want}` : `${matches.length} pending certificates of partner ${partner} start with ${want}; give more digits`,
    );
  }

  async remove(entry: PendingCertificate): Promise<void> {
    await unlink(entry.path).catch(() => {});
    await unlink(join(this.dir, entry.partner, `${entry.id}.json`)).catch(() => {});
  }
}

/**
 * Keeps a certificate received from `partner` (e.g. in an unsecured CMS file, RFC 5024 §10.4) for the
 * operator's approval (`oftp2 cert pending`, `oftp2 cert approve`). For the CMS layer.
 */
export function storePendingCertificate(dataDir: string, partner: string, der: Uint8Array, source?: string): Promise<PendingCertificate> {
  return new PendingCertificates(pendingDir(dataDir)).store(partner, der, source);
}

// ---- installing certificates into the data directory ----

/** Writes certificate(s) as PEM at `relative` (in the data directory); returns the relative path. */
export async function writeCertificateFile(dataDir: string, relative: string, certificates: readonly CertificateInfo[]): Promise<string> {
  const full = resolveIn(dataDir, relative);
  await mkdir(join(full, '..'), { recursive: true, mode: 0o700 });
  await writeFileAtomic(full, certificates.map((c) => c.x509.toString()).join(''));
  return relative;
}

/** Where a partner's certificate for `role` is kept. */
export function partnerCertificatePath(partner: string, role: CertificateRoleName, next: boolean): string {
  return join(CERTS_DIR, 'partners', partner, `${role}${next ? '-next' : ''}.pem`);
}

export function ownCertificatePath(role: CertificateRoleName, next = false): string {
  return join(CERTS_DIR, 'own', `${role}${next ? '-next' : ''}.pem`);
}

/** Where a certificate of ours is kept once a rollover has replaced it. */
export function retiredOwnCertificatePath(role: CertificateRoleName, certificate: CertificateInfo, when: Date): string {
  return join(CERTS_DIR, 'own', 'retired', `${role}-${isoDate(when).replace(/-/g, '')}-${certificate.sha256.replace(/:/g, '').slice(0, 16).toLowerCase()}.pem`);
}

export function partnerCaPath(partner: string, ca: CertificateInfo): string {
  return join(CERTS_DIR, 'partners', partner, `ca-${ca.sha256.replace(/:/g, '').slice(0, 16).toLowerCase()}.pem`);
}
