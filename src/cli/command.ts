// What an `oftp2` subcommand module looks like, and the one helper commands use to read their
// arguments. A command module exports a `CliCommand`; src/cli/command-table.ts lists them.
//
// Conventions every command gets for free from the dispatcher (src/cli/run.ts):
// - `oftp2 <name> --help` / `-h` (before any `--`) prints `usage` and never calls `run`;
//   so `-h` is reserved and cannot be a command's own short option.
// - an OftpError with code OFTP_ERR_USAGE (what parseCommandArgs throws) prints
//   `oftp2 <name>: <message> (see oftp2 <name> --help)` and exits 2;
// - any other OftpError prints `oftp2: <message> [<code>]` and exits 1;
// - anything else prints one line and exits 1 (the stack only with OFTP2_DEBUG=1).
// Keep a command module light to import: load heavy dependencies (fastify, pkcs11js, serialport)
// inside `run` with a dynamic import, so `oftp2 --version` stays fast.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConfigError } from '../errors.ts';

export interface CliCommand {
  /** The word after `oftp2`: lower-case letters, digits and dashes, starting with a letter. */
  readonly name: string;
  /** One line for `oftp2 --help`: starts with a capital letter, no final period. */
  readonly summary: string;
  /**
   * The text of `oftp2 <name> --help`. Its first line is the synopsis without "Usage:"
   * (`oftp2 send <partner> <file> [options]`); the lines after it describe arguments and options.
   */
  readonly usage: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

/**
 * node:util parseArgs with `strict: true`, whose complaints become a usage error (OFTP_ERR_USAGE,
 * exit 2) with a short message, e.g. `unknown option '--bogus'`.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ ...config, strict: true });
  } catch (error) {
    if (isParseArgsError(error)) throw usageError(shortParseArgsMessage(error.message), error);
    throw error;
  }
}

/** A command-line usage error: the dispatcher prints it as one line and exits 2. */
export function usageError(message: string, cause?: unknown): ConfigError {
  return new ConfigError('OFTP_ERR_USAGE', message, cause === undefined ? undefined : { cause });
}

/** True for the TypeErrors node:util parseArgs throws (codes ERR_PARSE_ARGS_*). */
export function isParseArgsError(error: unknown): error is Error & { code: string } {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/**
 * parseArgs messages run on with advice about `--`; keep the first sentence, lower-cased, with the
 * double quotes the rest of the CLI uses:
 * "Unknown option '--x'. To specify a positional argument …" → `unknown option "--x"`.
 */
export function shortParseArgsMessage(message: string): string {
  const first = message
    .split(/\.\s/)[0]
    .replace(/\.$/, '')
    .replace(/'([^']*)'/g, '"$1"');
  return first.charAt(0).toLowerCase() + first.slice(1);
}
