// `oftp2 cert …`: our keys and certificates per role, the partners' certificates and trust, certificates
// waiting for approval (RFC 5024 §10.4), and expiry warnings. Every change is validated with the whole
// configuration before it is written; heavy modules (node-forge, pkijs) load inside `run`.
import type { CertificateRoleName } from '../store/station-config.ts';
import { type CliCommand, parseCommandArgs, usageError } from './command.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption } from './station-options.ts';

const ROLES: readonly CertificateRoleName[] = ['tls', 'authentication', 'signing', 'encryption'];

export const command: CliCommand = {
  name: 'cert',
  summary: 'Keys and certificates: create, import, promote, trust, list, approve',
  usage: `oftp2 cert ACTION [options]
  create-key --role ROLE [--name NAME] [--out DIR] [--bits N] [--cn CN] [--org O] [--country CC]
             [--passphrase-file FILE | --passphrase-env VAR]
                        a new RSA key for our ROLE (default 2048 bits; 3072 or 4096 allowed) and a
                        certificate request with our Odette ID as CN, for your CA; the key is
                        registered as NAME (default: the role) in the station's keys
  import --own --role ROLE --key KEY CERT
                        our certificate for ROLE; KEY is a key name from create-key or a key file
  import --own --role ROLE FILE.p12 [--passphrase-file FILE | --passphrase-env VAR]
                        our key and certificate from a PKCS#12 file
  import --own --next --role signing (--key KEY CERT | FILE.p12)
                        our next signing certificate for our own rollover: until it is promoted,
                        files and signed receipts carry two signatures (current and next key);
                        KEY may also name a key on the station.pkcs11 token
  promote --own --role signing
                        our next signing certificate becomes current; the old one is retired
                        (certs/own/retired/, its key file to keys/retired/)
  promote --partner P --role ROLE[,ROLE…|all]
                        the partner's next certificates become current (the old ones retired)
  import --partner P --role ROLE[,ROLE…|all] [--next] CERT
                        the partner's certificate for those roles (--next: for its rollover);
                        a TLS certificate imported here is trusted as it is (pinned)
  trust --partner P [--ca FILE]… [--pin SHA256]… [--crl FILE]… [--client-certificate required|optional]
                        what the partner's certificates must chain to or match
  list                  every certificate (ours, our next signing one, the partners') with its expiry; warnings for those expiring within
                        station.certificateWarningDays (default 30) or expired
  show PARTNER          which certificate each role uses now, and the partner's trust
  pending               certificates received from partners, waiting for approval
  approve PARTNER ID --role ROLE[,…|all] [--next]
  reject PARTNER ID     take or drop a pending certificate (ID: its first hex digits)
  ROLE is one of: tls, authentication, signing, encryption
${DATA_DIR_USAGE}`,
  run: (argv) => runCert(argv),
};

/** Where cert output goes (the process by default; tests pass their own). */
export interface CertIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CertIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** `oftp2 cert ARGV…`; errors are thrown for the dispatcher (src/cli/run.ts) to print. */
export async function runCert(argv: string[], io: CertIo = processIo): Promise<number> {
  const [action, ...rest] = argv;
  const actions: Record<string, (args: string[], io: CertIo) => Promise<number>> = {
    'create-key': createKey,
    import: importCertificate,
    promote,
    trust,
    list,
    show,
    pending,
    approve,
    reject,
  };
  const run = action === undefined ? undefined : actions[action];
  if (!run) throw usageError(action === undefined ? `say one of: ${Object.keys(actions).join(', ')}` : `unknown action "${action}"`);
  return run(rest, io);
}

function roleOf(value: string | undefined): CertificateRoleName {
  if (!value) throw usageError('--role is required');
  if (!(ROLES as readonly string[]).includes(value)) throw usageError(`--role is one of ${ROLES.join(', ')}, got "${value}"`);
  return value as CertificateRoleName;
}

function rolesOf(value: string | undefined): CertificateRoleName[] {
  if (!value) throw usageError('--role is required');
  if (value === 'all') return [...ROLES];
  return [...new Set(value.split(',').map((r) => roleOf(r.trim())))];
}

async function openStore(values: { 'data-dir'?: string }) {
  const { StationStore } = await import('../store/station-store.ts');
  return StationStore.open(dataDirFrom(values));
}

// ---- create-key ----

