// Taking a dropped file into the spool exactly once, whatever point a crash stops us at (GUIDE: "it
// is moved atomically into the spool"). The steps, for FILE in an outbox folder:
//   1 claim-folder  mkdir .oftp-pickup/<id>/ (fsync)                      nothing claimed yet
//   2 claim-record  allocate SFIDDATE/SFIDTIME; write claim.json atomically: partner, dataset name,
//                   stamp… — the virtual file's identity is fixed before anything is spooled
//   3 claimed       rename FILE → .oftp-pickup/<id>/FILE (atomic, same folder tree; fsync both):
//                   from here on no other scan, and no SMB client, sees FILE in the outbox
//   4 extras        FILE.oftp.json moved beside it, the marker removed
//   5 spooled       Station.enqueue: the spool entry (copied, or hard-linked for rename/marker
//                   writers, fsynced, published by an atomic rename) and history 'queued'. A file
//                   with file services (agreement, folder, sidecar: claim.json keeps the choice) is
//                   sealed first into an envelope in state/sealing/, which is what gets spooled; a
//                   stop leaves at most a half-made envelope there, cleared at open, and the claim
//                   seals again under the same identity
//   6 cleaned       FILE, its sidecar, claim.json and the folder removed
// Why each stop is safe (recover() runs at start and before every scan):
//   - before 3: the claim folder has no FILE: it is removed; FILE is still in the outbox and is taken
//     by a later scan (a stamp was spent, nothing else).
//   - after 3, before 5 completes: FILE is in its claim folder and the identity in claim.json has no
//     spool entry and no history: the steps resume at 4 with that identity.
//   - after 5, before 6: a spool entry (or, once sent, an 'out' history record) with claim.json's
//     identity exists: only the clean-up is left (and history 'queued' if the crash fell inside
//     enqueue, between the spool entry and its history line). The file is never spooled twice, and
//     a resend, if it ever happened, would carry the same identity, which receivers discard.
//   - during 6: claim.json without FILE: removed.
// A passing failure at 5 (disk full, the file changed under us, unreadable) puts FILE back into the
// outbox (link-no-replace) and tells the caller to retry later; a refusal that will not pass (content
// not matching its format, a bad dataset name) moves FILE to .oftp-rejected/ with NAME.reason.txt.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalUsageError, OftpError } from '../errors.ts';
import { fsyncDir, mkdirDurable, moveNoReplace, readJsonIfExists, removeTree, writeFileAtomic, writeJsonAtomic } from '../files/durable-fs.ts';
import { errnoCode, FileRefusedError } from '../files/file-errors.ts';
import { collisionName, identityKey, type VirtualFileIdentity } from '../files/naming.ts';
import type { SpoolEntry } from '../files/spool-entry.ts';
import type { VirtualFileStamp } from '../files/timestamp-allocator.ts';
import { type Log, outId } from '../station/session-handler.ts';
import type { EnqueueRequest, Station } from '../station/station.ts';
import { effectivePartnerSettings, type PartnerConfig } from '../store/station-config.ts';
import { SIDECAR_SUFFIX } from './sidecar.ts';

export const PICKUP_DIR = '.oftp-pickup';
export const REJECTED_DIR = '.oftp-rejected';
const CLAIM_FILE = 'claim.json';

export type PickupStep = 'claim-folder' | 'claim-record' | 'claimed' | 'extras' | 'spooled' | 'cleaned';

/** The station as the pickup uses it (tests wrap it to fail or stop at a chosen point). */
export interface OutboxTarget {
  readonly stationId: string;
  partner(name: string): PartnerConfig | undefined;
  /** Largest file the partner agreement allows, octets; 0 = no limit. */
  maxFileSizeBytes(partner: PartnerConfig): number;
  allocateStamp(partner: string): Promise<VirtualFileStamp>;
  /** The spool entry queued for `partner` with this identity, if it is still in the spool. */
  spooled(partner: string, identity: VirtualFileIdentity): Promise<SpoolEntry | undefined>;
  /** Whether history has this identity as an outgoing transfer (queued, sent, delivered…). */
  known(identity: VirtualFileIdentity): boolean;
  enqueue(partner: string, request: EnqueueRequest): Promise<SpoolEntry>;
  recordQueued(entry: SpoolEntry, origin: string): Promise<void>;
}

export function stationTarget(station: Station): OutboxTarget {
  return {
    stationId: station.services.stationId,
    partner: (name) => station.store.partner(name),
    maxFileSizeBytes: (partner) => effectivePartnerSettings(station.store.config.station, partner).maxFileSizeBytes,
    allocateStamp: (partner) => station.allocateStamp(partner),
    // From the spool's index: a burst of thousands queued would otherwise hash every entry per pickup.
    spooled: (partner, identity) => station.services.spool.find(partner, identityKey(identity)),
    known: (identity) => station.services.history.get(outId(identityKey(identity))) !== undefined,
    enqueue: (partner, request) => station.enqueue(partner, request),
    recordQueued: (entry, origin) => station.recordQueued(entry, origin),
  };
}

