// Reason codes with the RFC's meaning text, as operators will read them in logs and history.
// ESID §5.3.11, SFNA §5.3.5, EFNA §5.3.10, NERP §5.3.14 of RFC 5024.

export const ESID_REASONS = {
  0: 'Normal session termination',
  1: 'Command not recognised',
  2: 'Protocol violation',
  3: 'User code not known',
  4: 'Invalid password',
  5: 'Local site emergency close down',
  6: 'Command contained invalid data',
  7: 'Exchange Buffer size error',
  8: 'Resources not available',
  9: 'Time out',
  10: 'Mode or capabilities incompatible',
  11: 'Invalid challenge response',
  12: 'Secure authentication requirements incompatible',
  99: 'Unspecified Abort code',
} as const;

/** ESID reason codes by name, for code that produces them. */
export const EsidReason = {
  normal: 0,
  commandNotRecognised: 1,
  protocolViolation: 2,
  userCodeNotKnown: 3,
  invalidPassword: 4,
  emergencyCloseDown: 5,
  invalidData: 6,
  bufferSizeError: 7,
  resourcesNotAvailable: 8,
  timeOut: 9,
  capabilitiesIncompatible: 10,
  invalidChallengeResponse: 11,
  authenticationIncompatible: 12,
  unspecified: 99,
} as const;

const FILE_REASONS = {
  1: 'Invalid filename',
  2: 'Invalid destination',
  3: 'Invalid origin',
  4: 'Storage record format not supported',
  5: 'Maximum record length not supported',
  6: 'File size is too big',
  10: 'Invalid record count',
  11: 'Invalid byte count',
  12: 'Access method failure',
  13: 'Duplicate file',
  14: 'File direction refused',
  15: 'Cipher suite not supported',
  16: 'Encrypted file not allowed',
  17: 'Unencrypted file not allowed',
  18: 'Compression not allowed',
  19: 'Signed file not allowed',
  20: 'Unsigned file not allowed',
} as const;

export const SFNA_REASONS = { ...FILE_REASONS, 99: 'Unspecified reason' } as const;

export const EFNA_REASONS = {
  ...FILE_REASONS,
  21: 'Invalid file signature',
  22: 'File decryption failure',
  23: 'File decompression failure',
  99: 'Unspecified reason',
} as const;

/** SFNA/EFNA reason codes by name. */
export const FileReason = {
  invalidFilename: 1,
  invalidDestination: 2,
  invalidOrigin: 3,
  formatNotSupported: 4,
  recordLengthNotSupported: 5,
  fileTooBig: 6,
  invalidRecordCount: 10,
  invalidByteCount: 11,
  accessMethodFailure: 12,
  duplicateFile: 13,
  directionRefused: 14,
  cipherSuiteNotSupported: 15,
  encryptedNotAllowed: 16,
  unencryptedNotAllowed: 17,
  compressionNotAllowed: 18,
  signedNotAllowed: 19,
  unsignedNotAllowed: 20,
  invalidSignature: 21,
  decryptionFailure: 22,
  decompressionFailure: 23,
  unspecified: 99,
} as const;

export const NERP_REASONS = {
  3: 'ESID received with reason code 03 (user code not known)',
  4: 'ESID received with reason code 04 (invalid password)',
  9: 'ESID received with reason code 99 (unspecified reason)',
  11: 'SFNA(RETRY=N) received with reason code 01 (invalid file name)',
  12: 'SFNA(RETRY=N) received with reason code 02 (invalid destination)',
  13: 'SFNA(RETRY=N) received with reason code 03 (invalid origin)',
  14: 'SFNA(RETRY=N) received with reason code 04 (invalid storage record format)',
  15: 'SFNA(RETRY=N) received with reason code 05 (maximum record length not supported)',
  16: 'SFNA(RETRY=N) received with reason code 06 (file size too big)',
  20: 'SFNA(RETRY=N) received with reason code 10 (invalid record count)',
  21: 'SFNA(RETRY=N) received with reason code 11 (invalid byte count)',
  22: 'SFNA(RETRY=N) received with reason code 12 (access method failure)',
  23: 'SFNA(RETRY=N) received with reason code 13 (duplicate file)',
  24: 'SFNA(RETRY=N) received with reason code 14 (file direction refused)',
  25: 'SFNA(RETRY=N) received with reason code 15 (cipher suite not supported)',
  26: 'SFNA(RETRY=N) received with reason code 16 (encrypted file not allowed)',
  27: 'SFNA(RETRY=N) received with reason code 17 (unencrypted file not allowed)',
  28: 'SFNA(RETRY=N) received with reason code 18 (compression not allowed)',
  29: 'SFNA(RETRY=N) received with reason code 19 (signed file not allowed)',
  30: 'SFNA(RETRY=N) received with reason code 20 (unsigned file not allowed)',
  31: 'File signature not valid',
  32: 'File decompression failed',
  33: 'File decryption failed',
  34: 'File processing failed',
  35: 'Not delivered to recipient',
  36: 'Not acknowledged by recipient',
  50: 'Transmission stopped by the operator',
  90: "File size incompatible with recipient's protocol version",
  99: 'Unspecified reason',
} as const;

/** NERP reason codes by name. */
export const NerpReason = {
  signatureNotValid: 31,
  decompressionFailed: 32,
  decryptionFailed: 33,
  processingFailed: 34,
  notDelivered: 35,
  notAcknowledged: 36,
  stoppedByOperator: 50,
  sizeIncompatible: 90,
  unspecified: 99,
} as const;

function describe(table: Readonly<Record<number, string>>, code: number): string {
  return table[code] ?? `Unknown reason code ${String(code).padStart(2, '0')}`;
}

export const describeEsid = (code: number): string => describe(ESID_REASONS, code);
export const describeSfna = (code: number): string => describe(SFNA_REASONS, code);
export const describeEfna = (code: number): string => describe(EFNA_REASONS, code);
export const describeNerp = (code: number): string => describe(NERP_REASONS, code);

/** NERP reason for a final SFNA/EFNA reason (§5.3.14: SFNA 01→11 … 20→30), or undefined. */
export function nerpReasonForFileRefusal(fileReason: number): number | undefined {
  if (fileReason >= 1 && fileReason <= 6) return fileReason + 10;
  if (fileReason >= 10 && fileReason <= 20) return fileReason + 10;
  return undefined;
}
