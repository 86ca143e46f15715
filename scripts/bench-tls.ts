// TLS benchmark (RFC 5024 §2.3): a 1 GiB U file over TLS between two `oftp2` processes, beside a raw
// TLS pipe of the same octets in the same run.
//
//   npm run bench:tls -- [--mib N] [--runs N] [--disk DIR] [--cli binary|source]
//
// `oftp2` is the single binary as shipped (dist/oftp2, built by scripts/build.ts at the start), or with
// --cli source `node src/cli/main.ts`.
//
// Set-up (untimed): a self-signed RSA 2048 certificate per station made by openssl; two data
// directories made with the CLI (init, partner add --tls, cert import --own, cert import --partner, so
// each side trusts the other's pinned certificate); a file of random octets under --disk (default
// /var/tmp). Each run, timed:
//   ideal   this script as two child processes: a writer listening for TLS with station B's key and
//           certificate, a reader dialling it with A's (mutual authentication, our TLS settings:
//           src/transports/tls.ts), streaming the file into the socket; the writer writes it to a
//           file, fsyncs, answers one octet. Timed from the reader's spawn to its exit. Both sides of the
//           pipe and of the session negotiate the same version and suite (pipe_protocol,
//           session_protocol) with the same keys. Two pipes each run: `ideal`, the writer reading the
//           socket Node's usual way (pipeline into a file stream: 16 KiB chunks, a new buffer each), as
//           the TCP bench's raw pipe does; and `ideal_reused_read`, the writer reading as the session
//           does (tls-read.ts: large chunks decrypted into reused memory, half the CPU) and writing each
//           chunk at once: the stronger reference, ratio_to_reused_read_pipe.
//   oftp2   `oftp2 serve` on B (TLS port), then `oftp2 send bee` on A with the file queued beforehand
//           (spooled by a `send` while B was down, untimed): timed from the spawn of send to its exit,
//           i.e. node start, TLS handshake, the session, the receiver's fsync, EFPA, the EERP and the
//           release. Also timed: `oftp2 send bee FILE` that spools the file itself (with_spooling).
//           SFID→EFPA (from the receiver's log) is printed beside each: the file's own transfer, without
//           node's start, the handshake, the EERP and the exit.
//   tcp     the same queued send between a second pair of stations over plain TCP: what TLS costs
//           the session (tls_over_tcp = TCP time / TLS time), apart from what the session costs.
// ratio = ideal time / oftp2 time (target ≥ 0.8) per run, then the median of --runs (default 5: runs vary by ±20% on a small VM). The delivered file is
// checked (size and SHA-256) in the first run. The last line is one JSON object with every figure.
// Everything made (temp directory, child processes) is removed at the end, also on failure.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash, randomFillSync, X509Certificate } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { connect, createSecureContext, TLSSocket } from 'node:tls';
import { tlsContextOptions } from '../src/transports/tls.ts';
import { reusedTlsReader } from '../src/transports/tls-read.ts';
import { shippedBinary, sourceCli } from './lib/bench-binary.ts';

const MiB = 1024 * 1024;
const ROOT = resolve(import.meta.dirname, '..');
const A_ID = 'O0013000000TLSBENCHA';
const B_ID = 'O0013000000TLSBENCHB';

// ---- child roles: the raw TLS pipe ----


function pipeContext(keyPath: string, certPath: string) {
  return createSecureContext({ ...tlsContextOptions(), key: readFileSync(keyPath), cert: readFileSync(certPath) });
}

