// Hooks: a command gets the transfer as JSON on stdin and OFTP2_* variables; a slow one is killed at its
// timeout; a failing one is logged and the next still run; webhooks to a local server are retried on
// 5xx and timeouts, not on 4xx; all driven by real history changes.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Hooks } from '../../src/gateway/hooks.ts';
import type { HookConfig } from '../../src/store/station-config.ts';
import { TransferHistory, type TransferUpdate } from '../../src/store/transfer-history.ts';
import type { Log } from '../../src/station/session-handler.ts';

class CapturingLog implements Log {
  readonly entries: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', msg, obj: obj as Record<string, unknown> });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', msg, obj: obj as Record<string, unknown> });
  }
  find(msg: string) {
    return this.entries.filter((e) => e.msg === msg);
  }
}

const received: TransferUpdate = {
  id: 'in:abc',
  direction: 'in',
  state: 'received',
  partner: 'acme',
  datasetName: 'ORDERS',
  date: '20261122',
  time: '1010100001',
  originator: 'O0013000000ACME',
  destination: 'O0013000000PLANT',
  size: 5,
  path: '/srv/inbox/acme/ORDERS',
};

async function tempDir(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-hooks-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const hook = (h: Partial<HookConfig>): HookConfig => ({ on: ['received'], timeoutSeconds: 5, retries: 2, ...h });

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a command hook: JSON on stdin, OFTP2_* environment, output logged; failures and timeouts logged, never thrown', async (t) => {
  const dir = await tempDir(t);
  const script = join(dir, 'on-received.sh');
  await writeFile(script, `#!/bin/sh\ncat > "${dir}/stdin.json"\nenv | grep ^OFTP2_ | sort > "${dir}/env.txt"\necho "got $OFTP2_DATASET"\n`);
  const failing = join(dir, 'fail.sh');
  await writeFile(failing, '#!/bin/sh\necho broken >&2\nexit 3\n');
  const slow = join(dir, 'slow.sh');
  await writeFile(slow, '#!/bin/sh\nsleep 30\n');
  for (const f of [script, failing, slow]) await chmod(f, 0o755);
  const log = new CapturingLog();
  const history = await TransferHistory.open({ dir: join(dir, 'history') });
  t.after(() => history.close());
  const hooks = new Hooks(
    [
      hook({ command: [failing] }),
      hook({ command: [slow], timeoutSeconds: 0.5 }),
      hook({ command: [script], partner: 'acme' }),
      hook({ command: [script], partner: 'other' }),
      hook({ command: [join(dir, 'missing')] }),
      hook({ command: [script], on: ['failed'] }),
    ],
    log,
  );
  hooks.attach(history);
  const started = Date.now();
  await history.record(received);
  await hooks.drain(10_000);
  assert.ok(Date.now() - started < 5000, 'the slow command was killed at its timeout');

  const payload = JSON.parse(await readFile(join(dir, 'stdin.json'), 'utf8'));
  assert.equal(payload.event, 'received');
  assert.equal(payload.transfer.id, 'in:abc');
  assert.equal(payload.transfer.path, '/srv/inbox/acme/ORDERS');
  assert.match(payload.transfer.updatedAt, /^\d{4}-/);
  const env = await readFile(join(dir, 'env.txt'), 'utf8');
  for (const line of ['OFTP2_DATASET=ORDERS', 'OFTP2_DIRECTION=in', 'OFTP2_EVENT=received', 'OFTP2_PARTNER=acme', 'OFTP2_PATH=/srv/inbox/acme/ORDERS', 'OFTP2_SIZE=5', 'OFTP2_TRANSFER_ID=in:abc']) {
    assert.ok(env.includes(`${line}\n`), line);
  }
  const done = log.find('hook command done');
  assert.equal(done.length, 1, 'only the matching partner and state');
  assert.equal(done[0]!.obj.stdout, 'got ORDERS');
  const failed = log.find('hook command failed');
  const why = Object.fromEntries(failed.map((e) => [String(e.obj.hook).split('/').pop(), e.obj.why]));
  assert.equal(why['fail.sh'], 'exit code 3');
  assert.equal(failed.find((e) => String(e.obj.hook).endsWith('fail.sh'))!.obj.stderr, 'broken');
  assert.equal(why['slow.sh'], 'killed after 0.5 s');
  assert.equal(why.missing, 'ENOENT');
});

