// Command exchange buffers (RFC 5024 §5.3; RFC 2204 §5.3; OFTP 1.4): one generic decoder and encoder
// walking the layouts of command-layouts.ts, plus the DATA hot path (no copy on decode).
// Decode errors (DecodeError) name the command, the RFC field, its offset and the ESID reason (§5.3.11):
//   01 an unknown command octet, or a command that does not exist at the level;
//   06 a field with invalid data (03 for a malformed SSIDCODE, 04 for SSIDPSWD, as §5.3.11 defines them);
//   07 a length other than the command implies: too short, a length prefix past the end, trailing octets.
// A fixed-length command is length-checked before its fields are read; otherwise the first problem in
// field order is reported. Encode errors are LocalUsageError 'OFTP_ERR_ENCODE' (our misuse).
// Two commands choose their layout themselves, since they can arrive before the level is agreed:
//   SSID by its own SSIDLEV octet (the `level` argument is ignored);
//   ESID by its length: 4 octets is the 1.x form, 7 or more the 2.0 form, taken at any level (a 1.x
//   responder refuses our level-5 SSID with a 1.x ESID); a 2.0 form at a 1.x level keeps its text.
import { DecodeError, type ErrorCode, LocalUsageError } from '../errors.ts';
import {
  COMMAND_BY_OCTET,
  COMMAND_OCTETS,
  type CommandLayout,
  ESID_LONG,
  ESID_SHORT,
  type FieldLayout,
  LAYOUTS,
} from './command-layouts.ts';
import type { OdetteCommand, ProtocolLevel } from './command-types.ts';
import {
  CR,
  CR_PARITY,
  encodeUtf8,
  expandShortDate,
  fitsShortDate,
  isDatasetName,
  isDate,
  isIdentificationCode,
  isIntegerInRange,
  isPassword,
  isTime,
  isUserData,
  printable,
  readAlphanumeric,
  readNumeric,
  readUint16,
  readUtf8,
  SHORT_TIME_COUNTER,
  TEXT_MAX_OCTETS,
  BINARY_MAX_OCTETS,
  writeAlphanumeric,
  writeNumeric,
  writeUint16,
} from './fields.ts';

const DATA_OCTET = COMMAND_OCTETS.DATA;
const ESID_SHORT_LENGTH = ESID_SHORT.fixedLength;
const ESID_LONG_MIN_LENGTH = ESID_LONG.fixedLength + 1;

function isLevel(level: unknown): level is ProtocolLevel {
  return level === 1 || level === 2 || level === 4 || level === 5;
}

// ---------------------------------------------------------------------------------------------
// Decode

function fail(code: ErrorCode, esidReason: number, command: string, field: string, offset: number, message: string): never {
  throw new DecodeError(code, { command, field, offset, esidReason, message });
}

function sizeError(command: string, field: string, offset: number, message: string): never {
  fail('OFTP_ERR_BUFFER_SIZE', 7, command, field, offset, message);
}

function invalid(layout: CommandLayout, f: FieldLayout, offset: number, message: string): never {
  fail('OFTP_ERR_INVALID_FIELD', f.esidReason ?? 6, layout.cmd, f.name, offset, message);
}

