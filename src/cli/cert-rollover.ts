// Our own signing rollover for `oftp2 cert` (src/cli/cert.ts parses the arguments): the next signing
// certificate and its key (`import --own --next --role signing`), and its promotion to current
// (`promote --own --role signing`), which retires the old certificate and key; also a partner's next
// certificates made current (`promote --partner P --role …`). While our next one is
// configured, files and signed receipts carry two signers, current and next (RFC 5024 §6.2: "a file
// may be signed more than once to ease the changeover"; station-security.ts OwnKeys.signers), so a
// partner that has either certificate verifies them.
//
// Keys go through the KeyStore interface: a file key (station.keys, or a key file / PKCS#12 given
// here) or a key on the PKCS#11 token of station.pkcs11. A certificate is taken only when a test
// signature by its key verifies with its public key. Problems with the certificate itself (expired,
// not yet valid at promotion, unfit, not the key's) are OftpError OFTP_ERR_CERTIFICATE; a missing
// key or next certificate is OFTP_ERR_CONFIG.
import { randomBytes, verify } from 'node:crypto';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { ConfigError, OftpError } from '../errors.ts';
import { moveNoReplace } from '../files/durable-fs.ts';
import type { PrivateKeyHandle } from '../keystore/key-store.ts';
import { type CertificateInfo, checkDates, checkPurpose, describeCertificate, isoDate, parseCertificates } from '../security/certificates.ts';
import { CERTS_DIR, KEYS_DIR, ownCertificatePath, partnerCertificatePath, resolveIn, retiredOwnCertificatePath, writeCertificateFile } from '../security/certificates-store.ts';
import { OwnKeys } from '../station/station-security.ts';
import type { CertificateRoleName, KeyEntry, StationConfig } from '../store/station-config.ts';
import type { StationStore } from '../store/station-store.ts';
import { inDataDir, keyEntryPassphrase, unreadable, writeNew } from './cert-actions.ts';

/**
 * Checks that `handle` is the key of `leaf`: the key signs a random challenge, the certificate's public
 * key must verify it. Works the same for a file key and a token key (only the KeyStore interface).
 */
async function proveKeyOf(handle: PrivateKeyHandle, leaf: CertificateInfo, keyName: string, what: string, action: string): Promise<void> {
  const challenge = randomBytes(32);
  let ok = false;
  try {
    const signature = await handle.sign('sha256', challenge);
    ok = verify('sha256', challenge, leaf.x509.publicKey, signature);
  } catch (err) {
    if (err instanceof OftpError && err.code !== 'OFTP_ERR_INVALID_ARGUMENT') throw err;
    ok = false;
  }
  if (!ok) {
    throw new OftpError('OFTP_ERR_CERTIFICATE', `${what} ${describeCertificate(leaf)} does not belong to key "${keyName}" (${handle.id}): the key's signature does not verify with the certificate's public key; ${action}`);
  }
}

/** Opens key `name` as the station would (file store or token) under `config`. */
async function withKey<T>(config: StationConfig, dataDir: string, name: string, use: (handle: PrivateKeyHandle) => Promise<T>): Promise<T> {
  const keys = new OwnKeys(config, dataDir);
  try {
    return await use(await keys.keyByName(name));
  } finally {
    await keys.close();
  }
}

function freeKeyName(keys: Readonly<Record<string, KeyEntry>>, base: string): string {
  for (let i = 1; ; i++) {
    const name = i === 1 ? base : `${base}-${i}`;
    if (!Object.hasOwn(keys, name)) return name;
  }
}

// ---- import --own --next ----

export interface ImportOwnNextOptions {
  file: string;
  /** A key name in station.keys, a key file, or a key on the station.pkcs11 token. Absent for PKCS#12. */
  key?: string;
  passphraseFile?: string;
  passphraseEnv?: string;
  now?: Date;
}

export interface ImportOwnNextResult {
  subject: string;
  sha256: string;
  notBefore: string;
  notAfter: string;
  keyName: string;
  notes: string[];
}

