// The `oftp2` command as a process, from the source tree: output, exit codes, no stack traces.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { VERSION } from '../../src/version.ts';
import { MAIN as main, runOftp2 } from './oftp2-process.ts';

const oftp2 = (...args: string[]) => runOftp2(args);

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

test('the CLI keeps Node\'s compile cache in the temp folder so that starting from source need not strip and compile every module again', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'oftp2-cache-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  const env = { ...process.env, TMPDIR: tmp, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined };
  const child = spawnSync(process.execPath, [main, '--version'], { env, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const cached = await readdir(join(tmp, 'node-compile-cache'), { recursive: true });
  assert.ok(cached.length > 0, 'the compile cache has entries');
});

test('command modules load their heavy parts when run: `oftp2 --version` loads no station, daemon, TLS or CMS code', async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'oftp2-modules-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));
  // A module hook that lists every module loaded, written to a file at exit.
  const hook = join(tmp, 'hook.mjs');
  const out = join(tmp, 'loaded.txt');
  await writeFile(
    hook,
    `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(${JSON.stringify(out)}, seen.join('\\n')));
`,
  );
  const child = spawnSync(process.execPath, ['--import', hook, main, '--version'], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  const loaded = (await readFile(out, 'utf8')).split('\n');
  // The configuration's schema parts of the gateway (calendar, share settings) are light and needed.
  const heavy = loaded.filter((url) => /\/(node-forge|pkijs|pino|@peculiar)\/|\/src\/(station|security|transports)\/|\/src\/gateway\/(?!scheduler-calendar\.ts|share-config\.ts)/.test(url));
  assert.deepEqual(heavy, []);
});
