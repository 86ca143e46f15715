// The table of `oftp2` subcommands, in the order `oftp2 --help` lists them.
// To add a command: write src/cli/<name>.ts exporting `export const command: CliCommand = {…}`
// (see src/cli/command.ts for the shape and the conventions), then add one import and one entry
// below. test/cli/command-table.test.ts checks names, summaries and usage lines.
// The built-ins `help` and `version` live in src/cli/run.ts and are not listed here.
import type { CliCommand } from './command.ts';

import { command as cert } from './cert.ts';
import { command as init } from './init.ts';
import { command as keys } from './keys.ts';
import { command as partner } from './partner.ts';
import { command as send } from './send.ts';
import { command as serve } from './serve.ts';
import { command as status } from './status.ts';
import { command as transfers } from './transfers.ts';

export const COMMANDS: readonly CliCommand[] = [
  init,
  partner,
  serve,
  status,
  send,
  transfers,
  keys,
  cert,
];
