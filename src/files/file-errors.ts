// Errors of the file layer. They reuse the registry's codes (src/errors.ts):
// - FileRefusedError ('OFTP_ERR_INVALID_ARGUMENT'): a name, a content or a size the file layer will not
//   take. It carries the SFNA/EFNA reason code (RFC 5024 §5.3.5, §5.3.10) and the retry flag the
//   session should answer with, so the engine never has to parse a message.
// - ioError ('OFTP_ERR_IO'): the operating system failed us (ENOSPC, EIO, EXDEV, ...); `cause` is the
//   original Node error, so `err.cause.code` still says which one.
// - badArgument / badState (LocalUsageError): our own misuse of the API.
import { LocalUsageError, OftpError } from '../errors.ts';
import { FileReason } from '../protocol/reason-codes.ts';

export class FileRefusedError extends OftpError {
  /** SFNAREAS / EFNAREAS to answer with (FileReason). */
  readonly fileReason: number;
  /** SFNARRTR: whether the peer may try again later. */
  readonly retry: boolean;
  constructor(message: string, fileReason: number, retry = false, options?: { cause?: unknown }) {
    super('OFTP_ERR_INVALID_ARGUMENT', message, options);
    this.fileReason = fileReason;
    this.retry = retry;
  }
}

/** A bad virtual file name (SFNA 01, no retry). */
export function invalidName(message: string): FileRefusedError {
  return new FileRefusedError(message, FileReason.invalidFilename, false);
}

/** Content that does not match its declared record format (SFNA 04 "format not supported"). */
export function invalidContent(message: string): FileRefusedError {
  return new FileRefusedError(message, FileReason.formatNotSupported, false);
}

/** Wraps a Node fs error: 'OFTP_ERR_IO', naming the operation and the path. */
export function ioError(operation: string, path: string, cause: unknown): OftpError {
  const code = (cause as { code?: string } | undefined)?.code;
  return new OftpError('OFTP_ERR_IO', `${operation} ${path} failed${code ? ` (${code})` : ''}`, {
    cause,
  });
}

/** Our own misuse of an argument (not the peer's fault): LocalUsageError 'OFTP_ERR_INVALID_ARGUMENT'. */
export function badArgument(message: string): LocalUsageError {
  return new LocalUsageError('OFTP_ERR_INVALID_ARGUMENT', message);
}

/** A call in the wrong state (write after commit, two writes at once): LocalUsageError 'OFTP_ERR_STATE'. */
export function badState(message: string): LocalUsageError {
  return new LocalUsageError('OFTP_ERR_STATE', message);
}

export function errnoCode(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}
