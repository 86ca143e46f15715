// The layout of every command exchange buffer at every protocol level, as data (walked by command-codec.ts).
//   Level 5 (OFTP 2.0): RFC 5024 §5.3.
//   Levels 1, 2 (OFTP 1.2/1.3): RFC 2204 §5.3 (RFC 5024 §5.3.2: '1' = 1.2, '2' = 1.3, same formats).
//   Level 4 (OFTP 1.4): no RFC. RFC 5024 §1.2 lists what 1.4 added to 1.3: NERP, the extended date and time
//     stamp, reason code 14. The exact layouts are those of two independent public implementations
//     (neociclo/accord `ReleaseFormatVer14`, Oftp4Net `ProtocolLevels`), which agree:
//     - SFID and EERP: RSV1 shrinks from X(9) to X(3), DATE becomes 9(8) CCYYMMDD at 30, TIME 9(10)
//       HHMMSScccc at 38; every other field keeps its 1.3 position and width (SFID 128, EERP 106 octets);
//     - NERP: the level-5 fields up to NERPREAS, fixed length 128 (no reason text, hash or signature);
//     - SSID, SFPA, SFNA, EFID, EFNA, ESID and all others: as 1.3 (no SSIDAUTH, no reason texts, 1.3 widths).
//   RTR exists at every level (RFC 2204 §5.3.14). SECD, AUCH, AURP exist at level 5 only.
import { COMMAND_IDS, type CommandName, type OdetteCommand, type ProtocolLevel } from './command-types.ts';
import { numericFieldMax } from './fields.ts';

/** How a field's octets are read and written (see fields.ts for the formats). */
export type FieldKind =
  | 'command' // the command identifier octet
  | 'level' // SSIDLEV 9(1)
  | 'literal' // fixed text (SSRMMSG)
  | 'reserved' // X(n), written as spaces, ignored on decode
  | 'cr' // carriage return 0x0D (0x8D accepted)
  | 'id' // X(n) identification code (§5.4)
  | 'password' // X(8) String
  | 'user' // X(8) String, may be empty
  | 'dsn' // X(26) String, mandatory
  | 'number' // 9(n) with a range
  | 'flag' // X(1) 'Y' / 'N' as a boolean
  | 'choice' // X(1), one of `values`
  | 'date' // 9(8) CCYYMMDD, or X(6) YYMMDD at levels 1/2
  | 'time' // 9(10) HHMMSScccc, or X(6) HHMMSS at levels 1/2
  | 'text' // 9(3) length + UTF-8
  | 'bytes' // U(2) length + binary
  | 'binary'; // U(n) fixed binary

export interface FieldLayout {
  /** RFC field name, as operators read it in errors (for text/bytes: the length field). */
  readonly name: string;
  readonly kind: FieldKind;
  /** Octets of the field; for 'text'/'bytes' the octets of the length prefix. */
  readonly size: number;
  /** Property of the command object that carries the value. */
  readonly prop?: string;
  /** RFC name of the data field that follows a length prefix (SFIDDESC after SFIDDESCL). */
  readonly dataName?: string;
  readonly min?: number;
  readonly max?: number;
  /** 'choice': the allowed characters; 'literal': the exact text. */
  readonly values?: string;
  /** ESID reason for an invalid value when it is not 06: 03 for SSIDCODE, 04 for SSIDPSWD (§5.3.11). */
  readonly esidReason?: number;
  /** 'text' / 'bytes': an empty value is invalid (AUCHCHAL). */
  readonly required?: boolean;
}

export interface CommandLayout {
  readonly cmd: CommandName;
  /** The command identifier octet. */
  readonly id: number;
  readonly fields: readonly FieldLayout[];
  /** Octets before the first variable-length data (the whole command when `variable` is false). */
  readonly fixedLength: number;
  readonly variable: boolean;
  /** Properties the command type has that this level cannot carry, with their neutral value. */
  readonly absent: readonly { prop: string; neutral: 'zero' | 'false' | 'empty-text' | 'empty-bytes' }[];
  /** All properties of the command type in level-5 order (decoded objects list them in this order). */
  readonly order: readonly string[];
}

type Props<C extends OdetteCommand> = Exclude<keyof C, 'cmd'> & string;
type Spec<C extends OdetteCommand> = Omit<FieldLayout, 'prop'> & { prop?: Props<C> };

