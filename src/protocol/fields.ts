// Primitive fields of command exchange buffers (RFC 5024 §5.1, §5.3; RFC 2204 §5.3).
//   X(n)  alphanumeric: ISO 646 subset of Appendix B, left-justified, space-padded
//   9(n)  numeric: ASCII digits, right-justified, zero-padded
//   U(n)  binary: unsigned, network byte order
//   T(n)  UTF-8 text, preceded by its octet length as 9(3) (at most 999 octets)
// plus the value rules of the fields built on them: "String" (§5.3), identification code (§5.4),
// virtual file dataset name, password, date CCYYMMDD and time HHMMSScccc (§1.5.2), numeric ranges.
// Readers return raw values (NaN / undefined for malformed ones); the codec turns those into errors
// naming the command and field, so nothing here allocates on the happy path beyond the value itself.

/** SSIDSDEB (§5.3.2): data exchange buffer size. */
export const EXCHANGE_BUFFER_SIZE_MIN = 128;
export const EXCHANGE_BUFFER_SIZE_MAX = 99999;
/** SSIDCRED (§5.3.2): credit window; 0 would forbid any DATA, so 1 is the floor. */
export const CREDIT_MIN = 1;
export const CREDIT_MAX = 999;
/** T(n) fields: "Maximum length of the encoded value is 999 octets" (9(3) length prefix). */
export const TEXT_MAX_OCTETS = 999;
/** U(2)-prefixed binary fields. */
export const BINARY_MAX_OCTETS = 0xffff;

const SPACE = 0x20;
export const CR = 0x0d;
/** SSRMCR/SSIDCR/ESIDCR: "Character with hex value '0D' or '8D'". */
export const CR_PARITY = 0x8d;

/** 1 for each octet of the String set (§5.3): 0-9 A-Z / - . & ( ) and space. */
const STRING_SET = new Uint8Array(256);
for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ/-.&() ') STRING_SET[c.charCodeAt(0)] = 1;

// ---------------------------------------------------------------------------------------------
// X(n): alphanumeric

/**
 * Reads X(n) at `offset` and removes the trailing space padding. Returns undefined when an octet is
 * outside the String set of Appendix B (every X field of a command is restricted to it, §5.1.2).
 */
export function readAlphanumeric(buffer: Uint8Array, offset: number, size: number): string | undefined {
  let end = offset + size;
  while (end > offset && buffer[end - 1] === SPACE) end--;
  let value = '';
  for (let i = offset; i < end; i++) {
    const octet = buffer[i]!;
    if (STRING_SET[octet] === 0) return undefined;
    value += String.fromCharCode(octet);
  }
  return value;
}

/** Writes X(n): the value (already validated, ASCII) left-justified and padded with spaces. */
export function writeAlphanumeric(target: Uint8Array, offset: number, size: number, value: string): void {
  for (let i = 0; i < size; i++) target[offset + i] = i < value.length ? value.charCodeAt(i) : SPACE;
}

/** True when every character is in the String set (spaces included). */
function inStringSet(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code > 0xff || STRING_SET[code] === 0) return false;
  }
  return true;
}

/** A "String" (§5.3): String set, no space at all once trailing padding is gone. May be empty. */
export function isOdetteString(value: string, maxLength: number): boolean {
  return value.length <= maxLength && inStringSet(value) && !value.includes(' ');
}

/** SSIDPSWD (§5.3.2): String(8). Empty is accepted here; whether it matches is the session's call. */
export function isPassword(value: string): boolean {
  return isOdetteString(value, 8);
}

/** SSIDUSER / SFIDUSER / EERPUSER: String(8), may be empty. */
export function isUserData(value: string): boolean {
  return isOdetteString(value, 8);
}

/** SFIDDSN / EERPDSN / NERPDSN: String(26), mandatory (§1.5.2: it identifies the virtual file). */
export function isDatasetName(value: string): boolean {
  return value.length > 0 && isOdetteString(value, 26);
}

/** SIOORG (§5.4) occupies positions 5..18 of the code and "may contain ... space". */
const SIO_ORG_START = 5;
const SIO_ORG_END = 19;

/**
 * Identification code (§5.4): SIOOID X(1), SIOICD (4), SIOORG X(14), SIOCSA X(6) = X(25), mandatory.
 * String set throughout; a space may only appear inside SIOORG (which §5.4 allows) and never at the end
 * (it would be padding). SIOICD is not forced to digits: §5.4 calls it both 9(4) and String(4), and
 * non-ODETTE codes (SIOOID other than 'O') have no defined structure.
 */
