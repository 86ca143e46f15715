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
