import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');
const oftp2 = (...args: string[]) => {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...process.env, OFTP2_DATA_DIR: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('init, partner add/list/remove and transfers on a fresh data directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal(oftp2('init', '-d', dir, '--odette-id', 'O0013000000PLANT', '--port', '3400').code, 0);
  const add = oftp2('partner', 'add', 'acme', '-d', dir, '--odette-id', 'O0013000000ACME', '--password-out', 'PW1', '--password-in', 'PW2', '--host', '127.0.0.1', '--level', '4');
  assert.equal(add.code, 0, add.err);
  const list = oftp2('partner', 'list', '-d', dir);
  assert.match(list.out, /acme\s+O0013000000ACME\s+127\.0\.0\.1:3305\s+4/);
  assert.equal(oftp2('transfers', '-d', dir).out, 'no transfers\n');
  assert.equal(oftp2('partner', 'remove', 'acme', '-d', dir).code, 0);
  assert.doesNotMatch(oftp2('partner', 'list', '-d', dir).out, /acme/);
});

test('bad arguments and bad config give one line and a non-zero exit, never a stack', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cases: [string[], number, RegExp][] = [
    [['init', '-d', dir], 2, /--odette-id is required/],
    [['init', '-d', dir, '--odette-id', 'O1', '--credit', 'x'], 2, /--credit takes a whole number/],
    [['init', '-d', dir, '--odette-id', 'lower'], 1, /odetteId must match/],
    [['partner', 'list', '-d', join(dir, 'none')], 1, /no station in .* \(run: oftp2 init/],
    [['partner', 'frobnicate'], 2, /unknown action "frobnicate"/],
    [['transfers', '-d', dir, '--state', 'lost'], 2, /unknown state "lost"/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = oftp2(...args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, pattern);
    assert.equal(r.err.trim().split('\n').length, 1, `one line for ${args.join(' ')}`);
    assert.doesNotMatch(r.err, /\n\s+at /);
  }
  assert.equal(oftp2('init', '-d', dir, '--odette-id', 'O0013000000PLANT').code, 0);
  const again = oftp2('init', '-d', dir, '--odette-id', 'O0013000000PLANT');
  assert.equal(again.code, 1);
  assert.match(again.err, /already exists; refusing to overwrite/);
});

test('partner security shows the agreement with its defaults, changes it, and refuses bad values', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.equal(oftp2('init', '-d', dir, '--odette-id', 'O0013000000PLANT').code, 0);
  assert.equal(oftp2('partner', 'add', 'acme', '-d', dir, '--odette-id', 'O0013000000ACME', '--password-out', 'PW1', '--password-in', 'PW2').code, 0);
  const shown = oftp2('partner', 'security', 'acme', '-d', dir);
  assert.equal(shown.code, 0, shown.err);
  assert.match(shown.out, /secure authentication\s+off\n/);
  assert.match(shown.out, /send: file services\s+none\n/);
  assert.match(shown.out, /receive: cipher suites\s+01, 02, 03, 04, 05, 06\n/);
  const set = oftp2('partner', 'security', 'acme', '-d', dir, '--secure-auth', 'required', '--send', 'sign+encrypt', '--cipher-suite', '4', '--compress', '--signed-receipt', '--accept-suites', '2,4', '--encryption', 'required');
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /secure authentication\s+required\n/);
  assert.match(set.out, /send: file services\s+sign\+encrypt\n/);
  assert.match(set.out, /send: cipher suite\s+04\n/);
  assert.match(set.out, /send: compression\s+on\n/);
  assert.match(set.out, /receive: cipher suites\s+02, 04\n/);
  assert.match(set.out, /receive: encryption\s+required\n/);
  assert.match(oftp2('partner', 'security', 'acme', '-d', dir).out, /send: signed receipts\s+asked for\n/, 'kept in station.json');
  const badSuite = oftp2('partner', 'security', 'acme', '-d', dir, '--cipher-suite', '9');
  assert.equal(badSuite.code, 1);
  assert.match(badSuite.err, /cipherSuite must be equal to one of the allowed values/);
  const badSend = oftp2('partner', 'security', 'acme', '-d', dir, '--send', 'everything');
  assert.equal(badSend.code, 2);
  assert.match(badSend.err, /--send is one of none, encrypt, sign, sign\+encrypt/);
  assert.equal(oftp2('partner', 'security', 'nobody', '-d', dir).code, 1);
});
