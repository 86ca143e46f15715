// `oftp2 keys list|generate|csr|import-cert`: the station's keys on a PKCS#11 token (HSM or smart
// card). The PIN comes from --pin-file or $OFTP2_PKCS11_PIN — there is deliberately no --pin option
// (it would sit in the shell history and in `ps`). pkcs11js is loaded inside `run`, so the rest of the
// CLI starts without it.
import { readFileSync, writeFileSync } from 'node:fs';
import type { Pkcs11StoreConfig } from '../keystore/pkcs11-config.ts';
import { type CliCommand, parseCommandArgs, usageError } from './command.ts';
import { table } from './partner.ts';

const PIN_ENV = 'OFTP2_PKCS11_PIN';

const TOKEN_OPTIONS = {
  module: { type: 'string' },
  token: { type: 'string' },
  'token-serial': { type: 'string' },
  'pin-file': { type: 'string' },
} as const;

const TOKEN_USAGE = `  --module PATH         the vendor's PKCS#11 library (default: $OFTP2_PKCS11_MODULE)
  --token LABEL         the token, by label
  --token-serial S      the token, by serial number
  --pin-file FILE       the user PIN, first line of FILE (default: $${PIN_ENV})`;

export const command: CliCommand = {
  name: 'keys',
  summary: 'Keys on a PKCS#11 token: list, generate, make a CSR, import a cert',
  usage: `oftp2 keys list|generate|csr|import-cert [options]
       oftp2 keys list [--token LABEL]
       oftp2 keys generate --token LABEL --label L [--id HEX] [--bits 2048|3072|4096]
       oftp2 keys csr --token LABEL --label L --subject "CN=…,O=…,C=DE" [--out FILE] [--hash sha256|sha512]
       oftp2 keys import-cert --token LABEL --label L FILE [--replace]
${TOKEN_USAGE}
  --label L             the key's label (CKA_LABEL)
  --id HEX              the key's id (CKA_ID) for a new key (default: 8 random bytes)
  --bits N              RSA modulus size of a new key (default 2048)
  --subject DN          the CSR's subject, RFC 4514 order (most specific first)
  --out FILE            write the CSR there (PEM) instead of standard output
  --replace             import-cert: replace a certificate already stored for the key
The CSR is signed by the token key; import-cert stores the certificate with the key's CKA_ID.`,
  async run(argv) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'list':
        return list(rest);
      case 'generate':
        return generate(rest);
      case 'csr':
        return csr(rest);
      case 'import-cert':
        return importCert(rest);
      default:
        throw usageError(action === undefined ? 'say list, generate, csr or import-cert' : `unknown action "${action}"`);
    }
  },
};

interface TokenValues {
  module?: string;
  token?: string;
  'token-serial'?: string;
  'pin-file'?: string;
}

function modulePath(values: TokenValues): string {
  const path = values.module ?? process.env.OFTP2_PKCS11_MODULE;
  if (path === undefined || path === '') throw usageError('--module PATH is required (or set OFTP2_PKCS11_MODULE)');
  return path;
}

function tokenOf(values: TokenValues, required: boolean): Pkcs11StoreConfig['token'] | undefined {
  if (values.token === undefined && values['token-serial'] === undefined) {
    if (required) throw usageError('--token LABEL (or --token-serial S) is required');
    return undefined;
  }
  const token: Pkcs11StoreConfig['token'] = {};
  if (values.token !== undefined) token.label = values.token;
  if (values['token-serial'] !== undefined) token.serial = values['token-serial'];
  return token;
}

function pinOf(values: TokenValues, required: boolean): Pkcs11StoreConfig['pin'] | undefined {
  if (values['pin-file'] !== undefined) return { file: values['pin-file'] };
  if (process.env[PIN_ENV] !== undefined) return { env: PIN_ENV };
  if (required) throw usageError(`the user PIN is needed: --pin-file FILE or $${PIN_ENV}`);
  return undefined;
}

