// Watches one outbox drop folder and takes complete files into the spool (outbox-claim.ts).
// Change detection: fs.watch (inotify) wakes a scan within ~25 ms of a change; a full rescan every
// rescanIntervalMs catches what watching misses (CIFS/NFS mounts send no events, inotify limits, a
// folder deleted and made again, which the watch is then renewed for). A scan: finish interrupted
// pickups, list the folder, apply the pickup rule (outbox-rules.ts), then for each ready file read
// its sidecar, choose the partner (the folder's, or by destination code: routing.ts), check the
// partner agreement's size limit, and take it. Nothing here stops the daemon:
//   - a malformed sidecar, a file over the size limit, a symbolic link, content the spool refuses →
//     moved to .oftp-rejected/ with NAME.reason.txt, logged;
//   - an unknown partner, no route, a folder outside the share, file services (signing, compression,
//     encryption) the partner cannot take at its level → the files stay where they are, logged once
//     (until the problem goes and comes back); a sidecar asking for such services is refused;
//   - file services asked for by the partner agreement, the folder's `security` or the sidecar's: the
//     file is sealed as it is spooled (Station.enqueue, from the claim: outbox-claim.ts);
//   - a passing failure (disk full, the file changing or unreadable) → the file stays in the outbox and
//     is tried again after retryMs, doubling up to 5 minutes, logged once per run of failures;
//   - a file that vanishes before it is claimed is simply gone.
import { type FSWatcher, watch } from 'node:fs';
import { lstat, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirDurable } from '../files/durable-fs.ts';
import { errnoCode } from '../files/file-errors.ts';
import type { SpoolEntry } from '../files/spool-entry.ts';
import type { Log } from '../station/session-handler.ts';
import type { PartnerConfig } from '../store/station-config.ts';
import { type OutboxTarget, OutboxPickup, type PickupHooks, type PickupOutcome, PICKUP_DIR } from './outbox-claim.ts';
import { classify, type FolderListing, isTemporaryName, readyToTake, signatureText, StabilityTracker } from './outbox-rules.ts';
import type { Router } from './routing.ts';
import { asksForServices, fileSettings, parseSidecar, type Sidecar, SidecarError } from './sidecar.ts';
import { datasetNameForDrop, descriptionForDrop } from './share-naming.ts';
import { type ResolvedOutbox, resolvesInside } from './share-paths.ts';

/** SFIDFSIZ is 9(7) 1K blocks up to level 4 (9(13) at level 5). */
const LEVEL4_MAX_BLOCKS = 9_999_999;
const MAX_RETRY_MS = 5 * 60_000;
/** Events arriving within this many ms make one scan. */
const EVENT_COALESCE_MS = 25;
/** Pickups in flight at once in one folder (see #takeAll). */
const PICKUP_CONCURRENCY = 8;

export interface OutboxWatcherOptions {
  outbox: ResolvedOutbox;
  /** The share root, for the containment checks. */
  shareRoot: string;
  target: OutboxTarget;
  router: Router;
  log: Log;
  rescanIntervalMs: number;
  retryMs: number;
  now?: () => number;
  hooks?: PickupHooks;
  /** Called after a file was spooled for `partner` (the scheduler's notifyQueued). */
  onQueued?(partner: string, entry: SpoolEntry | undefined): void;
}

