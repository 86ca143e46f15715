// Crash points of opening received secured files (src/station/incoming-processing.ts): a station
// stopped with a job in each state finishes it at the next start, delivering the file exactly once
// and queueing its EERP. The jobs are stopped for real (our encryption key unreadable: the job waits),
// then put by hand into the state a crash at that point leaves, as the code writes it.
import assert from 'node:assert/strict';
import { link, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, type TestContext, test } from 'node:test';
import { defaultPartialDir } from '../../src/files/index.ts';
import { FileKeyStore } from '../../src/keystore/file-key-store.ts';
import { openEnvelopeFile } from '../../src/security/cms/index.ts';
import type { ProcessingJob } from '../../src/station/incoming-processing.ts';
import { Station } from '../../src/station/station.ts';
import { TestPki } from '../tls/pki.ts';
import { ID_A, ID_B, sha256, sha256Of, StationPair, unstructured, visibleFiles, writeLocal } from './harness.ts';
import { FULL_AGREEMENT, ownKeysConfig, partnerCertificatesConfig, type StationPki, stationPki } from './secure-helpers.ts';

let pki: TestPki;
let pkiA: StationPki;
let pkiB: StationPki;

before(() => {
  pki = new TestPki('oftp-secure-crash-');
  pkiA = stationPki(pki, 'a', ID_A);
  pkiB = stationPki(pki, 'b', ID_B);
});
after(() => pki.remove());

/** B sends a secured file; A cannot open it yet (its key is away): A is closed with the job 'received'. */
async function stoppedJob(t: TestContext): Promise<{ pair: StationPair; bytes: Buffer; jobPath: string; job: ProcessingJob; restoreKey: () => Promise<void> }> {
  const pair = await StationPair.create(t, {
    a: ownKeysConfig(pkiA, ['authentication', 'signing', 'encryption']),
    b: ownKeysConfig(pkiB, ['authentication', 'signing', 'encryption']),
    aPartner: { ...partnerCertificatesConfig(pkiB), ...FULL_AGREEMENT },
    bPartner: { ...partnerCertificatesConfig(pkiA), ...FULL_AGREEMENT },
  });
  const keyPath = pkiA.certs.encryption.keyPath;
  await rename(keyPath, `${keyPath}.away`);
  let restored = false;
  const restoreKey = async () => {
    if (!restored) await rename(`${keyPath}.away`, keyPath);
    restored = true;
  };
  t.after(restoreKey);
  const bytes = Buffer.from(unstructured(40_000, 9).bytes);
  await pair.b.enqueue('a', { path: await writeLocal(pair.root, 'crash.bin', { format: 'U', bytes, records: 0, units: bytes.length }), datasetName: 'CRASH.BIN' });
  const { b } = await pair.sendFromB();
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  await pair.a.close();
  const dir = join(pair.dirA, 'state', 'processing', 'b');
  const name = (await readdir(dir)).find((n) => n.endsWith('.job.json'))!;
  const jobPath = join(dir, name);
  const job = JSON.parse(await readFile(jobPath, 'utf8')) as ProcessingJob;
  assert.equal(job.state, 'received');
  return { pair, bytes, jobPath, job, restoreKey };
}

async function reopenAndSettle(pair: StationPair): Promise<void> {
  pair.a = await Station.open(pair.dirA, pair.logA);
  const end = Date.now() + 10_000;
  while ((await pair.a.services.receipts.list('b')).length === 0) {
    if (Date.now() > end) throw new Error('no EERP queued');
    await new Promise((r) => setTimeout(r, 50));
  }
  // The EERP is queued before the job records history and goes: wait for the job itself.
  await pair.a.services.processor!.idle('b', 10_000);
}

