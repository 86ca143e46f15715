// Clearing-centre forwarding (RFC 5024 §4.3.4, §4.3.6, §4.7.3). A file received for a destination that
// is not us, along a route marked `forward`, is accepted (instead of SFNA 02), stored like any received
// file (durable, exactly once, through the delivery journal) in a station-owned staging folder, and
// queued for the route's partner with its identity unchanged: dataset name, originator, destination,
// SFIDDATE and SFIDTIME, user data, description and format. We send no EERP of our own: the final
// destination's EERP (or NERP) comes back to us and is passed back, unchanged (its hash and signature
// are the final destination's), to the partner the file came from. A forwarded file the next partner
// refuses for good (SFNA/EFNA without retry) is answered upstream with a NERP we create (§5.3.14).
// The ledger keeps what this needs between the steps, one small JSON file per file:
//   <state>/forwarding/<identityKey>.json  { identity, from, to, sfid fields, state }
// written at the SFID ('receiving', before any data is stored), set to 'forwarded' once the file is
// spooled for `to`, removed once the receipt went upstream. Every step can run again after a crash:
// a spool entry or an 'out' history record for the identity means it was queued already; the pending
// receipts store keeps one receipt per identity.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OftpError } from '../errors.ts';
import { mkdirDurable, readJsonIfExists, removeInterruptedWrites, unlinkDurable, writeJsonAtomic } from '../files/durable-fs.ts';
import { errnoCode, FileRefusedError } from '../files/file-errors.ts';
import { identityKey, type VirtualFileIdentity } from '../files/naming.ts';
import type { Eerp, Nerp, Sfid } from '../protocol/command-types.ts';
import { describeNerp, NerpReason, nerpReasonForFileRefusal } from '../protocol/reason-codes.ts';
import { type DeliveredFile, type Log, outId } from '../station/session-handler.ts';
import type { Station } from '../station/station.ts';
import type { TransferRecord } from '../store/transfer-history.ts';
import { identityOfEerp } from './inbox-receipts.ts';

type SfidFields = Pick<Sfid, 'format' | 'maxRecordSize' | 'description' | 'securityLevel' | 'cipherSuite' | 'compression' | 'envelope' | 'signedReceipt' | 'originalFileSize'>;

export interface ForwardRecord {
  version: 1;
  identity: VirtualFileIdentity;
  /** The partner the file came from: receipts go back to it. */
  from: string;
  /** The partner it is forwarded to. */
  to: string;
  sfid: SfidFields;
  state: 'receiving' | 'forwarded';
  createdAt: string;
}

export class ForwardLedger {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  static async open(dir: string): Promise<ForwardLedger> {
    await mkdirDurable(dir);
    await removeInterruptedWrites(dir);
    return new ForwardLedger(dir);
  }

  #path(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  get(key: string): Promise<ForwardRecord | undefined> {
    return readJsonIfExists<ForwardRecord>(this.#path(key));
  }

