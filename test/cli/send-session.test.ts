// `oftp2 send PARTNER FILE…` against a real `oftp2 serve`: the files are queued and sent in the order
// given; a file that cannot be queued stops the queueing (files already being queued beside it finish
// and stay queued), its error is told, the exit is 1, and the next send takes what was queued.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../free-port.ts';
import { MAIN, runOftp2 } from './oftp2-process.ts';

const oftp2 = (args: string[]) => runOftp2(args, 30_000);

async function stations(t: import('node:test').TestContext) {
  const root = await mkdtemp(join(tmpdir(), 'oftp2-send-'));
  const port = await freePort();
  const plant = join(root, 'plant');
  const supplier = join(root, 'supplier');
  for (const args of [
    ['init', '-d', plant, '--odette-id', 'O0013000000PLANT', '--port', String(port)],
    ['init', '-d', supplier, '--odette-id', 'O0013000000SUPPLIER', '--port', String(await freePort())],
    ['partner', 'add', 'supplier', '-d', plant, '--odette-id', 'O0013000000SUPPLIER', '--password-out', 'PLANTPW', '--password-in', 'SUPPW'],
    ['partner', 'add', 'plant', '-d', supplier, '--odette-id', 'O0013000000PLANT', '--password-out', 'SUPPW', '--password-in', 'PLANTPW', '--host', '127.0.0.1', '--port', String(port)],
  ]) {
    const r = await oftp2(args);
    assert.equal(r.status, 0, r.stderr);
  }
  const serve = spawn(process.execPath, [MAIN, 'serve', '-d', plant], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  serve.stdout.setEncoding('utf8').on('data', (c: string) => {
    log += c;
  });
  const exited = new Promise((resolve) => serve.on('close', resolve));
  t.after(async () => {
    serve.kill('SIGTERM');
    await exited;
    await rm(root, { recursive: true, force: true });
  });
  const until = Date.now() + 20_000;
  while (!log.includes('"msg":"listening"')) {
    if (Date.now() > until) assert.fail(`serve did not listen:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { root, supplier, inbox: join(plant, 'inbox', 'supplier'), log: () => log };
}

test('send queues and sends its files in one session, in the order given', async (t) => {
  const s = await stations(t);
  const names = ['C1.TXT', 'A2.TXT', 'B3.TXT', 'D4.TXT'];
  const files = [];
  for (const name of names) {
    const path = join(s.root, name.toLowerCase());
    await writeFile(path, `${name}\n`);
    files.push(path);
  }
  const r = await oftp2(['send', 'plant', '-d', s.supplier, ...files]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /sent 4, received 0, failed 0/);
  assert.deepEqual((await readdir(s.inbox)).filter((n) => !n.startsWith('.')).sort(), [...names].sort());
  const order = [...s.log().matchAll(/"dataset":"([^"]+)"[^\n]*"msg":"Inbound: receiving file"/g)].map((m) => m[1]);
  assert.deepEqual(order, names, 'offered in the order given');
});

test('a file that cannot be queued: its error, exit 1, no session; the files queued stay queued for the next send', async (t) => {
  const s = await stations(t);
  const good = join(s.root, 'good.txt');
  const after = join(s.root, 'after.txt');
  await writeFile(good, 'GOOD\n');
  await writeFile(after, 'AFTER\n');
  const missing = join(s.root, 'missing.txt');
  const r = await oftp2(['send', 'plant', '-d', s.supplier, good, missing, after]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing\.txt/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  // The three are queued side by side (up to 8 at once): the one after the missing file was already on its way.
  const queued = [...r.stdout.matchAll(/^queued .* as (\S+)$/gm)].map((m) => m[1]);
  assert.deepEqual(queued, ['GOOD.TXT', 'AFTER.TXT']);
  assert.doesNotMatch(r.stdout, /^sent /m, 'no session');
  const again = await oftp2(['send', 'plant', '-d', s.supplier]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /sent 2, received 0, failed 0/);
  assert.deepEqual((await readdir(s.inbox)).filter((n) => !n.startsWith('.')).sort(), ['AFTER.TXT', 'GOOD.TXT']);
  assert.equal(await readFile(join(s.inbox, 'GOOD.TXT'), 'utf8'), 'GOOD\n');
});

test('send shares its files with the spool, --copy queues copies: changed after queueing, a shared file is not sent, a copied one goes as queued', async (t) => {
  const s = await stations(t);
  const shared = join(s.root, 'shared.txt');
  const copied = join(s.root, 'copied.txt');
  await writeFile(shared, 'SHARED\n');
  await writeFile(copied, 'COPIED\n');
  const missing = join(s.root, 'missing.txt');
  // Queued without a session: the missing file after each stops the send before it dials.
  assert.equal((await oftp2(['send', 'plant', '-d', s.supplier, shared, missing])).status, 1);
  assert.equal((await oftp2(['send', 'plant', '-d', s.supplier, '--copy', copied, missing])).status, 1);
  await writeFile(shared, 'SHARED, CHANGED\n');
  await writeFile(copied, 'COPIED, CHANGED\n');
  const r = await oftp2(['send', 'plant', '-d', s.supplier]);
  assert.equal(r.status, 1, 'a file failed');
  assert.match(r.stdout, /sent 1, received 0, failed 1/);
  assert.match(r.stderr, /shared\.txt was changed after it was queued/);
  assert.deepEqual((await readdir(s.inbox)).filter((n) => !n.startsWith('.')), ['COPIED.TXT']);
  assert.equal(await readFile(join(s.inbox, 'COPIED.TXT'), 'utf8'), 'COPIED\n', 'the copy as it was queued');
});
