// Two real stations for the session benchmark, each driven through the `oftp2` CLI in its own
// process: A (sender, partner "bee") dials B (responder, partner "ay") on 127.0.0.1.
// Processes run with OFTP2_REPORT_RSS=1, so each prints its peak RSS on stderr at exit.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Child, freePort, type Registry } from './bench-proc.ts';

/** How to start `oftp2`: the Node binary and the arguments before the command. */
export interface OftpCli {
  exe: string;
  args: readonly string[];
  label: string;
}

export const A_ID = 'O0013000000BENCHA';
export const B_ID = 'O0013000000BENCHB';
export const A_PASSWORD = 'PWDA';
export const B_PASSWORD = 'PWDB';

export interface StationPair {
  dir: string;
  a: string;
  b: string;
  port: number;
}

export interface ServerLogLine {
  msg: string;
  /** ms since the epoch (pino isoTime, millisecond resolution). */
  time: number;
  [key: string]: unknown;
}

const env = { ...process.env, OFTP2_REPORT_RSS: '1', OFTP2_DEBUG: '1' };

async function cli(registry: Registry, oftp: OftpCli, name: string, args: readonly string[]): Promise<Child> {
  const child = registry.spawn(name, oftp.exe, [...oftp.args, ...args], { env });
  await child.success(30_000);
  return child;
}

/** Creates both data directories under `dir` with each other as partners. */
export async function createPair(registry: Registry, oftp: OftpCli, dir: string, settings: Record<string, unknown> = {}): Promise<StationPair> {
  const port = await freePort();
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  await Promise.all([
    cli(registry, oftp, 'init A', ['init', '-d', a, '--odette-id', A_ID, '--host', '127.0.0.1', '--port', String(await freePort())]),
    cli(registry, oftp, 'init B', ['init', '-d', b, '--odette-id', B_ID, '--host', '127.0.0.1', '--port', String(port)]),
  ]);
  await Promise.all([
    cli(registry, oftp, 'partner add bee', ['partner', 'add', 'bee', '-d', a, '--odette-id', B_ID, '--password-out', B_PASSWORD, '--password-in', A_PASSWORD, '--host', '127.0.0.1', '--port', String(port)]),
    cli(registry, oftp, 'partner add ay', ['partner', 'add', 'ay', '-d', b, '--odette-id', A_ID, '--password-out', A_PASSWORD, '--password-in', B_PASSWORD]),
  ]);
  if (Object.keys(settings).length > 0) {
    for (const d of [a, b]) {
      const file = join(d, 'station.json');
      const config = JSON.parse(readFileSync(file, 'utf8'));
      Object.assign(config.station, settings);
      writeFileSync(file, JSON.stringify(config, null, 2));
    }
  }
  return { dir, a, b, port };
}

export async function startServe(registry: Registry, oftp: OftpCli, pair: StationPair): Promise<Child> {
  const serve = registry.spawn('oftp2 serve', oftp.exe, [...oftp.args, 'serve', '-d', pair.b], { env });
  await serve.waitForLine(/"msg":"listening"/, 30_000);
  return serve;
}

/** SIGTERM, then the exit (serve ends cleanly on SIGTERM and prints its RSS). Under strace, to its child. */
export async function stopServe(serve: Child): Promise<void> {
  if (serve.running && serve.proc.pid !== undefined) {
    let target = serve.proc.pid;
    if (serve.proc.spawnfile === 'strace') {
      const children = readFileSync(`/proc/${target}/task/${target}/children`, 'utf8').trim().split(/\s+/);
      if (children[0]) target = Number(children[0]);
    }
    process.kill(target, 'SIGTERM');
  }
  await serve.exit(30_000);
  await new Promise((r) => setTimeout(r, 20));
}

export function spawnSend(registry: Registry, oftp: OftpCli, pair: StationPair, files: readonly string[]): Child {
  return registry.spawn('oftp2 send', oftp.exe, [...oftp.args, 'send', 'bee', '-d', pair.a, ...files], { env });
}

export function serverLog(serve: Child): ServerLogLine[] {
  const out: ServerLogLine[] = [];
  for (const line of serve.stdout) {
    if (!line.text.startsWith('{')) continue;
    try {
      const rec = JSON.parse(line.text) as { msg: string; time: string };
      out.push({ ...rec, time: Date.parse(rec.time) });
    } catch {
      // not a log line
    }
  }
  return out;
}
