// Inbox delivery on the share: received files appear complete under '<DSN>_<date>_<HHMMSS>_<cccc>',
// a name already taken (another originator, same name and stamp) gets '~1' and never overwrites;
// 'on-consume' holds the EERP, durably across a restart, until the application deletes or moves the
// file; an inbox folder that cannot take files (a file in its place, a symlink out of the share) keeps
// the file in the station inbox and answers NERP 34, and delivery resumes once the folder is fixed.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { shareReceivingOf } from '../../src/gateway/share-receiving.ts';
import { eventually, ID_A, ID_B, shareNodes, visible } from './share-harness.ts';

const ID_Z = 'O0013000000STATIONZ';

test('inbox names follow the identity; a taken name gets ~1, nothing is overwritten', async (t) => {
  const { a, b } = await shareNodes(t, [
    { name: 'a', odetteId: ID_A, partners: { b: {} } },
    { name: 'b', odetteId: ID_B, partners: { a: {} }, gateway: { routes: [{ destination: ID_Z, partner: 'a' }] } },
  ]);
  const files = [Buffer.from('from A\n'), Buffer.from('from Z, relayed by A\n')];
  await writeFile(join(a!.dir, 'one'), files[0]!);
  await writeFile(join(a!.dir, 'two'), files[1]!);
  const stamp = { datasetName: 'ORDERS', date: '20261122', time: '1015000001' };
  await a!.station.enqueue('b', { path: join(a!.dir, 'one'), ...stamp });
  await a!.station.enqueue('b', { path: join(a!.dir, 'two'), ...stamp, originator: ID_Z });
  const session = await a!.dial(b!);
  assert.deepEqual(session.summary.sent, 2, session.ended.reasonText);
  const inbox = join(b!.shareRoot, 'a', 'in');
  assert.deepEqual(await visible(inbox), ['ORDERS_20261122_101500_0001', 'ORDERS_20261122_101500_0001~1']);
  assert.deepEqual(await readFile(join(inbox, 'ORDERS_20261122_101500_0001')), files[0]);
  assert.deepEqual(await readFile(join(inbox, 'ORDERS_20261122_101500_0001~1')), files[1]);
  assert.equal(a!.station.services.history.list({ state: 'delivered' }).length, 2);
});

test("'on-consume' holds the EERP until the file is deleted or moved, across a restart", async (t) => {
  const { a, b } = await shareNodes(t, [
    { name: 'a', odetteId: ID_A, partners: { b: {} } },
    { name: 'b', odetteId: ID_B, partners: { a: {} }, gateway: { rescanIntervalMs: 60_000, inboxes: [{ partner: 'a', receipt: 'on-consume' }] } },
  ]);
  await writeFile(join(a!.dir, 'first.txt'), 'first\n');
  await writeFile(join(a!.dir, 'second.txt'), 'second\n');
  await a!.station.enqueue('b', { path: join(a!.dir, 'first.txt') });
  await a!.station.enqueue('b', { path: join(a!.dir, 'second.txt') });
  const first = await a!.dial(b!);
  assert.equal(first.summary.sent, 2);
  assert.equal(first.summary.receiptsReceived, 0, 'no EERP while the files are unconsumed');
  const inbox = join(b!.shareRoot, 'a', 'in');
  const [firstName, secondName] = await visible(inbox);
  assert.ok(firstName?.startsWith('FIRST.TXT_') && secondName?.startsWith('SECOND.TXT_'));
  assert.equal((await shareReceivingOf(b!.station)!.held.list()).length, 2);
  assert.deepEqual(await b!.station.services.receipts.list('a'), []);

  // Restart B: the held receipts are on disk. The first file is consumed while B is down.
  await b!.close();
  await unlink(join(inbox, firstName!));
  await b!.open();
  const released: string[] = [];
  await b!.startGateway({ queue: { notifyQueued: (p) => released.push(p) } });
  assert.deepEqual(released, ['a'], 'released at start, and the scheduler told');
  assert.equal((await b!.station.services.receipts.list('a')).length, 1);
  // The second one is moved away by the application: fs.watch notices (no rescan for a minute).
  await mkdir(join(b!.shareRoot, 'processed'));
  await rename(join(inbox, secondName!), join(b!.shareRoot, 'processed', secondName!));
  await eventually('released on the move', () => released.length === 2);
  assert.deepEqual(await shareReceivingOf(b!.station)!.held.list(), []);

  const second = await a!.dial(b!);
  assert.equal(second.summary.receiptsReceived, 2);
  assert.deepEqual(a!.station.services.history.list({ direction: 'out' }).map((r) => r.state), ['delivered', 'delivered']);
  assert.deepEqual(b!.station.services.history.list({ direction: 'in' }).map((r) => r.state), ['acknowledged', 'acknowledged']);
});

test('an inbox folder that cannot take files: kept in the station inbox, NERP 34; fixed, delivered again', async (t) => {
  const outside = await mkdtemp(join(tmpdir(), 'oftp-outside-'));
  t.after(() => rm(outside, { recursive: true, force: true }));
  const { a, b } = await shareNodes(t, [
    { name: 'a', odetteId: ID_A, partners: { b: {} } },
    { name: 'b', odetteId: ID_B, partners: { a: {} }, gateway: { inboxes: [{ partner: 'a', folder: 'plant/in' }] } },
  ]);
  const folder = join(b!.shareRoot, 'plant', 'in');
  await mkdir(join(b!.shareRoot, 'plant'), { recursive: true });
  await writeFile(folder, 'a file where the inbox folder should be');
  const send = async (name: string) => {
    await writeFile(join(a!.dir, name), `${name}\n`);
    await a!.station.enqueue('b', { path: join(a!.dir, name) });
    return a!.dial(b!);
  };
  const stateOf = (dataset: string) => a!.station.services.history.list({ direction: 'out' }).find((r) => r.datasetName === dataset);

  const blocked = await send('blocked.txt');
  assert.equal(blocked.summary.receiptsReceived, 1, 'the NERP came back in the same session');
  assert.equal(stateOf('BLOCKED.TXT')?.state, 'failed');
  assert.equal(stateOf('BLOCKED.TXT')?.reason, 'NERP 34');
  const kept = join(b!.dir, 'inbox', 'a');
  assert.equal((await visible(kept)).length, 1, 'kept for the operator in the station inbox');
  assert.equal(b!.station.services.history.list({ direction: 'in' })[0]!.reason, 'NERP 34');

  await rm(folder);
  await symlink(outside, folder);
  const escaped = await send('escaped.txt');
  assert.equal(escaped.summary.receiptsReceived, 1);
  assert.equal(stateOf('ESCAPED.TXT')?.reason, 'NERP 34');
  assert.deepEqual(await visible(outside), [], 'nothing written outside the share');
  assert.equal(b!.log.find('Inbox folder unusable: files are kept in the station inbox and answered with NERP 34').length, 2, 'logged once per problem');

  await rm(folder);
  await mkdir(folder);
  await send('fine.txt');
  assert.equal(stateOf('FINE.TXT')?.state, 'delivered');
  assert.equal((await visible(folder)).length, 1);
  assert.equal(b!.log.find('Inbox folder usable again').length, 1);
});