function requireLabel(label: string | undefined): string {
  if (label === undefined || label === '') throw usageError('--label L is required');
  return label;
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: TOKEN_OPTIONS, allowPositionals: true });
  if (positionals.length > 0) throw usageError('keys list takes no arguments');
  const { Pkcs11Admin } = await import('../keystore/pkcs11-admin.ts');
  const admin = Pkcs11Admin.open(modulePath(values));
  try {
    const tokens = admin.tokens();
    if (tokens.length === 0) {
      process.stdout.write('no initialised token\n');
      return 0;
    }
    const wanted = tokenOf(values, false);
    const chosen = wanted ?? (tokens.length === 1 ? { label: tokens[0]!.label } : undefined);
    if (chosen !== undefined) admin.useToken(chosen, pinOf(values, false));
    process.stdout.write(
      table([
        ['TOKEN', 'SERIAL', 'MANUFACTURER', 'MODEL', 'STATE'],
        ...tokens.map((t) => [t.label, t.serial, t.manufacturer, t.model, t.pinLocked ? 'PIN locked' : t.loginRequired ? 'login required' : '']),
      ]),
    );
    if (chosen === undefined) return 0;
    const rows = admin.objects().map((o) => [o.class, o.label, o.id, o.bits === undefined ? '' : `RSA-${o.bits}`, o.subject ?? '', o.notAfter ?? '']);
    process.stdout.write('\n');
    process.stdout.write(rows.length === 0 ? 'no objects\n' : table([['CLASS', 'LABEL', 'ID', 'KEY', 'SUBJECT', 'NOT AFTER'], ...rows]));
    if (!admin.loggedIn) process.stdout.write(`(not logged in: private keys not shown; --pin-file FILE or $${PIN_ENV})\n`);
    return 0;
  } finally {
    admin.close();
  }
}

async function generate(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    options: { ...TOKEN_OPTIONS, label: { type: 'string' }, id: { type: 'string' }, bits: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError('keys generate takes no arguments');
  const label = requireLabel(values.label);
  const bits = values.bits === undefined ? 2048 : Number(values.bits);
  if (![2048, 3072, 4096].includes(bits)) throw usageError(`--bits is 2048, 3072 or 4096, got "${values.bits}"`);
  let id: string | undefined;
  if (values.id !== undefined) {
    id = values.id.replace(/:/g, '').toLowerCase();
    if (!/^([0-9a-f]{2})+$/.test(id)) throw usageError(`--id takes hex bytes (e.g. 01 or 0a1b), got "${values.id}"`);
  }
  const { Pkcs11Admin } = await import('../keystore/pkcs11-admin.ts');
  const admin = Pkcs11Admin.open(modulePath(values));
  try {
    const token = tokenOf(values, true)!;
    admin.useToken(token, pinOf(values, true));
    const made = await admin.generate(id === undefined ? { label, bits } : { label, id, bits });
    process.stdout.write(`generated RSA-${bits} key pair "${label}" with id ${made.id}\n`);
    return 0;
  } finally {
    admin.close();
  }
}

async function csr(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    options: { ...TOKEN_OPTIONS, label: { type: 'string' }, subject: { type: 'string' }, out: { type: 'string' }, hash: { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError('keys csr takes no arguments');
  const label = requireLabel(values.label);
  if (values.subject === undefined) throw usageError('--subject "CN=…,O=…" is required');
  const hash = values.hash ?? 'sha256';
  if (hash !== 'sha256' && hash !== 'sha512') throw usageError(`--hash is sha256 or sha512, got "${hash}"`);
  const { Pkcs11KeyStore } = await import('../keystore/pkcs11-key-store.ts');
  const { createCsr, parseSubject, pem } = await import('../keystore/pkcs11-csr.ts');
  parseSubject(values.subject); // a bad subject is a usage error before touching the token
  const store = await Pkcs11KeyStore.open({
    module: modulePath(values),
    token: tokenOf(values, true)!,
    pin: pinOf(values, true)!,
    sessions: 1,
  });
  try {
    const key = await store.key(label);
    const text = pem('CERTIFICATE REQUEST', await createCsr(key, key.publicKey, values.subject, hash));
    if (values.out !== undefined) {
      writeFileSync(values.out, text);
      process.stdout.write(`CSR for "${label}" (RSA-${key.modulusBits}, id ${key.keyId}) written to ${values.out}\n`);
    } else {
      process.stdout.write(text);
    }
    return 0;
  } finally {
    await store.close();
  }
}

async function importCert(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    options: { ...TOKEN_OPTIONS, label: { type: 'string' }, replace: { type: 'boolean' } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw usageError('keys import-cert takes one FILE');
  const label = requireLabel(values.label);
  const { toDer } = await import('../keystore/pkcs11-key-store.ts');
  let der: Buffer;
  try {
    der = toDer(readFileSync(positionals[0]!));
  } catch (error) {
    throw usageError(`cannot read ${positionals[0]}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const { Pkcs11Admin } = await import('../keystore/pkcs11-admin.ts');
  const admin = Pkcs11Admin.open(modulePath(values));
  try {
    admin.useToken(tokenOf(values, true)!, pinOf(values, true));
    const stored = admin.importCertificate({ label, der, replace: values.replace === true });
    process.stdout.write(`certificate ${stored.subject} stored with id ${stored.id} beside key "${label}"\n`);
    return 0;
  } finally {
    admin.close();
  }
}
