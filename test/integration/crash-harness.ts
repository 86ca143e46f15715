// Real parts for the crash-recovery test: `oftp2` child processes with their output kept, a seeded
// random number generator, and a protocol-aware TCP proxy between two stations that can SIGKILL a
// station at an exact command (e.g. "the first EFPA from A") rather than after a guessed delay.
// The proxy deframes each direction into exchange buffers (RFC 5024 §8 STB), names every command, and
// asks a hook whether to forward it; after a kill it can freeze the connection (drop everything), as if
// the victim died before the command left or before it could read it.
import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeCommand } from '../../src/protocol/command-codec.ts';
import { COMMAND_BY_OCTET } from '../../src/protocol/command-layouts.ts';
import type { CommandName } from '../../src/protocol/command-types.ts';
import { encodeStb, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';

export const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function seededRandom(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(items: readonly T[]): T } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

// ---- processes ----

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Every child still running: killed if the test process exits without its t.after (e.g. a runner timeout). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** One `oftp2` process; its stdout/stderr are kept, its exit is a promise. */
export class Oftp2Process {
  readonly label: string;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  readonly #waiters: { re: RegExp; from: number; resolve: () => void }[] = [];

  /** With `logDir`, stdout and stderr are written to `<logDir>/<label>.log` when the process ends. */
  constructor(label: string, args: string[], live: Set<Oftp2Process>, logDir?: string) {
    this.label = label;
    this.child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...process.env, OFTP2_DEBUG: '1', OFTP2_DATA_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    running.add(this.child);
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.stdout += s;
      this.#check();
    });
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.stderr += s;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        this.stderr += String(err);
      });
      this.child.once('close', async (code, signal) => {
        this.exit = { code, signal };
        running.delete(this.child);
        if (logDir) {
          const text = `$ oftp2 ${args.join(' ')}\n${this.stdout}--- stderr ---\n${this.stderr}--- ${describeExit(this.exit)}\n`;
          await writeFile(join(logDir, `${label.replace(/[^\w#-]+/g, '_')}.log`), text).catch(() => {});
        }
        live.delete(this);
        this.#check();
        resolve(this.exit);
      });
    });
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Resolves when stdout has a line matching `re` after offset `from`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no ${re} within ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
      this.#waiters.push({
        re,
        from,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
      this.exited.then(() =>
        setImmediate(() => {
          clearTimeout(timer);
          reject(new Error(`${this.label} exited (${describeExit(this.exit!)}) before ${re}\n${this.tail()}`));
        }),
      );
      this.#check();
    });
  }

  #check(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (w.re.test(this.stdout.slice(w.from))) {
        this.#waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** SIGKILL; true when the process was still running. */
  kill(): boolean {
    if (!this.running) return false;
    return this.child.kill('SIGKILL');
  }

  tail(lines = 15): string {
    const out = this.stdout.trimEnd().split('\n').slice(-lines).join('\n');
    return `--- ${this.label} stdout (tail) ---\n${out}\n--- ${this.label} stderr ---\n${this.stderr.trimEnd()}`;
  }
}