// Field constructors: the RFC name first, as in the tables of §5.3.
const reserved = (name: string, size: number) => ({ name, kind: 'reserved', size }) as const;
const cr = (name: string) => ({ name, kind: 'cr', size: 1 }) as const;
function num<C extends OdetteCommand>(name: string, size: number, prop: Props<C>, min = 0, max?: number): Spec<C> {
  return { name, kind: 'number', size, prop, min, max: max ?? numericFieldMax(size) };
}
function field<C extends OdetteCommand>(name: string, kind: FieldKind, size: number, prop: Props<C>): Spec<C> {
  return { name, kind, size, prop };
}
function text<C extends OdetteCommand>(name: string, dataName: string, prop: Props<C>): Spec<C> {
  return { name, kind: 'text', size: 3, prop, dataName };
}
function bytes<C extends OdetteCommand>(name: string, dataName: string, prop: Props<C>): Spec<C> {
  return { name, kind: 'bytes', size: 2, prop, dataName };
}

// ---------------------------------------------------------------------------------------------
// Level 5: RFC 5024 §5.3

type Ssid = Extract<OdetteCommand, { cmd: 'SSID' }>;
type Sfid = Extract<OdetteCommand, { cmd: 'SFID' }>;
type Sfpa = Extract<OdetteCommand, { cmd: 'SFPA' }>;
type Sfna = Extract<OdetteCommand, { cmd: 'SFNA' }>;
type Efid = Extract<OdetteCommand, { cmd: 'EFID' }>;
type Efpa = Extract<OdetteCommand, { cmd: 'EFPA' }>;
type Efna = Extract<OdetteCommand, { cmd: 'EFNA' }>;
type Esid = Extract<OdetteCommand, { cmd: 'ESID' }>;
type Eerp = Extract<OdetteCommand, { cmd: 'EERP' }>;
type Nerp = Extract<OdetteCommand, { cmd: 'NERP' }>;
type Auch = Extract<OdetteCommand, { cmd: 'AUCH' }>;
type Aurp = Extract<OdetteCommand, { cmd: 'AURP' }>;

/** SSID head, identical at every level (§5.3.2, RFC 2204 §5.3.2): positions 0..46. */
const ssidHead: Spec<Ssid>[] = [
  { name: 'SSIDLEV', kind: 'level', size: 1, prop: 'level' },
  { ...field<Ssid>('SSIDCODE', 'id', 25, 'identificationCode'), esidReason: 3 },
  { ...field<Ssid>('SSIDPSWD', 'password', 8, 'password'), esidReason: 4 },
  num<Ssid>('SSIDSDEB', 5, 'exchangeBufferSize', 128, 99999),
  { name: 'SSIDSR', kind: 'choice', size: 1, prop: 'sendReceive', values: 'SRB' },
  { name: 'SSIDCMPR', kind: 'flag', size: 1, prop: 'bufferCompression' },
  { name: 'SSIDREST', kind: 'flag', size: 1, prop: 'restart' },
  { name: 'SSIDSPEC', kind: 'flag', size: 1, prop: 'specialLogic' },
  num<Ssid>('SSIDCRED', 3, 'credit', 1, 999),
];
const ssidTail: Spec<Ssid>[] = [field<Ssid>('SSIDUSER', 'user', 8, 'userData'), cr('SSIDCR')];

/**
 * SFID/EERP positions 1..105: the virtual file's identity (§1.5.2) and its parties. With short stamps
 * (RFC 2204) RSV1 is X(9) and DATE/TIME are YYMMDD/HHMMSS at 36/42; else X(3) and 9(8)/9(10) at 30/38.
 */
function identity(cmd: 'SFID' | 'EERP', shortStamps: boolean): FieldLayout[] {
  const field = (name: string, kind: FieldKind, size: number, prop: Props<Sfid> & Props<Eerp>) =>
    ({ name, kind, size, prop }) as const;
  return [
    field(`${cmd}DSN`, 'dsn', 26, 'datasetName'),
    reserved(`${cmd}RSV1`, shortStamps ? 9 : 3),
    field(`${cmd}DATE`, 'date', shortStamps ? 6 : 8, 'date'),
    field(`${cmd}TIME`, 'time', shortStamps ? 6 : 10, 'time'),
    field(`${cmd}USER`, 'user', 8, 'userData'),
    field(`${cmd}DEST`, 'id', 25, 'destination'),
    field(`${cmd}ORIG`, 'id', 25, 'originator'),
  ];
}

