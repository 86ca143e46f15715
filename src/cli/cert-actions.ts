// What `oftp2 cert` does (src/cli/cert.ts parses the arguments): key and request generation, imports
// of our and the partners' certificates, trust, approval of pending certificates, `show`. Loaded only
// when a cert command runs (node-forge, pkijs). Files go into the data directory (see
// src/security/certificates-store.ts for the layout); the configuration is changed through
// StationStore.update, so it is validated whole before it is written.
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import forge from 'node-forge';
import { ConfigError } from '../errors.ts';
import { FileKeyStore } from '../keystore/file-key-store.ts';
import {
  type CertificateInfo,
  type CertificatePurpose,
  checkDates,
  checkPurpose,
  describeCertificate,
  isoDate,
  normalizeFingerprint,
  parseCertificates,
  readRevocationListFile,
  validateChain,
} from '../security/certificates.ts';
import {
  KEYS_DIR,
  ownCertificatePath,
  PendingCertificates,
  partnerCaPath,
  partnerCertificatePath,
  partnerCertificates,
  pendingDir,
  resolveIn,
  writeCertificateFile,
} from '../security/certificates-store.ts';
import { pinsFor, TlsTrust } from '../security/certificates-tls.ts';
import type { CertificateRoleName, KeyEntry, PartnerConfig } from '../store/station-config.ts';
import type { StationStore } from '../store/station-store.ts';

/** Key usage asked for in the request, per role (the CA may or may not copy it). */
const REQUESTED_USAGE: Record<CertificateRoleName, { keyUsage: Record<string, boolean>; extKeyUsage?: Record<string, boolean> }> = {
  tls: { keyUsage: { digitalSignature: true, keyEncipherment: true }, extKeyUsage: { serverAuth: true, clientAuth: true } },
  authentication: { keyUsage: { digitalSignature: true, keyEncipherment: true } },
  signing: { keyUsage: { digitalSignature: true, nonRepudiation: true } },
  encryption: { keyUsage: { keyEncipherment: true, dataEncipherment: true } },
};

/** What a partner's certificate is checked for, per role; the first purpose is required. */
const PARTNER_PURPOSES: Record<CertificateRoleName, CertificatePurpose[]> = {
  tls: ['tls-client', 'tls-server'],
  authentication: ['authentication'],
  signing: ['signing'],
  encryption: ['encryption'],
};
/** Ours: as TLS server first (partners calling us), then as TLS client. */
const OWN_PURPOSES: Record<CertificateRoleName, CertificatePurpose[]> = { ...PARTNER_PURPOSES, tls: ['tls-server', 'tls-client'] };

export function inDataDir(dataDir: string, path: string): string {
  const rel = relative(dataDir, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

async function passphraseFrom(options: { passphraseFile?: string; passphraseEnv?: string }): Promise<string | undefined> {
  if (options.passphraseFile && options.passphraseEnv) throw new ConfigError('OFTP_ERR_USAGE', 'give --passphrase-file or --passphrase-env, not both');
  if (options.passphraseFile) {
    const text = await readFile(options.passphraseFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new ConfigError('OFTP_ERR_CONFIG', `cannot read passphrase file ${options.passphraseFile}: ${err.code ?? err.message}`);
    });
    const line = text.split(/\r?\n/)[0] ?? '';
    if (line.length < 8) throw new ConfigError('OFTP_ERR_CONFIG', `the passphrase in ${options.passphraseFile} is shorter than 8 characters`);
    return line;
  }
  if (options.passphraseEnv) {
    const value = process.env[options.passphraseEnv];
    if (value === undefined) throw new ConfigError('OFTP_ERR_CONFIG', `$${options.passphraseEnv} is not set`);
    return value;
  }
  return undefined;
}

export function keyEntryPassphrase(dataDir: string, options: { passphraseFile?: string; passphraseEnv?: string }): Pick<KeyEntry, 'passphraseFile' | 'passphraseEnv'> {
  if (options.passphraseFile) return { passphraseFile: inDataDir(dataDir, resolve(options.passphraseFile)) };
  if (options.passphraseEnv) return { passphraseEnv: options.passphraseEnv };
  return {};
}

/** Writes a new file; refuses to replace one (a key is never overwritten). */
export async function writeNew(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await open(path, 'wx', mode).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError('OFTP_ERR_CONFIG', err.code === 'EEXIST' ? `${path} already exists; refusing to overwrite it` : `cannot write ${path}: ${err.code ?? err.message}`);
  });
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// ---- create-key ----

