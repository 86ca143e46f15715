// Stations with a LAN share for the gateway tests: each in its own temp data directory, listening on
// 127.0.0.1:0, configured with a `gateway` section and its partners (whose ports are filled in once
// every station listens). Everything is closed and removed in t.after.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { ShareGateway, type ShareGatewayOptions } from '../../src/gateway/share-gateway.ts';
import { type SessionResult, Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { CapturingLog } from '../station/harness.ts';

export { CapturingLog };

const SETTINGS = { responseTimeoutSeconds: 10, diskReserveBytes: 0, checkpointIntervalBytes: 4096 };

export interface NodeSpec {
  name: string;
  odetteId: string;
  /** Partners by node name, with extra partner settings. */
  partners: Record<string, Record<string, unknown>>;
  gateway?: Record<string, unknown>;
  station?: Record<string, unknown>;
}

export class ShareNode {
  readonly name: string;
  readonly odetteId: string;
  readonly dir: string;
  readonly log = new CapturingLog();
  station!: Station;
  server!: Server;
  gateway: ShareGateway | undefined;
  readonly sessions: SessionResult[] = [];
  readonly #waiters: { n: number; resolve: () => void }[] = [];

  constructor(name: string, odetteId: string, dir: string) {
    this.name = name;
    this.odetteId = odetteId;
    this.dir = dir;
  }

  #port = 0;

  get port(): number {
    return this.#port;
  }

  get shareRoot(): string {
    return join(this.dir, 'share');
  }

  async open(): Promise<void> {
    this.station = await Station.open(this.dir, this.log);
    this.server = await this.station.serve((r) => this.#ended(r), { host: '127.0.0.1', port: this.#port });
    this.#port = (this.server.address() as { port: number }).port;
  }

  /** Closes the station (as a stop would) but keeps its data. */
  async close(): Promise<void> {
    await this.gateway?.stop();
    this.gateway = undefined;
    const server = this.server;
    await this.station?.close().catch(() => {});
    await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
  }

  /**
   * Stops as a crash would, as far as the data directory can tell: the share's work in progress is
   * abandoned where it stands (never finished), the station is closed without waiting for it.
   */
  async crash(): Promise<void> {
    await this.gateway?.stop({ wait: false });
    this.gateway = undefined;
    await this.close();
  }

  async startGateway(options: ShareGatewayOptions = {}): Promise<ShareGateway> {
    this.gateway = await ShareGateway.start(this.station, { log: this.log, ...options });
    return this.gateway;
  }

  #ended(r: SessionResult): void {
    this.sessions.push(r);
    for (const w of [...this.#waiters]) {
      if (this.sessions.length >= w.n) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  /** Resolves once this node has finished `n` sessions as responder. */
  waitForSessions(n: number, timeoutMs = 15_000): Promise<void> {
    if (this.sessions.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} finished ${this.sessions.length} sessions, waited for ${n}`)), timeoutMs);
      this.#waiters.push({
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Dials `partner` (another node) and runs one session; resolves once the other side ended too. */
  async dial(other: ShareNode): Promise<SessionResult> {
    const before = other.sessions.length;
    const result = await this.station.send(other.name);
    await other.waitForSessions(before + 1);
    return result;
  }
}

/** Creates, configures and opens the nodes; each listens; partners point at each other's ports. */
export async function shareNodes(t: TestContext, specs: NodeSpec[]): Promise<Record<string, ShareNode>> {
  const root = await mkdtemp(join(tmpdir(), 'oftp-share-'));
  const nodes: Record<string, ShareNode> = {};
  t.after(async () => {
    for (const n of Object.values(nodes)) await n.close().catch(() => {});
    await rm(root, { recursive: true, force: true });
  });
  for (const spec of specs) {
    const node = new ShareNode(spec.name, spec.odetteId, join(root, spec.name));
    const store = await StationStore.init(node.dir, { odetteId: spec.odetteId, ...SETTINGS, ...spec.station });
    const gateway = spec.gateway;
    if (gateway) {
      await store.update((draft) => {
        draft.gateway = gateway as never;
      });
    }
    nodes[spec.name] = node;
  }
  // Open every station (listening) before adding partners, so ports are known.
  for (const spec of specs) await nodes[spec.name]!.open();
  for (const spec of specs) {
    const node = nodes[spec.name]!;
    await node.close();
    const store = await StationStore.open(node.dir);
    for (const [partnerName, extra] of Object.entries(spec.partners)) {
      const other = specs.find((s) => s.name === partnerName);
      const otherNode = nodes[partnerName];
      await store.addPartner({
        name: partnerName,
        odetteId: other?.odetteId ?? (extra.odetteId as string),
        host: '127.0.0.1',
        port: otherNode?.port ?? 1,
        passwordToSend: passwordOf(spec.name),
        passwordExpected: passwordOf(partnerName),
        ...extra,
      });
    }
    await node.open();
  }
  return nodes;
}

/** The password node `name` sends (and its partners expect). */
export const passwordOf = (name: string): string => `PW${name.toUpperCase()}`.slice(0, 8);

/** Non-hidden names in a folder, sorted ([] when it does not exist). */
export async function visible(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}

/** Every name in a folder including hidden ones ([] when absent). */
export async function everything(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** Polls `check` every 20 ms until it returns a truthy value; fails after `timeoutMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const ID_A = 'O0013000000STATIONA';
export const ID_B = 'O0013000000STATIONB';
export const ID_C = 'O0013000000STATIONC';
