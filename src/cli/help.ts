// Help texts of the `oftp2` command: the overview (`oftp2 --help`) and one command's usage
// (`oftp2 <command> --help`). Pure functions of the command table, so they are right for any table,
// the empty one included.
import type { CliCommand } from './command.ts';

const PROGRAM = 'oftp2';

/** `oftp2 --help`: synopsis, every command with its one-line summary, global options. */
export function formatMainHelp(commands: readonly CliCommand[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 'help'.length) + 3;
  const rows = commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`);
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'OFTP2 (RFC 5024) gateway: exchanges files with partners over TCP, TLS and serial lines.',
    '',
    'Commands:',
    ...rows,
    '',
    'Options:',
    '  -h, --help     Show this help, or a command\'s usage when given after the command',
    '      --version  Print the version',
    '',
    `Run "${PROGRAM} <command> --help" for the arguments and options of one command.`,
    '',
  ].join('\n');
}

/** `oftp2 <command> --help`: "Usage:" + the synopsis, the summary, then the rest of `usage`. */
export function formatCommandHelp(command: CliCommand): string {
  const [synopsis, ...details] = command.usage.replace(/\s+$/, '').split('\n');
  const body = details.join('\n').replace(/^\n+/, '');
  return [`Usage: ${synopsis}`, '', `${command.summary}.`, ...(body ? ['', body] : []), ''].join('\n');
}
