// `oftp2 serve` as a process with a TLS certificate: it warns about the certificate expiring soon, listens
// for TLS beside TCP, and logs a caller without a client certificate as refused, with the cause.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { StationStore } from '../../src/store/station-store.ts';
import { TestPki } from './pki.ts';
import { freePort } from '../free-port.ts';

const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

function waitForLine(child: ChildProcess, lines: string[], pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern}:\n${lines.join('\n')}`)), timeoutMs);
    const check = () => {
      const line = lines.find((l) => pattern.test(l));
      if (line) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(line);
      }
    };
    child.stdout!.on('data', check);
    check();
  });
}

test('oftp2 serve listens for TLS, warns about an expiring certificate, logs a refused caller with its cause', async (t) => {
  const pki = new TestPki('oftp-serve-tls-');
  t.after(() => pki.remove());
  const ca = pki.rootCa('ca');
  const own = pki.issue('own', ca, { cn: 'O0013000000SERVE', days: 5 });
  const dir = await mkdtemp(join(tmpdir(), 'oftp-serve-tls-st-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [tcpPort, tlsPort] = [await freePort(), await freePort()];
  const store = await StationStore.init(dir, {
    odetteId: 'O0013000000SERVE',
    listen: { host: '127.0.0.1', port: tcpPort },
    keys: { tls: { file: own.keyPath } },
    certificates: { tls: { certificate: own.certPath, key: 'tls' } },
  });
  await store.addPartner({ name: 'acme', odetteId: 'O0013000000ACME', passwordToSend: 'A', passwordExpected: 'B', tls: true, trust: { caFiles: [ca.certPath] } });

  const child = spawn(process.execPath, [MAIN, 'serve', '-d', dir, '--tls-port', String(tlsPort)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OFTP2_DATA_DIR: '' } });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));

  const listening = JSON.parse(await waitForLine(child, lines, /"msg":"listening for TLS"/));
  assert.equal(listening.port, tlsPort);
  assert.equal(listening.tls, true);
  assert.ok(lines.some((l) => /"msg":"our tls certificate \\"CN=O0013000000SERVE\\" expires in [45] days/.test(l)), lines.join('\n'));

  const socket = connect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false });
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const refused = JSON.parse(await waitForLine(child, lines, /no client certificate/));
  assert.equal(refused.reason, 'no-certificate');
  assert.match(refused.msg, /^TLS connection from 127\.0\.0\.1:\d+ refused: no client certificate was presented, and every partner requires one$/);

  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});