/** Decode one command exchange buffer (without STH) at the negotiated level. Throws DecodeError. */
export function decodeCommand(buffer: Uint8Array, level: ProtocolLevel): OdetteCommand {
  if (!isLevel(level)) throw new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', `no protocol level ${String(level)}`);
  if (buffer.length === 0) sizeError('(empty)', 'CMD', 0, 'the exchange buffer is empty');
  const octet = buffer[0]!;
  if (octet === DATA_OCTET) {
    // §5.3.6: the payload is the rest of the buffer, handed over without a copy.
    if (buffer.length < 2) sizeError('DATA', 'DATABUF', 1, 'a DATA exchange buffer without payload');
    return { cmd: 'DATA', payload: buffer.subarray(1) };
  }
  const cmd = COMMAND_BY_OCTET.get(octet);
  if (cmd === undefined) {
    const name = `0x${octet.toString(16).padStart(2, '0')}`;
    fail('OFTP_ERR_UNKNOWN_COMMAND', 1, name, 'CMD', 0, `unknown command identifier ${printable(buffer, 0, 1)}`);
  }
  let layout: CommandLayout | undefined;
  if (cmd === 'SSID') layout = ssidLayout(buffer);
  else if (cmd === 'ESID') {
    const short = level === 5 ? buffer.length === ESID_SHORT_LENGTH : buffer.length < ESID_LONG_MIN_LENGTH;
    layout = short ? ESID_SHORT : ESID_LONG;
  } else layout = LAYOUTS[level][cmd];
  if (layout === undefined) {
    fail('OFTP_ERR_UNKNOWN_COMMAND', 1, cmd, `${cmd}CMD`, 0, `${cmd} does not exist at protocol level ${level}`);
  }
  return decodeWith(layout, buffer);
}

/**
 * SSIDLEV (§5.3.2) decides the SSID layout. A level above 5 is a future release: "negotiable, with the
 * lowest level being selected", so it is read with the level-5 layout and reported as 5, the level the
 * session will settle on. 0 and 3 are not levels.
 */
function ssidLayout(buffer: Uint8Array): CommandLayout {
  const ssid = LAYOUTS[5].SSID!;
  if (buffer.length < 2) sizeError('SSID', 'SSIDLEV', 1, 'the buffer ends before SSIDLEV');
  const level = buffer[1]! - 0x30;
  if (level >= 6 && level <= 9) return ssid;
  if (!isLevel(level)) invalid(ssid, ssid.fields[1]!, 1, `unknown protocol release level ${printable(buffer, 1, 1)}`);
  return LAYOUTS[level].SSID!;
}

/** Offset of the field of a fixed prefix that the buffer cuts short, for the size error. */
function truncatedField(layout: CommandLayout, length: number): [FieldLayout, number] {
  let offset = 0;
  for (const f of layout.fields) {
    if (offset + f.size > length) return [f, offset];
    offset += f.size;
  }
  return [layout.fields[layout.fields.length - 1]!, offset];
}

function decodeWith(layout: CommandLayout, buffer: Uint8Array): OdetteCommand {
  const length = buffer.length;
  if (length < layout.fixedLength) {
    const [f, offset] = truncatedField(layout, length);
    sizeError(layout.cmd, f.name, offset, `the buffer ends at ${length}; ${layout.cmd} needs ${layout.fixedLength} octets here`);
  }
  if (!layout.variable && length > layout.fixedLength) {
    sizeError(layout.cmd, '(end)', layout.fixedLength, `${length - layout.fixedLength} octets after the last field; ${layout.cmd} is ${layout.fixedLength} octets`);
  }
  const out: Record<string, unknown> = { cmd: layout.cmd };
  if (layout.absent.length > 0) for (const p of layout.order) out[p] = undefined; // keep level-5 order
  for (const a of layout.absent) {
    out[a.prop] = a.neutral === 'zero' ? 0 : a.neutral === 'false' ? false : a.neutral === 'empty-text' ? '' : new Uint8Array(0);
  }
  let pos = 0;
  for (const f of layout.fields) {
    if (pos + f.size > length) sizeError(layout.cmd, f.name, pos, `the buffer ends before ${f.name}`);
    const value = readField(layout, f, buffer, pos);
    if (f.prop !== undefined) out[f.prop] = value;
    pos += f.size;
    if (f.kind === 'text' || f.kind === 'bytes') pos += variableLength(f, buffer, pos - f.size);
  }
  if (pos !== length) sizeError(layout.cmd, '(end)', pos, `${length - pos} octets after the last field`);
  return out as unknown as OdetteCommand;
}

/** Octets of the data following the length prefix at `offset` (already validated by readField). */
function variableLength(f: FieldLayout, buffer: Uint8Array, offset: number): number {
  return f.kind === 'text' ? readNumeric(buffer, offset, 3) : readUint16(buffer, offset);
}

