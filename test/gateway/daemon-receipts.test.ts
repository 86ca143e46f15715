// A receipt still owed to a partner is a reason to dial it. After a crash cut off the session that
// carried an EERP (sent, its RTR never seen), the receipt waits in state/receipts; the file's sender
// has nothing more to send and would never call again, so the station that owes the receipt must.
// Found by the gateway fault test (test/integration/gateway-faults.test.ts): receipts owed for good.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Daemon } from '../../src/gateway/daemon.ts';
import type { Eerp } from '../../src/protocol/command-types.ts';
import { type SessionResult, Station } from '../../src/station/station.ts';
import { StationStore } from '../../src/store/station-store.ts';
import { owedReceipts } from '../receipts-owed.ts';
import { CapturingLog } from '../station/harness.ts';

const ID_S = 'O0013000000SENDER';
const ID_R = 'O0013000000RECEIVER';

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('the daemon dials a partner it owes a receipt, with nothing queued, and delivers the receipt', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'oftp2-owed-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await rm(root, { recursive: true, force: true });
  });
  const dirS = join(root, 's');
  const dirR = join(root, 'r');
  // S, the file's sender, listens and never dials (no host for r).
  const storeS = await StationStore.init(dirS, { odetteId: ID_S, diskReserveBytes: 0 });
  await storeS.addPartner({ name: 'r', odetteId: ID_R, passwordToSend: 'PWS', passwordExpected: 'PWR' });
  const s = await Station.open(dirS);
  const sessions: SessionResult[] = [];
  const server: Server = await s.serve((r) => sessions.push(r), { host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await s.close();
    await new Promise((r) => server.close(r));
  });
  const port = (server.address() as { port: number }).port;

  // R owes S the EERP of a file it received; nothing is in its spool.
  const storeR = await StationStore.init(dirR, { odetteId: ID_R, diskReserveBytes: 0, scheduler: { debounceMs: 0, maxDebounceMs: 0 } });
  await storeR.addPartner({ name: 's', odetteId: ID_S, host: '127.0.0.1', port, passwordToSend: 'PWR', passwordExpected: 'PWS' });
  const r = await Station.open(dirR);
  const eerp: Eerp = {
    cmd: 'EERP',
    datasetName: 'ORDERS',
    date: '20261122',
    time: '0412000001',
    userData: '',
    destination: ID_S,
    originator: ID_R,
    fileHash: new Uint8Array(0),
    signature: new Uint8Array(0),
  };
  await r.services.receipts.add('s', eerp);
  await r.close();
  const owed = async () => (await owedReceipts(join(dirR, 'state', 'receipts'), 's')).length;
  assert.equal(await owed(), 1);

  const log = new CapturingLog();
  const daemon = await Daemon.start({ dataDir: dirR, host: '127.0.0.1', port: 0, log });
  cleanups.push(() => daemon.stop('test over'));
  await waitFor('the receipt delivered and acknowledged', async () => (await owed()) === 0);
  assert.equal(log.find('dialling')[0]?.obj.partner, 's', 'R dialled S for the receipt alone');
  await waitFor('S ended the session', () => sessions.length === 1);
  assert.equal(sessions[0]!.ended.normal, true);
  assert.equal(sessions[0]!.summary.receiptsReceived, 1, 'S received the EERP');
});
