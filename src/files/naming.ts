// Virtual file identity and safe on-disk names (RFC 5024 §1.5.2, §5.3.3 SFIDDSN/DATE/TIME, §5.2 String set).
// A virtual file is identified by (dataset name, date, time with counter, originator, destination).
// - identityKey(): a name for spool entries and partial files that is safe whatever the identity holds
//   (every character outside [A-Z0-9-] is hex-escaped) and unique (ends with a SHA-256 digest prefix).
// - validateDatasetName() / validateIdentity(): what a peer's SFID must look like before we take it.
// - assertSafeFileName(): the last gate before a name is joined to a directory: one path component,
//   never '.', '..', '/', '\', NUL, control characters, a leading '.', or a DOS device name.
// - datasetFileName(): the default inbox name for a received file, the dataset name itself when safe.
// - collisionName(): the suffix rule when the final name is taken: NAME~1, NAME~2, ... ('~' is outside
//   the RFC String set, so a suffixed name can never be another dataset's name).
import { createHash } from 'node:crypto';
import type { Sfid } from '../protocol/command-types.ts';
import { FileReason } from '../protocol/reason-codes.ts';
import { FileRefusedError, invalidName } from './file-errors.ts';

export interface VirtualFileIdentity {
  /** SFIDDSN, String(26) */
  datasetName: string;
  /** SFIDDATE, 'CCYYMMDD' */
  date: string;
  /** SFIDTIME, 'HHMMSScccc' */
  time: string;
  /** SFIDORIG, the file's originator (§5.4 code, may differ from the session's SSIDCODE) */
  originator: string;
  /** SFIDDEST, the final recipient */
  destination: string;
}

/** The identity fields of an SFID. */
export function identityOfSfid(sfid: Sfid): VirtualFileIdentity {
  return {
    datasetName: sfid.datasetName,
    date: sfid.date,
    time: sfid.time,
    originator: sfid.originator,
    destination: sfid.destination,
  };
}

/** §5.2 "String": 0-9, A-Z and / - . & ( ) space. */
const RFC_STRING = /^[0-9A-Z/\-.&() ]*$/;
const DATASET_NAME_MAX = 26;
const IDENTIFICATION_CODE_MAX = 25;
/** Longest name assertSafeFileName accepts, in UTF-8 octets (most filesystems allow 255). */
export const MAX_FILE_NAME_OCTETS = 200;

/** Checks a String(n) field: RFC set, no embedded space, not empty, at most `max` characters. */
function validateRfcString(
  what: string,
  value: string,
  max: number,
  reason: number = FileReason.invalidFilename,
  embeddedSpace = false,
): void {
  const refuse = (message: string) => new FileRefusedError(message, reason, false);
  if (value.length === 0) throw refuse(`${what} is empty`);
  if (value.length > max) throw refuse(`${what} ${JSON.stringify(value)} is longer than ${max}`);
  if (!RFC_STRING.test(value)) {
    const bad = [...value].find((c) => !RFC_STRING.test(c)) ?? '';
    throw refuse(
      `${what} ${JSON.stringify(value)} contains ${JSON.stringify(bad)}, outside the RFC 5024 String set (0-9 A-Z / - . & ( ) space)`,
    );
  }
  if (value !== value.trim() || (!embeddedSpace && value.includes(' '))) {
    throw refuse(`${what} ${JSON.stringify(value)} has a leading or embedded space`);
  }
}

/** SFIDDSN: String(26), RFC set, no embedded space. Throws FileRefusedError (SFNA 01). */
export function validateDatasetName(datasetName: string): void {
  validateRfcString('dataset name', datasetName, DATASET_NAME_MAX);
}

function isCalendarDate(date: string): boolean {
  if (!/^\d{8}$/.test(date)) return false;
  const y = Number(date.slice(0, 4));
  const m = Number(date.slice(4, 6));
  const d = Number(date.slice(6, 8));
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

function isTimeWithCounter(time: string): boolean {
  if (!/^\d{10}$/.test(time)) return false;
  return (
    Number(time.slice(0, 2)) < 24 && Number(time.slice(2, 4)) < 60 && Number(time.slice(4, 6)) < 60
  );
}

/**
 * The whole identity: dataset name (SFNA 01), originator (SFNA 03), destination (SFNA 02; both codes
 * may hold embedded spaces, which SIOORG allows, §5.4), and a
 * calendar date 'CCYYMMDD' and a time 'HHMMSScccc' (SFNA 01; counter '0000' is accepted for 1.x peers).
 */
export function validateIdentity(identity: VirtualFileIdentity): void {
  validateDatasetName(identity.datasetName);
  if (!isCalendarDate(identity.date)) {
    throw invalidName(`date ${JSON.stringify(identity.date)} is not a calendar date CCYYMMDD`);
  }
  if (!isTimeWithCounter(identity.time)) {
    throw invalidName(`time ${JSON.stringify(identity.time)} is not HHMMSScccc`);
  }
  validateRfcString(
    'originator',
    identity.originator,
    IDENTIFICATION_CODE_MAX,
    FileReason.invalidOrigin,
    true,
  );
  validateRfcString(
    'destination',
    identity.destination,
    IDENTIFICATION_CODE_MAX,
    FileReason.invalidDestination,
    true,
  );
}

const DOS_DEVICE = /^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CONIN\$|CONOUT\$|CLOCK\$)(\..*)?$/i;

