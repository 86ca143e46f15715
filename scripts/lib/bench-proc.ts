// Child processes for the session benchmark: spawned with their start time, their output kept as
// lines with the time each arrived, and every one of them killed (by its own pid) when the bench
// ends, normally or not. Also: temp directories removed at the end, free TCP ports, small stats.
import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Line {
  text: string;
  /** performance.now() when the line arrived in the bench. */
  at: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** performance.now() at exit. */
  at: number;
}

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  /** performance.now() right before spawn. */
  readonly startedAt: number;
  readonly stdout: Line[] = [];
  readonly stderr: Line[] = [];
  readonly exited: Promise<Exit>;
  #exit: Exit | undefined;
  readonly #waiters: { pattern: RegExp; resolve: (line: Line) => void }[] = [];

  constructor(name: string, command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }) {
    this.name = name;
    this.startedAt = performance.now();
    this.proc = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#collect(this.proc.stdout!, this.stdout);
    this.#collect(this.proc.stderr!, this.stderr);
    this.exited = new Promise((resolve, reject) => {
      this.proc.once('error', reject);
      this.proc.once('exit', (code, signal) => {
        this.#exit = { code, signal, at: performance.now() };
        resolve(this.#exit);
      });
    });
    this.exited.catch(() => {});
  }

  get running(): boolean {
    return this.#exit === undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  #collect(stream: NodeJS.ReadableStream, into: Line[]): void {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const at = performance.now();
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const text of parts) {
        const line = { text, at };
        into.push(line);
        for (let i = this.#waiters.length - 1; i >= 0; i--) {
          const w = this.#waiters[i]!;
          if (w.pattern.test(text)) {
            this.#waiters.splice(i, 1);
            w.resolve(line);
          }
        }
      }
    });
    stream.on('end', () => {
      if (rest) into.push({ text: rest, at: performance.now() });
    });
  }

  /** The first stdout/stderr line matching `pattern` (already seen or still to come). */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<Line> {
    const seen = [...this.stdout, ...this.stderr].find((l) => pattern.test(l.text));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
      this.#waiters.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      this.exited.then(() => {
        // Let the last output arrive, then give up.
        setTimeout(() => {
          clearTimeout(timer);
          reject(new Error(`${this.name} exited before printing a line matching ${pattern}\n${this.describe()}`));
        }, 200);
      });
    });
  }

  /** Waits for the exit; rejects after `timeoutMs` (the process is killed by the registry later). */
  async exit(timeoutMs: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms\n${this.describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Exit that must be code 0. */
  async success(timeoutMs: number): Promise<Exit> {
    const e = await this.exit(timeoutMs);
    // Let the pipes drain (the exit event can come before the last data event).
    await new Promise((r) => setTimeout(r, 20));
    if (e.code !== 0) throw new Error(`${this.name} exited with ${e.code ?? e.signal}\n${this.describe()}`);
    return e;
  }

  describe(): string {
    const tail = (lines: Line[]) => lines.slice(-15).map((l) => `    ${l.text.slice(0, 400)}`).join('\n');
    return `  ${this.name} stdout (last lines):\n${tail(this.stdout)}\n  ${this.name} stderr:\n${tail(this.stderr)}`;
  }

  /** Max RSS the process reported on stderr (OFTP2_REPORT_RSS=1, or the pipe child), in MiB. */
  reportedMaxRssMiB(): number | undefined {
    for (const l of this.stderr) {
      const m = /max-rss-kib (\d+)/.exec(l.text);
      if (m) return Number(m[1]) / 1024;
    }
    return undefined;
  }

  /** User + system CPU time the process reported on stderr, ms (every thread, GC and thread pool included). */
  reportedCpuMs(): number | undefined {
    for (const l of this.stderr) {
      const m = /cpu-user-ms (\d+) cpu-system-ms (\d+)/.exec(l.text);
      if (m) return Number(m[1]) + Number(m[2]);
    }
    return undefined;
  }
}

/** Every child and temp directory of the run, so nothing outlives the bench. */
export class Registry {
  readonly #children = new Set<Child>();
  readonly #dirs = new Set<string>();

  spawn(name: string, command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
    const child = new Child(name, command, args, options);
    this.#children.add(child);
    child.exited.then(
      () => this.#children.delete(child),
      () => this.#children.delete(child),
    );
    return child;
  }

  tempDir(path: string): string {
    this.#dirs.add(path);
    return path;
  }

  removeDir(path: string): void {
    // Retried: a detached `rm` that `oftp2 send` left to empty its spool's trash may still be running.
    rmSync(path, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
    this.#dirs.delete(path);
  }

  /** Kills what is still running (SIGKILL, by pid) and removes the temp directories. Synchronous. */
  cleanUp(): void {
    for (const child of this.#children) {
      if (child.running && child.proc.pid !== undefined) {
        try {
          process.kill(child.proc.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    this.#children.clear();
    for (const dir of this.#dirs) rmSync(dir, { recursive: true, force: true });
    this.#dirs.clear();
  }
}

/**
 * A TCP port free on 127.0.0.1 right now, below the kernel's ephemeral range (32768 and up here), so
 * that no outgoing connection of another process can take it before our server binds it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free TCP port found in 20000..31999');
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds for printing: 3 significant decimals at most. */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const MB = 1e6;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
