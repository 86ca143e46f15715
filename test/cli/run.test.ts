// The dispatcher in-process, with a table of test commands: help for any table, error lines and
// exit codes, OFTP2_DEBUG.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, LocalUsageError } from '../../src/errors.ts';
import { type CliCommand, parseCommandArgs, shortParseArgsMessage } from '../../src/cli/command.ts';
import { formatCommandHelp, formatMainHelp } from '../../src/cli/help.ts';
import { nodeVersionProblem } from '../../src/cli/node-guard.ts';
import { runCli } from '../../src/cli/run.ts';

function sink(env: Record<string, string> = {}) {
  const io = {
    stdout: '',
    stderr: '',
    env,
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
  };
  return io;
}

function command(name: string, run: (argv: string[]) => Promise<number>): CliCommand {
  return { name, summary: `Test command ${name}`, usage: `oftp2 ${name} [--flag]\n\n  --flag  A flag`, run };
}

const seen: string[][] = [];
const table = [
  command('echo', async (argv) => {
    seen.push(argv);
    const { values } = parseCommandArgs({ args: argv, options: { count: { type: 'string' } }, allowPositionals: true });
    return values.count === undefined ? 0 : Number(values.count);
  }),
  command('broken-config', async () => {
    throw new ConfigError('OFTP_ERR_CONFIG', 'partner "ACME" has no address\nfix the file');
  }),
  command('bug', async () => {
    throw new LocalUsageError('OFTP_ERR_STATE', 'engine is closed');
  }),
  command('usage', async () => {
    throw new ConfigError('OFTP_ERR_USAGE', 'give a partner');
  }),
  command('crash', async () => {
    throw new TypeError('cannot read properties of undefined');
  }),
  command('throws-string', async () => {
    throw 'just a string';
  }),
];

test('help is correct for the empty table: only the built-ins', async () => {
  const io = sink();
  assert.equal(await runCli(['--help'], { commands: [], io }), 0);
  const listed = [...io.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
  assert.deepEqual(listed, ['help', 'version']);
});

test('help lists table commands before the built-ins, aligned', () => {
  const text = formatMainHelp([...table, command('a-much-longer-name', async () => 0)]);
  assert.match(text, /^ {2}echo {17}Test command echo$/m);
  assert.match(text, /^ {2}a-much-longer-name {3}Test command a-much-longer-name$/m);
});

test('command usage: synopsis, summary, details', () => {
  assert.equal(
    formatCommandHelp(table[0]),
    'Usage: oftp2 echo [--flag]\n\nTest command echo.\n\n  --flag  A flag\n',
  );
});

test('arguments after the command go to it; --help before -- is intercepted', async () => {
  seen.length = 0;
  assert.equal(await runCli(['echo', 'a', '--count', '3'], { commands: table, io: sink() }), 3);
  assert.deepEqual(seen, [['a', '--count', '3']]);

  const io = sink();
  assert.equal(await runCli(['echo', 'a', '-h'], { commands: table, io }), 0);
  assert.match(io.stdout, /^Usage: oftp2 echo/);
  assert.equal(seen.length, 1, 'run not called for --help');

  assert.equal(await runCli(['echo', '--', '--help'], { commands: table, io: sink() }), 0);
  assert.deepEqual(seen.at(-1), ['--', '--help']);

  const help = sink();
  assert.equal(await runCli(['help', 'echo'], { commands: table, io: help }), 0);
  assert.match(help.stdout, /^Usage: oftp2 echo/);
});

test('a bad option of a command: one line naming the command, exit 2', async () => {
  const io = sink();
  assert.equal(await runCli(['echo', '--nope'], { commands: table, io }), 2);
  assert.equal(io.stderr, 'oftp2 echo: unknown option "--nope" (see oftp2 echo --help)\n');
  const missing = sink();
  assert.equal(await runCli(['echo', '--count'], { commands: table, io: missing }), 2);
  assert.match(missing.stderr, /^oftp2 echo: option "--count <value>" argument missing \(see oftp2 echo --help\)\n$/);
});

test('an OftpError: "oftp2: <message> [<code>]" on one line, exit 1', async () => {
  for (const [name, line] of [
    ['broken-config', 'oftp2: partner "ACME" has no address fix the file [OFTP_ERR_CONFIG]\n'],
    ['bug', 'oftp2: engine is closed [OFTP_ERR_STATE]\n'],
  ]) {
    const io = sink();
    assert.equal(await runCli([name], { commands: table, io }), 1);
    assert.equal(io.stderr, line);
  }
});

test('an OFTP_ERR_USAGE error is a usage error: exit 2 with the command\'s help hint', async () => {
  const io = sink();
  assert.equal(await runCli(['usage'], { commands: table, io }), 2);
  assert.equal(io.stderr, 'oftp2 usage: give a partner (see oftp2 usage --help)\n');
});

test('an unexpected error is one line; OFTP2_DEBUG=1 adds the stack', async () => {
  const io = sink();
  assert.equal(await runCli(['crash'], { commands: table, io }), 1);
  assert.equal(io.stderr, 'oftp2: unexpected error: cannot read properties of undefined (set OFTP2_DEBUG=1 for the stack)\n');

  const thrown = sink();
  assert.equal(await runCli(['throws-string'], { commands: table, io: thrown }), 1);
  assert.match(thrown.stderr, /^oftp2: unexpected error: just a string /);

  const debug = sink({ OFTP2_DEBUG: '1' });
  assert.equal(await runCli(['crash'], { commands: table, io: debug }), 1);
  assert.match(debug.stderr, /^oftp2: unexpected error: cannot read properties of undefined\nTypeError: .*\n\s+at /);
});

test('exit codes a command returns are kept when valid', async () => {
  assert.equal(await runCli(['echo', '--count', '0'], { commands: table, io: sink() }), 0);
  assert.equal(await runCli(['echo', '--count', '7'], { commands: table, io: sink() }), 7);
  assert.equal(await runCli(['echo', '--count', 'x'], { commands: table, io: sink() }), 1);
});

test('parseArgs messages are cut to their first sentence', () => {
  assert.equal(
    shortParseArgsMessage(
      "Unknown option '--x'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--x\"",
    ),
    'unknown option "--x"',
  );
});

test('the Node version guard', () => {
  assert.equal(nodeVersionProblem('24.21.0'), undefined);
  assert.equal(nodeVersionProblem('25.0.0'), undefined);
  assert.match(nodeVersionProblem('20.20.2') ?? '', /^oftp2: Node\.js 24 or newer is required, this is Node\.js 20\.20\.2; run "npm start/);
  assert.ok(!(nodeVersionProblem('22.18.0') ?? '').includes('\n'));
});
