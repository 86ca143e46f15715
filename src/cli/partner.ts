// `oftp2 partner add|list|remove|security`: the trading partners this station talks to, and the security
// agreed with each (secure authentication, file services, signed receipts; RFC 5024 §4.2.3, §6).
import { ConfigError } from '../errors.ts';
import { fileServicesOf, type PartnerConfig, secureAuthenticationOf } from '../store/station-config.ts';
import { StationStore } from '../store/station-store.ts';
import { type CliCommand, parseCommandArgs, usageError } from './command.ts';
import { DATA_DIR_OPTION, DATA_DIR_USAGE, dataDirFrom, integerOption, withoutUndefined } from './station-options.ts';

const ADD_OPTIONS = {
  ...DATA_DIR_OPTION,
  'odette-id': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'password-out': { type: 'string' },
  'password-in': { type: 'string' },
  level: { type: 'string' },
  'send-receive': { type: 'string' },
  'buffer-size': { type: 'string' },
  credit: { type: 'string' },
  compression: { type: 'boolean' },
  'no-restart': { type: 'boolean' },
  'max-file-size': { type: 'string' },
  tls: { type: 'boolean' },
} as const;

const SECURITY_OPTIONS = {
  ...DATA_DIR_OPTION,
  'secure-auth': { type: 'string' },
  send: { type: 'string' },
  'cipher-suite': { type: 'string' },
  compress: { type: 'boolean' },
  'no-compress': { type: 'boolean' },
  'signed-receipt': { type: 'boolean' },
  'no-signed-receipt': { type: 'boolean' },
  'accept-suites': { type: 'string' },
  encryption: { type: 'string' },
  signature: { type: 'string' },
  'compression-in': { type: 'string' },
  'signed-receipts': { type: 'string' },
  'certificate-files': { type: 'string' },
} as const;

/** --send values → SFIDSEC. */
const SEND_LEVELS: Record<string, 0 | 1 | 2 | 3> = { none: 0, encrypt: 1, sign: 2, 'sign+encrypt': 3 };

export const command: CliCommand = {
  name: 'partner',
  summary: 'Add, list or remove trading partners',
  usage: `oftp2 partner add NAME --odette-id ID --password-out PW --password-in PW [options]
       oftp2 partner list
       oftp2 partner remove NAME
       oftp2 partner security NAME [options]   (no option: show the agreement)
  --odette-id ID        the partner's Odette identification code (its SSIDCODE)
  --password-out PW     password we send to the partner (SSIDPSWD, up to 8 characters)
  --password-in PW      password the partner must send to us
  --host ADDR           where to dial the partner (omit for a partner that only dials in)
  --port N              the partner's port (default 3305, 6619 with --tls)
  --tls                 dial this partner over TLS (RFC 5024 §2.3) and refuse its logins over plain
                        TCP; trust its certificate with oftp2 cert trust / oftp2 cert import
  --level N             protocol level offered: 5 = OFTP 2.0 (default), 4, 2, 1 for OFTP 1.x
  --send-receive S|R|B  capabilities offered to this partner (default B)
  --buffer-size N       exchange buffer size for this partner (default: the station's)
  --credit N            credit window for this partner (default: the station's)
  --compression         offer buffer compression to this partner
  --no-restart          do not offer restart to this partner
  --max-file-size N     largest file accepted from this partner, octets (0 = no limit)
security (RFC 5024 §4.2.3, §6; both partners must agree):
  --secure-auth required|optional|off   SSIDAUTH: challenge each other with the authentication certificates
  --send none|sign|encrypt|sign+encrypt  file services for files we queue for the partner
  --cipher-suite N      SFIDCIPH for signing, encryption, signed receipts and challenges (1-6)
  --compress, --no-compress               zlib-compress files we send (inside the envelope)
  --signed-receipt, --no-signed-receipt   ask the partner for signed EERPs
  --accept-suites N,N   cipher suites accepted from the partner (others: SFNA 15)
  --encryption required|allowed|refused   its files encrypted (SFNA 17 / 16 otherwise)
  --signature required|allowed|refused    its files signed (SFNA 20 / 19 otherwise)
  --compression-in allowed|refused        its files compressed (SFNA 18)
  --signed-receipts allowed|refused       sign the EERPs it asks to be signed (SFNA 99)
  --certificate-files allowed|refused     certificate files (§10.4) kept for approval (SFNA 99)
${DATA_DIR_USAGE}`,
  async run(argv) {
    const [action, ...rest] = argv;
    switch (action) {
      case 'add':
        return add(rest);
      case 'list':
        return list(rest);
      case 'remove':
        return remove(rest);
      case 'security':
        return security(rest);
      default:
        throw usageError(action === undefined ? 'say add, list, remove or security' : `unknown action "${action}"`);
    }
  },
};

