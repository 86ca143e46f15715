// SIGTERM for `oftp2 serve` from its first moment (src/cli/stop-signals.ts): a signal caught before
// anyone waits for it is kept, and a serve stopped as early as it catches the signal, while it is
// still loading, stops cleanly (exit 0) instead of dying by the signal's default action.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const root = join(import.meta.dirname, '../..');

test('a stop signal caught before serve waits for it is kept', () => {
  const script = `
    const m = await import(${JSON.stringify(join(root, 'src/cli/stop-signals.ts'))});
    m.catchStopSignals();
    process.kill(process.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    process.stdout.write(await m.stopSignal());`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(run.signal, null, 'not killed by SIGTERM');
  assert.equal(run.stdout, 'SIGTERM');
  assert.equal(run.status, 0);
});

test('serve stopped while it is still loading the CLI stops cleanly once up', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-early-stop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const preload = join(import.meta.dirname, 'fixtures/pause-before-cli.ts');
  const child = spawn(process.execPath, ['--import', preload, join(root, 'src/cli/main.ts'), 'serve', '-d', dir, '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  let signalled = false;
  const onData = (c: string) => {
    out += c;
    if (!signalled && out.includes('preload: loading the CLI')) {
      signalled = true;
      child.kill('SIGTERM');
    }
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const end = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  clearTimeout(timer);
  assert.ok(signalled, out);
  assert.deepEqual(end, { code: 0, signal: null }, out);
  assert.match(out, /SIGTERM/, 'the stop was logged');
});
