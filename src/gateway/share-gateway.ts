// The LAN share at run time, inside the `oftp2 serve` process (the station owns the data directory's
// lock): one OutboxWatcher per outbox folder, the InboxWatcher releasing held EERPs, and the folders
// made on the share so its users see them. The station must have been opened with a `gateway`
// section (Station.open installs the receiving side: share-receiving.ts).
// `refresh()` follows configuration changes (a partner added gets its folders, a removed outbox is no
// longer watched); the daemon starts it through `startShareGateway` (its WatcherStarter seam) and
// gets `notifyQueued(partner)` called after every file spooled and every EERP released.
import { mkdirDurable } from '../files/durable-fs.ts';
import type { Log } from '../station/session-handler.ts';
import type { Station } from '../station/station.ts';
import { ConfigError } from '../errors.ts';
import { InboxWatcher } from './inbox-watcher.ts';
import { type OutboxTarget, type PickupHooks, stationTarget } from './outbox-claim.ts';
import { OutboxWatcher } from './outbox-watcher.ts';
import { GATEWAY_DEFAULTS } from './share-config.ts';
import { type ShareReceiving, shareReceivingOf } from './share-receiving.ts';

export interface ShareGatewayOptions {
  log?: Log;
  /** Told after files were spooled or EERPs released for a partner (the scheduler). */
  queue?: { notifyQueued(partner: string): void };
  /** Substitutes for the station in the pickup (tests: failures, stops between steps). */
  target?: OutboxTarget;
  hooks?: PickupHooks;
}

export class ShareGateway {
  readonly station: Station;
  readonly receiving: ShareReceiving;
  readonly inbox: InboxWatcher;
  readonly #options: ShareGatewayOptions;
  readonly #log: Log;
  readonly #watchers = new Map<string, OutboxWatcher>();
  #refreshTimer: NodeJS.Timeout | undefined;
  #stopped = false;

  private constructor(station: Station, receiving: ShareReceiving, options: ShareGatewayOptions) {
    this.station = station;
    this.receiving = receiving;
    this.#options = options;
    this.#log = options.log ?? station.services.log;
    this.inbox = new InboxWatcher({
      receiving,
      log: this.#log,
      rescanIntervalMs: this.#gateway().rescanIntervalMs,
      onReleased: (partner) => options.queue?.notifyQueued(partner),
    });
  }

  static async start(station: Station, options: ShareGatewayOptions = {}): Promise<ShareGateway> {
    const receiving = shareReceivingOf(station);
    if (!receiving) throw new ConfigError('OFTP_ERR_CONFIG', 'the station has no gateway section in station.json: no share to watch');
    const gateway = new ShareGateway(station, receiving, options);
    await gateway.#makeFolders();
    await gateway.refresh();
    await gateway.inbox.start();
    gateway.#refreshTimer = setInterval(() => void gateway.refresh().catch(() => {}), Math.max(10_000, gateway.#gateway().rescanIntervalMs));
    gateway.#refreshTimer.unref();
    gateway.#log.info({ shareRoot: receiving.layout.root, outboxes: gateway.outboxes().map((w) => w.outbox.dir) }, 'Share: watching');
    return gateway;
  }

  #gateway() {
    return this.station.store.config.gateway ?? { rescanIntervalMs: GATEWAY_DEFAULTS.rescanIntervalMs, retryMs: GATEWAY_DEFAULTS.retryMs };
  }

  /** The outbox watchers running. */
  outboxes(): OutboxWatcher[] {
    return [...this.#watchers.values()];
  }

  /** The inbox folder of every partner, made so the share shows it (a problem is logged, not fatal). */
  async #makeFolders(): Promise<void> {
    for (const { partner, dir } of this.receiving.layout.inboxes()) {
      await mkdirDurable(dir).catch((err) => this.#log.warn({ partner, dir, err: String(err) }, 'Share: cannot create the inbox folder'));
    }
  }

  /** Starts watchers for outbox folders new in the configuration, stops those gone. */
  async refresh(): Promise<void> {
    if (this.#stopped) return;
    const gateway = this.#gateway();
    const wanted = new Map(this.receiving.layout.outboxes().map((o) => [`${o.dir}\n${JSON.stringify(o)}`, o]));
    for (const [key, watcher] of this.#watchers) {
      if (!wanted.has(key)) {
        this.#watchers.delete(key);
        await watcher.stop();
      }
    }
    for (const [key, outbox] of wanted) {
      if (this.#watchers.has(key) || this.#stopped) continue;
      const watcher = new OutboxWatcher({
        outbox,
        shareRoot: this.receiving.layout.root,
        target: this.#options.target ?? stationTarget(this.station),
        router: this.receiving.router,
        log: this.#log,
        rescanIntervalMs: gateway.rescanIntervalMs,
        retryMs: gateway.retryMs,
        hooks: this.#options.hooks,
        onQueued: (partner) => this.#options.queue?.notifyQueued(partner),
      });
      this.#watchers.set(key, watcher);
      await watcher.start();
    }
  }

  /** Scans every outbox and checks held receipts now; resolves when done. */
  async rescan(): Promise<void> {
    await Promise.all([...this.outboxes().map((w) => w.scan()), this.inbox.check()]);
  }

  /**
   * Stops every watcher; a pickup in progress finishes first, unless `wait` is false (an emergency stop:
   * an unfinished pickup is completed or undone by the next start, see outbox-claim.ts).
   */
  async stop(options: { wait?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#refreshTimer);
    await Promise.all([...this.outboxes().map((w) => w.stop(options)), this.inbox.stop(options)]);
    this.#watchers.clear();
  }
}

/**
 * The daemon's WatcherStarter (src/gateway/daemon.ts): the share's watchers when station.json has a
 * gateway section, else nothing.
 */
export async function startShareGateway(context: { station: Station; queue: { notifyQueued(partner: string): void }; log: Log }): Promise<ShareGateway | undefined> {
  if (!context.station.store.config.gateway) return undefined;
  return ShareGateway.start(context.station, { log: context.log, queue: context.queue });
}
