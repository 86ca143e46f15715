// The `oftp2` command as a process, from the source tree: output, exit codes, no stack traces.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { VERSION } from '../../src/version.ts';

const main = join(import.meta.dirname, '../../src/cli/main.ts');

function oftp2(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      env: { ...process.env, OFTP2_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function assertOneLine(stderr: string): void {
  assert.equal(stderr.split('\n').length, 2, `one line expected: ${JSON.stringify(stderr)}`);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
}

test('--version prints "oftp2 <VERSION>" and exits 0', async () => {
  const run = await oftp2('--version');
  assert.deepEqual(run, { status: 0, stdout: `oftp2 ${VERSION}\n`, stderr: '' });
});

test('--help and help list the commands', async () => {
  for (const args of [['--help'], ['-h'], ['help']]) {
    const run = await oftp2(...args);
    assert.equal(run.status, 0, args.join(' '));
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^Usage: oftp2 <command> \[options\]\n/);
    assert.match(run.stdout, /^ {2}help +Show/m);
    assert.match(run.stdout, /^ {2}version +Print the version$/m);
  }
});

test('<command> --help shows that command\'s usage', async () => {
  const run = await oftp2('version', '--help');
  assert.equal(run.status, 0);
  assert.match(run.stdout, /^Usage: oftp2 version\n/);
});

test('an unknown command is one line on stderr and exit 2', async () => {
  const run = await oftp2('frobnicate');
  assert.equal(run.status, 2);
  assert.equal(run.stdout, '');
  assert.equal(run.stderr, 'oftp2: unknown command "frobnicate" (see oftp2 --help)\n');
});

test('a bad option is one line on stderr and exit 2', async () => {
  const global = await oftp2('--frobnicate');
  assert.equal(global.status, 2);
  assert.equal(global.stdout, '');
  assert.equal(global.stderr, 'oftp2: unknown option "--frobnicate" (see oftp2 --help)\n');

  const local = await oftp2('version', '--frobnicate');
  assert.equal(local.status, 2);
  assertOneLine(local.stderr);
  assert.match(local.stderr, /^oftp2 version: unknown option "--frobnicate" \(see oftp2 version --help\)$/m);
});

test('no command prints the help on stderr and exits 2', async () => {
  const run = await oftp2();
  assert.equal(run.status, 2);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^Usage: oftp2/);
});
