// Per-file settings beside a dropped file: `FILE.oftp.json` overrides the outbox folder's defaults for
// FILE alone. Write it before FILE (under 'rename' and 'marker' FILE is taken the moment it is complete;
// under 'stable' a sidecar changing restarts FILE's wait). A sidecar is validated in full (strict schema, RFC field rules) before FILE is taken; a
// malformed one means FILE is not sent (outbox-watcher.ts moves both to .oftp-rejected/ with the reason).
// Keys (all optional):
//   datasetName   SFIDDSN, String(26) in the RFC set (default: from the file name, share-naming.ts)
//   format        SFIDFMT U/T/F/V          recordLength  SFIDLRECL (F: required)
//   destination   SFIDDEST, an Odette ID (routes the file when the folder names no partner)
//   userData      SFIDUSER, up to 8        description   SFIDDESC, up to 999 UTF-8 octets
//   signedReceipt SFIDSIGN
//   security      {sign, encrypt, compress, cipherSuite}: the file services for this file (§6), each
//                 one over the folder's `security`, which is over the partner agreement's
// The originator is not among them: who we say a file comes from is the folder's configuration, not
// something a client of the share may choose.
import { Buffer } from 'node:buffer';
import { Ajv } from 'ajv';
import { validateDatasetName } from '../files/naming.ts';
import { isIdentificationCode, isUserData } from '../protocol/fields.ts';
import type { VirtualFileFormat } from '../protocol/command-types.ts';
import { OUTBOX_CIPHER_SUITES, type OutboxSecurity } from './share-config.ts';

export const SIDECAR_SUFFIX = '.oftp.json';
/** A sidecar is a few hundred octets; anything past this is not one. */
export const SIDECAR_MAX_BYTES = 64 * 1024;

export interface Sidecar {
  datasetName?: string;
  format?: VirtualFileFormat;
  recordLength?: number;
  destination?: string;
  userData?: string;
  description?: string;
  signedReceipt?: boolean;
  security?: OutboxSecurity;
}

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    datasetName: { type: 'string', minLength: 1, maxLength: 26 },
    format: { enum: ['U', 'T', 'F', 'V'] },
    recordLength: { type: 'integer', minimum: 1, maximum: 99999 },
    destination: { type: 'string', format: 'odette-id' },
    userData: { type: 'string', format: 'user-data' },
    description: { type: 'string' },
    signedReceipt: { type: 'boolean' },
    security: {
      type: 'object',
      additionalProperties: false,
      properties: { sign: { type: 'boolean' }, encrypt: { type: 'boolean' }, compress: { type: 'boolean' }, cipherSuite: { enum: OUTBOX_CIPHER_SUITES } },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addFormat('odette-id', isIdentificationCode);
ajv.addFormat('user-data', isUserData);
const validate = ajv.compile(schema);

export class SidecarError extends Error {}

/** Whether `name` is a sidecar's name (never a file to send itself). */
export const isSidecarName = (name: string): boolean => name.length > SIDECAR_SUFFIX.length && name.endsWith(SIDECAR_SUFFIX);

/** The data file a sidecar belongs to. */
export const sidecarTarget = (name: string): string => name.slice(0, -SIDECAR_SUFFIX.length);

/** Parses and validates a sidecar's bytes. Throws SidecarError with an operator-readable reason. */
export function parseSidecar(bytes: Uint8Array): Sidecar {
  if (bytes.length > SIDECAR_MAX_BYTES) throw new SidecarError(`larger than ${SIDECAR_MAX_BYTES} octets`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new SidecarError(`not JSON: ${(err as Error).message}`);
  }
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`);
    throw new SidecarError(problems.join('; '));
  }
  const sidecar = value as Sidecar;
  if (sidecar.datasetName !== undefined) {
    try {
      validateDatasetName(sidecar.datasetName);
    } catch (err) {
      throw new SidecarError(`datasetName: ${(err as Error).message}`);
    }
  }
  if (sidecar.description !== undefined && Buffer.byteLength(sidecar.description, 'utf8') > 999) {
    throw new SidecarError('description is longer than 999 UTF-8 octets (SFIDDESC)');
  }
  if (sidecar.format === 'F' && sidecar.recordLength === undefined) throw new SidecarError('format F needs a recordLength');
  if ((sidecar.format === 'U' || sidecar.format === 'T') && sidecar.recordLength !== undefined) {
    throw new SidecarError(`a recordLength is only for F and V, not ${sidecar.format}`);
  }
  if (sidecar.format === 'V' && sidecar.recordLength !== undefined && sidecar.recordLength > 65535) {
    throw new SidecarError('a V record length is at most 65535');
  }
  return sidecar;
}

export interface FolderDefaults {
  format: VirtualFileFormat;
  recordLength?: number;
  destination?: string;
  userData?: string;
  signedReceipt: boolean;
  security?: OutboxSecurity;
}

export interface FileSettings {
  datasetName?: string;
  format: VirtualFileFormat;
  recordLength?: number;
  destination?: string;
  userData?: string;
  description?: string;
  signedReceipt: boolean;
  /** File services asked for by the folder or the sidecar (absent: the partner agreement's). */
  security?: OutboxSecurity;
}

/**
 * The folder's defaults with the sidecar on top. A sidecar that changes the format brings its own
 * record length (the folder's belongs to the folder's format).
 */
export function fileSettings(folder: FolderDefaults, sidecar: Sidecar | undefined): FileSettings {
  const s = sidecar ?? {};
  const format = s.format ?? folder.format;
  const recordLength = s.recordLength ?? (s.format === undefined ? folder.recordLength : undefined);
  return {
    datasetName: s.datasetName,
    format,
    recordLength,
    destination: s.destination ?? folder.destination,
    userData: s.userData ?? folder.userData,
    description: s.description,
    signedReceipt: s.signedReceipt ?? folder.signedReceipt,
    ...(s.security || folder.security ? { security: { ...folder.security, ...s.security } } : {}),
  };
}

/** Whether the file services asked for include any (a level 5 partner is needed for them). */
export const asksForServices = (security: OutboxSecurity | undefined): boolean => Boolean(security?.sign || security?.encrypt || security?.compress);
