// Routing and clearing-centre forwarding with three stations in one process: A → B (clearing centre) →
// C. A's outbox routes by destination code; B accepts the file for C along a forwarding route (not
// SFNA 02), queues it for C with the identity unchanged, C's EERP comes back to B and is passed back
// to A. A final refusal by C becomes a NERP from B to A; a destination B has no forwarding route for
// is refused with SFNA 02. A forward interrupted by a failure is finished when B opens again, and A's
// resend of the same file is not forwarded twice.
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { OftpError } from '../../src/errors.ts';
import { Router } from '../../src/gateway/routing.ts';
import { everything, eventually, ID_A, ID_B, ID_C, shareNodes, visible } from './share-harness.ts';

const ID_D = 'O0013000000STATIOND';

test('the router: a partner by its own ID, else a route; forwarding only along forward routes, never back', () => {
  const partners = [
    { name: 'b', odetteId: ID_B },
    { name: 'c', odetteId: ID_C },
  ] as never;
  const router = new Router({
    stationId: ID_A,
    partners: () => partners,
    routes: () => [
      { destination: ID_D, partner: 'b', forward: true },
      { destination: 'O0013000000STATIONE', partner: 'gone', forward: false },
    ],
  });
  assert.equal((router.partnerFor(ID_C) as { partner: { name: string } }).partner.name, 'c');
  assert.equal((router.partnerFor(ID_D) as { partner: { name: string } }).partner.name, 'b');
  assert.match((router.partnerFor('O0013000000STATIONE') as { reason: string }).reason, /names partner "gone"/);
  assert.match((router.partnerFor('O0013000000NOWHERE') as { reason: string }).reason, /no partner and no route/);
  assert.equal(router.forwardTo(ID_D, 'c')?.name, 'b');
  assert.equal(router.forwardTo(ID_D, 'b'), undefined, 'never back to where it came from');
  assert.equal(router.forwardTo(ID_C, 'b'), undefined, 'a partner without a forward route is not relayed to');
  assert.equal(router.forwardTo(ID_A, 'b'), undefined, 'our own ID is never forwarded');
  assert.deepEqual([...router.knownOriginators()].sort(), [ID_B, ID_C, 'O0013000000STATIONE', ID_D].sort());
});

async function threeStations(t: import('node:test').TestContext, cPartnerB: Record<string, unknown> = {}, cGateway: Record<string, unknown> = { routes: [{ destination: ID_A, partner: 'b' }] }) {
  return shareNodes(t, [
    {
      name: 'a',
      odetteId: ID_A,
      partners: { b: {} },
      gateway: { rescanIntervalMs: 200, routes: [{ destination: ID_C, partner: 'b' }], outboxes: [{ folder: 'to-c', destination: ID_C, pickup: 'rename' }] },
    },
    {
      name: 'b',
      odetteId: ID_B,
      partners: { a: {}, c: {} },
      gateway: {
        routes: [
          { destination: ID_C, partner: 'c', forward: true },
          { destination: ID_A, partner: 'a', forward: true },
        ],
      },
    },
    { name: 'c', odetteId: ID_C, partners: { b: cPartnerB }, gateway: cGateway },
  ]);
}

test('A → B → C: forwarded with its identity, C delivers, the EERP goes back to A', async (t) => {
  const { a, b, c } = await threeStations(t);
  await a!.startGateway();
  const content = Buffer.from('DESADV 4711\n'.repeat(2000));
  await writeFile(join(a!.shareRoot, 'to-c', '.desadv.tmp'), content);
  await rename(join(a!.shareRoot, 'to-c', '.desadv.tmp'), join(a!.shareRoot, 'to-c', 'desadv.edi'));
  const [queued] = await eventually('queued at A for b', async () => {
    const list = await a!.station.services.spool.list('b');
    return list.length > 0 && list;
  });
  assert.equal(queued!.meta.destination, ID_C);

  const ab = await a!.dial(b!);
  assert.equal(ab.summary.sent, 1, ab.ended.reasonText);
  assert.equal(ab.summary.receiptsReceived, 0, 'B sends no EERP of its own');
  const [forwarded] = await b!.station.services.spool.list('c');
  assert.ok(forwarded, 'queued at B for c');
  for (const field of ['datasetName', 'date', 'time', 'originator', 'destination', 'description', 'format'] as const) {
    assert.equal(forwarded.meta[field], queued!.meta[field], `${field} kept`);
  }
  assert.equal(forwarded.meta.sha256, queued!.meta.sha256);
  assert.deepEqual(await everything(join(b!.dir, 'state', 'forward', 'a')), ['.oftp-partial'], 'the staged copy is gone');
  assert.deepEqual(await visible(join(b!.shareRoot, 'a', 'in')), [], "nothing in B's own inbox");

  const bc = await b!.dial(c!);
  assert.equal(bc.summary.sent, 1, bc.ended.reasonText);
  assert.equal(bc.summary.receiptsReceived, 1, "C's EERP reached B");
  const inboxC = join(c!.shareRoot, 'b', 'in');
  const [name] = await visible(inboxC);
  assert.equal(name, `DESADV.EDI_${queued!.meta.date}_${queued!.meta.time.slice(0, 6)}_${queued!.meta.time.slice(6)}`);
  assert.deepEqual(await readFile(join(inboxC, name!)), content);
  const atC = c!.station.services.history.list({ direction: 'in' })[0]!;
  assert.equal(atC.originator, ID_A);
  assert.equal(atC.destination, ID_C);
  assert.equal(atC.state, 'acknowledged');
  assert.equal(b!.station.services.history.list({ direction: 'out' })[0]!.state, 'delivered');
  assert.equal((await b!.station.services.receipts.list('a')).length, 1, 'the EERP waits at B for A');
  assert.equal(a!.station.services.history.list({ direction: 'out' })[0]!.state, 'sent');

  const back = await a!.dial(b!);
  assert.equal(back.summary.receiptsReceived, 1);
  const atA = a!.station.services.history.list({ direction: 'out' })[0]!;
  assert.equal(atA.state, 'delivered', "C's EERP reached A");
  assert.equal(b!.station.services.history.list({ direction: 'in' })[0]!.state, 'acknowledged');
  assert.deepEqual(await b!.station.services.receipts.list('a'), []);
  assert.deepEqual(await shareLedger(b!), [], 'nothing left to track at B');
});