  put(record: ForwardRecord): Promise<void> {
    return writeJsonAtomic(this.#path(identityKey(record.identity)), record);
  }

  remove(key: string): Promise<void> {
    return unlinkDurable(this.#path(key));
  }

  async list(): Promise<ForwardRecord[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    const out: ForwardRecord[] = [];
    for (const name of names.sort()) {
      const r = await readJsonIfExists<ForwardRecord>(join(this.dir, name)).catch(() => undefined);
      if (r) out.push(r);
    }
    return out;
  }
}

export class Forwarder {
  readonly ledger: ForwardLedger;
  readonly #station: Station;
  readonly #log: Log;

  constructor(ledger: ForwardLedger, station: Station, log: Log) {
    this.ledger = ledger;
    this.#station = station;
    this.#log = log;
  }

  /** At the SFID of a file to forward: remember where it goes and what it is, before any data is stored. */
  async intend(from: string, to: string, sfid: Sfid): Promise<void> {
    const identity = { datasetName: sfid.datasetName, date: sfid.date, time: sfid.time, originator: sfid.originator, destination: sfid.destination };
    const existing = await this.ledger.get(identityKey(identity));
    if (existing?.state === 'forwarded' || (existing && existing.from === from && existing.to === to)) return;
    const { format, maxRecordSize, description, securityLevel, cipherSuite, compression, envelope, signedReceipt, originalFileSize } = sfid;
    await this.ledger.put({
      version: 1,
      identity,
      from,
      to,
      sfid: { format, maxRecordSize, description, securityLevel, cipherSuite, compression, envelope, signedReceipt, originalFileSize },
      state: 'receiving',
      createdAt: new Date().toISOString(),
    });
  }

  /**
   * The file is durably received: queue it for the next partner (unless a crash-interrupted run did),
   * then drop the staged copy. Returns a NERP when it can never be forwarded, else undefined (the
   * receipt comes from the final destination).
   */
  async take(file: DeliveredFile): Promise<Nerp | undefined> {
    if (file.duplicate) return undefined;
    const id = file.identity;
    const key = identityKey(id);
    const record = await this.ledger.get(key);
    const services = this.#station.services;
    const fail = async (reason: number, text: string) => {
      this.#log.warn({ partner: file.partner, dataset: id.datasetName, path: file.path, reason, text }, 'Forwarding: cannot forward the file; NERP to the originator');
      if (record) await this.ledger.remove(key);
      return this.nerp(id, reason, text);
    };
    if (!record) return fail(NerpReason.processingFailed, 'no forwarding record for this file');
    if (services.history.get(outId(key)) === undefined) {
      const spooled = await services.spool.find(record.to, key);
      if (spooled) {
        await this.#station.recordQueued(spooled, `forwarded from ${record.from}`);
      } else {
        if (file.path === undefined) return fail(NerpReason.processingFailed, 'the received file is gone before it could be forwarded');
        const s = record.sfid;
        const secured = s.securityLevel !== 0 || s.compression !== 0 || s.envelope !== 0;
        try {
          await this.#station.enqueue(record.to, {
            path: file.path,
            datasetName: id.datasetName,
            date: id.date,
            time: id.time,
            originator: id.originator,
            destination: id.destination,
            format: s.format,
            recordLength: s.maxRecordSize,
            userData: file.userData,
            description: s.description,
            signedReceipt: s.signedReceipt,
            secured: secured ? { securityLevel: s.securityLevel, cipherSuite: s.cipherSuite, compression: s.compression, envelope: s.envelope, originalFileSize: s.originalFileSize } : undefined,
            transfer: 'link',
            origin: `forwarded from ${record.from}`,
          });
        } catch (err) {
          // A refusal (bad content, partner gone from the config) is final; I/O errors are retried
          // (the delivery journal calls us again at the next start).
          if (err instanceof FileRefusedError || (err instanceof OftpError && err.code === 'OFTP_ERR_CONFIG')) {
            if (file.path) await unlinkDurable(file.path);
            return fail(NerpReason.notDelivered, `not forwarded to ${record.to}: ${(err as Error).message}`);
          }
          throw err;
        }
      }
    }
    if (record.state !== 'forwarded') await this.ledger.put({ ...record, state: 'forwarded' });
    if (file.path) await unlinkDurable(file.path);
    this.#log.info({ partner: file.partner, to: record.to, dataset: id.datasetName, destination: id.destination }, 'Forwarding: file queued for the next partner');
    return undefined;
  }

  /** A receipt from downstream for a file we forwarded goes back upstream unchanged. */
  async passBack(from: string, receipt: Eerp | Nerp): Promise<void> {
    const identity = identityOfEerp(receipt);
    const key = identityKey(identity);
    const record = await this.ledger.get(key);
    if (record?.state !== 'forwarded') return;
    if (from !== record.to) {
      this.#log.warn({ partner: from, expected: record.to, dataset: identity.datasetName }, 'Forwarding: receipt from another partner than the file went to; passed back anyway');
    }
    await this.#station.services.receipts.add(record.from, receipt);
    await this.ledger.remove(key);
    this.#log.info({ partner: record.from, cmd: receipt.cmd, dataset: identity.datasetName, from }, `Forwarding: ${receipt.cmd} passed back`);
  }

  /** A forwarded file failed for good downstream (not by a NERP, which is passed back): NERP upstream. */
  async outboundFailed(rec: TransferRecord): Promise<void> {
    if (rec.direction !== 'out' || rec.state !== 'failed' || rec.reason?.startsWith('NERP')) return;
    const identity = { datasetName: rec.datasetName, date: rec.date, time: rec.time, originator: rec.originator, destination: rec.destination };
    const key = identityKey(identity);
    const record = await this.ledger.get(key);
    if (record?.state !== 'forwarded') return;
    const refusal = /^(?:SFNA|EFNA) (\d+)$/.exec(rec.reason ?? '');
    const reason = (refusal ? nerpReasonForFileRefusal(Number(refusal[1])) : undefined) ?? NerpReason.notDelivered;
    await this.#station.services.receipts.add(record.from, this.nerp(identity, reason, rec.reasonText ?? describeNerp(reason)));
    await this.ledger.remove(key);
    this.#log.warn({ partner: record.from, to: record.to, dataset: identity.datasetName, reason }, 'Forwarding: the next partner refused the file; NERP to the originator');
  }

  /** At start: failures recorded while no one listened (a crash) get their NERP now. */
  async reconcile(): Promise<void> {
    for (const record of await this.ledger.list()) {
      if (record.state !== 'forwarded') continue;
      const out = this.#station.services.history.get(outId(identityKey(record.identity)));
      if (out) await this.outboundFailed(out);
    }
  }

  /** A NERP we create as the station that could not deliver (§5.3.14: creator us, origin the destination). */
  nerp(identity: VirtualFileIdentity, reason: number, text: string): Nerp {
    return {
      cmd: 'NERP',
      datasetName: identity.datasetName,
      date: identity.date,
      time: identity.time,
      destination: identity.originator,
      originator: identity.destination,
      creator: this.#station.services.stationId,
      reason,
      reasonText: text.slice(0, 999),
      fileHash: new Uint8Array(0),
      signature: new Uint8Array(0),
    };
  }
}
