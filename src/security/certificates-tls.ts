// Which partner a TLS connection belongs to (RFC 5024 §2.3 with the partner's own trust).
//
// Each partner is trusted through its own material only: `trust.caFiles` (its chain must lead to one
// of these CAs, CRLs checked where configured), `trust.pinnedSha256`, and its configured certificates
// for the role at hand (for TLS `certificates.tls` and `certificates.next.tls`, which count as pins).
// Dates and key usage are checked in every case. A CA shared by several partners (e.g. a sector CA) is
// allowed. The same check serves the CMS layer: checkAgainstPartner(trust, chain, 'signing').
//
// Binding before the SSID (we are the TLS server): the SSID comes only after the handshake, so the
// connection is bound to the SET of partners whose trust accepts the client's certificate:
//   1. every partner whose pins or CAs accept the chain (dates, usage, CRLs included);
//   2. if that is more than one partner and the certificate names one or more of them (their Odette
//      ID in the subject or subjectAltName), only those named;
//   3. no certificate, or one nobody trusts: the partners with `requireClientCertificate: false`
//      (RFC 5024 §1.7 lets a hub's partners go without certificates); none → refused after the
//      handshake, with the cause per partner.
// The station then accepts an SSID only from a partner in the set: an SSIDCODE naming any other
// partner is refused with ESID 03 (user code not known), as is a partner configured `tls: true` that
// logs in over plain TCP. As TLS client we check the server against the partner we dialled, and the
// engine already refuses an SSID answer from another code with ESID 03.
import { CERTIFICATE_ROLE_NAMES, type CertificateRoleName, type PartnerConfig, type StationConfig } from '../store/station-config.ts';
import type { PeerVerdict } from '../transports/tls.ts';
import {
  type CertificateInfo,
  type CertificateProblem,
  type CertificatePurpose,
  checkDates,
  checkPurpose,
  describeCertificate,
  normalizeFingerprint,
  parseCertificate,
  type RevocationList,
  readCertificateFile,
  readRevocationListFile,
  validateChain,
} from './certificates.ts';
import { resolveIn } from './certificates-store.ts';

/** One partner's trust, read from its files. */
export interface PartnerTlsTrust {
  partner: string;
  odetteId: string;
  anchors: CertificateInfo[];
  crls: RevocationList[];
  /** Pinned fingerprints (trust.pinnedSha256): accepted for every role. */
  pins: Set<string>;
  /** Fingerprints of its configured certificates per role (current and next): accepted for that role. */
  roleCertificates: Partial<Record<CertificateRoleName, Set<string>>>;
  requireClientCertificate: boolean;
  /** Why some of its trust files could not be read (it is then refused until they are fixed). */
  problems: string[];
}

/** What a TLS connection is bound to before the SSID. */
export interface TlsBinding {
  /** Partner names whose SSID this connection may carry. */
  partners: ReadonlySet<string>;
  /** The peer's certificate, when it sent one that was accepted. */
  certificate: { subject: string; sha256: string; notAfter: Date } | undefined;
  /** One line for the log: how each bound partner accepted it. */
  how: string;
}

export type TrustCheck = { ok: true; how: 'pinned' | 'ca' } | { ok: false; problem: CertificateProblem };

const PURPOSE_ROLE: Record<CertificatePurpose, CertificateRoleName | undefined> = {
  'tls-client': 'tls',
  'tls-server': 'tls',
  signing: 'signing',
  encryption: 'encryption',
  authentication: 'authentication',
  any: undefined,
};

/** Fingerprints accepted as they are for `purpose`: the pins and the role's configured certificates. */
export function pinsFor(trust: PartnerTlsTrust, purpose: CertificatePurpose): Set<string> {
  const role = PURPOSE_ROLE[purpose];
  const roles = role ? [role] : CERTIFICATE_ROLE_NAMES;
  return new Set([...trust.pins, ...roles.flatMap((r) => [...(trust.roleCertificates[r] ?? [])])]);
}