test('a final refusal downstream becomes a NERP to the originator; no forward route is SFNA 02', async (t) => {
  // C does not know A as an originator (no route back to A): SFNA 03, no retry.
  const { a, b, c } = await threeStations(t, {}, {});
  await writeFile(join(a!.dir, 'orders.txt'), 'orders\n');
  await a!.station.enqueue('b', { path: join(a!.dir, 'orders.txt'), destination: ID_C });
  await writeFile(join(a!.dir, 'lost.txt'), 'lost\n');
  await a!.station.enqueue('b', { path: join(a!.dir, 'lost.txt'), destination: ID_D });
  await a!.dial(b!);
  const stateAtA = (dsn: string) => a!.station.services.history.list({ direction: 'out' }).find((r) => r.datasetName === dsn);
  assert.equal(stateAtA('LOST.TXT')?.state, 'failed');
  assert.equal(stateAtA('LOST.TXT')?.reason, 'SFNA 2');
  assert.equal(stateAtA('ORDERS.TXT')?.state, 'sent');

  const bc = await b!.dial(c!);
  assert.equal(bc.summary.failed, 1);
  assert.equal(b!.station.services.history.list({ direction: 'out' })[0]!.reason, 'SFNA 3');
  await eventually('NERP queued for A', async () => (await b!.station.services.receipts.list('a')).length === 1);
  const [nerp] = await b!.station.services.receipts.list('a');
  assert.equal(nerp!.receipt.cmd, 'NERP');
  assert.equal((nerp!.receipt as { reason: number }).reason, 13, 'SFNA 03 → NERP 13');
  assert.equal((nerp!.receipt as { creator: string }).creator, ID_B);
  await a!.dial(b!);
  assert.equal(stateAtA('ORDERS.TXT')?.state, 'failed');
  assert.equal(stateAtA('ORDERS.TXT')?.reason, 'NERP 13');
});

test('a forward interrupted by a failure is finished when B opens again; the resend is not forwarded twice', async (t) => {
  const { a, b, c } = await threeStations(t);
  const enqueue = b!.station.enqueue.bind(b!.station);
  let failOnce = true;
  b!.station.enqueue = async (partner, request) => {
    if (failOnce) {
      failOnce = false;
      throw new OftpError('OFTP_ERR_IO', 'write failed (EIO)');
    }
    return enqueue(partner, request);
  };
  await writeFile(join(a!.dir, 'asn.txt'), 'advance shipping notice\n');
  await a!.station.enqueue('b', { path: join(a!.dir, 'asn.txt'), destination: ID_C });
  const first = await a!.dial(b!);
  assert.equal(first.ended.normal, false, 'B aborted the session on its local failure');
  assert.equal(b!.log.find('session aborted by a local failure').length, 1);

  await b!.close();
  await b!.open();
  assert.equal((await b!.station.services.spool.list('c')).length, 1, 'the delivery journal finished the forward at open');
  assert.equal(b!.log.find('recovered a delivery interrupted by a crash').length, 1);
  const again = await a!.dial(b!);
  assert.equal(again.ended.normal, true, again.ended.reasonText);
  assert.equal((await b!.station.services.spool.list('c')).length, 1, 'the resend was not queued again');
  await b!.dial(c!);
  assert.equal((await visible(join(c!.shareRoot, 'b', 'in'))).length, 1);
  await a!.dial(b!);
  assert.equal(a!.station.services.history.list({ direction: 'out' })[0]!.state, 'delivered');
});

async function shareLedger(node: { dir: string }): Promise<string[]> {
  return (await everything(join(node.dir, 'state', 'forwarding'))).filter((n) => n.endsWith('.json'));
}