/** SFID positions 106..118 common to all levels. */
const sfidFormat: Spec<Sfid>[] = [
  { name: 'SFIDFMT', kind: 'choice', size: 1, prop: 'format', values: 'FVUT' },
  num<Sfid>('SFIDLRECL', 5, 'maxRecordSize'),
];

const nerpHead: Spec<Nerp>[] = [
  field<Nerp>('NERPDSN', 'dsn', 26, 'datasetName'),
  reserved('NERPRSV1', 6),
  field<Nerp>('NERPDATE', 'date', 8, 'date'),
  field<Nerp>('NERPTIME', 'time', 10, 'time'),
  field<Nerp>('NERPDEST', 'id', 25, 'destination'),
  field<Nerp>('NERPORIG', 'id', 25, 'originator'),
  field<Nerp>('NERPCREA', 'id', 25, 'creator'),
  num<Nerp>('NERPREAS', 2, 'reason'),
];

type Table = Partial<Record<CommandName, readonly FieldLayout[]>>;

const level5: Table = {
  SSRM: [{ name: 'SSRMMSG', kind: 'literal', size: 17, values: 'ODETTE FTP READY ' }, cr('SSRMCR')],
  SSID: [...ssidHead, field<Ssid>('SSIDAUTH', 'flag', 1, 'secureAuthentication'), reserved('SSIDRSV1', 4), ...ssidTail],
  SFID: [
    ...identity('SFID', false),
    ...sfidFormat,
    num<Sfid>('SFIDFSIZ', 13, 'fileSize'),
    num<Sfid>('SFIDOSIZ', 13, 'originalFileSize'),
    num<Sfid>('SFIDREST', 17, 'restartPosition'),
    num<Sfid>('SFIDSEC', 2, 'securityLevel', 0, 3),
    // Cipher suite, compression and envelope may be extended outside RFC 5024 (§10.3): any value is
    // carried, and refusing an unknown one is the session's SFNA (15, 18), not a decode error.
    num<Sfid>('SFIDCIPH', 2, 'cipherSuite'),
    num<Sfid>('SFIDCOMP', 1, 'compression'),
    num<Sfid>('SFIDENV', 1, 'envelope'),
    field<Sfid>('SFIDSIGN', 'flag', 1, 'signedReceipt'),
    text<Sfid>('SFIDDESCL', 'SFIDDESC', 'description'),
  ],
  SFPA: [num<Sfpa>('SFPAACNT', 17, 'answerCount')],
  SFNA: [
    num<Sfna>('SFNAREAS', 2, 'reason'),
    field<Sfna>('SFNARRTR', 'flag', 1, 'retry'),
    text<Sfna>('SFNAREASL', 'SFNAREAST', 'reasonText'),
  ],
  CDT: [reserved('CDTRSV1', 2)],
  EFID: [num<Efid>('EFIDRCNT', 17, 'recordCount'), num<Efid>('EFIDUCNT', 17, 'unitCount')],
  EFPA: [field<Efpa>('EFPACD', 'flag', 1, 'changeDirection')],
  EFNA: [num<Efna>('EFNAREAS', 2, 'reason'), text<Efna>('EFNAREASL', 'EFNAREAST', 'reasonText')],
  ESID: [num<Esid>('ESIDREAS', 2, 'reason'), text<Esid>('ESIDREASL', 'ESIDREAST', 'reasonText'), cr('ESIDCR')],
  CD: [],
  EERP: [
    ...identity('EERP', false),
    bytes<Eerp>('EERPHSHL', 'EERPHSH', 'fileHash'),
    bytes<Eerp>('EERPSIGL', 'EERPSIG', 'signature'),
  ],
  NERP: [
    ...nerpHead,
    text<Nerp>('NERPREASL', 'NERPREAST', 'reasonText'),
    bytes<Nerp>('NERPHSHL', 'NERPHSH', 'fileHash'),
    bytes<Nerp>('NERPSIGL', 'NERPSIG', 'signature'),
  ],
  RTR: [],
  SECD: [],
  AUCH: [{ ...bytes<Auch>('AUCHCHLL', 'AUCHCHAL', 'challenge'), required: true }],
  AURP: [field<Aurp>('AURPRSP', 'binary', 20, 'response')],
};