/** What to send FILE as; the stamp is allocated by the pickup. */
export interface PickupPlan {
  name: string;
  sidecar?: string;
  marker?: string;
  partner: string;
  request: Omit<EnqueueRequest, 'path' | 'transfer' | 'origin' | 'date' | 'time'> & { datasetName: string; originator: string; destination: string };
  transfer: 'copy' | 'link';
}

interface ClaimRecord extends PickupPlan {
  version: 1;
  date: string;
  time: string;
  /** Where FILE was, for history. */
  origin: string;
  claimedAt: string;
}

export type PickupOutcome =
  | { kind: 'queued'; name: string; partner: string; entry: SpoolEntry | undefined }
  | { kind: 'vanished'; name: string }
  | { kind: 'rejected'; name: string; reason: string; movedTo: string }
  | { kind: 'deferred'; name: string; error: unknown; inOutbox: boolean };

export interface PickupHooks {
  /** Called after each step; a test returns a promise that never settles to stop there, as a crash would. */
  afterStep?(step: PickupStep, name: string): void | Promise<void>;
}

export class OutboxPickup {
  readonly dir: string;
  readonly pickupDir: string;
  readonly rejectedDir: string;
  readonly #target: OutboxTarget;
  readonly #log: Log;
  readonly #hooks: PickupHooks;

  constructor(dir: string, target: OutboxTarget, log: Log, hooks: PickupHooks = {}) {
    this.dir = dir;
    this.pickupDir = join(dir, PICKUP_DIR);
    this.rejectedDir = join(dir, REJECTED_DIR);
    this.#target = target;
    this.#log = log;
    this.#hooks = hooks;
  }