async function createKey(argv: string[], io: CertIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    options: {
      ...DATA_DIR_OPTION,
      role: { type: 'string' },
      name: { type: 'string' },
      out: { type: 'string' },
      bits: { type: 'string' },
      cn: { type: 'string' },
      org: { type: 'string' },
      country: { type: 'string' },
      'passphrase-file': { type: 'string' },
      'passphrase-env': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError('create-key takes no FILE');
  const role = roleOf(values.role);
  const bits = integerOption('bits', values.bits) ?? 2048;
  if (![2048, 3072, 4096].includes(bits)) throw usageError('--bits is 2048, 3072 or 4096');
  if (values.country && !/^[A-Z]{2}$/.test(values.country)) throw usageError('--country is a two-letter code such as DE');
  const { createKeyAndRequest } = await import('./cert-actions.ts');
  const result = await createKeyAndRequest(await openStore(values), {
    role,
    name: values.name ?? role,
    outDir: values.out,
    bits,
    subject: { cn: values.cn, org: values.org, country: values.country },
    passphraseFile: values['passphrase-file'],
    passphraseEnv: values['passphrase-env'],
  });
  io.out(`key "${result.name}" written to ${result.keyPath} (RSA ${bits}, PKCS#8${result.encrypted ? ', encrypted' : ''})\n`);
  io.out(`certificate request for ${result.subject} written to ${result.csrPath}\n`);
  io.out(`send the request to your CA, then: oftp2 cert import --own --role ${role} --key ${result.name} CERT\n`);
  return 0;
}

// ---- import ----

async function importCertificate(argv: string[], io: CertIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    options: {
      ...DATA_DIR_OPTION,
      own: { type: 'boolean' },
      partner: { type: 'string' },
      role: { type: 'string' },
      key: { type: 'string' },
      next: { type: 'boolean' },
      'passphrase-file': { type: 'string' },
      'passphrase-env': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw usageError('import takes one certificate FILE');
  if (Boolean(values.own) === (values.partner !== undefined)) throw usageError('say --own or --partner P');
  const file = positionals[0]!;
  const actions = await import('./cert-actions.ts');
  const store = await openStore(values);
  if (values.own) {
    const role = roleOf(values.role);
    if (values.next) {
      if (role !== 'signing') throw usageError(`--own --next is for --role signing (two signatures during our rollover); for our ${role} certificate, import the new one when you switch`);
      const { importOwnNext } = await import('./cert-rollover.ts');
      const r = await importOwnNext(store, { file, key: values.key, passphraseFile: values['passphrase-file'], passphraseEnv: values['passphrase-env'] });
      io.out(`our next signing certificate ${r.subject} (SHA-256 ${r.sha256}, valid ${r.notBefore} to ${r.notAfter}) uses key "${r.keyName}"\n`);
      for (const note of r.notes) io.out(`note: ${note}\n`);
      io.out('files and signed receipts now carry two signatures, current and next (from the next start of oftp2 serve); once partners have the new certificate: oftp2 cert promote --own --role signing\n');
      return 0;
    }
    const r = await actions.importOwn(store, { role, file, key: values.key, passphraseFile: values['passphrase-file'], passphraseEnv: values['passphrase-env'] });
    for (const warning of r.warnings) io.err(`oftp2: warning: ${warning}\n`);
    io.out(`our ${role} certificate ${r.subject} (expires ${r.notAfter}) now uses key "${r.keyName}"\n`);
    if (role === 'tls') io.out('oftp2 serve listens for TLS on the configured port (default 6619) from its next start\n');
    return 0;
  }
  const roles = rolesOf(values.role);
  const r = await actions.importPartner(store, { partner: values.partner!, roles, file, next: values.next ?? false });
  io.out(`partner ${values.partner}: ${values.next ? 'next ' : ''}certificate ${r.subject} (SHA-256 ${r.sha256}, expires ${r.notAfter}) for ${roles.join(', ')}\n`);
  for (const note of r.notes) io.out(`note: ${note}\n`);
  return 0;
}

// ---- promote ----

async function promote(argv: string[], io: CertIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: { ...DATA_DIR_OPTION, own: { type: 'boolean' }, partner: { type: 'string' }, role: { type: 'string' } }, allowPositionals: true });
  if (positionals.length > 0) throw usageError('promote takes no positional argument');
  if (Boolean(values.own) === (values.partner !== undefined)) throw usageError('say --own (our next signing certificate) or --partner P (its next certificates)');
  if (values.partner !== undefined) {
    const roles = values.role === 'all' ? 'all' : rolesOf(values.role);
    const { promotePartner } = await import('./cert-rollover.ts');
    const r = await promotePartner(await openStore(values), values.partner, roles);
    for (const p of r.promoted) io.out(`partner ${values.partner}: ${p.role} certificate is now ${p.subject} (expires ${p.notAfter})\n`);
    for (const path of r.retired) io.out(`retired: ${path}\n`);
    return 0;
  }
  const role = roleOf(values.role);
  if (role !== 'signing') throw usageError('promote --own is for --role signing');
  const { promoteOwnSigning } = await import('./cert-rollover.ts');
  const r = await promoteOwnSigning(await openStore(values));
  io.out(`our signing certificate is now ${r.subject} (expires ${r.notAfter}), key "${r.keyName}"; files and receipts carry its signature alone\n`);
  if (r.retired) io.out(`retired: ${r.retired.subject}, kept in ${r.retired.path}\n`);
  for (const note of r.notes) io.out(`note: ${note}\n`);
  return 0;
}

// ---- trust ----

