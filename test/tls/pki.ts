// A test PKI made with the `openssl` command in a temp directory: CAs, leaf certificates with chosen key
// usages and validity dates (expired and not-yet-valid ones through `openssl ca -startdate/-enddate`),
// CRLs, PKCS#12 bundles and encrypted keys. Keys are RSA 2048 and made once per entity, so a file of
// tests builds its PKI in well under a second or two.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  name: string;
  keyPath: string;
  certPath: string;
  certPem: string;
  der: Buffer;
  /** `AB:CD:…` */
  sha256: string;
  serial: string;
}

export interface LeafOptions {
  cn: string;
  /** openssl keyUsage value, e.g. 'critical,digitalSignature,keyEncipherment'; 'none' leaves the extension out. */
  keyUsage?: string;
  /** openssl extendedKeyUsage value, e.g. 'clientAuth,serverAuth'; absent by default. */
  extendedKeyUsage?: string;
  /** Validity: days from now (default 365), or explicit dates. */
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** Reuse the key of an earlier entity (fast; certificates for the same party). */
  keyOf?: Issued;
  ca?: boolean;
}

/** `openssl` must be installed (Debian: the openssl package). */
export function openssl(args: string[], input?: string | Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export class TestPki {
  readonly dir: string;
  #serial = 1;

  constructor(prefix = 'oftp-pki-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    mkdirSync(join(this.dir, 'newcerts'));
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'index.txt.attr'), 'unique_subject = no\n');
    writeFileSync(join(this.dir, 'ca.cnf'), caConfig(this.dir));
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** A fresh RSA 2048 key (PKCS#8, unencrypted). */
  key(name: string): string {
    const keyPath = this.path(`${name}.key`);
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath]);
    return keyPath;
  }

  /** A self-signed root CA valid for `days`. */
  rootCa(name: string, cn = `${name} Root CA`, days = 3650): Issued {
    const keyPath = this.key(name);
    const certPath = this.path(`${name}.pem`);
    const ext = this.path(`${name}.ext`);
    writeFileSync(ext, '[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    openssl(['req', '-x509', '-new', '-key', keyPath, '-subj', `/CN=${cn}/O=OFTP2 Test`, '-days', String(days), '-out', certPath, '-config', ext, '-extensions', 'v3', '-sha256']);
    return this.#issued(name, keyPath, certPath);
  }

  /** A certificate issued by `issuer` (or self-signed when issuer is 'self'). */
  issue(name: string, issuer: Issued | 'self', options: LeafOptions): Issued {
    const keyPath = options.keyOf?.keyPath ?? this.key(name);
    const csr = this.path(`${name}.csr`);
    openssl(['req', '-new', '-key', keyPath, '-subj', `/CN=${options.cn}/O=OFTP2 Test`, '-out', csr]);
    const ext = this.path(`${name}.ext`);
    const lines = ['[v3]', options.ca ? 'basicConstraints=critical,CA:TRUE' : 'basicConstraints=CA:FALSE', 'subjectKeyIdentifier=hash'];
    const keyUsage = options.keyUsage ?? (options.ca ? 'critical,keyCertSign,cRLSign' : 'critical,digitalSignature,keyEncipherment');
    if (keyUsage !== 'none') lines.push(`keyUsage=${keyUsage}`);
    if (options.extendedKeyUsage) lines.push(`extendedKeyUsage=${options.extendedKeyUsage}`);
    writeFileSync(ext, `${lines.join('\n')}\n`);
    const certPath = this.path(`${name}.pem`);
    const notBefore = options.notBefore ?? new Date(Date.now() - 3600_000);
    const notAfter = options.notAfter ?? new Date(Date.now() + (options.days ?? 365) * 86_400_000);
    const serial = (this.#serial++).toString(16).padStart(4, '0').toUpperCase();
    writeFileSync(this.path('serial'), `${serial}\n`);
    const signer = issuer === 'self' ? ['-selfsign', '-keyfile', keyPath] : ['-cert', issuer.certPath, '-keyfile', issuer.keyPath];
    openssl([
      'ca', '-batch', '-notext', '-config', this.path('ca.cnf'), ...signer, '-in', csr, '-out', certPath,
      '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter), '-extfile', ext, '-extensions', 'v3',
    ]);
    return this.#issued(name, keyPath, certPath);
  }

  /** A CRL of `ca` revoking `revoked`; `nextUpdateHours` may be negative for an out-of-date CRL. */
  crl(name: string, ca: Issued, revoked: Issued[], nextUpdateHours = 24): string {
    const dir = this.path(`crl-${name}`);
    mkdirSync(dir, { recursive: true });
    const index = revoked
      .map((r) => `R\t${asn1Time(new Date(Date.now() + 86_400_000)).slice(2)}\t${asn1Time(new Date(Date.now() - 60_000)).slice(2)}\t${r.serial}\tunknown\t/CN=x\n`)
      .join('');
    writeFileSync(join(dir, 'index.txt'), index);
    writeFileSync(join(dir, 'crl.cnf'), caConfig(dir).replace('[ CA_default ]', `[ CA_default ]\ndefault_crl_hours = ${Math.max(1, nextUpdateHours)}`));
    const out = this.path(`${name}.crl.pem`);
    const args = ['ca', '-gencrl', '-config', join(dir, 'crl.cnf'), '-cert', ca.certPath, '-keyfile', ca.keyPath, '-out', out];
    if (nextUpdateHours < 0) {
      // openssl sets nextUpdate = now + crlhours; an out-of-date CRL is made by re-signing a CRL whose
      // dates were set in the past: -crl_lastupdate / -crl_nextupdate (OpenSSL 3.0).
      args.push('-crl_lastupdate', asn1Time(new Date(Date.now() - 48 * 3600_000)), '-crl_nextupdate', asn1Time(new Date(Date.now() + nextUpdateHours * 3600_000)));
    }
    openssl(args);
    return out;
  }

  /** A PKCS#12 of the key and certificate (and CA), protected by `password`. */
  pkcs12(name: string, entity: Issued, password: string, ca?: Issued): string {
    const out = this.path(`${name}.p12`);
    const args = ['pkcs12', '-export', '-inkey', entity.keyPath, '-in', entity.certPath, '-out', out, '-passout', `pass:${password}`, '-name', name];
    if (ca) args.push('-certfile', ca.certPath);
    openssl(args);
    return out;
  }

  /** The entity's key as encrypted PKCS#8 PEM (AES-256) or as traditional PKCS#1 PEM. */
  encryptedKey(name: string, entity: Issued, password: string): string {
    const out = this.path(`${name}.enc.key`);
    openssl(['pkcs8', '-topk8', '-in', entity.keyPath, '-out', out, '-v2', 'aes-256-cbc', '-passout', `pass:${password}`]);
    return out;
  }

  pkcs1Key(name: string, entity: Issued, password?: string): string {
    const out = this.path(`${name}.rsa.key`);
    const args = ['rsa', '-in', entity.keyPath, '-out', out, '-traditional'];
    if (password) args.push('-aes256', '-passout', `pass:${password}`);
    openssl(args);
    return out;
  }

  /** Concatenated PEM (e.g. leaf + intermediate). */
  bundle(name: string, parts: Issued[]): string {
    const out = this.path(`${name}.chain.pem`);
    writeFileSync(out, parts.map((p) => p.certPem).join(''));
    return out;
  }

  #issued(name: string, keyPath: string, certPath: string): Issued {
    const certPem = readFileSync(certPath, 'utf8');
    const x = new X509Certificate(certPem);
    return { name, keyPath, certPath, certPem, der: Buffer.from(x.raw), sha256: x.fingerprint256, serial: x.serialNumber.toUpperCase() };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function caConfig(dir: string): string {
  return `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${dir}
database = ${dir}/index.txt
new_certs_dir = ${dir}/newcerts
serial = ${dir}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
organizationName = optional
`;
}
