// The ODETTE-FTP commands as a discriminated union on `cmd` (RFC 5024 §5.3; RFC 2204 §5.3 for 1.x).
// Field names say what a field means; the RFC field name is in each doc comment.
// Fields that only exist at level 5 are always present: decoding a 1.x command fills the neutral value
// (0, false, '', empty bytes), and encoding at a 1.x level refuses a non-neutral value.
// Numeric fields are JS numbers; values above Number.MAX_SAFE_INTEGER (9 PB) are refused as invalid data.
// Which commands exist where: all levels have SSRM SSID SFID SFPA SFNA DATA CDT EFID EFPA EFNA ESID CD EERP
// and RTR (RFC 2204 §5.3.14); NERP exists from level 4 (OFTP 1.4, RFC 5024 §1.2) with no reason text,
// hash or signature before level 5; SECD, AUCH and AURP exist at level 5 only.
// Level 4 carries the date and time stamps as CCYYMMDD and HHMMSScccc (levels 1/2: YYMMDD and HHMMSS).

/** SSIDLEV: 1 = OFTP 1.2/1.3 (RFC 2204), 2 = 1.3, 4 = 1.4, 5 = 2.0 (RFC 5024). */
export type ProtocolLevel = 1 | 2 | 4 | 5;
export const PROTOCOL_LEVELS: readonly ProtocolLevel[] = [1, 2, 4, 5];

/** SFIDFMT: Fixed, Variable, Unstructured, Text. */
export type VirtualFileFormat = 'F' | 'V' | 'U' | 'T';

/** SSIDSR: send only, receive only, both. */
export type SendReceiveCapability = 'S' | 'R' | 'B';

/** SSRM (§5.3.1): 'I' "ODETTE FTP READY " CR. */
export interface Ssrm {
  cmd: 'SSRM';
}

/** SSID (§5.3.2): start session. */
export interface Ssid {
  cmd: 'SSID';
  /** SSIDLEV */
  level: ProtocolLevel;
  /** SSIDCODE, X(25), see §5.4 */
  identificationCode: string;
  /** SSIDPSWD, X(8) */
  password: string;
  /** SSIDSDEB, 128..99999, includes the command octet, excludes the STH */
  exchangeBufferSize: number;
  /** SSIDSR */
  sendReceive: SendReceiveCapability;
  /** SSIDCMPR */
  bufferCompression: boolean;
  /** SSIDREST */
  restart: boolean;
  /** SSIDSPEC */
  specialLogic: boolean;
  /** SSIDCRED, 1..999 */
  credit: number;
  /** SSIDAUTH (level 5 only) */
  secureAuthentication: boolean;
  /** SSIDUSER, X(8) */
  userData: string;
}

/** SFID (§5.3.3): start file. */
export interface Sfid {
  cmd: 'SFID';
  /** SFIDDSN, X(26) */
  datasetName: string;
  /** SFIDDATE, 'CCYYMMDD' (level 1/2 carry YYMMDD on the wire: YY 50..99 is 19YY, 00..49 is 20YY) */
  date: string;
  /** SFIDTIME, 'HHMMSScccc' (level 1/2 carry HHMMSS on the wire: the counter decodes as '0000', and
   * encoding at those levels refuses any other counter rather than drop it) */
  time: string;
  /** SFIDUSER, X(8) */
  userData: string;
  /** SFIDDEST, X(25): the final recipient */
  destination: string;
  /** SFIDORIG, X(25): who created the file */
  originator: string;
  /** SFIDFMT */
  format: VirtualFileFormat;
  /** SFIDLRECL, 0..99999; 0 for U and T */
  maxRecordSize: number;
  /** SFIDFSIZ, transmitted size in 1K blocks */
  fileSize: number;
  /** SFIDOSIZ, original size in 1K blocks (level 5 only; 0 when unknown) */
  originalFileSize: number;
  /** SFIDREST: records for F/V, 1K blocks for U/T */
  restartPosition: number;
  /** SFIDSEC: 0 none, 1 encrypted, 2 signed, 3 both (level 5 only) */
  securityLevel: number;
  /** SFIDCIPH: cipher suite, 0 = none (level 5 only) */
  cipherSuite: number;
  /** SFIDCOMP: 0 none, 1 zlib (level 5 only) */
  compression: number;
  /** SFIDENV: 0 none, 1 CMS (level 5 only) */
  envelope: number;
  /** SFIDSIGN: signed EERP requested (level 5 only) */
  signedReceipt: boolean;
  /** SFIDDESC, UTF-8, at most 999 octets (level 5 only) */
  description: string;
}

/** SFPA (§5.3.4). */
export interface Sfpa {
  cmd: 'SFPA';
  /** SFPAACNT: restart position accepted by the listener, <= SFIDREST */
  answerCount: number;
}