  async #step(step: PickupStep, name: string): Promise<void> {
    await this.#hooks.afterStep?.(step, name);
  }

  /** Steps 1-6 for one file the rules found complete. */
  async take(plan: PickupPlan): Promise<PickupOutcome> {
    await mkdirDurable(this.pickupDir);
    const claimDir = join(this.pickupDir, `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`);
    await mkdir(claimDir, { mode: 0o700 });
    await fsyncDir(this.pickupDir);
    await this.#step('claim-folder', plan.name);
    const stamp = await this.#target.allocateStamp(plan.partner);
    const record: ClaimRecord = { version: 1, ...plan, ...stamp, origin: join(this.dir, plan.name), claimedAt: new Date().toISOString() };
    await writeJsonAtomic(join(claimDir, CLAIM_FILE), record);
    await this.#step('claim-record', plan.name);
    try {
      await rename(join(this.dir, plan.name), join(claimDir, plan.name));
    } catch (err) {
      await this.#removeClaim(claimDir);
      if (errnoCode(err) === 'ENOENT') return { kind: 'vanished', name: plan.name };
      throw err;
    }
    await fsyncDir(this.dir);
    await fsyncDir(claimDir);
    await this.#step('claimed', plan.name);
    return this.#finish(claimDir, record, false);
  }

  /**
   * Settles every claim folder left behind: by a crash (see the header) or by a failure whose file
   * could not go back to the outbox. Run before the first scan and before each later one.
   */
  async recover(): Promise<PickupOutcome[]> {
    const out: PickupOutcome[] = [];
    let names: string[];
    try {
      names = await readdir(this.pickupDir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return out;
      throw err;
    }
    for (const id of names.sort()) {
      const claimDir = join(this.pickupDir, id);
      const record = await readJsonIfExists<ClaimRecord>(join(claimDir, CLAIM_FILE)).catch(() => undefined);
      if (!record || !(await exists(join(claimDir, record.name)))) {
        await this.#removeClaim(claimDir);
        continue;
      }
      this.#log.info({ folder: this.dir, file: record.name, dataset: record.request.datasetName }, 'Outbox: finishing a pickup a stop interrupted');
      out.push(await this.#finish(claimDir, record, true));
    }
    return out;
  }

  async #finish(claimDir: string, record: ClaimRecord, recovering: boolean): Promise<PickupOutcome> {
    await this.#extras(claimDir, record, recovering);
    await this.#step('extras', record.name);
    const identity = identityOf(record);
    let entry = await this.#target.spooled(record.partner, identity);
    if (entry === undefined && !this.#target.known(identity)) {
      try {
        entry = await this.#target.enqueue(record.partner, {
          ...record.request,
          path: join(claimDir, record.name),
          date: record.date,
          time: record.time,
          transfer: record.transfer,
          origin: record.origin,
        });
      } catch (err) {
        // Published after all (an error after the atomic rename)? Then it is queued: never retake it.
        entry = await this.#target.spooled(record.partner, identity).catch(() => undefined);
        if (entry === undefined) {
          if (isRefusal(err)) return this.#rejectClaim(claimDir, record, (err as Error).message);
          const inOutbox = await this.#rollBack(claimDir, record);
          return { kind: 'deferred', name: record.name, error: err, inOutbox };
        }
        if (!this.#target.known(identity)) await this.#target.recordQueued(entry, record.origin);
      }
    } else if (entry !== undefined && !this.#target.known(identity)) {
      await this.#target.recordQueued(entry, record.origin);
    }
    await this.#step('spooled', record.name);
    await this.#removeClaim(claimDir, record);
    await this.#step('cleaned', record.name);
    return { kind: 'queued', name: record.name, partner: record.partner, entry };
  }

  /** Step 4: the sidecar joins its file, the marker goes. When recovering, only if no new FILE was dropped since. */
  async #extras(claimDir: string, record: ClaimRecord, recovering: boolean): Promise<void> {
    if (recovering && (await exists(join(this.dir, record.name)))) return;
    let changed = false;
    if (record.sidecar) {
      try {
        await rename(join(this.dir, record.sidecar), join(claimDir, record.sidecar));
        changed = true;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    }
    if (record.marker) {
      try {
        await unlink(join(this.dir, record.marker));
        changed = true;
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') throw err;
      }
    }
    if (changed) await fsyncDir(this.dir);
  }

  /** Puts FILE (and its sidecar and marker) back where it was dropped; false if a new FILE took the name (the claim stays). */
  async #rollBack(claimDir: string, record: ClaimRecord): Promise<boolean> {
    const back = await moveNoReplace(join(claimDir, record.name), join(this.dir, record.name)).catch(() => false);
    if (!back) return false;
    if (record.sidecar) await moveNoReplace(join(claimDir, record.sidecar), join(this.dir, record.sidecar)).catch(() => false);
    if (record.marker) {
      const fh = await open(join(this.dir, record.marker), 'wx').catch(() => undefined);
      await fh?.close();
    }
    await fsyncDir(this.dir);
    await this.#removeClaim(claimDir, record);
    return true;
  }

  async #rejectClaim(claimDir: string, record: ClaimRecord, reason: string): Promise<PickupOutcome> {
    const moves = [{ from: join(claimDir, record.name), name: record.name }];
    if (record.sidecar && (await exists(join(claimDir, record.sidecar)))) moves.push({ from: join(claimDir, record.sidecar), name: record.sidecar });
    const movedTo = await this.reject(moves, reason);
    await this.#removeClaim(claimDir, record);
    return { kind: 'rejected', name: record.name, reason, movedTo };
  }

  /** Step 6 (or dropping an empty claim): FILE, sidecar, claim.json, then the folder, in that order. */
  async #removeClaim(claimDir: string, record?: ClaimRecord): Promise<void> {
    if (record) {
      await unlink(join(claimDir, record.name)).catch(ignoreMissing);
      if (record.sidecar) await unlink(join(claimDir, record.sidecar)).catch(ignoreMissing);
      await unlink(join(claimDir, CLAIM_FILE)).catch(ignoreMissing);
    }
    await removeTree(claimDir);
    await fsyncDir(this.pickupDir).catch(() => {});
  }

  /**
   * Moves refused files into .oftp-rejected/ (never replacing: NAME~1, NAME~2…) with NAME.reason.txt
   * beside the first; a sidecar follows as NAME.oftp.json. Returns the path the file now has.
   */
  async reject(moves: { from: string; name: string }[], reason: string): Promise<string> {
    await mkdirDurable(this.rejectedDir);
    const [data, ...rest] = moves;
    const finalName = await moveAside(data!.from, this.rejectedDir, data!.name);
    for (const extra of rest) {
      const suffix = extra.name.endsWith(SIDECAR_SUFFIX) ? SIDECAR_SUFFIX : `.${extra.name}`;
      await moveAside(extra.from, this.rejectedDir, `${finalName}${suffix}`);
    }
    await writeFileAtomic(join(this.rejectedDir, `${finalName}.reason.txt`), `${new Date().toISOString()} ${data!.name} was not sent: ${reason}\n`);
    await fsyncDir(this.rejectedDir);
    this.#log.warn({ folder: this.dir, file: data!.name, movedTo: join(REJECTED_DIR, finalName), reason }, 'Outbox: file refused');
    return join(this.rejectedDir, finalName);
  }
}

/** A refusal that retrying cannot cure: the content or a name the spool will not take. */
function isRefusal(err: unknown): boolean {
  return err instanceof FileRefusedError || (err instanceof LocalUsageError && err.code === 'OFTP_ERR_INVALID_ARGUMENT');
}

function identityOf(record: ClaimRecord): VirtualFileIdentity {
  const r = record.request;
  return { datasetName: r.datasetName, date: record.date, time: record.time, originator: r.originator, destination: r.destination };
}

async function moveAside(from: string, dir: string, name: string): Promise<string> {
  for (let n = 0; n < 10_000; n++) {
    const candidate = collisionName(name, n);
    if (await moveNoReplace(from, join(dir, candidate))) return candidate;
  }
  throw new OftpError('OFTP_ERR_IO', `more than 10000 files named ${name} in ${dir}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function ignoreMissing(err: unknown): void {
  if (errnoCode(err) !== 'ENOENT') throw err;
}