/** Checks a peer chain (leaf first) against one partner's trust. */
export function checkAgainstPartner(trust: PartnerTlsTrust, chain: readonly CertificateInfo[], purpose: CertificatePurpose, now = new Date()): TrustCheck {
  const leaf = chain[0];
  if (!leaf) return { ok: false, problem: { kind: 'no-certificate', message: 'no certificate was presented' } };
  const pins = pinsFor(trust, purpose);
  if (trust.problems.length > 0 && trust.anchors.length === 0 && pins.size === 0) {
    return { ok: false, problem: { kind: 'no-trust', message: `its trust files cannot be read: ${trust.problems.join('; ')}` } };
  }
  if (pins.has(leaf.sha256)) {
    const problem = checkDates(leaf, now) ?? checkPurpose(leaf, purpose);
    return problem ? { ok: false, problem } : { ok: true, how: 'pinned' };
  }
  if (trust.anchors.length > 0) {
    const result = validateChain(leaf, { anchors: trust.anchors, intermediates: chain.slice(1), crls: trust.crls, purpose, now });
    if (result.ok) return { ok: true, how: 'ca' };
    if (pins.size === 0) return result;
    return { ok: false, problem: { kind: result.problem.kind, message: `${result.problem.message}; nor is its SHA-256 fingerprint ${leaf.sha256} pinned` } };
  }
  if (pins.size > 0) {
    return { ok: false, problem: { kind: 'pin-mismatch', message: `certificate ${describeCertificate(leaf)} has SHA-256 fingerprint ${leaf.sha256}, which matches none pinned for it` } };
  }
  return { ok: false, problem: { kind: 'no-trust', message: 'no trusted CA, pinned fingerprint or TLS certificate is configured for it (oftp2 cert trust / oftp2 cert import)' } };
}

/** Every partner's TLS trust; built once when the station starts its TLS side. */
export class TlsTrust {
  readonly #partners: Map<string, PartnerTlsTrust>;

  constructor(partners: readonly PartnerTlsTrust[]) {
    this.#partners = new Map(partners.map((p) => [p.partner, p]));
  }

  /** Reads every partner's CA, CRL and certificate files. Unreadable files are noted per partner, not fatal. */
  static async load(config: StationConfig, dataDir: string): Promise<TlsTrust> {
    const out: PartnerTlsTrust[] = [];
    for (const partner of config.partners) out.push(await loadPartnerTrust(partner, dataDir));
    return new TlsTrust(out);
  }

  partner(name: string): PartnerTlsTrust | undefined {
    return this.#partners.get(name);
  }

