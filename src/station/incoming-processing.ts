// Opening received secured files (RFC 5024 §6: decrypt → decompress → verify, §6.3: after the session
// part that received it), and the certificate files of §10.4, as restartable jobs. The transmitted
// file is received like any other (durable partial, restart, EFID counts) but its partial lives in
// the station's processing area, not in the inbox, and is committed there at EFID; EFPA goes out, then
// the job opens it into the partner's inbox and answers with the EERP (signed when SFIDSIGN Y), or —
// when a layer fails — keeps the transmitted file in the failed area and answers with a NERP
// (31 signature, 32 decompression, 33 decryption, 34 anything else), signed when requested.
//
// Layout (on the state filesystem):
//   <state>/processing/<partner>/.oftp-partial/<key>.part   the partial while receiving
//   <state>/processing/<partner>/<key>.cms                  the transmitted file, once committed
//   <state>/processing/<partner>/<key>.job.json             the job, written before the commit
//   <inbox>/.oftp-partial/<key>.opened                      the opened file until it is delivered
//   <state>/failed/<partner>/<key>.cms + <key>.json         transmitted files that failed, and why
//
// Crash safety: each step leaves a state the next start can finish from, without delivering twice.
//   committing  the job exists before the partial is committed (link + unlink): at start, a `.cms`
//               means the commit happened (the partial's leftover is removed), none means it did not
//               (the job goes, the partial stays for the sender's restart).
//   received    opening is repeated from the start (the `.opened` file is rewritten).
//   opened      the opened file is fsynced and its inode recorded before this state: delivery links it
//               into the inbox without replacing anything (NAME~n on collisions); an inode already
//               linked there (a crash between link and unlink) is found and not linked again. Then the
//               EERP is queued and history written (both idempotent), then `.cms` and the job go.
//   failed      the reason is recorded first; moving `.cms`, queueing the NERP (idempotent per
//               identity), history and removing the job are each repeatable.
// A resend of a file whose job exists, or that was opened or failed before, is taken as a duplicate
// (data discarded, EFPA), so a lost EFPA never makes a second delivery (see session-handler.ts).
// Local failures that are not the file's fault (a PKCS#11 token away, a full disk) leave the job in
// its state; it is tried again after a delay (doubling to 10 minutes) and at every start.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as pkijs from 'pkijs';
import { OftpError } from '../errors.ts';
import { collisionName, defaultPartialDir, type VirtualFileIdentity } from '../files/index.ts';
import { errnoCode } from '../files/file-errors.ts';
import { fsyncDir, KeyedQueue, mkdirDurable, moveNoReplace, readJsonIfExists, removeInterruptedWrites, unlinkDurable, writeJsonAtomic } from '../files/durable-fs.ts';
import { createContentValidator } from '../files/record-formats.ts';
import type { Eerp, Nerp, VirtualFileFormat } from '../protocol/command-types.ts';
import { NerpReason } from '../protocol/reason-codes.ts';
import { storePendingCertificate } from '../security/certificates-store.ts';
import { CmsError, hashFile, openEnvelopeFile } from '../security/cms/index.ts';
import { recordDelivery, recordTransfer, type StationServices } from './session-handler.ts';

export interface ProcessingJob {
  version: 1;
  key: string;
  partner: string;
  identity: VirtualFileIdentity;
  userData: string;
  /** SFID fields that say how the file was secured and what it is. */
  format: VirtualFileFormat;
  maxRecordSize: number;
  securityLevel: number;
  cipherSuite: number;
  compression: number;
  envelope: number;
  signedReceipt: boolean;
  /** Where the opened file goes (the inbox folder chosen at SFID) and under which name. */
  deliveryDir: string;
  deliveryName: string;
  /** The partial, for settling an interrupted commit. */
  partPath: string;
  partInode: number;
  state: 'committing' | 'received' | 'opened' | 'failed';
  /** EERPHSH/NERPHSH: the suite's digest of the transmitted file, hex. */
  receiptHash?: string;
  /** The opened file before delivery (none for a §10.4 certificate file). */
  output?: { path: string; inode: number; octets: number; sha256: string } | { certificates: string[] };
  failure?: { reason: number; text: string };
}

/** What stays in the failed area beside the transmitted file. */
export interface FailedRecord {
  identity: VirtualFileIdentity;
  partner: string;
  reason: number;
  text: string;
  failedAt: string;
  cipherSuite: number;
  signedReceipt: boolean;
  receiptHash: string | undefined;
}

