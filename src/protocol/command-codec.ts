// PLACEHOLDER: the command codec is being written (issue 2). Signatures are the contract.
import { LocalUsageError } from '../errors.ts';
import type { OdetteCommand, ProtocolLevel } from './command-types.ts';

/** Decode one command exchange buffer (without STH) at the negotiated level. Throws DecodeError. */
export function decodeCommand(_buffer: Uint8Array, _level: ProtocolLevel): OdetteCommand {
  throw new LocalUsageError('OFTP_ERR_STATE', 'command codec not written yet');
}

/** Encode one command at a level. Throws LocalUsageError (OFTP_ERR_ENCODE) for what the level cannot carry. */
export function encodeCommand(_command: OdetteCommand, _level: ProtocolLevel): Uint8Array {
  throw new LocalUsageError('OFTP_ERR_STATE', 'command codec not written yet');
}