/** SFNA (§5.3.5). */
export interface Sfna {
  cmd: 'SFNA';
  /** SFNAREAS */
  reason: number;
  /** SFNARRTR */
  retry: boolean;
  /** SFNAREAST, UTF-8 <= 999 octets (level 5 only) */
  reasonText: string;
}

/** DATA (§5.3.6): `payload` is the data exchange buffer after the command octet (§7), not copied. */
export interface Data {
  cmd: 'DATA';
  /** DATABUF */
  payload: Uint8Array;
}

/** CDT (§5.3.7). */
export interface Cdt {
  cmd: 'CDT';
}

/** EFID (§5.3.8). */
export interface Efid {
  cmd: 'EFID';
  /** EFIDRCNT: exact record count for F/V, 0 for U/T */
  recordCount: number;
  /** EFIDUCNT: exact octets of user data */
  unitCount: number;
}

/** EFPA (§5.3.9). */
export interface Efpa {
  cmd: 'EFPA';
  /** EFPACD: listener asks for the turn */
  changeDirection: boolean;
}

/** EFNA (§5.3.10). */
export interface Efna {
  cmd: 'EFNA';
  /** EFNAREAS */
  reason: number;
  /** EFNAREAST, UTF-8 <= 999 octets (level 5 only) */
  reasonText: string;
}

/** ESID (§5.3.11). */
export interface Esid {
  cmd: 'ESID';
  /** ESIDREAS */
  reason: number;
  /** ESIDREAST, UTF-8 <= 999 octets (level 5 only; an ESID in the 2.0 form is decoded with its text
   * at any level, since ESID can arrive before the level is agreed) */
  reasonText: string;
}

/** CD (§5.3.12). */
export interface Cd {
  cmd: 'CD';
}

/** EERP (§5.3.13): note DEST is the file's originator and ORIG the final recipient. */
export interface Eerp {
  cmd: 'EERP';
  /** EERPDSN */
  datasetName: string;
  /** EERPDATE 'CCYYMMDD' */
  date: string;
  /** EERPTIME 'HHMMSScccc' */
  time: string;
  /** EERPUSER */
  userData: string;
  /** EERPDEST: originator of the virtual file */
  destination: string;
  /** EERPORIG: final recipient, creator of the EERP */
  originator: string;
  /** EERPHSH (level 5 only) */
  fileHash: Uint8Array;
  /** EERPSIG, CMS SignedData (level 5 only) */
  signature: Uint8Array;
}

/** NERP (§5.3.14; from level 4, where it ends at NERPREAS: text, hash and signature are level 5). */
export interface Nerp {
  cmd: 'NERP';
  /** NERPDSN */
  datasetName: string;
  /** NERPDATE 'CCYYMMDD' */
  date: string;
  /** NERPTIME 'HHMMSScccc' */
  time: string;
  /** NERPDEST: originator of the virtual file */
  destination: string;
  /** NERPORIG: final recipient */
  originator: string;
  /** NERPCREA: who created the NERP */
  creator: string;
  /** NERPREAS */
  reason: number;
  /** NERPREAST (level 5 only) */
  reasonText: string;
  /** NERPHSH (level 5 only) */
  fileHash: Uint8Array;
  /** NERPSIG (level 5 only) */
  signature: Uint8Array;
}

/** RTR (§5.3.15; RFC 2204 §5.3.14: every level). */
export interface Rtr {
  cmd: 'RTR';
}

/** SECD (§5.3.16, level 5 only). */
export interface Secd {
  cmd: 'SECD';
}

/** AUCH (§5.3.17, level 5 only): CMS EnvelopedData of a 20-octet random challenge. */
export interface Auch {
  cmd: 'AUCH';
  /** AUCHCHAL */
  challenge: Uint8Array;
}

/** AURP (§5.3.18, level 5 only): the decrypted challenge, exactly 20 octets. */
export interface Aurp {
  cmd: 'AURP';
  /** AURPRSP */
  response: Uint8Array;
}

export type OdetteCommand =
  | Ssrm
  | Ssid
  | Sfid
  | Sfpa
  | Sfna
  | Data
  | Cdt
  | Efid
  | Efpa
  | Efna
  | Esid
  | Cd
  | Eerp
  | Nerp
  | Rtr
  | Secd
  | Auch
  | Aurp;

export type CommandName = OdetteCommand['cmd'];

/** The command identifier octet of each command (§5.3). */
export const COMMAND_IDS: Readonly<Record<CommandName, string>> = {
  SSRM: 'I',
  SSID: 'X',
  SFID: 'H',
  SFPA: '2',
  SFNA: '3',
  DATA: 'D',
  CDT: 'C',
  EFID: 'T',
  EFPA: '4',
  EFNA: '5',
  ESID: 'F',
  CD: 'R',
  EERP: 'E',
  NERP: 'N',
  RTR: 'P',
  SECD: 'J',
  AUCH: 'A',
  AURP: 'S',
};