const MAX_RETRY_MS = 10 * 60_000;
const FIRST_RETRY_MS = 30_000;
/** A §10.4 certificate file is small; a bigger one is not read into memory. */
const MAX_CERTIFICATE_FILE = 1 << 20;

export class IncomingProcessor {
  readonly root: string;
  readonly failedRoot: string;
  readonly #services: StationServices;
  readonly #dataDir: string;
  /** One job at a time: opening is CPU and disk bound, sessions keep running beside it. */
  readonly #queue = new KeyedQueue();
  /** Jobs scheduled or running, by partner. */
  readonly #running = new Map<string, Set<Promise<void>>>();
  /** `${partner}/${key}` of every job file this process knows of. */
  readonly #jobs = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Keys with a failed record, by partner, read from disk at first use and kept by #fail. */
  readonly #failedKeys = new Map<string, Promise<Set<string>>>();
  #closed = false;

  constructor(stateDir: string, dataDir: string, services: StationServices) {
    this.root = join(stateDir, 'processing');
    this.failedRoot = join(stateDir, 'failed');
    this.#dataDir = dataDir;
    this.#services = services;
  }

  /** Where secured files from `partner` are committed, and their partials kept (`defaultPartialDir`). */
  dirFor(partner: string): string {
    return join(this.root, partner);
  }

  transmittedName(key: string): string {
    return `${key}.cms`;
  }

