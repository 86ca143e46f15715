// Keys and certificates for two stations using OFTP2's security (RFC 5024 §4.2.3, §6, §5.3.13): one
// test CA per station (openssl, test/tls/pki.ts), and per station a key and certificate for each role
// (TLS, authentication, signing, encryption), with the key usages each role is checked for. The
// configuration pieces for StationStore.init (station keys + certificates) and addPartner (partner
// certificates, trust, agreement) are built here, so tests only say what differs.
import type { Issued, TestPki } from '../tls/pki.ts';

export const ROLES = ['tls', 'authentication', 'signing', 'encryption'] as const;
export type Role = (typeof ROLES)[number];

export interface StationPki {
  ca: Issued;
  certs: Record<Role, Issued>;
}

const USAGE: Record<Role, { keyUsage: string; extendedKeyUsage?: string }> = {
  tls: { keyUsage: 'critical,digitalSignature,keyEncipherment', extendedKeyUsage: 'serverAuth,clientAuth' },
  authentication: { keyUsage: 'critical,keyEncipherment' },
  signing: { keyUsage: 'critical,digitalSignature,nonRepudiation' },
  encryption: { keyUsage: 'critical,keyEncipherment' },
};

/** A CA and one key + certificate per role for the station with Odette ID `odetteId`. */
export function stationPki(pki: TestPki, name: string, odetteId: string): StationPki {
  const ca = pki.rootCa(`${name}-ca`, `Station ${name} CA`);
  const certs = {} as Record<Role, Issued>;
  for (const role of ROLES) certs[role] = pki.issue(`${name}-${role}`, ca, { cn: `${odetteId} ${role}`, ...USAGE[role] });
  return { ca, certs };
}

/** station.keys and station.certificates (file keys) for StationStore.init. */
export function ownKeysConfig(own: StationPki, roles: readonly Role[] = ROLES): { keys: Record<string, { file: string }>; certificates: Record<string, { certificate: string; key: string }> } {
  const keys: Record<string, { file: string }> = {};
  const certificates: Record<string, { certificate: string; key: string }> = {};
  for (const role of roles) {
    keys[`${role}-key`] = { file: own.certs[role].keyPath };
    certificates[role] = { certificate: own.certs[role].certPath, key: `${role}-key` };
  }
  return { keys, certificates };
}

/** The partner's OFTP certificates (authentication, signing, encryption) and its CA as trust. */
export function partnerCertificatesConfig(partner: StationPki, roles: readonly Role[] = ['authentication', 'signing', 'encryption']): { certificates: Record<string, string>; trust: { caFiles: string[] } } {
  const certificates: Record<string, string> = {};
  for (const role of roles) certificates[role] = partner.certs[role].certPath;
  return { certificates, trust: { caFiles: [partner.ca.certPath] } };
}

/** Everything on: secure authentication required, files signed + compressed + encrypted with suite 04, signed receipts. */
export const FULL_AGREEMENT = {
  secureAuthentication: 'required',
  fileServices: {
    send: { securityLevel: 3, cipherSuite: 4, compression: true, signedReceipt: true },
    receive: { encryption: 'required', signature: 'required' },
  },
} as const;