/** Installs our next signing certificate and its key (certs/own/signing-next.pem, station.certificates.next.signing). */
export async function importOwnNext(store: StationStore, o: ImportOwnNextOptions): Promise<ImportOwnNextResult> {
  const dataDir = store.paths.dataDir;
  const config = store.config;
  const keys = config.station.keys ?? {};
  const now = o.now ?? new Date();
  const pkcs12 = /\.(p12|pfx)$/i.test(o.file);
  let keyName: string;
  let entry: KeyEntry | undefined; // undefined: a token key
  let copied: string | undefined;
  let certificates: CertificateInfo[] | undefined;
  if (pkcs12 && !o.key) {
    keyName = freeKeyName(keys, 'signing-next');
    await mkdir(join(dataDir, KEYS_DIR), { recursive: true, mode: 0o700 });
    copied = join(dataDir, KEYS_DIR, `${keyName}.p12`);
    await writeNew(copied, await readFile(o.file).catch(unreadable(o.file)), 0o600);
    entry = { file: inDataDir(dataDir, copied), ...keyEntryPassphrase(dataDir, o) };
  } else {
    if (!o.key) throw new ConfigError('OFTP_ERR_USAGE', '--key KEY is required (a key name from oftp2 cert create-key, a key file, or a key on the station.pkcs11 token)');
    if (Object.hasOwn(keys, o.key)) {
      keyName = o.key;
      entry = keys[o.key]!;
    } else if (await readFile(resolve(o.key)).then(() => true, () => false)) {
      keyName = freeKeyName(keys, 'signing-next');
      entry = { file: inDataDir(dataDir, resolve(o.key)), ...keyEntryPassphrase(dataDir, o) };
    } else if (config.station.pkcs11 !== undefined) {
      keyName = o.key;
      entry = undefined;
    } else {
      throw new ConfigError('OFTP_ERR_CONFIG', `--key ${o.key}: neither a configured key name (${Object.keys(keys).join(', ') || 'none'}) nor a readable key file, and no station.pkcs11 token is configured`);
    }
    certificates = parseCertificates(await readFile(o.file).catch(unreadable(o.file)), o.file);
  }
  const candidate = structuredClone(config);
  if (entry) candidate.station.keys = { ...candidate.station.keys, [keyName]: entry };
  try {
    const result = await withKey(candidate, dataDir, keyName, async (handle) => {
      if (!certificates) {
        if (!handle.certificate) throw new ConfigError('OFTP_ERR_CONFIG', `${o.file}: the PKCS#12 file holds no certificate for its key`);
        certificates = parseCertificates(handle.certificate, o.file);
      }
      const leaf = certificates[0]!;
      const what = 'our next signing certificate';
      const notes: string[] = [];
      const dated = checkDates(leaf, now, what);
      if (dated?.kind === 'expired') throw new OftpError('OFTP_ERR_CERTIFICATE', `${dated.message}; not imported`);
      if (dated) notes.push(`${dated.message}: files and receipts get the second signature from then on`);
      const unfit = checkPurpose(leaf, 'signing');
      if (unfit) throw new OftpError('OFTP_ERR_CERTIFICATE', `${unfit.message}; not imported as ${what}`);
      await proveKeyOf(handle, leaf, keyName, what, 'not imported');
      const current = config.station.certificates?.signing;
      if (current) {
        const currentLeaf = parseCertificates(await readFile(resolveIn(dataDir, current.certificate)).catch(unreadable(current.certificate)), current.certificate)[0]!;
        if (currentLeaf.sha256 === leaf.sha256) throw new OftpError('OFTP_ERR_CERTIFICATE', `${describeCertificate(leaf)} is already our current signing certificate; not imported as ${what}`);
      } else {
        notes.push('we have no current signing certificate: the next one signs alone (oftp2 cert promote --own --role signing makes it current)');
      }
      return { leaf, notes };
    });
    const relativeCert = await writeCertificateFile(dataDir, ownCertificatePath('signing', true), certificates!);
    await store.update((c) => {
      if (entry) c.station.keys = { ...c.station.keys, [keyName]: entry };
      c.station.certificates = { ...c.station.certificates, next: { ...c.station.certificates?.next, signing: { certificate: relativeCert, key: keyName } } };
    });
    const leaf = result.leaf;
    return { subject: describeCertificate(leaf), sha256: leaf.sha256, notBefore: isoDate(leaf.notBefore), notAfter: isoDate(leaf.notAfter), keyName, notes: result.notes };
  } catch (err) {
    if (copied) await unlink(copied).catch(() => {});
    throw err;
  }
}

// ---- promote --own ----

export interface PromoteOwnResult {
  subject: string;
  notAfter: string;
  keyName: string;
  /** The certificate replaced, kept under certs/own/retired/. */
  retired: { subject: string; path: string } | undefined;
  notes: string[];
}