  /** Problems reading trust files, one line each, for the log at start. */
  get problems(): string[] {
    return [...this.#partners.values()].flatMap((p) => p.problems.map((m) => `partner ${p.partner}: ${m}`));
  }

  /** We dialled `partnerName`: its server certificate must satisfy that partner's trust. */
  checkServer(partnerName: string, chainDer: readonly Uint8Array[], now = new Date()): PeerVerdict<TlsBinding> {
    const trust = this.#partners.get(partnerName);
    if (!trust) return { ok: false, reason: 'certificate', message: `no partner named "${partnerName}"` };
    const chain = parseChain(chainDer);
    if (!chain.ok) return { ok: false, reason: 'certificate', message: chain.message };
    const check = checkAgainstPartner(trust, chain.certificates, 'tls-server', now);
    if (!check.ok) return { ok: false, reason: 'certificate', message: check.problem.message };
    const leaf = chain.certificates[0]!;
    return { ok: true, binding: { partners: new Set([partnerName]), certificate: summary(leaf), how: `${partnerName}: ${check.how}` } };
  }

  /** A client connected to our TLS port: the partners it may log in as, or why it is refused. */
  bindClient(chainDer: readonly Uint8Array[], now = new Date()): PeerVerdict<TlsBinding> {
    const anonymous = [...this.#partners.values()].filter((p) => !p.requireClientCertificate).map((p) => p.partner);
    const anonymousBinding = (why: string): PeerVerdict<TlsBinding> =>
      anonymous.length > 0
        ? { ok: true, binding: { partners: new Set(anonymous), certificate: undefined, how: `${why}; partners without a required client certificate: ${anonymous.join(', ')}` } }
        : { ok: false, reason: chainDer.length === 0 ? 'no-certificate' : 'certificate', message: why };
    if (chainDer.length === 0) return anonymousBinding('no client certificate was presented, and every partner requires one');
    const chain = parseChain(chainDer);
    if (!chain.ok) return anonymousBinding(chain.message);
    const leaf = chain.certificates[0]!;
    const accepted: { trust: PartnerTlsTrust; how: string }[] = [];
    const refused: { trust: PartnerTlsTrust; problem: CertificateProblem }[] = [];
    for (const trust of this.#partners.values()) {
      const check = checkAgainstPartner(trust, chain.certificates, 'tls-client', now);
      if (check.ok) accepted.push({ trust, how: check.how });
      else refused.push({ trust, problem: check.problem });
    }
    if (accepted.length === 0) return anonymousBinding(describeRefusal(leaf, refused));
    let bound = accepted;
    if (accepted.length > 1) {
      const names = `${leaf.subject} ${leaf.x509.subjectAltName ?? ''}`;
      const named = accepted.filter((a) => names.includes(a.trust.odetteId));
      if (named.length > 0) bound = named;
    }
    return {
      ok: true,
      binding: { partners: new Set(bound.map((b) => b.trust.partner)), certificate: summary(leaf), how: bound.map((b) => `${b.trust.partner}: ${b.how}`).join(', ') },
    };
  }
}

/** Reads one partner's CAs, CRLs, pins and configured certificates; unreadable files become `problems`. */
export async function loadPartnerTrust(partner: PartnerConfig, dataDir: string): Promise<PartnerTlsTrust> {
  const problems: string[] = [];
  const anchors: CertificateInfo[] = [];
  const crls: RevocationList[] = [];
  const pins = new Set<string>();
  for (const pin of partner.trust?.pinnedSha256 ?? []) {
    const normal = normalizeFingerprint(pin);
    if (normal) pins.add(normal);
    else problems.push(`pinned fingerprint "${pin}" is not a SHA-256 fingerprint`);
  }
  for (const path of partner.trust?.caFiles ?? []) {
    try {
      anchors.push(...(await readCertificateFile(resolveIn(dataDir, path))));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const path of partner.trust?.crlFiles ?? []) {
    try {
      crls.push(await readRevocationListFile(resolveIn(dataDir, path)));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const roleCertificates: PartnerTlsTrust['roleCertificates'] = {};
  for (const role of CERTIFICATE_ROLE_NAMES) {
    for (const path of [partner.certificates?.[role], partner.certificates?.next?.[role]]) {
      if (!path) continue;
      try {
        const [leaf] = await readCertificateFile(resolveIn(dataDir, path));
        if (leaf) roleCertificates[role] = new Set([...(roleCertificates[role] ?? []), leaf.sha256]);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  return {
    partner: partner.name,
    odetteId: partner.odetteId,
    anchors,
    crls,
    pins,
    roleCertificates,
    requireClientCertificate: partner.trust?.requireClientCertificate ?? true,
    problems,
  };
}

function parseChain(chainDer: readonly Uint8Array[]): { ok: true; certificates: CertificateInfo[] } | { ok: false; message: string } {
  try {
    return { ok: true, certificates: chainDer.map((der, i) => parseCertificate(der, i === 0 ? 'the peer certificate' : `certificate #${i + 1} of the peer chain`)) };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

function summary(leaf: CertificateInfo): TlsBinding['certificate'] {
  return { subject: leaf.subject, sha256: leaf.sha256, notAfter: leaf.notAfter };
}

/** Nobody accepted the certificate: with one candidate partner name it; with several, list the causes. */
function describeRefusal(leaf: CertificateInfo, refused: readonly { trust: PartnerTlsTrust; problem: CertificateProblem }[]): string {
  const configured = refused.filter((r) => r.problem.kind !== 'no-trust' || r.trust.problems.length > 0);
  if (configured.length === 0) return `certificate ${describeCertificate(leaf)} (SHA-256 ${leaf.sha256}): no partner has TLS trust configured (oftp2 cert trust --partner NAME --ca FILE | --pin SHA256)`;
  // A partner named in the certificate is the one the operator will look for.
  const named = configured.filter((r) => `${leaf.subject} ${leaf.x509.subjectAltName ?? ''}`.includes(r.trust.odetteId));
  const shown = named.length > 0 ? named : configured;
  if (shown.length === 1) return `partner ${shown[0]!.trust.partner}: ${shown[0]!.problem.message}`;
  const causes = shown.slice(0, 4).map((r) => `${r.trust.partner}: ${r.problem.message}`);
  return `certificate ${describeCertificate(leaf)} (SHA-256 ${leaf.sha256}) is trusted by no partner (${causes.join('; ')}${shown.length > 4 ? `; and ${shown.length - 4} more` : ''})`;
}
