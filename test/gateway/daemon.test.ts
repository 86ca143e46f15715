// The daemon as real processes: `oftp2 serve` A receives, `oftp2 serve` B dials it on its scheduler
// (a file left in its spool) through a throttling proxy. SIGTERM to A in mid-file: A ends the session
// with ESID 05, checkpoints the partial file, exits 0 in bounded time; B's scheduler reads ESID 05 as
// "retry later"; A restarted, B dials again and the file resumes from A's checkpoint, byte-identical.
// Then SIGTERM to the sender in mid-file: it saves its progress and resumes after its restart.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { Oftp2Process } from '../integration/crash-harness.ts';
import { freePort } from '../free-port.ts';

const ID_A = 'O0013000000STATIONA';
const ID_B = 'O0013000000STATIONB';

/** A TCP proxy forwarding B→A at about `bytesPerSecond` (A→B unthrottled); counts octets to A. */
class ThrottlingProxy {
  readonly server: Server;
  toA = 0;
  readonly #sockets = new Set<Socket>();
  constructor(targetPort: () => number, bytesPerSecond: number) {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort() });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (chunk: Buffer) => {
        this.toA += chunk.length;
        upstream.write(chunk);
        client.pause();
        setTimeout(() => client.resume(), (chunk.length / bytesPerSecond) * 1000);
      });
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as { port: number }).port;
  }
  close(): void {
    for (const s of this.#sockets) s.destroy();
    this.server.close();
  }
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const lines = (p: Oftp2Process) =>
  p.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function setUp(t: { after: (fn: () => unknown) => void }) {
  const root = await mkdtemp(join(tmpdir(), 'oftp2-daemon-'));
  const live = new Set<Oftp2Process>();
  t.after(async () => {
    for (const p of live) p.kill();
    await Promise.all([...live].map((p) => p.exited));
    await rm(root, { recursive: true, force: true });
  });
  const portA = await freePort();
  const proxy = new ThrottlingProxy(() => portA, 4 * 1024 * 1024);
  const proxyPort = await proxy.listen();
  t.after(() => proxy.close());
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  const a = await StationStore.init(dirA, { odetteId: ID_A, listen: { host: '127.0.0.1', port: portA }, checkpointIntervalBytes: 1024 * 1024, daemon: { stopTimeoutSeconds: 10 } });
  await a.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: 'PWFROMA', passwordExpected: 'PWFROMB' });
  const b = await StationStore.init(dirB, { odetteId: ID_B, listen: { host: '127.0.0.1', port: await freePort() }, daemon: { stopTimeoutSeconds: 10 } });
  await b.addPartner({
    name: 'a',
    odetteId: ID_A,
    host: '127.0.0.1',
    port: proxyPort,
    passwordToSend: 'PWFROMB',
    passwordExpected: 'PWFROMA',
    schedule: { retry: { baseSeconds: 0.5, laterSeconds: 1, jitter: 0 } },
  });
  // 24 MiB at 4 MiB/s: about six seconds on the wire.
  const data = randomBytes(24 * 1024 * 1024);
  const source = join(root, 'BIGFILE');
  await writeFile(source, data);
  const stationB = await Station.open(dirB);
  await stationB.enqueue('a', { path: source, datasetName: 'BIGFILE' });
  await stationB.close();
  const serve = (label: string, dir: string) => new Oftp2Process(label, ['serve', '-d', dir], live);
  return { root, dirA, dirB, proxy, data, serve };
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('SIGTERM to the receiver in mid-file: ESID 05, checkpoint kept, exit 0 in bounded time; it resumes from the checkpoint', { timeout: 120_000 }, async (t) => {
  const { dirA, proxy, data, serve, dirB } = await setUp(t);
  let a = serve('A', dirA);
  await a.waitFor(/"msg":"listening"/, 15_000);
  const b = serve('B', dirB);
  await b.waitFor(/"msg":"listening"/, 15_000);
  await until(() => proxy.toA > 8 * 1024 * 1024, 30_000, '8 MiB at A');

  const termAt = Date.now();
  a.child.kill('SIGTERM');
  const exit = await a.exited;
  const stopMs = Date.now() - termAt;
  assert.deepEqual(exit, { code: 0, signal: null }, a.tail());
  assert.ok(stopMs < 10_000, `stopped in ${stopMs} ms`);
  const aLog = lines(a);
  const ended = aLog.find((l) => l.msg === 'session ended');
  assert.equal(ended?.esid, 5, 'A ended the session with ESID 05');
  assert.ok(aLog.some((l) => l.msg === 'stopped'));
  // The partial file and its checkpoint stay for the restart.
  const partial = join(dirA, 'inbox', 'b', '.oftp-partial');
  const kept = await readdir(partial);
  assert.ok(kept.some((f) => f.endsWith('.ckpt.json')), `checkpoint in ${kept}`);
  const ckpt = JSON.parse(await readFile(join(partial, kept.find((f) => f.endsWith('.ckpt.json'))!), 'utf8'));
  assert.ok(ckpt.octets >= 1024 * 1024, `checkpoint at ${ckpt.octets} octets`);

  // B read A's ESID 05 as "the partner is going down: retry later".
  await b.waitFor(/"msg":"dial failed"/, 10_000);
  const failed = lines(b).find((l) => l.msg === 'dial failed')!;
  assert.equal(failed.retry, 'later');
  assert.match(String(failed.cause), /^ESID 05 /);

  // A again: B dials after its pause and the file resumes from A's checkpoint.
  a = serve('A2', dirA);
  await a.waitFor(/"msg":"Inbound: file delivered"/, 60_000);
  const receiving = lines(a).find((l) => l.msg === 'Inbound: receiving file')!;
  assert.ok(Number(receiving.restartPosition) > 0, `restart position ${receiving.restartPosition}`);
  const delivered = lines(a).find((l) => l.msg === 'Inbound: file delivered')!;
  assert.equal(sha(await readFile(String(delivered.path))), sha(data), 'byte-identical after the resume');
  await b.waitFor(/"msg":"dial ended"/, 30_000);

  for (const p of [a, b]) p.child.kill('SIGTERM');
  for (const p of [a, b]) assert.deepEqual(await p.exited, { code: 0, signal: null }, p.tail());
});