// ---------------------------------------------------------------------------------------------
// Levels 1 and 2: RFC 2204 §5.3

const ssid1x: Spec<Ssid>[] = [...ssidHead, reserved('SSIDRSV1', 5), ...ssidTail];
const esid1x = [num<Esid>('ESIDREAS', 2, 'reason'), cr('ESIDCR')];

function sfid1x(shortStamps: boolean): FieldLayout[] {
  return [
    ...identity('SFID', shortStamps),
    ...sfidFormat,
    num<Sfid>('SFIDFSIZ', 7, 'fileSize'),
    num<Sfid>('SFIDREST', 9, 'restartPosition'),
  ];
}

const level1x: Table = {
  SSRM: level5.SSRM,
  SSID: ssid1x,
  SFID: sfid1x(true),
  SFPA: [num<Sfpa>('SFPAACNT', 9, 'answerCount')],
  SFNA: [num<Sfna>('SFNAREAS', 2, 'reason'), field<Sfna>('SFNARRTR', 'flag', 1, 'retry')],
  CDT: level5.CDT,
  EFID: [num<Efid>('EFIDRCNT', 9, 'recordCount'), num<Efid>('EFIDUCNT', 12, 'unitCount')],
  EFPA: level5.EFPA,
  EFNA: [num<Efna>('EFNAREAS', 2, 'reason')],
  ESID: esid1x,
  CD: [],
  EERP: identity('EERP', true),
  RTR: [],
};

// ---------------------------------------------------------------------------------------------
// Level 4: OFTP 1.4 (see the header)

const level4: Table = {
  ...level1x,
  SFID: sfid1x(false),
  EERP: identity('EERP', false),
  NERP: nerpHead,
};

// ---------------------------------------------------------------------------------------------

function neutralOf(kind: FieldKind): CommandLayout['absent'][number]['neutral'] {
  if (kind === 'flag') return 'false';
  if (kind === 'text') return 'empty-text';
  if (kind === 'bytes' || kind === 'binary') return 'empty-bytes';
  return 'zero';
}

function build(table: Table): Partial<Record<CommandName, CommandLayout>> {
  const layouts: Partial<Record<CommandName, CommandLayout>> = {};
  for (const [cmd, specs] of Object.entries(table) as [CommandName, readonly FieldLayout[]][]) {
    const fields: FieldLayout[] = [{ name: `${cmd}CMD`, kind: 'command', size: 1 }, ...specs];
    let fixedLength = 0;
    let variable = false;
    for (const f of fields) {
      fixedLength += f.size;
      if (f.kind === 'text' || f.kind === 'bytes') {
        variable = true;
        break;
      }
    }
    const own = new Set(fields.map((f) => f.prop));
    const full = (level5[cmd] as readonly FieldLayout[]).filter((f) => f.prop !== undefined);
    const absent = full.filter((f) => !own.has(f.prop)).map((f) => ({ prop: f.prop!, neutral: neutralOf(f.kind) }));
    const order = full.map((f) => f.prop!);
    layouts[cmd] = { cmd, id: COMMAND_OCTETS[cmd], fields, fixedLength, variable, absent, order };
  }
  return layouts;
}

/** The identifier octet of each command (§5.3). */
export const COMMAND_OCTETS = Object.fromEntries(
  Object.entries(COMMAND_IDS).map(([cmd, id]) => [cmd, id.charCodeAt(0)]),
) as Readonly<Record<CommandName, number>>;

/** Command name by identifier octet (all levels). */
export const COMMAND_BY_OCTET: ReadonlyMap<number, CommandName> = new Map(
  Object.entries(COMMAND_OCTETS).map(([cmd, octet]) => [octet, cmd as CommandName]),
);

const layouts1x = build(level1x);

/** LAYOUTS[level][cmd]: undefined when the command does not exist at that level. DATA is not here. */
export const LAYOUTS: Readonly<Record<ProtocolLevel, Partial<Record<CommandName, CommandLayout>>>> = {
  1: layouts1x,
  2: layouts1x,
  4: build(level4),
  5: build(level5),
};

/**
 * ESID in the 1.x form (4 octets): ESID can arrive before the level is agreed (a 1.x responder refusing
 * our level-5 SSID), so the decoder takes either form at any level, telling them apart by length.
 */
export const ESID_SHORT = LAYOUTS[1].ESID!;
export const ESID_LONG = LAYOUTS[5].ESID!;