export function isIdentificationCode(value: string): boolean {
  if (value.length === 0 || value.length > 25 || !inStringSet(value)) return false;
  if (value.charCodeAt(value.length - 1) === SPACE) return false;
  for (let i = value.indexOf(' '); i !== -1; i = value.indexOf(' ', i + 1)) {
    if (i < SIO_ORG_START || i >= SIO_ORG_END) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// 9(n): numeric

/** Reads 9(n). NaN when an octet is not a digit or the value exceeds Number.MAX_SAFE_INTEGER. */
export function readNumeric(buffer: Uint8Array, offset: number, size: number): number {
  let value = 0;
  for (let i = offset; i < offset + size; i++) {
    const digit = buffer[i]! - 0x30;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  // Rounding is monotonic, so any true value above the limit still compares above it here.
  return value <= Number.MAX_SAFE_INTEGER ? value : Number.NaN;
}

/** Writes 9(n): a safe non-negative integer (already range-checked) right-justified, zero-padded. */
export function writeNumeric(target: Uint8Array, offset: number, size: number, value: number): void {
  let rest = value;
  for (let i = offset + size - 1; i >= offset; i--) {
    target[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
}

/** Largest value a 9(n) field holds, capped at MAX_SAFE_INTEGER (the documented limit of 9(17)). */
export function numericFieldMax(size: number): number {
  return size >= 16 ? Number.MAX_SAFE_INTEGER : 10 ** size - 1;
}

/** True for an integer in [min, max]. */
export function isIntegerInRange(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

// ---------------------------------------------------------------------------------------------
// U(n): binary

export function readUint16(buffer: Uint8Array, offset: number): number {
  return (buffer[offset]! << 8) | buffer[offset + 1]!;
}

export function writeUint16(target: Uint8Array, offset: number, value: number): void {
  target[offset] = value >>> 8;
  target[offset + 1] = value & 0xff;
}

// ---------------------------------------------------------------------------------------------
// T(n): UTF-8

// fatal: malformed UTF-8 is invalid data; ignoreBOM: a leading U+FEFF is content, kept for round trips.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Decodes UTF-8 octets; undefined when they are not well-formed UTF-8. */
export function readUtf8(buffer: Uint8Array, offset: number, length: number): string | undefined {
  if (length === 0) return '';
  try {
    return utf8Decoder.decode(buffer.subarray(offset, offset + length));
  } catch {
    return undefined;
  }
}

/** Encodes a string as UTF-8; undefined when it holds a lone surrogate (it would not round-trip). */
export function encodeUtf8(value: string): Uint8Array | undefined {
  return value.isWellFormed() ? utf8Encoder.encode(value) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Dates and times (§1.5.2): CCYYMMDD and HHMMSScccc; RFC 2204 carries YYMMDD and HHMMSS.

/**
 * Century rule for the YYMMDD stamps of RFC 2204 (levels 1 and 2): YY 50..99 is 19YY, YY 00..49 is 20YY,
 * the fixed pivot of RFC 5280 §4.1.2.5.1 (UTCTime). Fixed, so decoding stays pure (no clock); ODETTE-FTP
 * dates from before 1950 do not exist, and 1.x peers after 2049 are not a concern.
 */
export const SHORT_DATE_FIRST_YEAR = 1950;
export const SHORT_DATE_LAST_YEAR = 2049;

function digitsAt(value: string, start: number, count: number): number {
  let n = 0;
  for (let i = start; i < start + count; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return Number.NaN;
    n = n * 10 + d;
  }
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** 'CCYYMMDD', a real Gregorian calendar date (year 0001..9999). */
export function isDate(value: string): boolean {
  if (value.length !== 8) return false;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 4, 2);
  const day = digitsAt(value, 6, 2);
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month);
}

/** 'HHMMSScccc': 00..23, 00..59, 00..59 and a counter 0000..9999 (§1.5.2 says 0001..; 0000 is common). */
export function isTime(value: string): boolean {
  if (value.length !== 10) return false;
  const hours = digitsAt(value, 0, 2);
  const minutes = digitsAt(value, 2, 2);
  const seconds = digitsAt(value, 4, 2);
  return hours <= 23 && minutes <= 59 && seconds <= 59 && digitsAt(value, 6, 4) >= 0;
}

/** 'YYMMDD' (RFC 2204) to 'CCYYMMDD' by the century rule above. The result still needs isDate. */
export function expandShortDate(value: string): string {
  const yy = digitsAt(value, 0, 2);
  return (yy >= SHORT_DATE_FIRST_YEAR % 100 ? '19' : '20') + value;
}

/** True when a CCYYMMDD date can travel as YYMMDD and come back the same. */
export function fitsShortDate(value: string): boolean {
  const year = digitsAt(value, 0, 4);
  return year >= SHORT_DATE_FIRST_YEAR && year <= SHORT_DATE_LAST_YEAR;
}

/** The counter RFC 2204 times (HHMMSS) decode with, and the only one they can carry. */
export const SHORT_TIME_COUNTER = '0000';

// ---------------------------------------------------------------------------------------------

/** A field value as operators should read it in an error message (control octets escaped). */
export function printable(buffer: Uint8Array, offset: number, size: number): string {
  let text = '';
  for (let i = offset; i < offset + size && i < buffer.length; i++) {
    const octet = buffer[i]!;
    text += octet >= 0x20 && octet < 0x7f ? String.fromCharCode(octet) : `\\x${octet.toString(16).padStart(2, '0')}`;
  }
  return `'${text}'`;
}