function readField(layout: CommandLayout, f: FieldLayout, buffer: Uint8Array, pos: number): unknown {
  switch (f.kind) {
    case 'command':
    case 'reserved': // "reserved for future use": not interpreted
      return undefined;
    case 'level':
      return Math.min(buffer[pos]! - 0x30, 5);
    case 'literal':
      for (let i = 0; i < f.size; i++) {
        if (buffer[pos + i] !== f.values!.charCodeAt(i)) invalid(layout, f, pos, `expected '${f.values}', got ${printable(buffer, pos, f.size)}`);
      }
      return undefined;
    case 'cr':
      if (buffer[pos] !== CR && buffer[pos] !== CR_PARITY) invalid(layout, f, pos, `expected a carriage return, got ${printable(buffer, pos, 1)}`);
      return undefined;
    case 'id':
    case 'password':
    case 'user':
    case 'dsn':
      return readString(layout, f, buffer, pos);
    case 'number': {
      const value = readNumeric(buffer, pos, f.size);
      if (Number.isNaN(value)) invalid(layout, f, pos, `not a number below 2^53: ${printable(buffer, pos, f.size)}`);
      if (value < f.min! || value > f.max!) invalid(layout, f, pos, `${value} is outside ${f.min}..${f.max}`);
      return value;
    }
    case 'flag': {
      const octet = buffer[pos];
      if (octet === 0x59) return true; // 'Y'
      if (octet === 0x4e) return false; // 'N'
      return invalid(layout, f, pos, `expected 'Y' or 'N', got ${printable(buffer, pos, 1)}`);
    }
    case 'choice': {
      const value = String.fromCharCode(buffer[pos]!);
      if (!f.values!.includes(value)) invalid(layout, f, pos, `expected one of '${f.values}', got ${printable(buffer, pos, 1)}`);
      return value;
    }
    case 'date': {
      const raw = String.fromCharCode(...buffer.subarray(pos, pos + f.size));
      const value = f.size === 6 ? expandShortDate(raw) : raw;
      if (!isDate(value)) invalid(layout, f, pos, `not a calendar date ${f.size === 6 ? 'YYMMDD' : 'CCYYMMDD'}: ${printable(buffer, pos, f.size)}`);
      return value;
    }
    case 'time': {
      const raw = String.fromCharCode(...buffer.subarray(pos, pos + f.size));
      const value = f.size === 6 ? raw + SHORT_TIME_COUNTER : raw;
      if (!isTime(value)) invalid(layout, f, pos, `not a time ${f.size === 6 ? 'HHMMSS' : 'HHMMSScccc'}: ${printable(buffer, pos, f.size)}`);
      return value;
    }
    case 'text': {
      const n = readNumeric(buffer, pos, 3);
      if (Number.isNaN(n)) invalid(layout, f, pos, `length is not 9(3): ${printable(buffer, pos, 3)}`);
      const start = pos + 3;
      if (start + n > buffer.length) sizeError(layout.cmd, f.dataName!, start, `${f.name} says ${n} octets, ${buffer.length - start} remain`);
      const value = readUtf8(buffer, start, n);
      if (value === undefined) invalid(layout, { ...f, name: f.dataName! }, start, 'not well-formed UTF-8');
      return value;
    }
    case 'bytes': {
      const n = readUint16(buffer, pos);
      const start = pos + 2;
      if (start + n > buffer.length) sizeError(layout.cmd, f.dataName!, start, `${f.name} says ${n} octets, ${buffer.length - start} remain`);
      if (n === 0 && f.required) invalid(layout, f, pos, `${f.dataName} is required`);
      return buffer.slice(start, start + n);
    }
    case 'binary':
      return buffer.slice(pos, pos + f.size);
  }
}

const STRING_RULES = {
  id: [isIdentificationCode, 'an identification code (§5.4)'],
  password: [isPassword, 'a String(8) password'],
  user: [isUserData, 'a String(8)'],
  dsn: [isDatasetName, 'a non-empty String(26) dataset name'],
} as const;