test('webhooks: POSTed JSON, retried on 5xx and timeouts with a doubling delay, not on 4xx', async (t) => {
  const requests: { url: string; body: unknown; at: number }[] = [];
  let answers: Record<string, number[]> = {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      requests.push({ url: req.url!, body: JSON.parse(body), at: Date.now() });
      const status = answers[req.url!]?.shift() ?? 200;
      if (status === 0) return; // never answer: the client times out
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  answers = { '/flaky': [500, 503], '/bad': [404], '/down': [500, 500, 500, 500], '/slow': [0] };
  const log = new CapturingLog();
  const hooks = new Hooks(
    [hook({ url: `${base}/flaky` }), hook({ url: `${base}/bad` }), hook({ url: `${base}/down`, retries: 2 }), hook({ url: `${base}/slow`, timeoutSeconds: 0.3 }), hook({ url: 'http://127.0.0.1:1/refused', retries: 1 })],
    log,
    { retryDelayMs: 50 },
  );
  hooks.fire({ ...received, createdAt: 'c', updatedAt: 'u' });
  await until(() => log.find('webhook delivered').length === 2 && log.find('webhook failed').length === 3);
  const count = (path: string) => requests.filter((r) => r.url === path).length;
  assert.equal(count('/flaky'), 3, '500, 503, then 200');
  assert.equal(count('/bad'), 1, 'a 404 is final');
  assert.equal(count('/down'), 3, 'one try and two retries');
  assert.equal(count('/slow'), 2, 'timed out once, then answered');
  const flaky = requests.filter((r) => r.url === '/flaky').map((r) => r.at);
  assert.ok(flaky[2]! - flaky[1]! >= flaky[1]! - flaky[0]! - 10, 'the delay doubles');
  assert.deepEqual((requests[0]!.body as { event: string }).event, 'received');
  const failures = log.find('webhook failed').map((e) => [String(e.obj.hook).replace(base, ''), e.obj.problem, e.obj.attempt]);
  assert.deepEqual(failures.sort(), [['/bad', 'HTTP 404', 1], ['/down', 'HTTP 500', 3], ['http://127.0.0.1:1/refused', failures.find((f) => String(f[0]).includes(':1/'))![1], 2]].sort());
  assert.match(String(log.find('webhook failed, will retry').find((e) => String(e.obj.hook).endsWith('/slow'))?.obj.problem), /no answer within 0.3 s/);
  await hooks.drain(1000);
});

test('a burst beyond the queue bound is dropped with a warning; drain abandons what is left at its deadline', async (t) => {
  const dir = await tempDir(t);
  const slow = join(dir, 'slow.sh');
  await writeFile(slow, '#!/bin/sh\nsleep 30\n');
  await chmod(slow, 0o755);
  const log = new CapturingLog();
  const hooks = new Hooks([hook({ command: [slow], timeoutSeconds: 60 })], log, { concurrency: 1, maxQueued: 2 });
  for (let i = 0; i < 5; i++) hooks.fire({ ...received, id: `in:${i}`, createdAt: 'c', updatedAt: 'u' });
  assert.equal(log.find('hook dropped: too many waiting').length, 2);
  const started = Date.now();
  await hooks.drain(300);
  assert.ok(Date.now() - started < 2000);
  assert.equal(log.find('hooks abandoned at shutdown').length, 1);
  await until(() => log.find('hook command failed').length === 1, 5000);
});
