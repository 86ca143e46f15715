// The daemon behind `oftp2 serve`: the station's listeners (TCP, TLS), the scheduler, the hooks and
// the folder watchers in one process, with systemd readiness/watchdog and a bounded shutdown.
//
// Start: open the station (a crash's leftovers are settled there), attach hooks to history, start the
// scheduler (partners with files already spooled, or owed receipts, are queued) and the watchers, listen, then tell
// systemd READY=1 and start the watchdog pings. A status snapshot (state/daemon-status.json) is kept
// for `oftp2 status`.
// Stop (SIGTERM/SIGINT): STOPPING=1; stop accepting connections and dial-ins; stop the watchers and the
// scheduler's dials; end running sessions with ESID 05, whose durable parts stay for the restart (a
// receiver checkpoints its partial file, a sender saves its progress); flush history; give hooks what
// time is left. The whole stop is bounded by station.daemon.stopTimeoutSeconds.
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { certificateStatus, certificateWarnings } from '../security/certificates-store.ts';
import type { Log } from '../station/session-handler.ts';
import { type SessionResult, Station } from '../station/station.ts';
import { tlsListenAddress } from '../store/station-config.ts';
import { Hooks } from './hooks.ts';
import type { PartnerStatus } from './scheduler-core.ts';
import { type QueueNotifier, Scheduler } from './scheduler.ts';
import { schedulerPlan } from './scheduler-plan.ts';
import { SystemdNotifier } from './systemd.ts';

/** A running folder watcher (the outbox pickup): stopped first at shutdown. */
export interface RunningWatcher {
  stop(): Promise<void>;
}

/**
 * The seam for the LAN share's watchers (src/gateway/outbox*): started after the scheduler, given the
 * station and `queue.notifyQueued(partner)` to call after they spool files for a partner.
 */
export type WatcherStarter = (context: { station: Station; queue: QueueNotifier; log: Log }) => Promise<RunningWatcher | undefined>;

export interface DaemonOptions {
  dataDir: string;
  /** Overrides of the configured listen addresses (command-line options). */
  host?: string;
  port?: number;
  tlsPort?: number;
  log: Log;
  watchers?: readonly WatcherStarter[];
  /** Environment for NOTIFY_SOCKET / WATCHDOG_USEC (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface ListenerInfo {
  host: string;
  port: number;
  tls: boolean;
}

/** What `oftp2 status` reads (state/daemon-status.json). Times are ISO strings. */
export interface DaemonStatus {
  pid: number;
  running: boolean;
  startedAt: string;
  updatedAt: string;
  odetteId: string;
  listeners: ListenerInfo[];
  partners: (Omit<PartnerStatus, 'nextDialAt' | 'held' | 'lastResult'> & {
    nextDialAt?: string;
    held?: { cause: string; since: string };
    lastResult?: { at: string; direction: 'in' | 'out'; normal: boolean; cause: string; action: string };
  })[];
}

export const DAEMON_STATUS_FILE = 'daemon-status.json';
const STATUS_WRITE_INTERVAL_MS = 1000;
const CERTIFICATE_CHECK_MS = 24 * 3600_000;

export class Daemon {
  readonly station: Station;
  readonly scheduler: Scheduler;
  readonly hooks: Hooks;
  readonly listeners: ListenerInfo[] = [];
  readonly #log: Log;
  readonly #servers: Server[] = [];
  readonly #watchers: RunningWatcher[] = [];
  readonly #notifier: SystemdNotifier | undefined;
  readonly #startedAt = new Date().toISOString();
  readonly #unsubscribe: (() => void)[] = [];
  #statusTimer: NodeJS.Timeout | undefined;
  #statusWrite: Promise<void> = Promise.resolve();
  #certTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(station: Station, log: Log, env: NodeJS.ProcessEnv) {
    this.station = station;
    this.#log = log;
    const config = station.store.config;
    this.scheduler = new Scheduler(schedulerPlan(config), {
      dial: (partner) => station.send(partner),
      // A reason to dial: files to send, and receipts (EERP/NERP) the partner is still owed. A crash or
      // a broken connection can cut off the session that carried a receipt (sent, RTR never seen): the
      // file's sender waits for it, and with nothing else to send neither side would call again.
      queuedCount: async (partner) => (await station.services.spool.count(partner)) + (await station.services.receipts.list(partner)).length,
      log: log.child?.({ component: 'scheduler' }) ?? log,
    });
    station.gate = this.scheduler.gate;
    this.hooks = new Hooks(config.hooks, log.child?.({ component: 'hooks' }) ?? log);
    this.#notifier = SystemdNotifier.fromEnv(env, log);
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const log = options.log;
    const station = await Station.open(options.dataDir, log);
    const daemon = new Daemon(station, log, options.env ?? process.env);
    try {
      await daemon.#start(options);
    } catch (err) {
      await daemon.stop('start failed');
      throw err;
    }
    return daemon;
  }