test('SIGTERM to the sender in mid-file: it saves its progress and resumes after its restart', { timeout: 120_000 }, async (t) => {
  const { dirA, proxy, data, serve, dirB } = await setUp(t);
  const a = serve('A', dirA);
  await a.waitFor(/"msg":"listening"/, 15_000);
  let b = serve('B', dirB);
  await until(() => proxy.toA > 8 * 1024 * 1024, 30_000, '8 MiB at A');
  const termAt = Date.now();
  b.child.kill('SIGTERM');
  assert.deepEqual(await b.exited, { code: 0, signal: null }, b.tail());
  assert.ok(Date.now() - termAt < 10_000);
  const bLog = lines(b);
  assert.equal(bLog.find((l) => l.msg === 'dial ended' || l.msg === 'dial failed')?.retry ?? 'stop', 'stop', 'our own ESID 05 schedules nothing');
  // The spool entry stays, with its checkpoint.
  const spool = join(dirB, 'spool', 'a');
  const [entry] = await readdir(spool);
  assert.ok((await readdir(join(spool, entry!))).includes('checkpoint.json'));
  await a.waitFor(/"msg":"session ended"/, 10_000);

  b = serve('B2', dirB);
  await a.waitFor(/"msg":"Inbound: file delivered"/, 60_000);
  const offers = lines(a).filter((l) => l.msg === 'Inbound: receiving file');
  assert.equal(offers.length, 2);
  assert.ok(Number(offers[1]!.restartPosition) > 0, `restart position ${offers[1]!.restartPosition}`);
  const delivered = lines(a).find((l) => l.msg === 'Inbound: file delivered')!;
  assert.equal(sha(await readFile(String(delivered.path))), sha(data));
  for (const p of [a, b]) p.child.kill('SIGTERM');
  for (const p of [a, b]) assert.deepEqual(await p.exited, { code: 0, signal: null }, p.tail());
});

test('oftp2 status: a partner held after ESID 04 (invalid password), its queue, last result and the daemon; --json and text', { timeout: 60_000 }, async (t) => {
  const { dirA, dirB, serve } = await setUp(t);
  // A expects another password from B: A refuses B's SSID with ESID 04.
  const storeA = await StationStore.open(dirA);
  await storeA.update((c) => {
    c.partners[0]!.passwordExpected = 'OTHERPW';
  });
  const a = serve('A', dirA);
  await a.waitFor(/"msg":"listening"/, 15_000);
  const b = serve('B', dirB);
  await b.waitFor(/partner held until its configuration changes/, 20_000);
  const live = new Set<Oftp2Process>();
  const status = async (args: string[]) => {
    const p = new Oftp2Process('status', ['status', '-d', dirB, ...args], live);
    const exit = await p.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, p.tail());
    return p.stdout;
  };
  // The snapshot is written within a second of a change.
  let report: { daemon: { running: boolean; pid: number }; listeners: unknown[]; partners: Record<string, unknown>[] } | undefined;
  await until(
    async () => {
      report = JSON.parse(await status(['--json']));
      return report!.partners[0]!.phase === 'held';
    },
    10_000,
    'the held partner in the snapshot',
  );
  assert.equal(report!.daemon.running, true);
  assert.equal(report!.daemon.pid, b.child.pid);
  assert.equal(report!.listeners.length, 1);
  const partner = report!.partners[0]!;
  assert.equal(partner.name, 'a');
  assert.equal(partner.queued, 1);
  assert.match(String((partner.held as { cause: string }).cause), /^ESID 04 Invalid password \(remote\)/);
  assert.equal((partner.lastResult as { normal: boolean }).normal, false);
  assert.equal(partner.nextDialAt, undefined, 'no dial planned while held');
  const text = await status([]);
  assert.match(text, /^station {2}O0013000000STATIONB$/m);
  assert.match(text, /daemon {3}running \(pid \d+/);
  assert.match(text, /^a\s+when queued\s+1\s+held: ESID 04 Invalid password/m);

  b.child.kill('SIGTERM');
  await b.exited;
  const after = JSON.parse(await status(['--json']));
  assert.equal(after.daemon.running, false);
  assert.equal(after.partners[0].queued, 1);
  a.child.kill('SIGTERM');
  await a.exited;
});