export interface CreateKeyOptions {
  role: CertificateRoleName;
  name: string;
  outDir?: string;
  bits: number;
  subject: { cn?: string; org?: string; country?: string };
  passphraseFile?: string;
  passphraseEnv?: string;
}

export async function createKeyAndRequest(store: StationStore, o: CreateKeyOptions): Promise<{ name: string; keyPath: string; csrPath: string; subject: string; encrypted: boolean }> {
  const dataDir = store.paths.dataDir;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(o.name)) throw new ConfigError('OFTP_ERR_USAGE', `--name "${o.name}": letters, digits, _ . - only`);
  if (store.config.station.keys && Object.hasOwn(store.config.station.keys, o.name)) {
    throw new ConfigError('OFTP_ERR_CONFIG', `a key named "${o.name}" is already configured; choose another --name (e.g. ${o.role}-${new Date().getUTCFullYear() + 1})`);
  }
  const passphrase = await passphraseFrom(o);
  const outDir = resolve(o.outDir ?? join(dataDir, KEYS_DIR));
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const keyPath = join(outDir, `${o.name}.key`);
  const csrPath = join(outDir, `${o.name}.csr`);

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: o.bits, publicExponent: 0x10001 });
  const keyPem = passphrase
    ? privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase })
    : privateKey.export({ type: 'pkcs8', format: 'pem' });

  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  const attrs: forge.pki.CertificateField[] = [{ name: 'commonName', value: o.subject.cn ?? store.config.station.odetteId }];
  if (o.subject.org) attrs.push({ name: 'organizationName', value: o.subject.org });
  if (o.subject.country) attrs.push({ name: 'countryName', value: o.subject.country });
  csr.setSubject(attrs);
  const usage = REQUESTED_USAGE[o.role];
  const extensions: object[] = [{ name: 'keyUsage', critical: true, ...usage.keyUsage }];
  if (usage.extKeyUsage) extensions.push({ name: 'extKeyUsage', ...usage.extKeyUsage });
  csr.setAttributes([{ name: 'extensionRequest', extensions }]);
  // forge signs with its own copy of the new key, which lives only in this short CLI process.
  csr.sign(forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }) as string), forge.md.sha256.create());
  const subject = attrs.map((a) => `${a.name === 'commonName' ? 'CN' : a.name === 'organizationName' ? 'O' : 'C'}=${a.value}`).join(', ');

  await writeNew(keyPath, keyPem as string, 0o600);
  await writeNew(csrPath, forge.pki.certificationRequestToPem(csr), 0o644);
  await store.update((c) => {
    c.station.keys = { ...c.station.keys, [o.name]: { file: inDataDir(dataDir, keyPath), ...keyEntryPassphrase(dataDir, o) } };
  });
  return { name: o.name, keyPath, csrPath, subject, encrypted: passphrase !== undefined };
}

// ---- import --own ----

export interface ImportOwnOptions {
  role: CertificateRoleName;
  file: string;
  /** A key name in station.keys, or a key file. Absent for a PKCS#12 file. */
  key?: string;
  passphraseFile?: string;
  passphraseEnv?: string;
}