  async #start(options: DaemonOptions): Promise<void> {
    const { station, scheduler, hooks } = this;
    const log = this.#log;
    const config = station.store.config;
    this.#unsubscribe.push(hooks.attach(station.services.history));
    this.#unsubscribe.push(scheduler.onChange(() => this.#statusChanged()));
    await this.#warnCertificates();
    this.#certTimer = setInterval(() => void this.#warnCertificates(), CERTIFICATE_CHECK_MS);
    this.#certTimer.unref();
    await scheduler.start(config.partners.map((p) => p.name));
    for (const start of options.watchers ?? []) {
      const watcher = await start({ station, queue: scheduler, log: log.child?.({ component: 'watcher' }) ?? log });
      if (watcher) this.#watchers.push(watcher);
    }
    const ended = (r: SessionResult) => {
      const e = r.ended;
      log.info({ partner: r.partner, normal: e.normal, esid: e.reason, text: e.reasonText, ...r.summary }, 'session ended');
    };
    const configured = config.station.listen;
    const address = { host: options.host ?? configured.host, port: options.port ?? configured.port };
    this.#servers.push(await station.serve(ended, address));
    this.listeners.push({ ...address, port: boundPort(this.#servers.at(-1)!, address.port), tls: false });
    log.info({ odetteId: station.services.stationId, host: address.host, port: this.listeners.at(-1)!.port }, 'listening');
    const tlsConfigured = tlsListenAddress(config.station);
    if (tlsConfigured.enabled) {
      const tlsAddress = { host: options.host ?? tlsConfigured.host, port: options.tlsPort ?? tlsConfigured.port };
      for (const problem of (await station.tls()).trust.problems) log.warn({}, problem);
      this.#servers.push(await station.serveTls(ended, tlsAddress));
      this.listeners.push({ ...tlsAddress, port: boundPort(this.#servers.at(-1)!, tlsAddress.port), tls: true });
      log.info({ odetteId: station.services.stationId, host: tlsAddress.host, port: this.listeners.at(-1)!.port, tls: true }, 'listening for TLS');
    }
    await this.#writeStatus();
    await this.#notifier?.ready(`listening on ${this.listeners.map((l) => `${l.host}:${l.port}${l.tls ? ' (TLS)' : ''}`).join(', ')}`);
    this.#notifier?.startWatchdog();
  }

  async #warnCertificates(): Promise<void> {
    try {
      const config = this.station.store.config;
      for (const warning of certificateWarnings(await certificateStatus(config, this.station.store.paths.dataDir))) this.#log.warn({}, warning);
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'certificate check failed');
    }
  }

  /** The snapshot `oftp2 status` shows. */
  status(running = true): DaemonStatus {
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    return {
      pid: process.pid,
      running,
      startedAt: this.#startedAt,
      updatedAt: new Date().toISOString(),
      odetteId: this.station.services.stationId,
      listeners: this.listeners,
      partners: this.scheduler.status().map((p) => ({
        ...p,
        nextDialAt: iso(p.nextDialAt),
        held: p.held ? { cause: p.held.cause, since: iso(p.held.since)! } : undefined,
        lastResult: p.lastResult ? { ...p.lastResult, at: iso(p.lastResult.at)! } : undefined,
      })),
    };
  }

  #statusChanged(): void {
    if (this.#statusTimer || this.#stopping) return;
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      void this.#writeStatus();
    }, STATUS_WRITE_INTERVAL_MS);
    this.#statusTimer.unref();
  }

  #writeStatus(running = true): Promise<void> {
    const path = join(this.station.store.paths.state, DAEMON_STATUS_FILE);
    const text = `${JSON.stringify(this.status(running), null, 1)}\n`;
    this.#statusWrite = this.#statusWrite.then(async () => {
      // A dot-name, so the start-up sweep of state/ removes it if a SIGKILL lands mid-write.
      const tmp = join(this.station.store.paths.state, `.${DAEMON_STATUS_FILE}.${randomBytes(4).toString('hex')}.tmp`);
      try {
        await writeFile(tmp, text, { mode: 0o600 });
        await rename(tmp, path);
      } catch (err) {
        this.#log.warn({ err: String(err) }, 'could not write the status file');
      }
    });
    return this.#statusWrite;
  }

  /** Stops everything in order (see the top of this file); resolves when the station is closed. Idempotent. */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<void> {
    const log = this.#log;
    const started = Date.now();
    const budgetMs = this.station.store.config.station.daemon.stopTimeoutSeconds * 1000;
    log.info({ reason }, 'stopping');
    await this.#notifier?.stopping();
    this.#notifier?.stopWatchdog();
    for (const s of this.#servers) s.close();
    clearInterval(this.#certTimer);
    clearTimeout(this.#statusTimer);
    const stopScheduler = this.scheduler.stop(); // no more dials or dial-ins; resolves once its dials end
    for (const w of this.#watchers) {
      await w.stop().catch((err) => log.warn({ err: String(err) }, 'watcher failed to stop'));
    }
    // Sessions get most of the budget to save their checkpoints; hooks get the rest.
    await this.station.close(Math.max(1000, Math.floor(budgetMs * 0.6)));
    await stopScheduler;
    for (const u of this.#unsubscribe) u();
    await this.hooks.drain(Math.max(0, budgetMs - (Date.now() - started) - 500));
    await this.#writeStatus(false);
    log.info({ ms: Date.now() - started }, 'stopped');
  }
}

function boundPort(server: Server, fallback: number): number {
  const a = server.address();
  return a && typeof a === 'object' ? a.port : fallback;
}