function runPipeChild(which: string, args: string[]): void {
  process.on('exit', () => writeSync(2, `max-rss-kib ${process.resourceUsage().maxRSS}\n`));
  const fail = (err: unknown) => {
    process.stderr.write(`${which}: ${err}\n`);
    process.exit(1);
  };
  if (which === 'pipe-writer') {
    const [outFile, keyPath, certPath, reading] = args as [string, string, string, 'plain' | 'reused'];
    const context = pipeContext(keyPath, certPath);
    const server = createNetServer({ allowHalfOpen: true }, (raw) => {
      server.close();
      // As src/transports/tls.ts does: a server-side TLSSocket on the accepted socket, client certificate asked for.
      const socket = new TLSSocket(raw, { isServer: true, secureContext: context, requestCert: true, rejectUnauthorized: false });
      socket.once('secure', () => {
        const fd = openSync(outFile, 'w', 0o644);
        const done = () => {
          fsyncSync(fd);
          closeSync(fd);
          process.stdout.write(`protocol ${socket.getProtocol()} ${socket.getCipher().standardName}\n`);
          socket.end('k');
        };
        // 'reused': read as the session does (src/transports/tls-read.ts: large chunks decrypted into
        // reused memory), each chunk written to the file at once. 'plain': Node's usual pipeline.
        const reader = reading === 'reused' ? reusedTlsReader(socket) : undefined;
        if (reading === 'reused' && !reader) return fail(new Error('no reused-memory reader on this Node'));
        if (reader) {
          const release = reader((chunk) => {
            writeSync(fd, chunk);
            release();
          });
          socket.once('end', done);
        } else {
          pipeline(socket, createWriteStream('', { fd, autoClose: false })).then(done, fail);
        }
      });
      socket.once('error', fail);
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as { port: number }).port}\n`));
  } else {
    const [inFile, port, keyPath, certPath] = args as [string, string, string, string];
    const socket = connect({ host: '127.0.0.1', port: Number(port), secureContext: pipeContext(keyPath, certPath), rejectUnauthorized: false, checkServerIdentity: () => undefined });
    socket.setNoDelay(true);
    socket.once('secureConnect', () => {
      const acked = new Promise<void>((res, rej) => {
        socket.once('data', () => res());
        socket.once('end', () => rej(new Error('writer closed without its acknowledgement')));
      });
      // Half-close after the file so the writer sees the end; wait for its octet.
      pipeline(createReadStream(inFile, { highWaterMark: MiB }), socket, { end: true })
        .catch(() => {})
        .then(() => acked)
        .then(() => socket.destroy(), fail);
    });
    socket.once('error', fail);
  }
}

// ---- the bench ----

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let cleaned = false;
function cleanUp(): void {
  if (cleaned) return;
  cleaned = true;
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

interface Spawned {
  proc: ChildProcess;
  startedAt: number;
  lines: string[];
  exited: Promise<{ code: number | null; at: number }>;
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Spawned {
  const startedAt = performance.now();
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.add(proc);
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.pattern.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; at: number }>((res) => proc.once('exit', (code) => res({ code, at: performance.now() })));
  exited.then(() => children.delete(proc));
  return {
    proc,
    startedAt,
    lines,
    exited,
    waitFor(pattern, timeoutMs) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${lines.slice(-10).join('\n')}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(timer);
            res(l);
          },
        });
        exited.then(() => setTimeout(() => rej(new Error(`exited before ${pattern}:\n${lines.slice(-10).join('\n')}`)), 200));
      });
    },
  };
}

async function success(s: Spawned, what: string, timeoutMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what} did not exit within ${timeoutMs} ms`)), timeoutMs);
  });
  const e = await Promise.race([s.exited, timeout]);
  clearTimeout(timer);
  if (e.code !== 0) throw new Error(`${what} exited with ${e.code}:\n${s.lines.slice(-15).join('\n')}`);
  return e.at;
}

/** How `oftp2` is run: the single binary as shipped (built at the start), or --cli source. */
let oftpCommand: { exe: string; args: string[] } = sourceCli(ROOT);
const oftp2 = (...args: string[]) => start(oftpCommand.exe, [...oftpCommand.args, ...args], { ...process.env, OFTP2_DATA_DIR: '' });

