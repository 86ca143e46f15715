// One registry of error classes with stable codes. Callers match on `code`, never on message text.
// Two families (after h11): RemoteProtocolError is the peer's fault and carries the ESID reason the
// session must answer with; LocalUsageError is our own misuse of an API (a bug or bad configuration).

export type ErrorCode =
  | 'OFTP_ERR_UNKNOWN_COMMAND'
  | 'OFTP_ERR_INVALID_FIELD'
  | 'OFTP_ERR_BUFFER_SIZE'
  | 'OFTP_ERR_STB_VERSION'
  | 'OFTP_ERR_STB_FLAGS'
  | 'OFTP_ERR_STB_LENGTH'
  | 'OFTP_ERR_SPECIAL_LOGIC'
  | 'OFTP_ERR_DATA_BUFFER'
  | 'OFTP_ERR_PROTOCOL_VIOLATION'
  | 'OFTP_ERR_PEER_REFUSED'
  | 'OFTP_ERR_NEGOTIATION'
  | 'OFTP_ERR_AUTHENTICATION'
  | 'OFTP_ERR_TIMEOUT'
  | 'OFTP_ERR_SESSION_CLOSED'
  | 'OFTP_ERR_ENCODE'
  | 'OFTP_ERR_INVALID_ARGUMENT'
  | 'OFTP_ERR_STATE'
  | 'OFTP_ERR_CONFIG'
  | 'OFTP_ERR_USAGE'
  | 'OFTP_ERR_IO'
  | 'OFTP_ERR_TRANSPORT'
  /** A TLS handshake or the TLS peer's certificate was refused (src/transports/tls.ts). */
  | 'OFTP_ERR_TLS'
  /** A certificate is unreadable, expired, untrusted or unfit for its role (src/security/certificates.ts). */
  | 'OFTP_ERR_CERTIFICATE'
  /** A CMS file envelope, receipt signature or challenge failed (src/security/cms/errors.ts). */
  | 'OFTP_ERR_CMS';

export class OftpError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The peer sent something wrong. `esidReason` is the ESID reason code (RFC 5024 §5.3.11) to end with. */
export class RemoteProtocolError extends OftpError {
  readonly esidReason: number;
  constructor(code: ErrorCode, message: string, esidReason: number, options?: { cause?: unknown }) {
    super(code, message, options);
    this.esidReason = esidReason;
  }
}

/**
 * A command exchange buffer could not be decoded. Names the command, the field and its offset,
 * and the ESID reason: 01 unknown command, 06 invalid data, 07 buffer size error.
 */
export class DecodeError extends RemoteProtocolError {
  readonly command: string;
  readonly field: string;
  readonly offset: number;
  constructor(
    code: ErrorCode,
    detail: { command: string; field: string; offset: number; esidReason: number; message: string },
  ) {
    super(
      code,
      `${detail.command}.${detail.field} at offset ${detail.offset}: ${detail.message}`,
      detail.esidReason,
    );
    this.command = detail.command;
    this.field = detail.field;
    this.offset = detail.offset;
  }
}

/** The stream transmission buffer (RFC 5024 §8) or special-logic framing (Appendix C) is broken. */
export class FramingError extends RemoteProtocolError {}

/** Our own misuse of an API: bad arguments, a command a level cannot carry, a call in the wrong state. */
export class LocalUsageError extends OftpError {}

/** Bad configuration or command-line arguments: shown to the operator as one line, exit non-zero. */
export class ConfigError extends OftpError {}
