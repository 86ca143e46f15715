// `npm run smoke`: runs the single binary dist/oftp2 (made by `npm run build`) from a directory
// outside the repository and checks its output and exit codes. Prints `smoke: N passed, M failed`
// and exits non-zero on any failure.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { VERSION } from '../src/version.ts';

const root = resolve(import.meta.dirname, '..');
const binary = join(root, 'dist/oftp2');

if (!existsSync(binary)) {
  console.error(`smoke: ${binary} does not exist; run "npm run build" first`);
  process.exit(1);
}
try {
  accessSync(binary, constants.X_OK);
} catch {
  console.error(`smoke: ${binary} is not executable; run "npm run build" again`);
  process.exit(1);
}

interface Expectation {
  status: number;
  stdout?: (text: string) => boolean;
  stderr?: (text: string) => boolean;
}

let passed = 0;
let failed = 0;

function check(name: string, command: string, args: string[], expect: Expectation): void {
  // From a foreign directory with no NODE_OPTIONS: the binary must stand on its own.
  const env = { ...process.env, NODE_OPTIONS: '', OFTP2_DEBUG: '' };
  const run = spawnSync(command, args, { cwd: tmpdir(), env, encoding: 'utf8', timeout: 20_000 });
  const problems: string[] = [];
  if (run.error) problems.push(`did not run: ${run.error.message}`);
  if (run.status !== expect.status) problems.push(`exit ${run.status ?? run.signal}, expected ${expect.status}`);
  if (expect.stdout && !expect.stdout(run.stdout ?? '')) problems.push(`unexpected stdout ${JSON.stringify(run.stdout)}`);
  if (expect.stderr && !expect.stderr(run.stderr ?? '')) problems.push(`unexpected stderr ${JSON.stringify(run.stderr)}`);
  if (problems.length === 0) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}\n     ${problems.join('\n     ')}`);
  }
}

const empty = (text: string) => text === '';
const oneLine = (pattern: RegExp) => (text: string) => pattern.test(text) && text.split('\n').length === 2;

// A plain Node binary would print "v24…"; only the injected CLI prints this.
check('--version prints the version', binary, ['--version'], {
  status: 0,
  stdout: (text) => text === `oftp2 ${VERSION}\n`,
  stderr: empty, // no "experimental feature" warning either
});
check('version command', binary, ['version'], { status: 0, stdout: (text) => text === `oftp2 ${VERSION}\n`, stderr: empty });
check('--help lists usage and commands', binary, ['--help'], {
  status: 0,
  stdout: (text) => text.startsWith('Usage: oftp2') && /^ {2}help /m.test(text) && /^ {2}version /m.test(text),
  stderr: empty,
});
check('help command', binary, ['help'], { status: 0, stdout: (text) => text.startsWith('Usage: oftp2'), stderr: empty });
check('<command> --help shows its usage', binary, ['version', '--help'], {
  status: 0,
  stdout: (text) => text.startsWith('Usage: oftp2 version'),
});
check('unknown command: one line, exit 2', binary, ['no-such-command'], {
  status: 2,
  stdout: empty,
  stderr: (text) => text === 'oftp2: unknown command "no-such-command" (see oftp2 --help)\n',
});
check('bad option: one line, exit 2', binary, ['--no-such-option'], {
  status: 2,
  stdout: empty,
  stderr: oneLine(/^oftp2: unknown option "--no-such-option"/),
});
check('node options are not taken (it is the CLI, not node)', binary, ['-e', 'console.log(1)'], {
  status: 2,
  stdout: empty,
  stderr: oneLine(/^oftp2: unknown option "-e"/),
});

// The bundle's Node version guard, when an older node is on PATH (the host's node is 20 here).
const oldNode = findOldNode();
if (oldNode === undefined) {
  console.log('skip old-Node guard: no node older than 24 on PATH');
} else {
  check(`bundle on ${oldNode.version} says Node 24 is required`, oldNode.path, [join(root, 'dist/app.cjs'), '--version'], {
    status: 1,
    stdout: empty,
    stderr: oneLine(/^oftp2: Node\.js 24 or newer is required/),
  });
}

console.log(`smoke: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

/** A `node` older than 24 on PATH, skipping node_modules/.bin (npm puts the pinned Node there). */
function findOldNode(): { path: string; version: string } | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.includes('node_modules')) continue;
    const path = join(dir, 'node');
    if (!existsSync(path)) continue;
    const version = spawnSync(path, ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? '';
    const major = Number.parseInt(version.replace(/^v/, ''), 10);
    if (major < 24) return { path, version };
  }
  return undefined;
}