async function add(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: ADD_OPTIONS, allowPositionals: true });
  if (positionals.length !== 1) throw usageError('partner add takes one NAME');
  for (const required of ['odette-id', 'password-out', 'password-in'] as const) {
    if (!values[required]) throw usageError(`--${required} is required`);
  }
  const level = integerOption('level', values.level);
  const store = await StationStore.open(dataDirFrom(values));
  const partner = await store.addPartner(
    withoutUndefined({
      name: positionals[0],
      odetteId: values['odette-id'],
      host: values.host,
      port: integerOption('port', values.port),
      passwordToSend: values['password-out'],
      passwordExpected: values['password-in'],
      level,
      sendReceive: values['send-receive'],
      exchangeBufferSize: integerOption('buffer-size', values['buffer-size']),
      credit: integerOption('credit', values.credit),
      bufferCompression: values.compression,
      restart: values['no-restart'] ? false : undefined,
      maxFileSizeBytes: integerOption('max-file-size', values['max-file-size']),
      tls: values.tls,
    }),
  );
  process.stdout.write(`partner ${partner.name} (${partner.odetteId}) added\n`);
  return 0;
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({ args: argv, options: DATA_DIR_OPTION });
  const store = await StationStore.open(dataDirFrom(values));
  const rows = store.config.partners.map((p) => [
    p.name,
    p.odetteId,
    p.host ? `${p.host}:${p.port}` : '(dials in)',
    String(p.level),
    p.tls ? 'yes' : 'no',
  ]);
  process.stdout.write(table([['NAME', 'ODETTE ID', 'ADDRESS', 'LEVEL', 'TLS'], ...rows]));
  return 0;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: DATA_DIR_OPTION, allowPositionals: true });
  if (positionals.length !== 1) throw usageError('partner remove takes one NAME');
  const store = await StationStore.open(dataDirFrom(values));
  await store.removePartner(positionals[0]!);
  process.stdout.write(`partner ${positionals[0]} removed\n`);
  return 0;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw usageError(`--${name} is one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

function suiteList(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'none') return [];
  return value.split(',').map((v) => integerOption('accept-suites', v.trim())!);
}

async function security(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({ args: argv, options: SECURITY_OPTIONS, allowPositionals: true });
  if (positionals.length !== 1) throw usageError('partner security takes one NAME');
  const name = positionals[0]!;
  const store = await StationStore.open(dataDirFrom(values));
  if (!store.partner(name)) throw new ConfigError('OFTP_ERR_CONFIG', `no partner named "${name}" (see oftp2 partner list)`);
  const both = (on: boolean | undefined, off: boolean | undefined, option: string) => {
    if (on && off) throw usageError(`--${option} and --no-${option} together`);
    return on ? true : off ? false : undefined;
  };
  const send = withoutUndefined({
    securityLevel: values.send === undefined ? undefined : (SEND_LEVELS[values.send] ?? badSend(values.send)),
    cipherSuite: integerOption('cipher-suite', values['cipher-suite']),
    compression: both(values.compress, values['no-compress'], 'compress'),
    signedReceipt: both(values['signed-receipt'], values['no-signed-receipt'], 'signed-receipt'),
  });
  const acceptance = ['required', 'allowed', 'refused'] as const;
  const permission = ['allowed', 'refused'] as const;
  const receive = withoutUndefined({
    cipherSuites: suiteList(values['accept-suites']),
    encryption: oneOf('encryption', values.encryption, acceptance),
    signature: oneOf('signature', values.signature, acceptance),
    compression: oneOf('compression-in', values['compression-in'], permission),
    signedReceipts: oneOf('signed-receipts', values['signed-receipts'], permission),
    certificateExchange: oneOf('certificate-files', values['certificate-files'], permission),
  });
  const secureAuthentication = oneOf('secure-auth', values['secure-auth'], ['required', 'optional', 'off'] as const);
  if (Object.keys(send).length + Object.keys(receive).length > 0 || secureAuthentication !== undefined) {
    await store.update((draft) => {
      const p = draft.partners.find((x) => x.name === name)!;
      if (secureAuthentication !== undefined) p.secureAuthentication = secureAuthentication;
      if (Object.keys(send).length + Object.keys(receive).length > 0) {
        p.fileServices = { send: { ...p.fileServices?.send, ...send }, receive: { ...p.fileServices?.receive, ...receive } };
      }
    });
  }
  process.stdout.write(describeSecurity(store.partner(name)!));
  return 0;
}

function badSend(value: string): never {
  throw usageError(`--send is one of ${Object.keys(SEND_LEVELS).join(', ')}, got "${value}"`);
}

/** The agreement with every default filled in, one setting a line. */
export function describeSecurity(partner: PartnerConfig): string {
  const f = fileServicesOf(partner);
  const level = Object.entries(SEND_LEVELS).find(([, v]) => v === f.send.securityLevel)![0];
  const suite = (n: number) => String(n).padStart(2, '0');
  return table([
    ['SETTING', 'VALUE'],
    ['secure authentication', secureAuthenticationOf(partner)],
    ['send: file services', level],
    ['send: cipher suite', suite(f.send.cipherSuite)],
    ['send: compression', f.send.compression ? 'on' : 'off'],
    ['send: signed receipts', f.send.signedReceipt ? 'asked for' : 'not asked for'],
    ['receive: cipher suites', f.receive.cipherSuites.map(suite).join(', ') || 'none'],
    ['receive: encryption', f.receive.encryption],
    ['receive: signature', f.receive.signature],
    ['receive: compression', f.receive.compression],
    ['receive: signed receipts', f.receive.signedReceipts],
    ['receive: certificate files', f.receive.certificateExchange],
  ]);
}

/** Left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`).join('');
}
