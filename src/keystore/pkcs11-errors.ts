// Errors of the PKCS#11 key store, and which CKR_ codes mean "the token went away" (reconnect later),
// "the PIN was refused" (stop: another try could lock the card) or "this one operation failed".
import { OftpError } from '../errors.ts';

export type Pkcs11State = 'ready' | 'locked' | 'absent' | 'error' | 'closed';

export interface Pkcs11Status {
  /**
   * ready: logged in, keys usable. locked: the PIN was refused (or the token locked it); no new
   * attempt until the PIN source changes. absent: the token is not there (removed card, stopped
   * HSM); error: it answers with device or session errors. Both retry on a later call, at a
   * bounded rate. closed: close() was called.
   */
  state: Pkcs11State;
  /** One line for an operator: what happened, never a PIN. */
  detail: string;
  /** The token as configured: label and/or serial. */
  token: string;
  /** When the state last changed. */
  since: Date;
  /** The CKR_ code behind the state, when there is one. */
  ckr?: string;
  /** absent/error: the earliest time the next call tries to reconnect. */
  nextAttemptAt?: Date;
}

/** The key cannot be used now (token absent, device error, closed store); `status` says why. */
export class KeyUnavailableError extends OftpError {
  readonly status: Pkcs11Status;
  constructor(status: Pkcs11Status, options?: { cause?: unknown }) {
    super('OFTP_ERR_STATE', `PKCS#11 ${status.token} is ${status.state}: ${status.detail}`, options);
    this.status = status;
  }
}

/** The token refused this operation (bad input, key not allowed to sign/decrypt…); the store stays ready. */
export class Pkcs11OperationError extends OftpError {
  readonly ckr: string | undefined;
  constructor(message: string, ckr: string | undefined, options?: { cause?: unknown }) {
    super('OFTP_ERR_INVALID_ARGUMENT', message, options);
    this.ckr = ckr;
  }
}

/** PIN refused: never retried with the same PIN. */
export const PIN_ERRORS: ReadonlySet<string> = new Set([
  'CKR_PIN_INCORRECT',
  'CKR_PIN_INVALID',
  'CKR_PIN_LEN_RANGE',
  'CKR_PIN_LOCKED',
  'CKR_PIN_EXPIRED',
]);

/** The token is gone: removed card, stopped or restarted HSM, missing token store. */
export const ABSENT_ERRORS: ReadonlySet<string> = new Set([
  'CKR_DEVICE_REMOVED',
  'CKR_TOKEN_NOT_PRESENT',
  'CKR_TOKEN_NOT_RECOGNIZED',
  'CKR_SLOT_ID_INVALID',
]);

/**
 * Our sessions, login or object handles are no longer valid, or the device failed: close them, find
 * the token again, log in again.
 */
export const BROKEN_ERRORS: ReadonlySet<string> = new Set([
  ...ABSENT_ERRORS,
  'CKR_DEVICE_ERROR',
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_SESSION_COUNT',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_OBJECT_HANDLE_INVALID',
  'CKR_KEY_HANDLE_INVALID',
  'CKR_CRYPTOKI_NOT_INITIALIZED',
]);
