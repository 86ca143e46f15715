// systemd integration: `oftp2 serve` under a fake NOTIFY_SOCKET (a python3 AF_UNIX datagram receiver)
// sends READY=1 with its MAINPID once listening, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on
// SIGTERM; the watchdog interval rules; the unit file passes systemd-analyze verify.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { watchdogIntervalMs } from '../../src/gateway/systemd.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { Oftp2Process } from '../integration/crash-harness.ts';

const has = (cmd: string, args: string[]) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const havePython = has('python3', ['-c', 'import socket; socket.AF_UNIX']);
const haveNotify = has('systemd-notify', ['--version']);

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode()), flush=True)
`;

test('watchdog interval: half of WATCHDOG_USEC, only for the process WATCHDOG_PID names', () => {
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 7), 15_000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 7), 15_000);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' }, 7), undefined);
  assert.equal(watchdogIntervalMs({}, 7), undefined);
  assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 7), undefined);
});

test('oftp2 serve under a fake NOTIFY_SOCKET: READY=1 after listening, WATCHDOG=1 pings, STOPPING=1 on SIGTERM', { skip: !havePython || !haveNotify ? 'needs python3 and systemd-notify' : false, timeout: 60_000 }, async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'oftp2-systemd-'));
  const live = new Set<Oftp2Process>();
  const socketPath = join(root, 'notify.sock');
  const receiverScript = join(root, 'receiver.py');
  await writeFile(receiverScript, RECEIVER);
  const receiver = spawn('python3', [receiverScript, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    for (const p of live) p.kill();
    receiver.kill('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });
  const messages: string[] = [];
  let out = '';
  receiver.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
    const parts = out.split('\n');
    out = parts.pop()!;
    for (const line of parts) if (line !== 'bound') messages.push(JSON.parse(line) as string);
  });
  await new Promise<void>((resolve) => receiver.stdout!.once('data', () => resolve()));

  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const dir = join(root, 'station');
  await StationStore.init(dir, { odetteId: 'O0013000000STATIONA', listen: { host: '127.0.0.1', port } });
  process.env.NOTIFY_SOCKET = socketPath;
  process.env.WATCHDOG_USEC = '400000'; // pings every 200 ms
  let serve: Oftp2Process;
  try {
    serve = new Oftp2Process('serve', ['serve', '-d', dir], live);
  } finally {
    delete process.env.NOTIFY_SOCKET;
    delete process.env.WATCHDOG_USEC;
  }
  await serve.waitFor(/"msg":"listening"/, 15_000);
  const waitMessages = async (cond: () => boolean, what: string) => {
    const end = Date.now() + 15_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`no ${what}; got ${JSON.stringify(messages)}\n${serve.tail()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitMessages(() => messages.some((m) => m.includes('READY=1')), 'READY=1');
  const ready = messages.find((m) => m.includes('READY=1'))!;
  assert.match(ready, new RegExp(`MAINPID=${serve.child.pid}\\b`));
  assert.match(ready, new RegExp(`STATUS=listening on 127\\.0\\.0\\.1:${port}`));
  await waitMessages(() => messages.filter((m) => m.includes('WATCHDOG=1')).length >= 3, 'three WATCHDOG=1');
  assert.ok(messages.findIndex((m) => m.includes('READY=1')) < messages.findIndex((m) => m.includes('WATCHDOG=1')), 'ready before the first ping');

  serve.child.kill('SIGTERM');
  assert.deepEqual(await serve.exited, { code: 0, signal: null }, serve.tail());
  await waitMessages(() => messages.some((m) => m.includes('STOPPING=1')), 'STOPPING=1');
  const pingsAtStop = messages.filter((m) => m.includes('WATCHDOG=1')).length;
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(messages.filter((m) => m.includes('WATCHDOG=1')).length, pingsAtStop, 'no pings after the stop');
});

test('image/systemd/oftp2.service: Type=notify with watchdog, restart, state directory, hardening; systemd-analyze verify is clean', { skip: has('systemd-analyze', ['--version']) ? false : 'needs systemd-analyze' }, async (t) => {
  const unit = await readFile(join(import.meta.dirname, '../../image/systemd/oftp2.service'), 'utf8');
  const settings = new Map<string, string>();
  for (const line of unit.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m && !settings.has(m[1]!)) settings.set(m[1]!, m[2]!);
  }
  for (const [key, value] of [
    ['Type', 'notify'],
    ['NotifyAccess', 'all'],
    ['Restart', 'on-failure'],
    ['User', 'oftp2'],
    ['StateDirectory', 'oftp2'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
  ]) {
    assert.equal(settings.get(key), value, key);
  }
  assert.match(unit, /^Environment=OFTP2_DATA_DIR=\/var\/lib\/oftp2$/m);
  assert.ok(Number(settings.get('WatchdogSec')) > 0);
  assert.ok(Number(settings.get('TimeoutStopSec')) > 20, 'longer than the daemon’s own stop budget');
  // verify wants an existing executable: point ExecStart at this node.
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-unit-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const copy = join(dir, 'oftp2.service');
  await writeFile(copy, unit.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`));
  let output = '';
  try {
    output = execFileSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    output = String((err as { stderr?: string }).stderr ?? err);
  }
  assert.equal(output.trim(), '', output);
});