/** The names in `dir`, sorted; none when it does not exist. */
export async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`;
}

/** Runs `oftp2 ARGS` to the end (with a time limit). */
export async function runOftp2(args: string[], live: Set<Oftp2Process>, timeoutMs = 20_000): Promise<Oftp2Process & { exit: Exit }> {
  const p = new Oftp2Process(`oftp2 ${args[0]}`, args, live);
  const timer = setTimeout(() => p.kill(), timeoutMs);
  await p.exited;
  clearTimeout(timer);
  return p as Oftp2Process & { exit: Exit };
}

// ---- proxy ----

export type StationName = 'A' | 'B';

export interface SeenCommand {
  /** The station that sent it. */
  from: StationName;
  cmd: CommandName;
  /** The virtual file in transfer (last SFID of the connection), or the one an EERP/NERP names. */
  file: string | undefined;
  /** Milliseconds since the proxy was created. */
  at: number;
}

/** Commands of a file transfer: they concern the file of the last SFID. */
const FILE_PHASE = new Set<CommandName>(['SFPA', 'SFNA', 'DATA', 'CDT', 'EFID', 'EFPA', 'EFNA']);

/** What to do with one exchange buffer. */
export type Verdict = 'forward' | 'drop';

interface Link {
  b: Socket;
  a: Socket;
  frozen: boolean;
  file: string | undefined;
}

/**
 * Listens on 127.0.0.1:0 for B (the initiator) and connects each session to A on 127.0.0.1:`targetPort`.
 * Every exchange buffer, either way, goes through `onCommand`. While `accepting` is false, connections
 * are closed at once (B then fails to dial: used to queue files without a session).
 */
export class OftpProxy {
  readonly server: Server;
  readonly port: number;
  targetPort = 0;
  accepting = false;
  onCommand: (c: SeenCommand) => Verdict = () => 'forward';
  readonly #links = new Set<Link>();
  readonly #start = performance.now();

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
    server.on('connection', (socket) => this.#accept(socket));
  }

  static async listen(): Promise<OftpProxy> {
    const server = createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new OftpProxy(server, (server.address() as { port: number }).port);
  }

  now(): number {
    return performance.now() - this.#start;
  }

  /** Drops everything from now on, both ways, on every open connection. */
  freeze(): void {
    for (const link of this.#links) link.frozen = true;
  }

  get openConnections(): number {
    return this.#links.size;
  }

  async close(): Promise<void> {
    for (const link of this.#links) {
      link.a.destroy();
      link.b.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(b: Socket): void {
    if (!this.accepting || this.targetPort === 0) {
      b.destroy();
      return;
    }
    b.setNoDelay(true);
    b.pause();
    const a = createConnection({ host: '127.0.0.1', port: this.targetPort, allowHalfOpen: true });
    a.setNoDelay(true);
    const link: Link = { a, b, frozen: false, file: undefined };
    this.#links.add(link);
    this.#pipe(link, b, a, 'B');
    this.#pipe(link, a, b, 'A');
    a.once('connect', () => b.resume());
    let closed = 0;
    for (const s of [a, b]) {
      s.on('error', () => {});
      s.once('close', () => {
        if (++closed === 2) this.#links.delete(link);
      });
    }
  }

  #pipe(link: Link, from: Socket, to: Socket, fromName: StationName): void {
    const deframer = new StbDeframer({ maxExchangeBufferSize: 99999 });
    from.on('data', (chunk: Buffer) => {
      let buffers: Uint8Array[];
      try {
        buffers = deframer.push(chunk);
      } catch {
        from.destroy();
        to.destroy();
        return;
      }
      for (const buffer of buffers) {
        if (link.frozen) continue;
        const cmd = buffer[0] === undefined ? undefined : COMMAND_BY_OCTET.get(buffer[0]);
        if (cmd === undefined) {
          to.write(encodeStb(buffer));
          continue;
        }
        let file = FILE_PHASE.has(cmd) ? link.file : undefined;
        if (cmd === 'SFID' || cmd === 'EERP' || cmd === 'NERP') {
          try {
            const decoded = decodeCommand(buffer, 5) as { datasetName: string };
            file = decoded.datasetName;
            if (cmd === 'SFID') link.file = file;
          } catch {
            // not at level 5: the name is only for the log
          }
        }
        const verdict = this.onCommand({ from: fromName, cmd, file, at: this.now() });
        if (verdict === 'forward' && !link.frozen && !to.destroyed) to.write(encodeStb(buffer));
      }
    });
    // A peer's FIN or its death (the kernel closes a killed process's sockets) reaches the other side.
    from.once('end', () => to.end());
    from.once('close', () => {
      to.end();
      setTimeout(() => to.destroy(), 300).unref();
    });
  }
}
