// The receiving side of the LAN share, installed into the station when station.json has a `gateway`
// section (Station.open): where a received file is delivered (InboxLayout), which receipt it gets
// (ReceivingHooks), and forwarding (routing-forward.ts).
// - A file for us goes to its partner's inbox folder on the share under '<DSN>_<date>_<HHMMSS>_<cccc>'
//   (share-naming.ts), its partial in the folder's hidden .oftp-partial/, committed with
//   link-no-replace after fsync: it is visible only once complete and durable.
// - An inbox folder that cannot be used (cannot be created, not a folder, resolves outside the share
//   through a symlink, not writable) is not a reason to lose the file or to stall the partner: the
//   file is received into the station's own inbox (<data>/inbox/<partner>/, kept for the operator) and
//   answered with NERP 34 "File processing failed" (§5.3.14) instead of an EERP.
// - The EERP is queued at delivery ('on-delivery'), or held until the application takes the file
//   ('on-consume', inbox-receipts.ts; released by inbox-watcher.ts).
// - A file for another destination along a forwarding route goes to <state>/forward/<partner>/ and is
//   queued for the next partner; its receipt comes back from the final destination.
import { access, constants, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirDurable, removeInterruptedWrites } from '../files/durable-fs.ts';
import { defaultPartialDir } from '../files/incoming.ts';
import { identityKey, validateIdentity } from '../files/naming.ts';
import type { Eerp, Nerp, Sfid } from '../protocol/command-types.ts';
import { NerpReason } from '../protocol/reason-codes.ts';
import type { DeliveredFile, InboxLayout, Log, ReceivingHooks } from '../station/session-handler.ts';
import type { Station } from '../station/station.ts';
import type { TransferUpdate } from '../store/transfer-history.ts';
import { HeldReceipts } from './inbox-receipts.ts';
import { Router } from './routing.ts';
import { ForwardLedger, Forwarder } from './routing-forward.ts';
import { GATEWAY_DEFAULTS, type GatewayConfig } from './share-config.ts';
import { inboxFileName } from './share-naming.ts';
import { resolvesInside, ShareLayout } from './share-paths.ts';

export class ShareReceiving implements InboxLayout, ReceivingHooks {
  readonly station: Station;
  readonly layout: ShareLayout;
  readonly router: Router;
  readonly held: HeldReceipts;
  readonly forwarder: Forwarder;
  readonly #forwardRoot: string;
  readonly #log: Log;
  /** Inbox folders found unusable, with the problem last logged (logged again only when it changes). */
  readonly #unusable = new Map<string, string>();

  constructor(station: Station, held: HeldReceipts, forwarder: Forwarder) {
    this.station = station;
    const gateway = (): GatewayConfig => station.store.config.gateway ?? emptyGateway();
    this.layout = new ShareLayout({ dataDir: station.store.paths.dataDir, gateway, partners: () => station.store.config.partners });
    this.router = new Router({ stationId: station.services.stationId, partners: () => station.store.config.partners, routes: () => gateway().routes });
    this.held = held;
    this.forwarder = forwarder;
    this.#forwardRoot = join(station.store.paths.state, 'forward');
    this.#log = station.services.log;
  }

  /** The station's own inbox folder of a partner: where files go when the share's cannot take them. */
  quarantineDir(partner: string): string {
    return join(this.station.services.inboxRoot, partner);
  }