async function trust(argv: string[], io: CertIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    options: {
      ...DATA_DIR_OPTION,
      partner: { type: 'string' },
      ca: { type: 'string', multiple: true },
      pin: { type: 'string', multiple: true },
      crl: { type: 'string', multiple: true },
      'client-certificate': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length > 0) throw usageError('trust takes no positional argument (use --ca FILE)');
  if (!values.partner) throw usageError('--partner is required');
  const clientCertificate = values['client-certificate'];
  if (clientCertificate !== undefined && clientCertificate !== 'required' && clientCertificate !== 'optional') throw usageError('--client-certificate is required or optional');
  if (!values.ca && !values.pin && !values.crl && clientCertificate === undefined) throw usageError('give --ca, --pin, --crl or --client-certificate');
  const { addTrust } = await import('./cert-actions.ts');
  const lines = await addTrust(await openStore(values), values.partner, {
    caFiles: values.ca ?? [],
    pins: values.pin ?? [],
    crlFiles: values.crl ?? [],
    requireClientCertificate: clientCertificate === undefined ? undefined : clientCertificate === 'required',
  });
  for (const line of lines) io.out(`${line}\n`);
  return 0;
}

// ---- list, show, pending ----

async function list(argv: string[], io: CertIo): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: DATA_DIR_OPTION });
  const store = await openStore(values);
  const { certificateStatus, certificateWarnings } = await import('../security/certificates-store.ts');
  const { table } = await import('./partner.ts');
  const entries = await certificateStatus(store.config, store.paths.dataDir);
  if (entries.length === 0) {
    io.out('no certificates configured (see oftp2 cert create-key and oftp2 cert import)\n');
    return 0;
  }
  const rows = entries.map((e) => [
    e.owner,
    e.kind,
    e.role ?? '-',
    e.subject ?? (e.kind === 'crl' ? `CRL of ${e.issuer ?? '?'}` : '?'),
    e.notAfter?.slice(0, 10) ?? '-',
    e.daysLeft === undefined ? '-' : String(e.daysLeft),
    e.state,
  ]);
  io.out(table([['OWNER', 'KIND', 'ROLE', 'SUBJECT', 'EXPIRES', 'DAYS', 'STATE'], ...rows]));
  for (const warning of certificateWarnings(entries)) io.out(`warning: ${warning}\n`);
  if (entries.some((e) => e.kind === 'own-next')) {
    io.out('note: our signing rollover: files and signed receipts carry two signatures (own and own-next) until oftp2 cert promote --own --role signing\n');
  }
  return 0;
}

async function show(argv: string[], io: CertIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: DATA_DIR_OPTION, allowPositionals: true });
  if (positionals.length !== 1) throw usageError('show takes one PARTNER');
  const { describePartner } = await import('./cert-actions.ts');
  io.out(await describePartner(await openStore(values), positionals[0]!));
  return 0;
}

async function pending(argv: string[], io: CertIo): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: DATA_DIR_OPTION });
  const store = await openStore(values);
  const { PendingCertificates, pendingDir } = await import('../security/certificates-store.ts');
  const { table } = await import('./partner.ts');
  const entries = await new PendingCertificates(pendingDir(store.paths.dataDir)).list();
  if (entries.length === 0) {
    io.out('no certificates wait for approval\n');
    return 0;
  }
  io.out(table([['PARTNER', 'ID', 'RECEIVED', 'SUBJECT', 'ISSUER', 'EXPIRES', 'SOURCE'], ...entries.map((p) => [p.partner, p.id.slice(0, 16), p.receivedAt.slice(0, 19).replace('T', ' '), p.subject, p.issuer, p.notAfter.slice(0, 10), p.source])]));
  io.out('check the fingerprint with the partner (not through the same channel), then: oftp2 cert approve PARTNER ID --role ROLE\n');
  return 0;
}

async function approve(argv: string[], io: CertIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: { ...DATA_DIR_OPTION, role: { type: 'string' }, next: { type: 'boolean' } }, allowPositionals: true });
  if (positionals.length !== 2) throw usageError('approve takes PARTNER and ID');
  const roles = rolesOf(values.role);
  const { approvePending } = await import('./cert-actions.ts');
  const r = await approvePending(await openStore(values), positionals[0]!, positionals[1]!, roles, values.next ?? false);
  io.out(`partner ${positionals[0]}: approved ${values.next ? 'next ' : ''}certificate ${r.subject} (SHA-256 ${r.sha256}) for ${roles.join(', ')}\n`);
  for (const note of r.notes) io.out(`note: ${note}\n`);
  return 0;
}

async function reject(argv: string[], io: CertIo): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: DATA_DIR_OPTION, allowPositionals: true });
  if (positionals.length !== 2) throw usageError('reject takes PARTNER and ID');
  const store = await openStore(values);
  const { PendingCertificates, pendingDir } = await import('../security/certificates-store.ts');
  const pendingStore = new PendingCertificates(pendingDir(store.paths.dataDir));
  const entry = await pendingStore.find(positionals[0]!, positionals[1]!);
  await pendingStore.remove(entry);
  io.out(`partner ${entry.partner}: pending certificate ${entry.subject} (${entry.id.slice(0, 16)}) dropped\n`);
  return 0;
}