export async function importOwn(store: StationStore, o: ImportOwnOptions): Promise<{ subject: string; notAfter: string; keyName: string; warnings: string[] }> {
  const dataDir = store.paths.dataDir;
  const keys = store.config.station.keys ?? {};
  const pkcs12 = /\.(p12|pfx)$/i.test(o.file);
  let keyName: string;
  let entry: KeyEntry;
  let certificates: CertificateInfo[];
  const freeName = (base: string) => {
    for (let i = 1; ; i++) {
      const name = i === 1 ? base : `${base}-${i}`;
      if (!Object.hasOwn(keys, name)) return name;
    }
  };
  if (pkcs12 && !o.key) {
    keyName = freeName(o.role);
    await mkdir(join(dataDir, KEYS_DIR), { recursive: true, mode: 0o700 });
    const copy = join(dataDir, KEYS_DIR, `${keyName}.p12`);
    await writeNew(copy, await readFile(o.file).catch(unreadable(o.file)), 0o600);
    entry = { file: inDataDir(dataDir, copy), ...keyEntryPassphrase(dataDir, o) };
    const handle = await new FileKeyStore({ [keyName]: entry }, { baseDir: dataDir }).key(keyName);
    if (!handle.certificate) throw new ConfigError('OFTP_ERR_CONFIG', `${o.file}: the PKCS#12 file holds no certificate for its key`);
    certificates = [handle.certificate, ...handle.chain].flatMap((der) => parseCertificates(der, o.file));
  } else {
    if (!o.key) throw new ConfigError('OFTP_ERR_USAGE', '--key KEY is required (a key name from oftp2 cert create-key, or a key file)');
    if (Object.hasOwn(keys, o.key)) {
      keyName = o.key;
      entry = keys[o.key]!;
    } else {
      const keyFile = resolve(o.key);
      await readFile(keyFile).catch(() => {
        throw new ConfigError('OFTP_ERR_CONFIG', `--key ${o.key}: neither a configured key name (${Object.keys(keys).join(', ') || 'none'}) nor a readable key file`);
      });
      keyName = freeName(o.role);
      entry = { file: inDataDir(dataDir, keyFile), ...keyEntryPassphrase(dataDir, o) };
    }
    certificates = parseCertificates(await readFile(o.file).catch(unreadable(o.file)), o.file);
  }
  const leaf = certificates[0]!;
  const dated = checkDates(leaf, new Date(), 'certificate');
  if (dated?.kind === 'expired') throw new ConfigError('OFTP_ERR_CONFIG', `${dated.message}; not imported`);
  const [required, ...optional] = OWN_PURPOSES[o.role];
  const unfit = checkPurpose(leaf, required!);
  if (unfit) throw new ConfigError('OFTP_ERR_CONFIG', `${unfit.message}; not imported as our ${o.role} certificate`);
  // The certificate must belong to the key: the store checks the public keys.
  const relativeCert = ownCertificatePath(o.role);
  const certFile = join(dataDir, `${relativeCert}.new`);
  await writeCertificateFile(dataDir, `${relativeCert}.new`, certificates);
  try {
    await new FileKeyStore({ [keyName]: { ...entry, certificate: certFile } }, { baseDir: dataDir }).key(keyName);
  } finally {
    await unlink(certFile).catch(() => {});
  }
  await writeCertificateFile(dataDir, relativeCert, certificates);
  await store.update((c) => {
    c.station.keys = { ...c.station.keys, [keyName]: entry };
    c.station.certificates = { ...c.station.certificates, [o.role]: { certificate: relativeCert, key: keyName } };
  });
  const warnings = optional.flatMap((purpose) => checkPurpose(leaf, purpose)?.message ?? []);
  return { subject: describeCertificate(leaf), notAfter: isoDate(leaf.notAfter), keyName, warnings };
}

export function unreadable(path: string) {
  return (err: NodeJS.ErrnoException): never => {
    throw new ConfigError('OFTP_ERR_CONFIG', `cannot read ${path}: ${err.code ?? err.message}`);
  };
}

// ---- import --partner, approve ----

function partnerOf(store: StationStore, name: string): PartnerConfig {
  const partner = store.partner(name);
  if (!partner) throw new ConfigError('OFTP_ERR_CONFIG', `no partner named "${name}" (see oftp2 partner list)`);
  return partner;
}

export async function importPartner(
  store: StationStore,
  o: { partner: string; roles: CertificateRoleName[]; file: string; next: boolean },
): Promise<{ subject: string; sha256: string; notAfter: string; notes: string[] }> {
  return installPartner(store, o.partner, parseCertificates(await readFile(o.file).catch(unreadable(o.file)), o.file), o.roles, o.next);
}

