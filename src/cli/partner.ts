// `oftp2 partner add|list|remove`: the trading partners this station talks to.
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

export const command: CliCommand = {
  name: 'partner',
  summary: 'Add, list or remove trading partners',
  usage: `oftp2 partner add NAME --odette-id ID --password-out PW --password-in PW [options]
       oftp2 partner list
       oftp2 partner remove NAME
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
      default:
        throw usageError(action === undefined ? 'say add, list or remove' : `unknown action "${action}"`);
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

/** Left-aligned columns separated by two spaces. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`).join('');
}