/**
 * Makes our next signing certificate current: it must be valid now and belong to its key. The old
 * certificate is kept in certs/own/retired/; the old key leaves station.keys when no other role uses it,
 * and its file, when it is in the data directory's keys/, moves to keys/retired/ (a token key stays on
 * the token). Each configuration write leaves a consistent station, so a crash in between is harmless.
 */
export async function promoteOwnSigning(store: StationStore, now = new Date()): Promise<PromoteOwnResult> {
  const dataDir = store.paths.dataDir;
  const next = store.config.station.certificates?.next?.signing;
  if (!next) throw new ConfigError('OFTP_ERR_CONFIG', 'we have no next signing certificate to promote (oftp2 cert import --own --next --role signing --key KEY CERT)');
  const nextPath = resolveIn(dataDir, next.certificate);
  const certificates = parseCertificates(await readFile(nextPath).catch(unreadable(nextPath)), nextPath);
  const leaf = certificates[0]!;
  const what = 'our next signing certificate';
  const dated = checkDates(leaf, now, what);
  if (dated?.kind === 'expired') throw new OftpError('OFTP_ERR_CERTIFICATE', `${dated.message}; not promoted (import a new one with oftp2 cert import --own --next --role signing)`);
  if (dated) throw new OftpError('OFTP_ERR_CERTIFICATE', `${dated.message}; promote it from that date (until then both keys sign)`);
  await withKey(store.config, dataDir, next.key, (handle) => proveKeyOf(handle, leaf, next.key, what, 'not promoted'));

  const notes: string[] = [];
  const old = store.config.station.certificates?.signing;
  let retired: PromoteOwnResult['retired'];
  if (old) {
    const oldPath = resolveIn(dataDir, old.certificate);
    const oldCerts = await readFile(oldPath).then(
      (bytes) => parseCertificates(bytes, oldPath),
      () => undefined,
    );
    if (oldCerts) {
      retired = { subject: describeCertificate(oldCerts[0]!), path: await writeCertificateFile(dataDir, retiredOwnCertificatePath('signing', oldCerts[0]!, now), oldCerts) };
    }
  }
  const oldKey = old && old.key !== next.key ? old.key : undefined;
  const stillUsed = (c: StationConfig, key: string) => Object.entries(c.station.certificates ?? {}).some(([role, own]) => role !== 'next' && (own as { key: string }).key === key);
  let retiredKeyEntry: KeyEntry | undefined;
  // 1. the next certificate (where it is) and its key become current; the old key leaves the file store.
  await store.update((c) => {
    const certs = { ...c.station.certificates, signing: { certificate: next.certificate, key: next.key } };
    delete certs.next;
    c.station.certificates = certs;
    if (oldKey && c.station.keys && Object.hasOwn(c.station.keys, oldKey) && !stillUsed(c, oldKey)) {
      retiredKeyEntry = c.station.keys[oldKey];
      const keys = { ...c.station.keys };
      delete keys[oldKey];
      c.station.keys = keys;
    }
  });
  // 2. the certificate moves to its usual place (certs/own/signing.pem) and the next file goes.
  const currentRelative = ownCertificatePath('signing');
  if (next.certificate !== currentRelative) {
    await writeCertificateFile(dataDir, currentRelative, certificates);
    await store.update((c) => {
      c.station.certificates = { ...c.station.certificates, signing: { certificate: currentRelative, key: next.key } };
    });
    if (next.certificate === ownCertificatePath('signing', true)) await unlink(nextPath).catch(() => {});
  }
  // 3. the old key's file, when it is ours (keys/), goes to keys/retired/.
  if (retiredKeyEntry) {
    const keyFile = resolveIn(dataDir, retiredKeyEntry.file);
    const inKeys = relative(join(dataDir, KEYS_DIR), keyFile);
    if (!inKeys.startsWith('..') && !inKeys.includes('/')) {
      const retiredDir = join(dataDir, KEYS_DIR, 'retired');
      await mkdir(retiredDir, { recursive: true, mode: 0o700 });
      const stem = `${basename(keyFile, extname(keyFile))}-${isoDate(now).replace(/-/g, '')}`;
      try {
        let target = '';
        for (let i = 1; ; i++) {
          target = join(retiredDir, `${stem}${i === 1 ? '' : `-${i}`}${extname(keyFile)}`);
          if (await moveNoReplace(keyFile, target)) break; // a key file is never overwritten
        }
        notes.push(`the old key "${oldKey}" is no longer used; its file moved to ${inDataDir(dataDir, target)}`);
      } catch (err) {
        notes.push(`the old key "${oldKey}" is no longer used; its file ${keyFile} could not be moved (${(err as Error).message})`);
      }
    } else {
      notes.push(`the old key "${oldKey}" is no longer used; its file ${keyFile} is outside the data directory and was left where it is`);
    }
  } else if (oldKey && !stillUsed(store.config, oldKey)) {
    notes.push(`the old key "${oldKey}" is no longer used; it stays on the token until you delete it there`);
  }
  notes.push('a running oftp2 serve uses the promoted key from its next start');
  return { subject: describeCertificate(leaf), notAfter: isoDate(leaf.notAfter), keyName: next.key, retired, notes };
}