async function assertDeliveredOnce(pair: StationPair, bytes: Buffer): Promise<void> {
  assert.deepEqual(await visibleFiles(pair.inboxA()), ['CRASH.BIN'], 'exactly one file, no CRASH.BIN~1');
  assert.equal(await sha256Of(join(pair.inboxA(), 'CRASH.BIN')), sha256(bytes));
  assert.deepEqual((await readdir(defaultPartialDir(pair.inboxA()))).filter((n) => !n.endsWith('.tmp')), [], 'no partial left');
  assert.deepEqual((await readdir(join(pair.dirA, 'state', 'processing', 'b'))).filter((n) => !n.startsWith('.')), [], 'job and transmitted file gone');
  const receipts = await pair.a.services.receipts.list('b');
  assert.equal(receipts.length, 1);
  assert.equal(receipts[0]!.receipt.cmd, 'EERP');
  assert.ok(receipts[0]!.receipt.signature.length > 0, 'signed, as asked');
  assert.equal(pair.a.services.history.list({ direction: 'in' })[0]?.state, 'received');
}

test('stopped after the commit, before the job said so (committing): the next start opens and delivers it once', async (t) => {
  const { pair, bytes, jobPath, job, restoreKey } = await stoppedJob(t);
  // The commit links the partial as <key>.cms: the transmitted file has the partial's inode.
  const transmitted = join(pair.dirA, 'state', 'processing', 'b', `${job.key}.cms`);
  await writeFile(jobPath, JSON.stringify({ ...job, state: 'committing', partInode: (await stat(transmitted)).ino }));
  await restoreKey();
  await reopenAndSettle(pair);
  await assertDeliveredOnce(pair, bytes);
});

test('stopped between linking the opened file into the inbox and removing its partial name (opened): no second copy', async (t) => {
  const { pair, bytes, jobPath, job, restoreKey } = await stoppedJob(t);
  await restoreKey();
  // Do what the job does up to the link, by hand: open the file, record 'opened', link it into the inbox.
  const transmitted = join(pair.dirA, 'state', 'processing', 'b', `${job.key}.cms`);
  const out = join(defaultPartialDir(pair.inboxA()), `${job.key}.opened`);
  const key = await new FileKeyStore({ enc: { file: pkiA.certs.encryption.keyPath } }).key('enc');
  const opened = await openEnvelopeFile(transmitted, out, { decrypt: { key }, decompress: true, verify: { certificates: [pkiB.certs.signing.der] }, hashSuite: 4 });
  const inode = (await stat(out)).ino;
  const output = { path: out, inode, octets: opened.contentBytes, sha256: sha256(await readFile(out)) };
  await writeFile(jobPath, JSON.stringify({ ...job, state: 'opened', output, receiptHash: Buffer.from(opened.envelopedHash!).toString('hex') }));
  await link(out, join(pair.inboxA(), 'CRASH.BIN'));
  await reopenAndSettle(pair);
  await assertDeliveredOnce(pair, bytes);
  // The EERP still reaches B and is verified.
  pair.server.close();
  pair.server = await pair.a.serve((r) => pair.sessionsA.push(r), { host: '127.0.0.1', port: 0 });
  pair.proxy.target = { host: '127.0.0.1', port: (pair.server.address() as { port: number }).port };
  const b = await pair.b.send('a');
  assert.equal(b.ended.normal, true, b.ended.reasonText);
  assert.equal(pair.b.services.history.list({ direction: 'out' })[0]?.state, 'delivered');
});

test('stopped after the failure was recorded (failed): the NERP is queued once and the file kept in failed/', async (t) => {
  const { pair, jobPath, job, restoreKey } = await stoppedJob(t);
  await restoreKey();
  await writeFile(jobPath, JSON.stringify({ ...job, state: 'failed', failure: { reason: 33, text: 'EnvelopedData: decryption failed (test)' } }));
  await reopenAndSettle(pair);
  const receipts = await pair.a.services.receipts.list('b');
  assert.equal(receipts.length, 1);
  assert.equal(receipts[0]!.receipt.cmd, 'NERP');
  assert.equal((receipts[0]!.receipt as { reason: number }).reason, 33);
  assert.deepEqual(await visibleFiles(pair.inboxA()), []);
  const failed = (await readdir(join(pair.dirA, 'state', 'failed', 'b'))).sort();
  assert.deepEqual(failed, [`${job.key}.cms`, `${job.key}.json`]);
  assert.equal(pair.a.services.history.list({ direction: 'in' })[0]?.reason, 'NERP 33');
});