async function installPartner(store: StationStore, name: string, certificates: CertificateInfo[], roles: CertificateRoleName[], next: boolean) {
  const partner = partnerOf(store, name);
  const dataDir = store.paths.dataDir;
  const leaf = certificates[0]!;
  const notes: string[] = [];
  const dated = checkDates(leaf, new Date());
  if (dated?.kind === 'expired') throw new ConfigError('OFTP_ERR_CONFIG', `partner ${name}: ${dated.message}; not imported`);
  if (dated) notes.push(dated.message);
  for (const role of roles) {
    const [required, ...optional] = PARTNER_PURPOSES[role];
    const problem = checkPurpose(leaf, required!);
    if (problem) throw new ConfigError('OFTP_ERR_CONFIG', `partner ${name}: ${problem.message}; not imported for ${role}`);
    for (const p of optional) {
      const other = checkPurpose(leaf, p);
      if (other) notes.push(other.message);
    }
  }
  const trust = (await TlsTrust.load(store.config, dataDir)).partner(name)!;
  if (trust.anchors.length > 0) {
    const chain = validateChain(leaf, { anchors: trust.anchors, intermediates: certificates.slice(1), crls: trust.crls, purpose: 'any' });
    if (!chain.ok) notes.push(`it does not validate against the partner's trusted CAs: ${chain.problem.message}`);
  }
  if (roles.includes('tls')) notes.push('as its TLS certificate it is trusted as it is (pinned), beside any trusted CA');
  const paths: Partial<Record<CertificateRoleName, string>> = {};
  for (const role of roles) paths[role] = await writeCertificateFile(dataDir, partnerCertificatePath(partner.name, role, next), certificates);
  await store.update((c) => {
    const p = c.partners.find((x) => x.name === name)!;
    const certs = { ...p.certificates };
    if (next) certs.next = { ...certs.next, ...paths };
    else Object.assign(certs, paths);
    p.certificates = certs;
  });
  return { subject: describeCertificate(leaf), sha256: leaf.sha256, notAfter: isoDate(leaf.notAfter), notes };
}

export async function approvePending(store: StationStore, partner: string, id: string, roles: CertificateRoleName[], next: boolean) {
  partnerOf(store, partner);
  const pending = new PendingCertificates(pendingDir(store.paths.dataDir));
  const entry = await pending.find(partner, id);
  const result = await installPartner(store, partner, parseCertificates(await readFile(entry.path), entry.path), roles, next);
  await pending.remove(entry);
  return result;
}

// ---- trust ----