  forwardDir(partner: string): string {
    return join(this.#forwardRoot, partner);
  }

  // ---- InboxLayout ----

  async dirFor(partner: string, sfid?: Sfid): Promise<string> {
    if (sfid && sfid.destination !== this.station.services.stationId) {
      const to = this.router.forwardTo(sfid.destination, partner);
      if (to && isValidIdentity(sfid)) {
        await this.forwarder.intend(partner, to.name, sfid);
        return this.forwardDir(partner);
      }
    }
    const dir = this.layout.inboxDir(partner);
    const problem = await this.#inboxProblem(dir);
    if (problem === undefined) {
      if (this.#unusable.delete(dir)) this.#log.info({ partner, dir }, 'Inbox folder usable again');
      return dir;
    }
    if (this.#unusable.get(dir) !== problem) {
      this.#unusable.set(dir, problem);
      this.#log.warn({ partner, dir, problem, kept: this.quarantineDir(partner) }, 'Inbox folder unusable: files are kept in the station inbox and answered with NERP 34');
    }
    return this.quarantineDir(partner);
  }

  nameFor(sfid: Sfid): string {
    if (sfid.destination !== this.station.services.stationId) return identityKey(sfid);
    return inboxFileName(sfid);
  }

  async #inboxProblem(dir: string): Promise<string | undefined> {
    const root = this.layout.root;
    try {
      await mkdirDurable(dir);
    } catch (err) {
      return `cannot create it: ${(err as Error).message}`;
    }
    try {
      if (!(await resolvesInside(root, dir))) return 'it resolves outside the share (symbolic link)';
      if (!(await stat(dir)).isDirectory()) return 'it is not a folder';
      await access(dir, constants.W_OK | constants.X_OK);
    } catch (err) {
      return `not writable: ${(err as Error).message}`;
    }
    return undefined;
  }

  // ---- ReceivingHooks ----

  knownOriginators(): Iterable<string> {
    return this.router.knownOriginators();
  }

  forwards(partner: string, destination: string): boolean {
    return this.router.forwardTo(destination, partner) !== undefined;
  }

  async delivered(file: DeliveredFile): Promise<{ receipt: Eerp | Nerp | undefined; history?: Partial<TransferUpdate> }> {
    const id = file.identity;
    if (id.destination !== this.station.services.stationId) {
      const nerp = await this.forwarder.take(file);
      return nerp ? { receipt: nerp, history: { state: 'failed', reason: `NERP ${nerp.reason}`, reasonText: nerp.reasonText } } : { receipt: undefined };
    }
    if (file.dir !== undefined && file.dir === this.quarantineDir(file.partner)) {
      const text = `File processing failed: the inbox folder ${this.layout.inboxDir(file.partner)} cannot take files (kept as ${file.path ?? 'a duplicate'})`;
      this.#log.warn({ partner: file.partner, dataset: id.datasetName, path: file.path }, 'Inbound: file kept in the station inbox, NERP 34 queued');
      const nerp = this.forwarder.nerp(id, NerpReason.processingFailed, text);
      return { receipt: nerp, history: { state: 'failed', reason: `NERP ${nerp.reason}`, reasonText: text } };
    }
    if (this.layout.receiptPolicy(file.partner) === 'on-consume') {
      if (!file.duplicate && file.path !== undefined) {
        await this.held.hold(file.partner, file.eerp, file.path);
        this.#log.info({ partner: file.partner, dataset: id.datasetName, path: file.path }, 'Inbound: EERP held until the file is consumed');
        return { receipt: undefined };
      }
      // A duplicate of a file whose EERP is still held: it stays held (the partner gets it once consumed).
      if (await this.held.get(file.partner, id)) return { receipt: undefined };
    }
    return { receipt: file.eerp };
  }

  async receiptReceived(partner: string, receipt: Eerp | Nerp): Promise<void> {
    await this.forwarder.passBack(partner, receipt);
  }
}

/** Installs the share's inbox layout and receiving hooks into a station being opened. */
export async function openShareReceiving(station: Station): Promise<ShareReceiving> {
  const state = station.store.paths.state;
  const held = await HeldReceipts.open(join(state, 'held-receipts'));
  const forwarder = new Forwarder(await ForwardLedger.open(join(state, 'forwarding')), station, station.services.log);
  const receiving = new ShareReceiving(station, held, forwarder);
  // Checkpoint temp files a crash left in the share's partial folders (the station sweeps its own).
  for (const { dir } of receiving.layout.inboxes()) await removeInterruptedWrites(defaultPartialDir(dir)).catch(() => {});
  for (const p of station.store.config.partners) await removeInterruptedWrites(defaultPartialDir(receiving.forwardDir(p.name))).catch(() => {});
  station.services.inbox = receiving;
  station.services.receiving = receiving;
  station.services.history.subscribe((record) => {
    if (record.direction !== 'out' || record.state !== 'failed') return;
    forwarder.outboundFailed(record).catch((err) => station.services.log.warn({ err: String(err), dataset: record.datasetName }, 'Forwarding: NERP upstream failed (retried at the next start)'));
  });
  await forwarder.reconcile();
  return receiving;
}

/** The share receiving hooks of a station opened with a gateway section, else undefined. */
export function shareReceivingOf(station: Station): ShareReceiving | undefined {
  const r = station.services.receiving;
  return r instanceof ShareReceiving ? r : undefined;
}

function isValidIdentity(sfid: Sfid): boolean {
  try {
    validateIdentity(sfid);
    return true;
  } catch {
    return false;
  }
}

function emptyGateway(): GatewayConfig {
  return {
    shareRoot: GATEWAY_DEFAULTS.shareRoot,
    rescanIntervalMs: GATEWAY_DEFAULTS.rescanIntervalMs,
    outboxPerPartner: GATEWAY_DEFAULTS.outboxPerPartner,
    retryMs: GATEWAY_DEFAULTS.retryMs,
    outboxes: [],
    inboxes: [],
    routes: [],
  };
}