async function cli(...args: string[]): Promise<void> {
  await success(oftp2(...args), `oftp2 ${args.slice(0, 3).join(' ')}`, 60_000);
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

async function makeRandomFile(path: string, octets: number): Promise<void> {
  const fh = await open(path, 'w', 0o644);
  const chunk = Buffer.allocUnsafe(MiB);
  try {
    for (let written = 0; written < octets; written += MiB) {
      randomFillSync(chunk);
      await fh.write(chunk, 0, Math.min(MiB, octets - written));
    }
  } finally {
    await fh.close();
  }
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function selfSigned(dir: string, name: string, cn: string): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${cn}`, '-days', '2', '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment', '-addext', 'extendedKeyUsage=serverAuth,clientAuth', '-addext', 'basicConstraints=CA:FALSE'], { stdio: 'ignore' });
  return { key, cert };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const mbps = (octets: number, ms: number) => round(octets / 1e6 / (ms / 1000), 1);

function options(): { mib: number; runs: number; disk: string; cli: string } {
  const args = process.argv.slice(2);
  const get = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  for (let i = 0; i < args.length; i += 2) {
    if (!['--mib', '--runs', '--disk', '--cli'].includes(args[i]!) || args[i + 1] === undefined) {
      console.error(`bench-tls: unknown argument ${args[i]} (use --mib N, --runs N, --disk DIR, --cli binary|source)`);
      process.exit(2);
    }
  }
  const mib = Number(get('--mib') ?? 1024);
  const runs = Number(get('--runs') ?? 5);
  if (!Number.isInteger(mib) || mib < 1 || !Number.isInteger(runs) || runs < 1) {
    console.error('bench-tls: --mib and --runs take positive whole numbers');
    process.exit(2);
  }
  const cli = get('--cli') ?? 'binary';
  if (cli !== 'binary' && cli !== 'source') {
    console.error('bench-tls: --cli is binary or source');
    process.exit(2);
  }
  return { mib, runs, disk: resolve(get('--disk') ?? '/var/tmp'), cli };
}

async function main(): Promise<void> {
  const { mib, runs, disk, cli: cliKind } = options();
  if (cliKind === 'binary') oftpCommand = shippedBinary(ROOT);
  const octets = mib * MiB;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }
  const loadAtStart = loadavg()[0]!;
  const dir = mkdtempSync(join(disk, 'oftp2-bench-tls-'));
  tempDirs.add(dir);
  console.log(`bench-tls: ${cpus().length} × ${cpus()[0]?.model}, ${process.version}; ${mib} MiB under ${disk}; ${runs} run(s)`);

  // Certificates and stations.
  const a = selfSigned(dir, 'a', A_ID);
  const b = selfSigned(dir, 'b', B_ID);
  const dirA = join(dir, 'a');
  const dirB = join(dir, 'b');
  const tlsPort = await freePort();
  const tcpPort = await freePort();
  await Promise.all([
    cli('init', '-d', dirA, '--odette-id', A_ID, '--host', '127.0.0.1', '--port', String(await freePort())),
    cli('init', '-d', dirB, '--odette-id', B_ID, '--host', '127.0.0.1', '--port', String(tcpPort)),
  ]);
  await Promise.all([
    cli('partner', 'add', 'bee', '-d', dirA, '--odette-id', B_ID, '--password-out', 'PWDB', '--password-in', 'PWDA', '--host', '127.0.0.1', '--port', String(tlsPort), '--tls'),
    cli('partner', 'add', 'ay', '-d', dirB, '--odette-id', A_ID, '--password-out', 'PWDA', '--password-in', 'PWDB', '--tls'),
  ]);
  await Promise.all([cli('cert', 'import', '-d', dirA, '--own', '--role', 'tls', '--key', a.key, a.cert), cli('cert', 'import', '-d', dirB, '--own', '--role', 'tls', '--key', b.key, b.cert)]);
  await Promise.all([cli('cert', 'import', '-d', dirA, '--partner', 'bee', '--role', 'tls', b.cert), cli('cert', 'import', '-d', dirB, '--partner', 'ay', '--role', 'tls', a.cert)]);

  // The plain TCP reference pair.
  const dirA2 = join(dir, 'a-tcp');
  const dirB2 = join(dir, 'b-tcp');
  const tcpPort2 = await freePort();
  await Promise.all([
    cli('init', '-d', dirA2, '--odette-id', A_ID, '--host', '127.0.0.1', '--port', String(await freePort())),
    cli('init', '-d', dirB2, '--odette-id', B_ID, '--host', '127.0.0.1', '--port', String(tcpPort2)),
  ]);
  await Promise.all([
    cli('partner', 'add', 'bee', '-d', dirA2, '--odette-id', B_ID, '--password-out', 'PWDB', '--password-in', 'PWDA', '--host', '127.0.0.1', '--port', String(tcpPort2)),
    cli('partner', 'add', 'ay', '-d', dirB2, '--odette-id', A_ID, '--password-out', 'PWDA', '--password-in', 'PWDB'),
  ]);

  const source = join(dir, 'source.bin');
  console.log(`writing ${mib} MiB of random octets to ${source}`);
  await makeRandomFile(source, octets);
  const sourceHash = await sha256(source);

  const ideal: number[] = [];
  const idealReused: number[] = [];
  const queued: number[] = [];
  /** SFID→EFPA (receiver's log), per case. */
  const transfers: Record<string, number[]> = {};
  const spooling: number[] = [];
  const tcp: number[] = [];
  let pipeProtocol = '';
  let sessionProtocol = '';
  for (let run = 1; run <= runs; run++) {
    execFileSync('sync');
    // Raw TLS pipes: the writer reading Node's usual way, and reading into reused memory as we do.
    for (const [reading, into] of [['plain', ideal], ['reused', idealReused]] as const) {
      execFileSync('sync');
      const out = join(dir, 'pipe.out');
      const writer = start(process.execPath, [import.meta.filename, 'pipe-writer', out, b.key, b.cert, reading]);
      const port = (await writer.waitFor(/^port \d+$/, 10_000)).split(' ')[1]!;
      const reader = start(process.execPath, [import.meta.filename, 'pipe-reader', source, port, a.key, a.cert]);
      const readerExit = await success(reader, 'pipe reader', 600_000);
      await success(writer, 'pipe writer', 10_000);
      if (statSync(out).size !== octets) throw new Error(`the pipe wrote ${statSync(out).size} octets`);
      pipeProtocol = writer.lines.find((l) => l.startsWith('protocol '))?.slice(9) ?? '';
      rmSync(out);
      const pipeMs = readerExit - reader.startedAt;
      into.push(pipeMs);
      console.log(`run ${run}: raw TLS pipe (${reading} reads) ${round(pipeMs)} ms (${mbps(octets, pipeMs)} MB/s, ${pipeProtocol})`);
    }

    // oftp2 with the file queued beforehand: `send` while B is down spools it and exits 1.
    for (const from of [dirA, dirA2]) {
      const q = oftp2('send', 'bee', '-d', from, source);
      if ((await q.exited).code !== 1 || !q.lines.some((l) => l.startsWith('queued '))) throw new Error(`queueing failed:\n${q.lines.join('\n')}`);
    }
    const cases = [
      ['queued', dirA, dirB, [], queued],
      ['tcp', dirA2, dirB2, [], tcp],
      ['with_spooling', dirA, dirB, [source], spooling],
    ] as const;
    for (const [label, from, to, files, into] of cases) {
      execFileSync('sync');
      const serve = oftp2('serve', '-d', to, '--tls-port', String(tlsPort));
      await serve.waitFor(label === 'tcp' ? /"msg":"listening"/ : /"msg":"listening for TLS"/, 30_000);
      const send = oftp2('send', 'bee', '-d', from, ...files);
      const sendExit = await success(send, `oftp2 send (${label})`, 900_000).catch((err: Error) => {
        throw new Error(`${err.message}\nreceiver's log (last lines):\n${serve.lines.slice(-8).join('\n')}`);
      });
      serve.proc.kill('SIGTERM');
      await serve.exited;
      const log = serve.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const accepted = log.find((l) => l.msg === 'TLS connection accepted');
      if (label !== 'tcp') sessionProtocol = accepted ? `${accepted.protocol} ${accepted.cipher}` : '?';
      const delivered = log.find((l) => l.msg === 'Inbound: file delivered');
      if (!delivered || typeof delivered.path !== 'string') throw new Error(`no delivery in B's log:\n${serve.lines.slice(-10).join('\n')}`);
      if (statSync(delivered.path).size !== octets) throw new Error(`${delivered.path}: ${statSync(delivered.path).size} octets`);
      if (run === 1 && label === 'queued' && (await sha256(delivered.path)) !== sourceHash) throw new Error(`${delivered.path} differs from the source`);
      rmSync(delivered.path);
      const ms = sendExit - send.startedAt;
      into.push(ms);
      // The file's own transfer, from the receiver's log: SFID taken to the commit before EFPA.
      const receiving = log.find((l) => l.msg === 'Inbound: receiving file');
      const transferMs = receiving ? Date.parse(String(delivered.time)) - Date.parse(String(receiving.time)) : Number.NaN;
      transfers[label] = [...(transfers[label] ?? []), transferMs];
      console.log(`run ${run}: oftp2 send ${label === 'tcp' ? 'over plain TCP (queued)' : `over TLS (${label})`} ${round(ms)} ms (${mbps(octets, ms)} MB/s${label === 'tcp' ? '' : `, ${sessionProtocol}`}); SFID→EFPA ${transferMs} ms (${mbps(octets, transferMs)} MB/s)`);
    }
  }
  const idealMs = median(ideal);
  const reusedMs = median(idealReused);
  const queuedMs = median(queued);
  const spoolingMs = median(spooling);
  const tcpMs = median(tcp);
  // Ratios per run (a run's pipes and sends go back to back, under the same conditions), then the median.
  const perRun = (top: number[], bottom: number[]) => median(bottom.map((b, i) => top[i]! / b));
  const ratio = perRun(ideal, queued);
  const reusedRatio = perRun(idealReused, queued);
  const spoolingRatio = perRun(ideal, spooling);
  const tlsOverTcp = perRun(tcp, queued);
  console.log(`median: raw TLS pipe ${mbps(octets, idealMs)} MB/s; oftp2 over TLS ${mbps(octets, queuedMs)} MB/s (ratio ${round(ratio, 3)}); spooling included ${mbps(octets, spoolingMs)} MB/s (ratio ${round(spoolingRatio, 3)}); oftp2 over plain TCP ${mbps(octets, tcpMs)} MB/s (TLS runs at ${round(tlsOverTcp, 3)} of it); beside the raw TLS pipe reading into reused memory as the session does, ${mbps(octets, reusedMs)} MB/s: ratio ${round(reusedRatio, 3)}`);
  console.log(
    JSON.stringify({
      bench: 'tls',
      oftp2: cliKind === 'binary' ? 'dist/oftp2' : 'node src/cli/main.ts',
      mib,
      runs,
      disk,
      nproc: cpus().length,
      // 1-minute load average at the start and the end: other work on the machine skews every figure.
      load: [round(loadAtStart, 2), round(loadavg()[0]!, 2)],
      node: process.version,
      pipe_protocol: pipeProtocol,
      session_protocol: sessionProtocol,
      ideal_ms: round(idealMs),
      ideal_mbps: mbps(octets, idealMs),
      send_ms: round(queuedMs),
      mbps: mbps(octets, queuedMs),
      ratio: round(ratio, 3),
      ideal_reused_read_mbps: mbps(octets, reusedMs),
      ratio_to_reused_read_pipe: round(reusedRatio, 3),
      with_spooling_ms: round(spoolingMs),
      with_spooling_mbps: mbps(octets, spoolingMs),
      with_spooling_ratio: round(spoolingRatio, 3),
      tcp_ms: round(tcpMs),
      tcp_mbps: mbps(octets, tcpMs),
      tls_over_tcp: round(tlsOverTcp, 3),
      sfid_to_efpa_ms: round(median(transfers.queued ?? [])),
      sfid_to_efpa_mbps: mbps(octets, median(transfers.queued ?? [])),
      tcp_sfid_to_efpa_mbps: mbps(octets, median(transfers.tcp ?? [])),
      certificate: new X509Certificate(readFileSync(b.cert)).publicKey.asymmetricKeyDetails?.modulusLength,
    }),
  );
}

// ---- entry: a pipe child, or the bench ----

const [role, ...roleArgs] = process.argv.slice(2);
if (role === 'pipe-writer' || role === 'pipe-reader') {
  runPipeChild(role, roleArgs);
} else {
  main().then(
    () => cleanUp(),
    (err) => {
      console.error(`bench-tls: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      cleanUp();
      process.exitCode = 1;
    },
  );
}