// ---- promote --partner ----

export interface PromotePartnerResult {
  promoted: { role: CertificateRoleName; subject: string; notAfter: string }[];
  /** Certificates replaced, kept under certs/partners/<partner>/retired/. */
  retired: string[];
}

/**
 * Makes a partner's next certificates (`cert import --partner P --next`) current for `roles` ('all':
 * every role that has one): each must be valid now. The replaced certificates are kept in
 * certs/partners/<partner>/retired/. The current file is replaced first, then the configuration drops
 * the next one, so a crash in between leaves the new certificate as both (harmless).
 */
export async function promotePartner(store: StationStore, name: string, roles: CertificateRoleName[] | 'all', now = new Date()): Promise<PromotePartnerResult> {
  const dataDir = store.paths.dataDir;
  const partner = store.partner(name);
  if (!partner) throw new ConfigError('OFTP_ERR_CONFIG', `no partner named "${name}" (see oftp2 partner list)`);
  const nextPaths = partner.certificates?.next ?? {};
  const wanted = roles === 'all' ? (Object.keys(nextPaths) as CertificateRoleName[]).filter((r) => nextPaths[r] !== undefined) : roles;
  if (wanted.length === 0) throw new ConfigError('OFTP_ERR_CONFIG', `partner ${name} has no next certificate to promote (oftp2 cert import --partner ${name} --role ROLE --next CERT)`);
  const loaded: { role: CertificateRoleName; certificates: CertificateInfo[]; path: string }[] = [];
  for (const role of wanted) {
    const next = nextPaths[role];
    if (!next) throw new ConfigError('OFTP_ERR_CONFIG', `partner ${name} has no next ${role} certificate to promote`);
    const path = resolveIn(dataDir, next);
    const certificates = parseCertificates(await readFile(path).catch(unreadable(path)), path);
    const dated = checkDates(certificates[0]!, now, `partner ${name}: next ${role} certificate`);
    if (dated?.kind === 'expired') throw new OftpError('OFTP_ERR_CERTIFICATE', `${dated.message}; not promoted`);
    if (dated) throw new OftpError('OFTP_ERR_CERTIFICATE', `${dated.message}; promote it from that date (until then both are accepted)`);
    loaded.push({ role, certificates, path: next });
  }
  const retired: string[] = [];
  const currentPaths: Partial<Record<CertificateRoleName, string>> = {};
  for (const { role, certificates } of loaded) {
    const current = partner.certificates?.[role];
    if (current) {
      const old = await readFile(resolveIn(dataDir, current)).then(
        (bytes) => parseCertificates(bytes, current),
        () => undefined,
      );
      if (old) {
        const stamp = `${isoDate(now).replace(/-/g, '')}-${old[0]!.sha256.replace(/:/g, '').slice(0, 16).toLowerCase()}`;
        retired.push(await writeCertificateFile(dataDir, join(CERTS_DIR, 'partners', partner.name, 'retired', `${role}-${stamp}.pem`), old));
      }
    }
    currentPaths[role] = await writeCertificateFile(dataDir, partnerCertificatePath(partner.name, role, false), certificates);
  }
  await store.update((c) => {
    const p = c.partners.find((x) => x.name === name)!;
    const certs = { ...p.certificates, ...currentPaths };
    const next = { ...certs.next };
    for (const role of wanted) delete next[role];
    if (Object.keys(next).length === 0) delete certs.next;
    else certs.next = next;
    p.certificates = certs;
  });
  for (const { role, path } of loaded) {
    if (path === partnerCertificatePath(partner.name, role, true)) await unlink(resolveIn(dataDir, path)).catch(() => {});
  }
  return {
    promoted: loaded.map(({ role, certificates }) => ({ role, subject: describeCertificate(certificates[0]!), notAfter: isoDate(certificates[0]!.notAfter) })),
    retired,
  };
}