/**
 * Throws FileRefusedError (SFNA 01) unless `name` is one harmless path component: not empty, at most
 * MAX_FILE_NAME_OCTETS, no '/', '\', NUL or other control character, not starting with '.' (hidden,
 * '.', '..'), no '..' anywhere, no ':' (Windows streams over Samba), no trailing dot or space, and
 * not a DOS device name (CON, NUL, COM1, LPT1.TXT, ...; the inbox is exported over SMB).
 */
export function assertSafeFileName(name: string): void {
  const shown = JSON.stringify(name);
  if (name.length === 0) throw invalidName('file name is empty');
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_OCTETS) {
    throw invalidName(`file name ${shown} is longer than ${MAX_FILE_NAME_OCTETS} octets`);
  }
  if (name.includes('\0')) throw invalidName(`file name ${shown} contains NUL`);
  if (name.includes('/') || name.includes('\\')) {
    throw invalidName(`file name ${shown} contains a path separator`);
  }
  if (/[\x00-\x1f\x7f]/.test(name)) {
    throw invalidName(`file name ${shown} contains a control character`);
  }
  if (name.startsWith('.')) throw invalidName(`file name ${shown} starts with '.'`);
  if (name.includes('..')) throw invalidName(`file name ${shown} contains '..'`);
  if (name.includes(':')) throw invalidName(`file name ${shown} contains ':'`);
  if (name.endsWith('.') || name.endsWith(' ')) {
    throw invalidName(`file name ${shown} ends with a dot or a space`);
  }
  if (DOS_DEVICE.test(name)) throw invalidName(`file name ${shown} is a device name`);
}

/**
 * The default local name of a received virtual file: its dataset name, checked against the RFC String
 * set and assertSafeFileName. A dataset name holding '/' (allowed by the RFC set) is refused with
 * SFNA 01 rather than silently rewritten; a partner needing such names gets a routing rule instead.
 */
export function datasetFileName(datasetName: string): string {
  validateDatasetName(datasetName);
  assertSafeFileName(datasetName);
  return datasetName;
}

/** The n-th alternative name when `name` is taken in the final directory: 'NAME~n' (n >= 1). */
export function collisionName(name: string, n: number): string {
  return n === 0 ? name : `${name}~${n}`;
}

const SAFE_COMPONENT = /^[A-Z0-9-]*$/;

/** Keeps [A-Z0-9-]; every other UTF-8 octet becomes '_' + two hex digits. */
function escapeComponent(value: string, maxLength: number): string {
  if (SAFE_COMPONENT.test(value)) return value.slice(0, maxLength); // the usual case: nothing to escape
  let out = '';
  for (const octet of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(octet);
    out += /[A-Z0-9-]/.test(c) ? c : `_${octet.toString(16).padStart(2, '0')}`;
    if (out.length >= maxLength) break;
  }
  return out.slice(0, maxLength);
}

/**
 * A safe, unique on-disk key for an identity: 'CCYYMMDDHHMMSScccc-<escaped dataset name>-<16 hex>'.
 * The readable parts help operators; the SHA-256 prefix of all five fields makes it unique. At most
 * 18 + 1 + 80 + 1 + 16 = 116 characters, always accepted by assertSafeFileName.
 */
export function identityKey(identity: VirtualFileIdentity): string {
  const digest = createHash('sha256')
    .update(
      JSON.stringify([
        identity.datasetName,
        identity.date,
        identity.time,
        identity.originator,
        identity.destination,
      ]),
    )
    .digest('hex')
    .slice(0, 16);
  const stamp = escapeComponent(identity.date + identity.time, 18);
  return `${stamp}-${escapeComponent(identity.datasetName, 80)}-${digest}`;
}
