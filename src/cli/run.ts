// The `oftp2` dispatcher: global options, the built-in `help` and `version`, the command table, and
// the one rule for errors — every failure is ONE line on stderr, never a stack trace unless
// OFTP2_DEBUG=1:
//   usage (unknown command/option, OFTP_ERR_USAGE)  → exit 2
//   OftpError                                       → `oftp2: <message> [<code>]`, exit 1
//   anything else                                   → `oftp2: unexpected error: <message>`, exit 1
// runCli never throws and never calls process.exit, so tests drive it in-process with their own
// table and output sinks.
import { inspect, parseArgs } from 'node:util';
import { VERSION } from '../version.ts';
import { type CliCommand, isParseArgsError, parseCommandArgs, shortParseArgsMessage, usageError } from './command.ts';
import { COMMANDS } from './command-table.ts';
import { formatCommandHelp, formatMainHelp } from './help.ts';

/** Where the CLI writes, and the environment it reads (OFTP2_DEBUG). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface CliOptions {
  /** The command table; defaults to src/cli/command-table.ts. */
  readonly commands?: readonly CliCommand[];
  readonly io?: CliIo;
}

/** Options accepted before the command name. All are flags, so the first non-option is the command. */
const GLOBAL_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Runs `oftp2 <argv…>` and resolves to the exit code. */
export async function runCli(argv: readonly string[], options: CliOptions = {}): Promise<number> {
  const io = options.io ?? processIo();
  const table = options.commands ?? COMMANDS;
  const commands = [...table, ...builtins(table, io)];

  // Global options run up to the first word that is not an option (or up to `--`).
  let split = 0;
  while (split < argv.length && argv[split].startsWith('-') && argv[split] !== '-' && argv[split] !== '--') split++;
  const rest = argv[split] === '--' ? argv.slice(split + 1) : argv.slice(split);

  let globals: { help?: boolean; version?: boolean };
  try {
    globals = parseArgs({ args: argv.slice(0, split), options: GLOBAL_OPTIONS, strict: true }).values;
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    io.err(`oftp2: ${shortParseArgsMessage(error.message)} (see oftp2 --help)\n`);
    return 2;
  }

  const [name, ...args] = rest;
  if (name === undefined) {
    if (globals.version) return printVersion(io);
    if (globals.help) {
      io.out(formatMainHelp(commands));
      return 0;
    }
    io.err(formatMainHelp(commands));
    return 2;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.err(`oftp2: unknown command ${JSON.stringify(name)} (see oftp2 --help)\n`);
    return 2;
  }
  if (globals.help || wantsHelp(args)) {
    io.out(formatCommandHelp(command));
    return 0;
  }
  if (globals.version) return printVersion(io);

  try {
    const code = await command.run(args);
    return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
  } catch (error) {
    const report = describeFailure(error, command.name, io.env);
    io.err(report.text);
    return report.exitCode;
  }
}

/** Error text and exit code for anything that escaped a command (or the process, see below). */
export function describeFailure(
  error: unknown,
  commandName: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { text: string; exitCode: number } {
  const debug = env.OFTP2_DEBUG === '1';
  const stack = debug ? `${inspect(error)}\n` : '';
  const prefix = commandName === undefined ? 'oftp2' : `oftp2 ${commandName}`;
  const code = errorCode(error);
  const message = oneLine(error instanceof Error ? error.message : String(error));
  if (code === 'OFTP_ERR_USAGE' || isParseArgsError(error)) {
    const text = isParseArgsError(error) ? shortParseArgsMessage(error.message) : message;
    const hint = commandName === undefined ? 'oftp2 --help' : `oftp2 ${commandName} --help`;
    return { text: `${prefix}: ${text} (see ${hint})\n${stack}`, exitCode: 2 };
  }
  if (code !== undefined) return { text: `oftp2: ${message} [${code}]\n${stack}`, exitCode: 1 };
  const advice = debug ? '' : ' (set OFTP2_DEBUG=1 for the stack)';
  return { text: `oftp2: unexpected error: ${message}${advice}\n${stack}`, exitCode: 1 };
}

/**
 * Makes errors that escape runCli's await (a later event in a long-running command) one line too,
 * and lets `oftp2 --help | head -1` end quietly instead of dying on EPIPE.
 */
export function installProcessHandlers(): void {
  const fatal = (error: unknown) => {
    const report = describeFailure(error, undefined, process.env);
    process.stderr.write(report.text);
    process.exit(report.exitCode);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
}

function builtins(table: readonly CliCommand[], io: CliIo): CliCommand[] {
  const help: CliCommand = {
    name: 'help',
    summary: 'Show this overview, or the usage of one command',
    usage: 'oftp2 help [<command>]',
    run: async (argv) => {
      const { positionals } = parseCommandArgs({ args: argv, options: {}, allowPositionals: true });
      if (positionals.length > 1) throw usageError('give at most one command name');
      const all = [...table, help, version];
      if (positionals.length === 0) {
        io.out(formatMainHelp(all));
        return 0;
      }
      const command = all.find((c) => c.name === positionals[0]);
      if (command === undefined) {
        io.err(`oftp2: unknown command ${JSON.stringify(positionals[0])} (see oftp2 --help)\n`);
        return 2;
      }
      io.out(formatCommandHelp(command));
      return 0;
    },
  };
  const version: CliCommand = {
    name: 'version',
    summary: 'Print the version',
    usage: 'oftp2 version\n\nThe same as oftp2 --version: prints "oftp2 <version>".',
    run: async (argv) => {
      parseCommandArgs({ args: argv, options: {}, allowPositionals: false });
      return printVersion(io);
    },
  };
  return [help, version];
}

function printVersion(io: CliIo): number {
  io.out(`oftp2 ${VERSION}\n`);
  return 0;
}

/** `--help` or `-h` among a command's arguments, before any `--`. */
function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** The stable code of an OftpError (matched by shape, so a second copy of errors.ts still counts). */
function errorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('OFTP_ERR_') ? code : undefined;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return flat.length > 1000 ? `${flat.slice(0, 1000)}…` : flat || '(no message)';
}

function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    env: process.env,
  };
}