export async function addTrust(
  store: StationStore,
  name: string,
  o: { caFiles: string[]; pins: string[]; crlFiles: string[]; requireClientCertificate: boolean | undefined },
): Promise<string[]> {
  const partner = partnerOf(store, name);
  const dataDir = store.paths.dataDir;
  const lines: string[] = [];
  const caPaths: string[] = [];
  for (const file of o.caFiles) {
    const cas = parseCertificates(await readFile(file).catch(unreadable(file)), file);
    for (const ca of cas) {
      if (!ca.isCA) throw new ConfigError('OFTP_ERR_CONFIG', `${file}: ${describeCertificate(ca)} is not a CA certificate; to trust it as it is, use --pin ${ca.sha256} or oftp2 cert import --partner`);
      const dated = checkDates(ca, new Date(), 'CA certificate');
      if (dated) lines.push(`warning: ${dated.message}`);
      caPaths.push(await writeCertificateFile(dataDir, partnerCaPath(partner.name, ca), [ca]));
      lines.push(`partner ${name}: trusts CA ${describeCertificate(ca)} (SHA-256 ${ca.sha256}, expires ${isoDate(ca.notAfter)})`);
    }
  }
  const pins: string[] = [];
  for (const pin of o.pins) {
    const normal = normalizeFingerprint(pin);
    if (!normal) throw new ConfigError('OFTP_ERR_USAGE', `--pin ${pin}: not a SHA-256 fingerprint (64 hex digits, colons allowed)`);
    pins.push(normal);
    lines.push(`partner ${name}: trusts the certificate with SHA-256 ${normal}`);
  }
  const crlPaths: string[] = [];
  for (const file of o.crlFiles) {
    const crl = await readRevocationListFile(resolve(file));
    const target = join('certs', 'partners', partner.name, `crl-${basename(file).replace(/[^A-Za-z0-9_.-]/g, '_')}`);
    await mkdir(resolveIn(dataDir, join(target, '..')), { recursive: true, mode: 0o700 });
    await copyFile(file, resolveIn(dataDir, target));
    crlPaths.push(target);
    lines.push(`partner ${name}: CRL of "${crl.issuer}" (${crl.revoked.size} revoked, next update ${crl.nextUpdate ? isoDate(crl.nextUpdate) : 'not given'})`);
  }
  await store.update((c) => {
    const p = c.partners.find((x) => x.name === name)!;
    const t = { ...p.trust };
    if (caPaths.length) t.caFiles = [...new Set([...(t.caFiles ?? []), ...caPaths])];
    if (pins.length) t.pinnedSha256 = [...new Set([...(t.pinnedSha256 ?? []), ...pins])];
    if (crlPaths.length) t.crlFiles = [...new Set([...(t.crlFiles ?? []), ...crlPaths])];
    if (o.requireClientCertificate !== undefined) t.requireClientCertificate = o.requireClientCertificate;
    p.trust = t;
  });
  if (o.requireClientCertificate !== undefined) lines.push(`partner ${name}: a client certificate is ${o.requireClientCertificate ? 'required' : 'optional'} when it calls us over TLS`);
  return lines;
}

// ---- show ----

export async function describePartner(store: StationStore, name: string): Promise<string> {
  const partner = partnerOf(store, name);
  const dataDir = store.paths.dataDir;
  const now = new Date();
  const lines: string[] = [];
  const where = partner.host ? `dialled at ${partner.host}:${partner.port}` : 'dials in';
  lines.push(`partner ${partner.name} (${partner.odetteId}), ${where}, TLS: ${partner.tls ? 'yes (plain TCP logins refused)' : 'no'}`);
  const choices = await partnerCertificates(dataDir, partner, now);
  const rows = [['ROLE', 'USES', 'SUBJECT', 'SHA-256', 'EXPIRES', 'NOTE']];
  for (const choice of Object.values(choices)) {
    const c = choice.use;
    rows.push([choice.role, choice.which, c ? c.subject : '-', c ? `${c.sha256.slice(0, 23)}…` : '-', c ? isoDate(c.notAfter) : '-', choice.note]);
  }
  const { table } = await import('./partner.ts');
  lines.push(table(rows).trimEnd());
  const trust = (await TlsTrust.load(store.config, dataDir)).partner(partner.name)!;
  const cas = trust.anchors.map((a) => `${describeCertificate(a)} (expires ${isoDate(a.notAfter)})`);
  const tlsPins = pinsFor(trust, 'tls-client');
  lines.push(`TLS trust: CAs: ${cas.join(', ') || 'none'}; pinned: ${[...tlsPins].map((p) => `${p.slice(0, 23)}…`).join(', ') || 'none'}; CRLs: ${trust.crls.length}; client certificate: ${trust.requireClientCertificate ? 'required' : 'optional'}`);
  if (trust.anchors.length === 0 && tlsPins.size === 0) lines.push(`note: no TLS trust configured: oftp2 cert trust --partner ${partner.name} --ca FILE, or oftp2 cert import --partner ${partner.name} --role tls CERT`);
  for (const problem of trust.problems) lines.push(`warning: ${problem}`);
  const waiting = await new PendingCertificates(pendingDir(dataDir)).list(partner.name);
  if (waiting.length) lines.push(`${waiting.length} certificate${waiting.length === 1 ? '' : 's'} from this partner wait${waiting.length === 1 ? 's' : ''} for approval (oftp2 cert pending)`);
  return `${lines.join('\n')}\n`;
}