export class OutboxWatcher {
  readonly outbox: ResolvedOutbox;
  readonly pickup: OutboxPickup;
  readonly #o: OutboxWatcherOptions;
  readonly #now: () => number;
  readonly #tracker = new StabilityTracker();
  readonly #backoff = new Map<string, { until: number; delay: number; signature: string }>();
  /** Problems logged and still present (logged again only after they went away). */
  #told = new Set<string>();
  #toldThisScan = new Set<string>();
  #fsWatcher: FSWatcher | undefined;
  #watchedIno: number | undefined;
  #interval: NodeJS.Timeout | undefined;
  #nextCheck: NodeJS.Timeout | undefined;
  #kickTimer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: OutboxWatcherOptions) {
    this.#o = options;
    this.outbox = options.outbox;
    this.#now = options.now ?? Date.now;
    this.pickup = new OutboxPickup(options.outbox.dir, options.target, options.log, options.hooks);
  }

  /** First scan (finishing interrupted pickups), then watching and periodic rescans. */
  async start(): Promise<void> {
    await this.scan();
    if (this.#stopped) return;
    this.#interval = setInterval(() => void this.scan(), this.#o.rescanIntervalMs);
    this.#interval.unref();
  }

  /** Scans now (or right after the scan running). Never rejects. */
  scan(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#scanning) {
      this.#again = true;
      return this.#scanning;
    }
    this.#scanning = (async () => {
      do {
        this.#again = false;
        try {
          await this.#scanOnce();
        } catch (err) {
          this.#o.log.warn({ folder: this.outbox.dir, err: String(err) }, 'Outbox: scan failed (tried again at the next one)');
        }
      } while (this.#again && !this.#stopped);
      this.#scanning = undefined;
    })();
    return this.#scanning;
  }

  /**
   * Stops watching; waits for a scan in progress (a pickup is never cut short by us) unless `wait` is
   * false, which leaves it to finish on its own (or never: the next start recovers either way).
   */
  async stop(options: { wait?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#interval);
    clearTimeout(this.#nextCheck);
    clearTimeout(this.#kickTimer);
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
    if (options.wait !== false) await this.#scanning;
  }

  #kick(): void {
    if (this.#kickTimer || this.#stopped) return;
    this.#kickTimer = setTimeout(() => {
      this.#kickTimer = undefined;
      void this.scan();
    }, EVENT_COALESCE_MS);
  }

  #tell(key: string, obj: object, msg: string): void {
    this.#toldThisScan.add(key);
    if (this.#told.has(key)) return;
    this.#told.add(key);
    this.#o.log.warn({ folder: this.outbox.dir, ...obj }, msg);
  }

  async #scanOnce(): Promise<void> {
    this.#toldThisScan = new Set();
    try {
      await this.#scanFolder();
    } finally {
      this.#told = new Set([...this.#told].filter((k) => this.#toldThisScan.has(k)));
    }
  }

  async #scanFolder(): Promise<void> {
    const { outbox, target } = this.#o;
    const dir = outbox.dir;
    try {
      await mkdirDurable(dir);
    } catch (err) {
      return this.#tell('folder', { err: String(err) }, 'Outbox: cannot create the folder; not watched');
    }
    if (!(await resolvesInside(this.#o.shareRoot, dir))) {
      return this.#tell('outside', {}, 'Outbox: the folder resolves outside the share (symbolic link); not watched');
    }
    await this.#ensureWatch();
    if (outbox.partner && !target.partner(outbox.partner)) {
      return this.#tell('partner', { partner: outbox.partner }, 'Outbox: the folder names a partner that is not configured; its files stay in place');
    }
    for (const outcome of await this.pickup.recover()) this.#report(outcome);

    const names: string[] = [];
    for (const d of await readdir(dir, { withFileTypes: true })) {
      if (d.isFile()) names.push(d.name);
      else if (d.isSymbolicLink() && !isTemporaryName(d.name)) await this.#refuseLink(d.name);
    }
    const listing = classify(names, outbox);
    const signatures = new Map<string, string>();
    for (const name of [...listing.candidates, ...listing.sidecars.values()]) {
      const s = await lstat(join(dir, name)).catch(() => undefined);
      if (s?.isFile()) signatures.set(name, signatureText(s));
    }
    const now = this.#now();
    const { ready, nextAt } = readyToTake(listing, signatures, this.#tracker, now, outbox);
    for (const name of [...this.#backoff.keys()]) if (!signatures.has(name)) this.#backoff.delete(name);
    let wakeAt = nextAt;
    const due: string[] = [];
    for (const name of ready) {
      const signature = signatures.get(name);
      if (signature === undefined) continue;
      const b = this.#backoff.get(name);
      if (b && b.signature === signature && now < b.until) {
        wakeAt = Math.min(wakeAt ?? Infinity, b.until);
        continue;
      }
      due.push(name);
    }
    await this.#takeAll(due, listing, signatures);
    if (this.#stopped) return;
    for (const b of this.#backoff.values()) if (b.until > now) wakeAt = Math.min(wakeAt ?? Infinity, b.until);
    this.#arm(wakeAt);
  }

  /**
   * Takes the due files, PICKUP_CONCURRENCY at a time: each pickup is its own claim (outbox-claim.ts)
   * and waits mostly on fsync, so several in flight share the filesystem's journal commits. Stamps
   * and spool sequence numbers are still allocated one after the other.
   */
  async #takeAll(names: readonly string[], listing: FolderListing, signatures: ReadonlyMap<string, string>): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (!this.#stopped && next < names.length) {
        const name = names[next++]!;
        const outcome = await this.#take(name, listing);
        if (outcome) this.#report(outcome, signatures.get(name));
      }
    };
    const settled = await Promise.allSettled(Array.from({ length: Math.min(PICKUP_CONCURRENCY, names.length) }, worker));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #arm(at: number | undefined): void {
    clearTimeout(this.#nextCheck);
    this.#nextCheck = undefined;
    if (at === undefined || this.#stopped) return;
    this.#nextCheck = setTimeout(() => void this.scan(), Math.max(0, at - this.#now()));
  }

  async #ensureWatch(): Promise<void> {
    const dir = this.outbox.dir;
    const ino = (await stat(dir)).ino;
    if (this.#fsWatcher && this.#watchedIno === ino) return;
    this.#fsWatcher?.close();
    this.#fsWatcher = undefined;
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== PICKUP_DIR) this.#kick();
      });
      w.on('error', () => {
        w.close();
        if (this.#fsWatcher === w) this.#fsWatcher = undefined;
      });
      this.#fsWatcher = w;
      this.#watchedIno = ino;
    } catch (err) {
      this.#tell('watch', { err: String(err) }, 'Outbox: cannot watch the folder (rescans only)');
    }
  }

  async #refuseLink(name: string): Promise<void> {
    const path = join(this.outbox.dir, name);
    const inside = await resolvesInside(this.#o.shareRoot, path);
    const reason = inside
      ? 'it is a symbolic link; drop the file itself'
      : 'it is a symbolic link pointing outside the share (or nowhere); nothing outside the share is ever sent';
    await this.pickup.reject([{ from: path, name }], reason);
  }

  /** Everything about one ready file short of the claim; undefined when it stays (problem logged). */
  async #take(name: string, listing: FolderListing): Promise<PickupOutcome | undefined> {
    const { outbox, target, router } = this.#o;
    const dir = outbox.dir;
    const path = join(dir, name);
    const sidecarName = listing.sidecars.get(name);
    const markerName = listing.markers.get(name);
    const refuse = async (reason: string): Promise<PickupOutcome> => {
      const moves = [{ from: path, name }];
      if (sidecarName) moves.push({ from: join(dir, sidecarName), name: sidecarName });
      const movedTo = await this.pickup.reject(moves, reason);
      if (markerName) await this.#unlinkQuietly(join(dir, markerName));
      this.#tracker.forget(name);
      return { kind: 'rejected', name, reason, movedTo };
    };
    let sidecar: Sidecar | undefined;
    if (sidecarName) {
      try {
        sidecar = parseSidecar(await readFile(join(dir, sidecarName)));
      } catch (err) {
        if (err instanceof SidecarError) return refuse(`its sidecar ${sidecarName} is malformed: ${err.message}`);
        if (errnoCode(err) === 'ENOENT') return undefined; // gone since the listing: next scan
        return { kind: 'deferred', name, error: err, inOutbox: true };
      }
    }
    const settings = fileSettings(outbox, sidecar);
    let partner: PartnerConfig;
    if (outbox.partner) {
      const p = target.partner(outbox.partner);
      if (!p) return undefined;
      partner = p;
    } else {
      const decision = router.partnerFor(settings.destination!);
      if (!decision.ok) {
        this.#tell(`route:${settings.destination}`, { destination: settings.destination, reason: decision.reason }, 'Outbox: no partner for the destination; files for it stay in place');
        return undefined;
      }
      partner = decision.partner;
    }
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isFile()) return { kind: 'vanished', name };
    const limit = target.maxFileSizeBytes(partner);
    if (limit > 0 && st.size > limit) {
      return refuse(`${st.size} octets is more than the ${limit} octets the agreement with ${partner.name} allows (maxFileSizeBytes)`);
    }
    if (partner.level < 5 && Math.ceil(st.size / 1024) > LEVEL4_MAX_BLOCKS) {
      return refuse(`${st.size} octets cannot be announced to ${partner.name} at protocol level ${partner.level} (SFIDFSIZ is at most ${LEVEL4_MAX_BLOCKS} 1K blocks)`);
    }
    // File services (§6) the folder or the sidecar asks for; Station.enqueue seals the file with them
    // (over the partner agreement's) when it is spooled, from the claim, so a restart seals it the same.
    const originator = outbox.originator ?? target.stationId;
    if (asksForServices(sidecar?.security) && originator !== target.stationId) {
      return refuse(`its sidecar asks for signing, compression or encryption, but files of this folder are sent as originator ${originator}, not this station`);
    }
    if (asksForServices(settings.security) && partner.level < 5) {
      const why = `${partner.name} speaks protocol level ${partner.level}: signing, compression and encryption need OFTP 2 (level 5)`;
      if (asksForServices(sidecar?.security)) return refuse(`its sidecar asks for file services; ${why}`);
      this.#tell(`services:${partner.name}`, { partner: partner.name, level: partner.level }, 'Outbox: the folder asks for signing, compression or encryption, which the partner cannot take at its protocol level; files stay in place');
      return undefined;
    }
    return this.pickup.take({
      name,
      sidecar: sidecarName,
      marker: markerName,
      partner: partner.name,
      request: {
        datasetName: settings.datasetName ?? datasetNameForDrop(name),
        format: settings.format,
        recordLength: settings.recordLength,
        originator,
        destination: settings.destination ?? partner.odetteId,
        userData: settings.userData,
        description: settings.description ?? (partner.level >= 5 ? descriptionForDrop(name) : ''),
        signedReceipt: settings.signedReceipt,
        security: settings.security,
      },
      // A writer that renames or leaves a marker is done with the file: hard-link it into the spool
      // (no copy). Under 'stable' a late write through a handle still open must not reach the spool.
      transfer: outbox.pickup === 'stable' ? 'copy' : 'link',
    });
  }

  #report(outcome: PickupOutcome, signature?: string): void {
    const log = this.#o.log;
    const folder = this.outbox.dir;
    switch (outcome.kind) {
      case 'queued': {
        this.#backoff.delete(outcome.name);
        this.#tracker.forget(outcome.name);
        const m = outcome.entry?.meta;
        log.info({ folder, file: outcome.name, partner: outcome.partner, dataset: m?.datasetName, date: m?.date, time: m?.time, size: m?.octets }, 'Outbox: file queued');
        this.#o.onQueued?.(outcome.partner, outcome.entry);
        return;
      }
      case 'vanished':
        this.#tracker.forget(outcome.name);
        log.info({ folder, file: outcome.name }, 'Outbox: file vanished before it was taken');
        return;
      case 'rejected':
        this.#backoff.delete(outcome.name);
        this.#tracker.forget(outcome.name);
        return;
      case 'deferred': {
        if (!outcome.inOutbox) {
          // A new file took its name while it was out: it waits in its claim folder, retried at every scan.
          this.#tell(`claim:${outcome.name}`, { file: outcome.name, err: String(outcome.error) }, 'Outbox: file not queued; it waits in .oftp-pickup and is tried again at every scan');
          return;
        }
        const previous = this.#backoff.get(outcome.name);
        const delay = previous ? Math.min(previous.delay * 2, MAX_RETRY_MS) : this.#o.retryMs;
        this.#backoff.set(outcome.name, { until: this.#now() + delay, delay, signature: signature ?? previous?.signature ?? '' });
        if (!previous) {
          log.warn({ folder, file: outcome.name, err: String(outcome.error), retryInMs: delay, inOutbox: outcome.inOutbox }, 'Outbox: file not queued this time; it stays and is tried again');
        }
        return;
      }
    }
  }

  async #unlinkQuietly(path: string): Promise<void> {
    await unlink(path).catch(() => {});
  }
}