  #jobPath(partner: string, key: string): string {
    return join(this.dirFor(partner), `${key}.job.json`);
  }

  #transmitted(job: ProcessingJob): string {
    return join(this.dirFor(job.partner), this.transmittedName(job.key));
  }

  /** A job exists for the file (received, not yet answered with EERP/NERP). */
  has(partner: string, key: string): boolean {
    return this.#jobs.has(`${partner}/${key}`);
  }

  /** Why the file failed, when it did (its transmitted copy is in the failed area). */
  async failed(partner: string, key: string): Promise<FailedRecord | undefined> {
    // Asked at every SFID: most files never failed, and the index answers those without I/O.
    if (!(await this.#failedKeysOf(partner)).has(key)) return undefined;
    return readJsonIfExists<FailedRecord>(join(this.failedRoot, partner, `${key}.json`));
  }

  #failedKeysOf(partner: string): Promise<Set<string>> {
    let keys = this.#failedKeys.get(partner);
    if (!keys) {
      keys = readdir(join(this.failedRoot, partner)).then(
        (names) => new Set(names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -'.json'.length))),
        (err) => {
          if (errnoCode(err) === 'ENOENT') return new Set<string>();
          this.#failedKeys.delete(partner);
          throw err;
        },
      );
      this.#failedKeys.set(partner, keys);
    }
    return keys;
  }

  /** Before the commit at EFID: the job, durable. A stale transmitted file of the same name goes first. */
  async begin(job: ProcessingJob): Promise<void> {
    await rm(this.#transmitted(job), { force: true });
    job.partInode = (await stat(job.partPath)).ino;
    await this.#save(job);
    this.#jobs.add(`${job.partner}/${job.key}`);
  }

  /** The commit failed or the counts were wrong (EFNA): the job goes. */
  async abandon(job: ProcessingJob): Promise<void> {
    await unlinkDurable(this.#jobPath(job.partner, job.key));
    this.#jobs.delete(`${job.partner}/${job.key}`);
  }

  /** Committed as `path`: recorded, then opened in the background (`idle` waits for it). */
  async received(job: ProcessingJob, path: string): Promise<void> {
    if (path !== this.#transmitted(job)) {
      // commit() takes NAME~n when NAME exists; begin() removed NAME, so this is only a safety net.
      await rename(path, this.#transmitted(job));
      await fsyncDir(this.dirFor(job.partner));
    }
    job.state = 'received';
    await this.#save(job);
    this.schedule(job);
  }

  /** Runs the job after those before it; tracked per partner. */
  schedule(job: ProcessingJob): void {
    if (this.#closed) return;
    const done = this.#queue.run('jobs', () => this.#run(job));
    let set = this.#running.get(job.partner);
    if (!set) {
      set = new Set();
      this.#running.set(job.partner, set);
    }
    set.add(done);
    done.finally(() => set.delete(done)).catch(() => {});
  }

  /** Waits (at most `timeoutMs`) until the partner's jobs have run, so their receipts go out in this session. */
  async idle(partner: string, timeoutMs: number): Promise<void> {
    const set = this.#running.get(partner);
    if (!set || set.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...set]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  /** At start: settles interrupted commits and schedules every job left. */
  async recover(): Promise<void> {
    for (const partner of await listDir(this.root)) {
      const dir = this.dirFor(partner);
      await removeInterruptedWrites(dir);
      await removeInterruptedWrites(defaultPartialDir(dir));
      for (const name of (await listDir(dir)).filter((n) => n.endsWith('.job.json'))) {
        const job = await readJsonIfExists<ProcessingJob>(join(dir, name));
        if (!job) continue;
        if (job.state === 'committing' && !(await this.#settleCommit(job))) continue;
        this.#jobs.add(`${job.partner}/${job.key}`);
        this.#services.log.info({ partner, dataset: job.identity.datasetName, state: job.state }, 'Inbound: resuming the processing of a received file');
        this.schedule(job);
      }
    }
  }

  /** Stops scheduling retries and waits for the jobs in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    await Promise.allSettled([...this.#running.values()].flatMap((s) => [...s]));
  }

  /** An interrupted commit: done when `.cms` exists (the partial's leftovers go), else the job goes. */
  async #settleCommit(job: ProcessingJob): Promise<boolean> {
    const committed = await stat(this.#transmitted(job)).catch(() => undefined);
    if (!committed || committed.ino !== job.partInode) {
      await unlinkDurable(this.#jobPath(job.partner, job.key));
      return false;
    }
    const partial = await stat(job.partPath).catch(() => undefined);
    if (partial?.ino === job.partInode) await unlinkDurable(job.partPath);
    await unlinkDurable(`${job.partPath.replace(/\.part$/, '')}.ckpt.json`);
    job.state = 'received';
    await this.#save(job);
    return true;
  }

  async #save(job: ProcessingJob): Promise<void> {
    await mkdirDurable(this.dirFor(job.partner));
    await writeJsonAtomic(this.#jobPath(job.partner, job.key), job);
  }

  async #run(job: ProcessingJob, attempt = 0): Promise<void> {
    const log = this.#services.log;
    try {
      if (job.state === 'received') await this.#open(job);
      if (job.state === 'opened') await this.#deliver(job);
      else if (job.state === 'failed') await this.#fail(job);
    } catch (err) {
      const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt);
      log.warn({ partner: job.partner, dataset: job.identity.datasetName, state: job.state, err: String(err), retryInSeconds: delay / 1000 }, 'Inbound: processing a received file stopped by a local failure; it is tried again');
      if (this.#closed) return;
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (this.#closed) return;
        const done = this.#queue.run('jobs', () => this.#run(job, attempt + 1));
        const set = this.#running.get(job.partner);
        set?.add(done);
        done.finally(() => set?.delete(done)).catch(() => {});
      }, delay);
      timer.unref();
      this.#timers.add(timer);
    }
  }

  /** received → opened (or failed): decrypt, decompress, verify into the inbox's partial folder. */
  async #open(job: ProcessingJob): Promise<void> {
    const security = this.#services.security;
    if (!security) throw new OftpError('OFTP_ERR_CONFIG', 'the station has no security services');
    const transmitted = this.#transmitted(job);
    const suite = job.cipherSuite === 0 ? undefined : job.cipherSuite;
    const certificateFile = job.envelope === 1 && job.securityLevel === 0 && job.compression === 0;
    const partialDir = defaultPartialDir(job.deliveryDir);
    const out = join(partialDir, `${job.key}.opened`);
    try {
      if (certificateFile) {
        const ders = certificatesOfCmsFile(await readSmall(transmitted));
        const ids: string[] = [];
        for (const der of ders) {
          const pending = await storePendingCertificate(this.#dataDir, job.partner, der, `CMS file ${job.identity.datasetName} from ${job.partner}`);
          ids.push(pending.id);
        }
        job.receiptHash = suite ? hex(await hashFile(transmitted, suite)) : undefined;
        job.output = { certificates: ids };
      } else {
        const encrypted = (job.securityLevel & 1) !== 0;
        const signed = (job.securityLevel & 2) !== 0;
        const verify = signed ? (await security.partnerCertificates(this.#partner(job.partner), 'signing')).accepted : undefined;
        if (verify && verify.length === 0) throw new CmsError('signature', `SignedData: no usable signing certificate of partner ${job.partner} to verify it`);
        await mkdirDurable(partialDir);
        const result = await openEnvelopeFile(transmitted, out, {
          decrypt: encrypted ? { key: await security.keys.key('encryption') } : undefined,
          decompress: job.compression === 1,
          verify: verify ? { certificates: verify } : undefined,
          hashSuite: suite,
        });
        const checked = await checkAndHash(out, job.format, job.maxRecordSize);
        job.receiptHash = result.envelopedHash ? hex(result.envelopedHash) : undefined;
        job.output = { path: out, inode: checked.inode, octets: result.contentBytes, sha256: checked.sha256 };
        const signer = result.signature?.verified.signer;
        this.#services.log.info({ partner: job.partner, dataset: job.identity.datasetName, octets: result.contentBytes, signer }, 'Inbound: secured file opened');
      }
      job.state = 'opened';
    } catch (err) {
      await rm(out, { force: true });
      if (isLocalFailure(err)) throw err;
      const reason = err instanceof CmsError && err.nerpReason !== undefined ? err.nerpReason : NerpReason.processingFailed;
      job.failure = { reason, text: `${(err as Error).message}`.slice(0, 900) };
      job.state = 'failed';
      if (job.receiptHash === undefined && suite) job.receiptHash = hex(await hashFile(transmitted, suite));
    }
    await this.#save(job);
  }

  /** opened → done: into the inbox without replacing anything, EERP queued, history, clean-up. */
  async #deliver(job: ProcessingJob): Promise<void> {
    const output = job.output!;
    let path: string | undefined;
    let octets = 0;
    let sha256: string | undefined;
    if ('path' in output) {
      octets = output.octets;
      sha256 = output.sha256;
      path = await this.#place(job, output);
    }
    const security = this.#services.security!;
    const eerp: Eerp = {
      cmd: 'EERP',
      datasetName: job.identity.datasetName,
      date: job.identity.date,
      time: job.identity.time,
      userData: job.userData,
      destination: job.identity.originator,
      originator: job.identity.destination,
      fileHash: new Uint8Array(0),
      signature: new Uint8Array(0),
    };
    const sealed = await security.sealEerp(eerp, hashBytes(job.receiptHash), job.signedReceipt ? { cipherSuite: job.cipherSuite } : undefined);
    const history = { cipherSuite: job.cipherSuite, signedReceipt: job.signedReceipt, receiptHash: job.receiptHash, reason: undefined, reasonText: undefined };
    await recordDelivery(this.#services, job.partner, job.identity, job.userData, { path, octets, sha256, dir: job.deliveryDir }, false, { eerp: sealed, history });
    await unlinkDurable(this.#transmitted(job));
    await this.#finish(job);
    const what = 'certificates' in output ? `${output.certificates.length} certificate(s) kept for approval (oftp2 cert pending)` : path;
    this.#services.log.info({ partner: job.partner, dataset: job.identity.datasetName, path: what, signedReceipt: job.signedReceipt }, 'Inbound: secured file delivered, EERP queued');
  }

  /** Links the opened file into the inbox once (see the crash notes above); undefined when already consumed. */
  async #place(job: ProcessingJob, output: { path: string; inode: number }): Promise<string | undefined> {
    const current = await stat(output.path).catch(() => undefined);
    if (current?.ino === output.inode && current.nlink === 1) {
      await mkdirDurable(job.deliveryDir);
      for (let n = 0; n <= 9999; n++) {
        const candidate = join(job.deliveryDir, collisionName(job.deliveryName, n));
        if (await moveNoReplace(output.path, candidate)) {
          await fsyncDir(job.deliveryDir);
          await fsyncDir(defaultPartialDir(job.deliveryDir));
          return candidate;
        }
      }
      throw new OftpError('OFTP_ERR_IO', `more than 9999 files named ${job.deliveryName} in ${job.deliveryDir}`);
    }
    // Linked before a crash (or consumed since): find it, then drop the partial name.
    const found = await findInode(job.deliveryDir, output.inode);
    if (current?.ino === output.inode) await unlinkDurable(output.path);
    return found;
  }

  /** failed → done: the transmitted file kept for the operator, NERP queued (signed when asked), history. */
  async #fail(job: ProcessingJob): Promise<void> {
    const failure = job.failure!;
    const security = this.#services.security!;
    const nerp: Nerp = {
      cmd: 'NERP',
      datasetName: job.identity.datasetName,
      date: job.identity.date,
      time: job.identity.time,
      destination: job.identity.originator,
      originator: job.identity.destination,
      creator: this.#services.stationId,
      reason: failure.reason,
      reasonText: failure.text,
      fileHash: new Uint8Array(0),
      signature: new Uint8Array(0),
    };
    const sealed = await security.sealNerp(nerp, hashBytes(job.receiptHash), job.signedReceipt ? { cipherSuite: job.cipherSuite } : undefined);
    const dir = join(this.failedRoot, job.partner);
    await mkdirDurable(dir);
    const kept = join(dir, this.transmittedName(job.key));
    if (await stat(this.#transmitted(job)).catch(() => undefined)) {
      await rename(this.#transmitted(job), kept);
      await fsyncDir(dir);
      await fsyncDir(this.dirFor(job.partner));
    }
    const record: FailedRecord = {
      identity: job.identity,
      partner: job.partner,
      reason: failure.reason,
      text: failure.text,
      failedAt: new Date().toISOString(),
      cipherSuite: job.cipherSuite,
      signedReceipt: job.signedReceipt,
      receiptHash: job.receiptHash,
    };
    (await this.#failedKeysOf(job.partner)).add(job.key);
    await writeJsonAtomic(join(dir, `${job.key}.json`), record);
    await this.#services.receipts.add(job.partner, sealed);
    await recordTransfer(
      this.#services,
      job.identity,
      'in',
      { state: 'failed', reason: `NERP ${failure.reason}`, reasonText: failure.text, path: kept, cipherSuite: job.cipherSuite, signedReceipt: job.signedReceipt, receiptHash: job.receiptHash },
      job.partner,
    );
    await this.#finish(job);
    this.#services.log.warn({ partner: job.partner, dataset: job.identity.datasetName, reason: failure.reason, text: failure.text, kept }, 'Inbound: secured file could not be opened, NERP queued');
  }

  async #finish(job: ProcessingJob): Promise<void> {
    await unlinkDurable(this.#jobPath(job.partner, job.key));
    this.#jobs.delete(`${job.partner}/${job.key}`);
  }

  #partner(name: string) {
    const partner = this.#services.partners.find((p) => p.name === name);
    if (!partner) throw new OftpError('OFTP_ERR_CONFIG', `partner ${name} is no longer configured`);
    return partner;
  }
}

/** Failures that are not the file's: our key or token unavailable, configuration, I/O. Retried. */
function isLocalFailure(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof OftpError && (e.code === 'OFTP_ERR_STATE' || e.code === 'OFTP_ERR_CONFIG' || e.code === 'OFTP_ERR_IO')) return true;
    if (typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z]+$/.test((e as NodeJS.ErrnoException).code!)) return true;
  }
  return false;
}

/** Checks the structure of an opened F/V file (our local V layout is the §6.5 form), hashes it, fsyncs it. */
async function checkAndHash(path: string, format: VirtualFileFormat, maxRecordSize: number): Promise<{ inode: number; sha256: string }> {
  const validator = format === 'F' || format === 'V' ? createContentValidator(format, maxRecordSize) : undefined;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    validator?.update(chunk as Buffer);
    hash.update(chunk as Buffer);
  }
  validator?.finish();
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
    return { inode: (await fh.stat()).ino, sha256: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}

/** The certificates of a §10.4 file: a CMS SignedData ("certs-only", as `openssl crl2pkcs7` writes). */
export function certificatesOfCmsFile(bytes: Uint8Array): Uint8Array[] {
  let certificates: Uint8Array[];
  try {
    const info = pkijs.ContentInfo.fromBER(bytes);
    if (info.contentType !== pkijs.ContentInfo.SIGNED_DATA) throw new Error(`content type ${info.contentType} is not SignedData`);
    const signed = new pkijs.SignedData({ schema: info.content });
    certificates = (signed.certificates ?? [])
      .filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate)
      .map((c) => new Uint8Array(c.toSchema().toBER(false)));
  } catch (err) {
    throw new OftpError('OFTP_ERR_CMS', `not a CMS certificate file (§10.4): ${(err as Error).message}`);
  }
  if (certificates.length === 0) throw new OftpError('OFTP_ERR_CMS', 'the CMS certificate file (§10.4) holds no certificate');
  return certificates;
}

async function readSmall(path: string): Promise<Uint8Array> {
  const size = (await stat(path)).size;
  if (size > MAX_CERTIFICATE_FILE) throw new OftpError('OFTP_ERR_CMS', `a certificate file of ${size} octets is larger than ${MAX_CERTIFICATE_FILE}`);
  return new Uint8Array(await readFile(path));
}

async function findInode(dir: string, inode: number): Promise<string | undefined> {
  for (const name of await listDir(dir)) {
    if (name.startsWith('.')) continue;
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s?.ino === inode && s.isFile()) return join(dir, name);
  }
  return undefined;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const hashBytes = (hexText: string | undefined): Uint8Array => (hexText ? new Uint8Array(Buffer.from(hexText, 'hex')) : new Uint8Array(0));
