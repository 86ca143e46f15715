// Integration harness for the station (the real part, GUIDE "Integration tests use the real part"):
// two stations A and B in temp data directories, each configured with the other as a partner. A serves
// on 127.0.0.1:0; B dials A through a small TCP proxy on 127.0.0.1:0 that forwards both ways, records
// every byte, and can cut a connection after N octets from B to A. Also here: a hand-driven initiator
// (a real OftpSession and SessionDriver with a scripted handler) for SFIDs a station would never send,
// local file makers for the four formats, and STB/command decoding of captured bytes.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { decodeCommand } from '../../src/protocol/command-codec.ts';
import type { OdetteCommand, Sfid, VirtualFileFormat } from '../../src/protocol/command-types.ts';
import { ExchangeBufferEncoder } from '../../src/protocol/exchange-buffer-encoder.ts';
import { STB_HEADER_LENGTH, StbDeframer } from '../../src/protocol/stream-transmission-buffer.ts';
import { OftpSession } from '../../src/session/engine.ts';
import type { CommandCodec, LocalParameters, SessionEnded, SessionEvent } from '../../src/session/types.ts';
import type { Log } from '../../src/station/session-handler.ts';
import { type SessionResult, Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { type DriverIo, type SessionHandler, SessionDriver } from '../../src/transports/session-driver.ts';

export const ID_A = 'O0013000000STATIONA';
export const ID_B = 'O0013000000STATIONB';
/** What B sends to A (A expects it) and what A sends to B. */
export const PASSWORD_B = 'PWFROMB';
export const PASSWORD_A = 'PWFROMA';

// ---- logs ----

export interface LogEntry {
  level: 'info' | 'warn';
  msg: string;
  obj: Record<string, unknown>;
}

export class CapturingLog implements Log {
  readonly entries: LogEntry[] = [];
  info(obj: object, msg: string): void {
    this.entries.push({ level: 'info', msg, obj: obj as Record<string, unknown> });
  }
  warn(obj: object, msg: string): void {
    this.entries.push({ level: 'warn', msg, obj: obj as Record<string, unknown> });
  }
  find(msg: string): LogEntry[] {
    return this.entries.filter((e) => e.msg === msg);
  }
  clear(): void {
    this.entries.length = 0;
  }
}

// ---- proxy ----

export interface ProxiedConnection {
  /** Octets B sent towards A (as forwarded), and A's answers towards B. */
  toA: Buffer[];
  toB: Buffer[];
  /** Octets forwarded to A. */
  bytesToA: number;
  /** Set when the proxy cut this connection. */
  cut: boolean;
  closed: Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1:0 forwarding to `target`. `cutNextAfter(n)` makes the next connection
 * forward exactly n octets from B to A, then end A's side (FIN after the data) and destroy B's.
 */
export class CuttingProxy {
  readonly server: Server;
  readonly connections: ProxiedConnection[] = [];
  readonly #sockets = new Set<Socket>();
  #target: { host: string; port: number };
  #cutNext: number | { afterCommand: number } | undefined;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.server = server;
    this.#target = target;
  }

  static async start(target: { host: string; port: number }): Promise<CuttingProxy> {
    let proxy!: CuttingProxy;
    const server = createServer((client) => proxy.#accept(client));
    proxy = new CuttingProxy(server, target);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  set target(target: { host: string; port: number }) {
    this.#target = target;
  }

  cutNextAfter(octetsToA: number): void {
    this.#cutNext = octetsToA;
  }

  /** The next connection is cut right after the first exchange buffer from B whose command octet is `cmd` ('T' EFID…). */
  cutNextAfterCommand(cmd: string): void {
    this.#cutNext = { afterCommand: cmd.charCodeAt(0) };
  }

  #accept(client: Socket): void {
    const cut = this.#cutNext;
    this.#cutNext = undefined;
    let cutAt = typeof cut === 'number' ? cut : undefined;
    const upstream = createConnection(this.#target);
    let resolveClosed!: () => void;
    const conn: ProxiedConnection = { toA: [], toB: [], bytesToA: 0, cut: false, closed: new Promise((r) => (resolveClosed = r)) };
    this.connections.push(conn);
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => this.#sockets.delete(s));
    }
    let open = 2;
    const closedOne = () => {
      if (--open === 0) resolveClosed();
    };
    client.on('close', closedOne);
    upstream.on('close', closedOne);
    client.pause();
    upstream.once('connect', () => client.resume());
    client.on('data', (chunk: Buffer) => {
      if (conn.cut) return;
      if (typeof cut === 'object' && cutAt === undefined) cutAt = endOfCommand(Buffer.concat([...conn.toA, chunk]), cut.afterCommand);
      let part = chunk;
      if (cutAt !== undefined && conn.bytesToA + chunk.length >= cutAt) {
        part = chunk.subarray(0, cutAt - conn.bytesToA);
        conn.cut = true;
      }
      conn.toA.push(Buffer.from(part));
      conn.bytesToA += part.length;
      if (conn.cut) {
        upstream.end(part);
        client.destroy();
        return;
      }
      if (!upstream.write(part)) {
        client.pause();
        upstream.once('drain', () => client.resume());
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (conn.cut || client.destroyed) return;
      conn.toB.push(Buffer.from(chunk));
      if (!client.write(chunk)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Offset just after the first STB frame whose exchange buffer starts with `command`, if complete in `bytes`. */
export function endOfCommand(bytes: Buffer, command: number): number | undefined {
  for (let p = 0; p + STB_HEADER_LENGTH < bytes.length; ) {
    const total = ((bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!) >>> 0;
    if (p + total > bytes.length) return undefined;
    if (bytes[p + STB_HEADER_LENGTH] === command) return p + total;
    p += total;
  }
  return undefined;
}

// ---- the pair ----

export interface PairOptions {
  /** Station settings (StationStore.init) for A and B, beyond the Odette ID. */
  a?: Record<string, unknown>;
  b?: Record<string, unknown>;
  /** A's configuration of its partner B, and B's of A, beyond the defaults below. */
  aPartner?: Record<string, unknown>;
  bPartner?: Record<string, unknown>;
  /** More partners of A (e.g. known originators that are not B). */
  aExtraPartners?: Record<string, unknown>[];
}

/** Small settings so tests are fast and exercise many buffers: responses within 10 s, small checkpoints. */
const STATION_TEST_SETTINGS = { responseTimeoutSeconds: 10, diskReserveBytes: 0, checkpointIntervalBytes: 4096 };

export class StationPair {
  readonly root: string;
  readonly dirA: string;
  readonly dirB: string;
  a!: Station;
  b!: Station;
  server!: Server;
  proxy!: CuttingProxy;
  readonly logA = new CapturingLog();
  readonly logB = new CapturingLog();
  /** A's finished sessions (responder), in order. */
  readonly sessionsA: SessionResult[] = [];
  readonly #waiters: { n: number; resolve: () => void }[] = [];
  readonly #options: PairOptions;

  private constructor(root: string, options: PairOptions) {
    this.root = root;
    this.dirA = join(root, 'a');
    this.dirB = join(root, 'b');
    this.#options = options;
  }

  /** Creates, configures and opens both stations; A serves, the proxy forwards to it. Cleans up in t.after. */
  static async create(t: TestContext, options: PairOptions = {}): Promise<StationPair> {
    const root = await mkdtemp(join(tmpdir(), 'oftp-station-'));
    const pair = new StationPair(root, options);
    t.after(() => pair.close());
    await pair.#start();
    return pair;
  }

  async #start(): Promise<void> {
    const o = this.#options;
    // A needs no port for B (B only dials in); B's port is the proxy's, known once it listens.
    const storeA = await StationStore.init(this.dirA, { odetteId: ID_A, ...STATION_TEST_SETTINGS, ...o.a });
    await storeA.addPartner({ name: 'b', odetteId: ID_B, passwordToSend: PASSWORD_A, passwordExpected: PASSWORD_B, ...o.aPartner });
    for (const p of o.aExtraPartners ?? []) await storeA.addPartner(p);
    this.a = await Station.open(this.dirA, this.logA);
    this.server = await this.a.serve((r) => this.#sessionEnded(r), { host: '127.0.0.1', port: 0 });
    const portA = (this.server.address() as { port: number }).port;
    this.proxy = await CuttingProxy.start({ host: '127.0.0.1', port: portA });
    const storeB = await StationStore.init(this.dirB, { odetteId: ID_B, ...STATION_TEST_SETTINGS, ...o.b });
    await storeB.addPartner({
      name: 'a',
      odetteId: ID_A,
      host: '127.0.0.1',
      port: this.proxy.port,
      passwordToSend: PASSWORD_B,
      passwordExpected: PASSWORD_A,
      ...o.bPartner,
    });
    this.b = await Station.open(this.dirB, this.logB);
  }

  #sessionEnded(result: SessionResult): void {
    this.sessionsA.push(result);
    for (const w of [...this.#waiters]) {
      if (this.sessionsA.length >= w.n) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  /** Resolves once A has finished `n` sessions in all (its side is settled: partials kept, busy flag off). */
  waitForSessionsA(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.sessionsA.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`A finished ${this.sessionsA.length} sessions, waited for ${n}`)), timeoutMs);
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** B dials A (through the proxy) and runs one session; resolves once A's side has ended too. */
  async sendFromB(): Promise<{ b: SessionResult; a: SessionResult }> {
    const before = this.sessionsA.length;
    const b = await this.b.send('a');
    await this.waitForSessionsA(before + 1);
    return { b, a: this.sessionsA[before]! };
  }

  /** A's port (not through the proxy). */
  get portA(): number {
    return (this.server.address() as { port: number }).port;
  }

  inboxA(): string {
    return join(this.dirA, 'inbox', 'b');
  }

  inboxB(): string {
    return join(this.dirB, 'inbox', 'a');
  }

  /** Stops listening, drops proxied connections, ends running sessions, removes the data. Never hangs. */
  async close(): Promise<void> {
    const serverClosed = this.server ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    await this.proxy?.close().catch(() => {});
    await this.a?.close().catch(() => {});
    await this.b?.close().catch(() => {});
    // A session still open (a test that failed half-way) ends within the driver's close grace.
    await Promise.race([serverClosed, new Promise((resolve) => setTimeout(resolve, 6000).unref())]);
    await rm(this.root, { recursive: true, force: true });
  }
}

// ---- local files of each format ----

export interface LocalFile {
  format: VirtualFileFormat;
  /** The local representation (V: each record preceded by its 2-octet big-endian length). */
  bytes: Buffer;
  recordLength?: number;
  /** Records (F/V) for the EFID count. */
  records: number;
  /** User data octets (EFIDUCNT). */
  units: number;
}

/** Pseudo-random octets, with runs so buffer compression has something to do. */
export function unstructured(size: number, seed = 1): LocalFile {
  const bytes = Buffer.alloc(size);
  let x = seed * 2654435761;
  for (let i = 0; i < size; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const run = x % 7 === 0 ? 1 + (x % 90) : 1;
    bytes.fill(x >>> 16, i, Math.min(size, i + run));
    i += run;
  }
  return { format: 'U', bytes, records: 0, units: size };
}

/** ASCII text with CR-LF line ends, lines of varying length, about `size` octets. */
export function text(size: number): LocalFile {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const line = `LINE ${i} ${'ABCDEFGHIJ'.repeat(i % 13)}${' '.repeat(i % 5)}\r\n`;
    parts.push(line);
    n += line.length;
  }
  const bytes = Buffer.from(parts.join(''), 'ascii');
  return { format: 'T', bytes, records: 0, units: bytes.length };
}

/** F records of `recordLength` octets. */
export function fixed(records: number, recordLength = 80): LocalFile {
  const bytes = Buffer.alloc(records * recordLength, 0x20);
  for (let i = 0; i < records; i++) bytes.write(`REC${String(i).padStart(8, '0')} ${'Z'.repeat(i % 40)}`, i * recordLength, 'ascii');
  return { format: 'F', bytes, recordLength, records, units: bytes.length };
}

/** V records with varied lengths up to `maxLength`, including empty ones. */
export function variable(records: number, maxLength = 300): LocalFile {
  const parts: Buffer[] = [];
  let units = 0;
  for (let i = 0; i < records; i++) {
    const length = i % 9 === 3 ? 0 : i % 17 === 5 ? maxLength : (i * 7919) % (maxLength + 1);
    const record = Buffer.alloc(length, 0x41 + (i % 26));
    if (length > 8) record.write(`R${i}`, 0, 'ascii');
    parts.push(Buffer.from([length >> 8, length & 0xff]), record);
    units += length;
  }
  return { format: 'V', bytes: Buffer.concat(parts), recordLength: maxLength, records, units };
}

export async function writeLocal(dir: string, name: string, file: LocalFile): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, file.bytes);
  return path;
}

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

export async function sha256Of(path: string): Promise<string> {
  return sha256(await readFile(path));
}

/** Non-hidden names in a directory ([] when it does not exist). */
export async function visibleFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}

/** Every file name under `dir`, recursively, relative to it. */
export async function allFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name).slice(dir.length + 1)).sort();
  } catch {
    return [];
  }
}

// ---- captured bytes ----

/** The commands in a captured byte stream (STB framing), decoded at `level`. */
export function commandsIn(chunks: Buffer[], level: 1 | 2 | 4 | 5 = 5): OdetteCommand[] {
  const deframer = new StbDeframer({ maxExchangeBufferSize: 99999 });
  const out: OdetteCommand[] = [];
  for (const buffer of deframer.push(Buffer.concat(chunks))) out.push(decodeCommand(buffer, level));
  return out;
}

// ---- a hand-driven initiator ----

/** One file the scripted initiator offers: its SFID, then DATA buffers and an EFID unless refused. */
export interface ScriptedOffer {
  sfid: Omit<Sfid, 'cmd'>;
  /**
   * The file's DATA buffers: built by the real encoder from `file` from the accepted restart
   * position, or given raw (each a whole exchange buffer starting with 'D').
   */
  file?: LocalFile;
  rawBuffers?: Uint8Array[];
  /** EFID counts; default: the encoder's (or the file's). */
  efid?: { recordCount: number; unitCount: number };
}

export interface ScriptLogEntry {
  event: SessionEvent['type'];
  detail?: unknown;
}

/**
 * A real initiator engine run by a real SessionDriver, with a handler that offers `offers` in order,
 * takes any receipts, refuses any file, and releases when done.
 */
export async function runScriptedInitiator(options: {
  port: number;
  local?: Partial<LocalParameters>;
  offers: ScriptedOffer[];
  /** A codec for the initiator's engine (to put on the wire what the real encoder refuses). */
  codec?: CommandCodec;
  /** Cork the socket for each tick: what the engine writes at once arrives at the responder in one chunk. */
  coalesce?: boolean;
}): Promise<{ ended: SessionEnded; log: ScriptLogEntry[]; toResponder: Buffer[]; fromResponder: Buffer[] }> {
  const socket = createConnection({ host: '127.0.0.1', port: options.port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const toResponder: Buffer[] = [];
  const fromResponder: Buffer[] = [];
  socket.on('data', (b: Buffer) => fromResponder.push(Buffer.from(b)));
  const write = socket.write.bind(socket);
  let corked = false;
  socket.write = ((chunk: Uint8Array, ...rest: unknown[]) => {
    toResponder.push(Buffer.from(chunk));
    if (options.coalesce && !corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof socket.write;
  const session = new OftpSession({
    role: 'initiator',
    local: { identificationCode: ID_B, password: PASSWORD_B, credit: 4, ...options.local },
    timers: { response: { durationMs: 10_000, onExpiry: 'esid' } },
    codec: options.codec,
  });
  const log: ScriptLogEntry[] = [];
  const handler = new ScriptedHandler(session, options.offers, log);
  const ended = await new SessionDriver(socket, session, handler, { closeGraceMs: 2000 }).run();
  return { ended, log, toResponder, fromResponder };
}

class ScriptedHandler implements SessionHandler {
  readonly #session: OftpSession;
  readonly #offers: ScriptedOffer[];
  readonly #log: ScriptLogEntry[];
  #current: { offer: ScriptedOffer; buffers: Iterator<Uint8Array>; counts: () => { recordCount: number; unitCount: number } } | undefined;

  constructor(session: OftpSession, offers: ScriptedOffer[], log: ScriptLogEntry[]) {
    this.#session = session;
    this.#offers = [...offers];
    this.#log = log;
  }

  handle(event: SessionEvent, io: DriverIo): void {
    const s = this.#session;
    switch (event.type) {
      case 'turnToSpeak': {
        const offer = this.#offers.shift();
        if (!offer) {
          s.nothingToSend(io.now());
          return;
        }
        this.#current = { offer, buffers: [][Symbol.iterator](), counts: () => ({ recordCount: 0, unitCount: 0 }) };
        s.offerFile(offer.sfid, io.now());
        return;
      }
      case 'startFileAccepted': {
        this.#log.push({ event: event.type, detail: event.restartPosition });
        this.#prepare(event.restartPosition, s.parameters!.exchangeBufferSize, s.parameters!.bufferCompression);
        this.#sendWindow(io);
        return;
      }
      case 'creditAvailable':
        this.#sendWindow(io);
        return;
      case 'startFileRefused':
        this.#log.push({ event: event.type, detail: { reason: event.reason, retry: event.retry, text: event.reasonText } });
        return;
      case 'endFileAccepted':
        this.#log.push({ event: event.type });
        return;
      case 'endFileRefused':
        this.#log.push({ event: event.type, detail: { reason: event.reason, text: event.reasonText } });
        return;
      case 'receiptReceived':
        this.#log.push({ event: event.type, detail: event.receipt });
        s.acknowledgeReceipt(io.now());
        return;
      case 'startFileRequested':
        s.refuseFile({ reason: 99, retry: true, reasonText: 'scripted initiator takes no files' }, io.now());
        return;
      default:
        this.#log.push({ event: event.type });
    }
  }

  #prepare(restartPosition: number, exchangeBufferSize: number, bufferCompression: boolean): void {
    const current = this.#current!;
    const { offer } = current;
    if (offer.rawBuffers) {
      current.buffers = offer.rawBuffers[Symbol.iterator]();
      current.counts = () => offer.efid ?? { recordCount: offer.file?.records ?? 0, unitCount: offer.file?.units ?? 0 };
      return;
    }
    const file = offer.file!;
    const start = restartStart(file, restartPosition);
    const encoder = new ExchangeBufferEncoder({
      format: file.format,
      exchangeBufferSize,
      bufferCompression,
      maxRecordSize: file.recordLength ?? 0,
      startUnitCount: start.units,
      startRecordCount: start.records,
    });
    const buffers: Uint8Array[] = [];
    const pullAll = () => {
      for (let b = encoder.pull(); b; b = encoder.pull()) buffers.push(Uint8Array.from(b));
    };
    if (file.format === 'V') {
      for (let p = start.offset; p < file.bytes.length; ) {
        const len = file.bytes.readUInt16BE(p);
        encoder.write(file.bytes, p + 2, p + 2 + len, true);
        pullAll();
        p += 2 + len;
      }
    } else {
      encoder.write(file.bytes, start.offset, file.bytes.length);
      pullAll();
    }
    encoder.end();
    pullAll();
    current.buffers = buffers[Symbol.iterator]();
    current.counts = () => offer.efid ?? { recordCount: encoder.recordCount, unitCount: encoder.unitCount };
  }

  #sendWindow(io: DriverIo): void {
    const s = this.#session;
    const current = this.#current!;
    while (s.credit > 0) {
      const next = current.buffers.next();
      if (next.done) {
        s.endFile(current.counts(), io.now());
        return;
      }
      s.sendData(next.value, io.now());
    }
  }
}

/** Where the local bytes resume for a restart position (records for F/V, 1K blocks for U/T). */
function restartStart(file: LocalFile, position: number): { offset: number; units: number; records: number } {
  if (file.format === 'U' || file.format === 'T') return { offset: position * 1024, units: position * 1024, records: 0 };
  if (file.format === 'F') return { offset: position * file.recordLength!, units: position * file.recordLength!, records: position };
  let offset = 0;
  let units = 0;
  for (let i = 0; i < position; i++) {
    const len = file.bytes.readUInt16BE(offset);
    offset += 2 + len;
    units += len;
  }
  return { offset, units, records: position };
}

/** A well-formed SFID from B to A for `file`, with overrides. */
export function sfidFor(file: LocalFile, overrides: Partial<Omit<Sfid, 'cmd'>> = {}): Omit<Sfid, 'cmd'> {
  const blocks = Math.ceil(file.bytes.length / 1024);
  return {
    datasetName: 'CRAFTED.DAT',
    date: '20250102',
    time: '1203040001',
    userData: '',
    destination: ID_A,
    originator: ID_B,
    format: file.format,
    maxRecordSize: file.recordLength ?? 0,
    fileSize: blocks,
    originalFileSize: blocks,
    restartPosition: 0,
    securityLevel: 0,
    cipherSuite: 0,
    compression: 0,
    envelope: 0,
    signedReceipt: false,
    description: '',
    ...overrides,
  };
}

export function randomName(prefix: string): string {
  return `${prefix}${randomBytes(3).toString('hex').toUpperCase()}`;
}