function readString(layout: CommandLayout, f: FieldLayout, buffer: Uint8Array, pos: number): string {
  const value = readAlphanumeric(buffer, pos, f.size);
  // A password is never echoed into messages and logs.
  const shown = f.kind === 'password' ? '' : `: ${printable(buffer, pos, f.size)}`;
  if (value === undefined) invalid(layout, f, pos, `an octet outside the String set (§5.3)${shown}`);
  const [valid, what] = STRING_RULES[f.kind as keyof typeof STRING_RULES];
  if (!valid(value)) invalid(layout, f, pos, `not ${what}${shown}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Encode

function refuse(message: string): never {
  throw new LocalUsageError('OFTP_ERR_ENCODE', message);
}

/** Encode one command at a level. Throws LocalUsageError (OFTP_ERR_ENCODE) for what the level cannot carry. */
export function encodeCommand(command: OdetteCommand, level: ProtocolLevel): Uint8Array {
  if (!isLevel(level)) refuse(`no protocol level ${String(level)}`);
  if (typeof command !== 'object' || command === null) refuse('not a command');
  if (command.cmd === 'DATA') {
    const { payload } = command;
    if (!(payload instanceof Uint8Array) || payload.length === 0) refuse('DATA.DATABUF: a non-empty Uint8Array is required');
    const out = new Uint8Array(payload.length + 1);
    out[0] = DATA_OCTET;
    out.set(payload, 1);
    return out;
  }
  let layout: CommandLayout | undefined;
  if (command.cmd === 'SSID') {
    if (!isLevel(command.level)) refuse(`SSID.SSIDLEV: no protocol level ${String(command.level)}`);
    layout = LAYOUTS[command.level].SSID!;
  } else {
    if (!Object.hasOwn(COMMAND_OCTETS, command.cmd)) refuse(`unknown command ${String(command.cmd)}`);
    layout = LAYOUTS[level][command.cmd];
  }
  if (layout === undefined) refuse(`${command.cmd} does not exist at protocol level ${level}`);
  return encodeWith(layout, command as unknown as Record<string, unknown>, level);
}

function encodeWith(layout: CommandLayout, command: Record<string, unknown>, level: ProtocolLevel): Uint8Array {
  for (const a of layout.absent) {
    const v = command[a.prop];
    const neutral =
      a.neutral === 'zero' ? v === 0
      : a.neutral === 'false' ? v === false
      : a.neutral === 'empty-text' ? v === ''
      : v instanceof Uint8Array && v.length === 0;
    if (!neutral) refuse(`${layout.cmd}.${a.prop}: protocol level ${level} cannot carry it (it must be neutral)`);
  }
  // Pass 1: validate every value and size the buffer; text is encoded once here.
  const encoded: (Uint8Array | undefined)[] = [];
  let length = 0;
  for (const f of layout.fields) {
    const value = f.prop === undefined ? undefined : command[f.prop];
    const data = checkValue(layout, f, value);
    encoded.push(data);
    length += f.size + (data?.length ?? 0);
  }
  // Pass 2: write.
  const out = new Uint8Array(length);
  let pos = 0;
  for (let i = 0; i < layout.fields.length; i++) {
    const f = layout.fields[i]!;
    const value = f.prop === undefined ? undefined : command[f.prop];
    writeField(layout, f, value, encoded[i], out, pos);
    pos += f.size + (encoded[i]?.length ?? 0);
  }
  return out;
}

/** Refuses a value the field cannot carry; returns the octets of variable data. */
function checkValue(layout: CommandLayout, f: FieldLayout, value: unknown): Uint8Array | undefined {
  const where = `${layout.cmd}.${f.name}`;
  switch (f.kind) {
    case 'id':
    case 'password':
    case 'user':
    case 'dsn': {
      const [valid, what] = STRING_RULES[f.kind];
      if (typeof value !== 'string' || !valid(value)) {
        refuse(`${where}: not ${what}${f.kind === 'password' ? '' : `: ${JSON.stringify(value)}`}`);
      }
      return undefined;
    }
    case 'number':
      if (!isIntegerInRange(value, f.min!, f.max!)) refuse(`${where}: ${String(value)} is not an integer in ${f.min}..${f.max}`);
      return undefined;
    case 'flag':
      if (typeof value !== 'boolean') refuse(`${where}: a boolean is required`);
      return undefined;
    case 'choice':
      if (typeof value !== 'string' || value.length !== 1 || !f.values!.includes(value)) {
        refuse(`${where}: ${JSON.stringify(value)} is not one of '${f.values}'`);
      }
      return undefined;
    case 'date':
      if (typeof value !== 'string' || !isDate(value)) refuse(`${where}: ${JSON.stringify(value)} is not a calendar date CCYYMMDD`);
      if (f.size === 6 && !fitsShortDate(value)) refuse(`${where}: ${value} cannot travel as YYMMDD (years 1950..2049 only)`);
      return undefined;
    case 'time':
      if (typeof value !== 'string' || !isTime(value)) refuse(`${where}: ${JSON.stringify(value)} is not a time HHMMSScccc`);
      // Dropping the counter would change the virtual file's identity (§1.5.2): refuse instead.
      if (f.size === 6 && !value.endsWith(SHORT_TIME_COUNTER)) refuse(`${where}: ${value} has a counter; HHMMSS carries only counter 0000`);
      return undefined;
    case 'text': {
      const data = typeof value === 'string' ? encodeUtf8(value) : undefined;
      if (data === undefined) refuse(`${layout.cmd}.${f.dataName}: a well-formed string is required`);
      if (data.length > TEXT_MAX_OCTETS) refuse(`${layout.cmd}.${f.dataName}: ${data.length} octets of UTF-8, at most ${TEXT_MAX_OCTETS}`);
      return data;
    }
    case 'bytes':
      if (!(value instanceof Uint8Array)) refuse(`${layout.cmd}.${f.dataName}: a Uint8Array is required`);
      if (value.length > BINARY_MAX_OCTETS) refuse(`${layout.cmd}.${f.dataName}: ${value.length} octets, at most ${BINARY_MAX_OCTETS}`);
      if (value.length === 0 && f.required) refuse(`${layout.cmd}.${f.dataName}: it is required`);
      return value;
    case 'binary':
      if (!(value instanceof Uint8Array) || value.length !== f.size) refuse(`${where}: a Uint8Array of ${f.size} octets is required`);
      return undefined;
    default:
      return undefined;
  }
}

function writeField(layout: CommandLayout, f: FieldLayout, value: unknown, data: Uint8Array | undefined, out: Uint8Array, pos: number): void {
  switch (f.kind) {
    case 'command':
      out[pos] = layout.id;
      return;
    case 'level':
      out[pos] = 0x30 + (value as number);
      return;
    case 'literal':
      writeAlphanumeric(out, pos, f.size, f.values!);
      return;
    case 'reserved':
      writeAlphanumeric(out, pos, f.size, '');
      return;
    case 'cr':
      out[pos] = CR;
      return;
    case 'id':
    case 'password':
    case 'user':
    case 'dsn':
    case 'choice':
      writeAlphanumeric(out, pos, f.size, value as string);
      return;
    case 'number':
      writeNumeric(out, pos, f.size, value as number);
      return;
    case 'flag':
      out[pos] = value ? 0x59 : 0x4e;
      return;
    case 'date':
      writeAlphanumeric(out, pos, f.size, f.size === 6 ? (value as string).slice(2) : (value as string));
      return;
    case 'time':
      writeAlphanumeric(out, pos, f.size, (value as string).slice(0, f.size));
      return;
    case 'text':
      writeNumeric(out, pos, 3, data!.length);
      out.set(data!, pos + 3);
      return;
    case 'bytes':
      writeUint16(out, pos, data!.length);
      out.set(data!, pos + 2);
      return;
    case 'binary':
      out.set(value as Uint8Array, pos);
      return;
  }
}
