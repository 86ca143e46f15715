// The outbox watcher with real stations: a dropped file is taken whole, spooled under its naming rule,
// sent, and delivered into the partner's share inbox byte-identical, with the EERP back; bad input of
// every kind is a logged refusal that leaves the watcher running (malformed sidecar, over the size
// limit, content not matching its format, a symlink out of the share, an unknown partner, no route, a
// full disk, a file that vanishes); two drops with one dataset name get distinct identities.
import assert from 'node:assert/strict';
import { mkdir, readFile, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { OftpError } from '../../src/errors.ts';
import { type OutboxTarget, stationTarget } from '../../src/gateway/outbox-claim.ts';
import { everything, eventually, ID_A, ID_B, ID_C, shareNodes, visible } from './share-harness.ts';

const fast = { rescanIntervalMs: 200, retryMs: 100 };

test('a dropped file is taken whole, sent, and delivered into the partner inbox as <DSN>_<date>_<time>_<counter>', async (t) => {
  const { a, b } = await shareNodes(t, [
    { name: 'a', odetteId: ID_A, partners: { b: {} }, gateway: { ...fast } },
    { name: 'b', odetteId: ID_B, partners: { a: {} }, gateway: { ...fast } },
  ]);
  const queued: string[] = [];
  await a!.startGateway({ queue: { notifyQueued: (p) => queued.push(p) } });
  const outbox = join(a!.shareRoot, 'b', 'out');
  assert.deepEqual(await visible(outbox), [], 'the default outbox <share>/b/out exists');
  const content = Buffer.from('<orders>\n'.repeat(3000));
  const droppedAt = Date.now();
  await writeFile(join(outbox, 'orders 2026.xml'), content);
  await eventually('the file is queued and the scheduler told', () => queued.length > 0);
  const pickupMs = Date.now() - droppedAt;
  const [entry] = await a!.station.services.spool.list('b');
  assert.ok(pickupMs < 2000, `picked up ${pickupMs} ms after the drop (stable for 500 ms)`);
  assert.equal(entry!.meta.datasetName, 'ORDERS-2026.XML');
  assert.equal(entry!.meta.description, 'orders 2026.xml', 'the original name travels in SFIDDESC');
  assert.equal(entry!.meta.originator, ID_A);
  assert.equal(entry!.meta.destination, ID_B);
  assert.deepEqual(queued, ['b'], 'the scheduler was told');
  assert.deepEqual(await everything(outbox), ['.oftp-pickup'], 'nothing left in the outbox, the claim folder is empty');
  assert.deepEqual(await everything(join(outbox, '.oftp-pickup')), []);
  const outRecord = a!.station.services.history.list({ direction: 'out' })[0]!;
  assert.equal(outRecord.state, 'queued');
  assert.equal(outRecord.path, join(outbox, 'orders 2026.xml'), 'history names where the file was dropped');

  const session = await a!.dial(b!);
  assert.equal(session.ended.normal, true, session.ended.reasonText);
  const inbox = join(b!.shareRoot, 'a', 'in');
  const name = `ORDERS-2026.XML_${entry!.meta.date}_${entry!.meta.time.slice(0, 6)}_${entry!.meta.time.slice(6)}`;
  assert.deepEqual(await visible(inbox), [name]);
  assert.deepEqual(await readFile(join(inbox, name)), content);
  assert.equal(a!.station.services.history.list({ direction: 'out' })[0]!.state, 'delivered', 'the EERP came back in the same session');
});

test('bad input is refused with a reason, or left in place and logged once; the watcher keeps going', async (t) => {
  const { a } = await shareNodes(t, [
    {
      name: 'a',
      odetteId: ID_A,
      partners: { b: { maxFileSizeBytes: 5000 } },
      gateway: {
        ...fast,
        outboxPerPartner: false,
        outboxes: [
          { folder: 'b/out', partner: 'b', stableMs: 50 },
          { folder: 'ghost/out', partner: 'ghost', stableMs: 0 },
          { folder: 'to-c', destination: ID_C, stableMs: 0 },
        ],
      },
    },
    { name: 'b', odetteId: ID_B, partners: { a: {} } },
  ]);
  const outbox = join(a!.shareRoot, 'b', 'out');
  await a!.startGateway();
  await writeFile(join(outbox, 'big.bin'), Buffer.alloc(6000, 1));
  await writeFile(join(outbox, 'bad.csv'), 'x;y\n');
  await writeFile(join(outbox, 'bad.csv.oftp.json'), '{"format": "F"');
  await writeFile(join(outbox, 'records.dat'), Buffer.alloc(100, 0x41));
  await writeFile(join(outbox, 'records.dat.oftp.json'), JSON.stringify({ format: 'F', recordLength: 80 }));
  await symlink('/etc/hostname', join(outbox, 'escape.txt'));
  await writeFile(join(outbox, 'ok.txt'), 'fine\n');
  await writeFile(join(a!.shareRoot, 'ghost', 'out', 'x.txt'), 'for nobody\n');
  await writeFile(join(a!.shareRoot, 'to-c', 'y.txt'), 'no route\n');

  const rejected = join(outbox, '.oftp-rejected');
  await eventually('four refusals and one file queued', async () => (await visible(rejected)).length === 10 && (await a!.station.services.spool.list('b')).length === 1);
  assert.deepEqual(await visible(rejected), [
    'bad.csv',
    'bad.csv.oftp.json',
    'bad.csv.reason.txt',
    'big.bin',
    'big.bin.reason.txt',
    'escape.txt',
    'escape.txt.reason.txt',
    'records.dat',
    'records.dat.oftp.json',
    'records.dat.reason.txt',
  ]);
  const reason = async (name: string) => readFile(join(rejected, `${name}.reason.txt`), 'utf8');
  assert.match(await reason('big.bin'), /6000 octets is more than the 5000 octets the agreement with b allows/);
  assert.match(await reason('bad.csv'), /sidecar bad\.csv\.oftp\.json is malformed: not JSON/);
  assert.match(await reason('escape.txt'), /symbolic link pointing outside the share/);
  assert.match(await reason('records.dat'), /record/i);
  const spooled = await a!.station.services.spool.list('b');
  assert.deepEqual(spooled.map((e) => e.meta.sourceName), ['ok.txt']);
  assert.deepEqual(await visible(outbox), [], 'nothing refused is left in the outbox');

  // Left in place: the unknown partner's and the unroutable files, each problem logged once.
  for (let i = 0; i < 3; i++) await a!.gateway!.rescan();
  assert.deepEqual(await visible(join(a!.shareRoot, 'ghost', 'out')), ['x.txt']);
  assert.deepEqual(await visible(join(a!.shareRoot, 'to-c')), ['y.txt']);
  assert.equal(a!.log.find('Outbox: the folder names a partner that is not configured; its files stay in place').length, 1);
  assert.equal(a!.log.find('Outbox: no partner for the destination; files for it stay in place').length, 1);
  assert.equal(a!.log.find('Outbox: file refused').length, 4);
});

test('a full disk leaves the file in the outbox; it is queued once space is back', async (t) => {
  const { a } = await shareNodes(t, [
    { name: 'a', odetteId: ID_A, partners: { b: {} }, gateway: { ...fast, outboxes: [{ folder: 'b/out', partner: 'b', stableMs: 0 }] } },
    { name: 'b', odetteId: ID_B, partners: { a: {} } },
  ]);
  let full = true;
  const real = stationTarget(a!.station);
  const target: OutboxTarget = {
    ...real,
    enqueue: async (partner, request) => {
      if (full) throw new OftpError('OFTP_ERR_IO', 'write failed (ENOSPC)', { cause: Object.assign(new Error('no space'), { code: 'ENOSPC' }) });
      return real.enqueue(partner, request);
    },
  };
  const outbox = join(a!.shareRoot, 'b', 'out');
  await mkdir(outbox, { recursive: true });
  await writeFile(join(outbox, 'plan.txt'), 'weekly plan\n');
  await writeFile(join(outbox, 'plan.txt.oftp.json'), '{"userData": "PLAN"}');
  await a!.startGateway({ target });
  await eventually('the failure is logged', () => a!.log.find('Outbox: file not queued this time; it stays and is tried again').length > 0);
  assert.deepEqual(await visible(outbox), ['plan.txt', 'plan.txt.oftp.json'], 'back in the outbox with its sidecar');
  assert.deepEqual(await a!.station.services.spool.list('b'), []);
  await a!.gateway!.rescan();
  await a!.gateway!.rescan();
  assert.equal(a!.log.find('Outbox: file not queued this time; it stays and is tried again').length, 1, 'logged once per run of failures');
  full = false;
  const [entry] = await eventually('queued after the retry', async () => {
    const list = await a!.station.services.spool.list('b');
    return list.length > 0 && list;
  });
  assert.equal(entry!.meta.userData, 'PLAN');
  assert.deepEqual(await visible(outbox), []);
  assert.equal((await a!.station.services.spool.list('b')).length, 1);
});

test('a file that vanishes before it is claimed is skipped; two drops with one dataset name get distinct identities', async (t) => {
  const { a } = await shareNodes(t, [
    {
      name: 'a',
      odetteId: ID_A,
      partners: { b: {}, old: { odetteId: 'O0013000000OLDPARTNER', level: 1 } },
      gateway: { ...fast, outboxes: [{ folder: 'b/out', partner: 'b', pickup: 'rename' }, { folder: 'old/out', partner: 'old', pickup: 'rename' }] },
    },
    { name: 'b', odetteId: ID_B, partners: { a: {} } },
  ]);
  const outbox = join(a!.shareRoot, 'b', 'out');
  let vanished = false;
  await a!.startGateway({
    hooks: {
      afterStep: async (step, name) => {
        if (step === 'claim-folder' && name === 'gone.txt' && !vanished) {
          vanished = true;
          await unlink(join(outbox, name));
        }
      },
    },
  });
  await writeFile(join(outbox, 'gone.txt'), 'here and gone\n');
  await eventually('the vanished file is noted', () => a!.log.find('Outbox: file vanished before it was taken').length === 1);
  assert.deepEqual(await everything(join(outbox, '.oftp-pickup')), [], 'its claim folder is gone');

  // Two names, one dataset name, dropped together: the allocator's counter keeps them apart.
  await writeFile(join(outbox, '.orders.xml.tmp'), 'first\n');
  await writeFile(join(outbox, '.ORDERS.XML.tmp'), 'second\n');
  await Promise.all([rename(join(outbox, '.orders.xml.tmp'), join(outbox, 'orders.xml')), rename(join(outbox, '.ORDERS.XML.tmp'), join(outbox, 'ORDERS.XML'))]);
  const entries = await eventually('both queued', async () => {
    const list = await a!.station.services.spool.list('b');
    return list.length === 2 && list;
  });
  assert.deepEqual(entries.map((e) => e.meta.datasetName), ['ORDERS.XML', 'ORDERS.XML']);
  assert.notEqual(`${entries[0]!.meta.date}${entries[0]!.meta.time}`, `${entries[1]!.meta.date}${entries[1]!.meta.time}`);
  // A level 1 partner's SFIDTIME has no counter: the stamps differ in the second itself.
  const old = join(a!.shareRoot, 'old', 'out');
  await writeFile(join(old, 'X.TXT'), '1');
  await writeFile(join(old, 'x.txt'), '2');
  const olds = await eventually('both queued for the level 1 partner', async () => {
    const list = await a!.station.services.spool.list('old');
    return list.length === 2 && list;
  });
  assert.deepEqual(olds.map((e) => e.meta.time.slice(6)), ['0000', '0000']);
  assert.notEqual(olds[0]!.meta.time.slice(0, 6), olds[1]!.meta.time.slice(0, 6));
});

test('marker rule: a file waits for FILE.ready, which goes with it; routing by destination picks the partner', async (t) => {
  const { a } = await shareNodes(t, [
    {
      name: 'a',
      odetteId: ID_A,
      partners: { b: {} },
      gateway: {
        ...fast,
        outboxes: [
          { folder: 'b/out', partner: 'b', pickup: 'marker' },
          { folder: 'to-c', destination: ID_C, pickup: 'rename', userData: 'VIA-B' },
        ],
        routes: [{ destination: ID_C, partner: 'b' }],
      },
    },
    { name: 'b', odetteId: ID_B, partners: { a: {} } },
  ]);
  const outbox = join(a!.shareRoot, 'b', 'out');
  await a!.startGateway();
  await writeFile(join(outbox, 'm.dat'), 'marked\n');
  await new Promise((r) => setTimeout(r, 400));
  await a!.gateway!.rescan();
  assert.deepEqual(await a!.station.services.spool.list('b'), [], 'no marker, not taken');
  await writeFile(join(outbox, 'm.dat.ready'), '');
  await eventually('taken once marked', async () => (await a!.station.services.spool.list('b')).length === 1);
  assert.deepEqual(await visible(outbox), [], 'the marker went with it');

  await writeFile(join(a!.shareRoot, 'to-c', 'for-c.txt'), 'to C through B\n');
  const entry = await eventually('routed to b', async () => (await a!.station.services.spool.list('b')).find((e) => e.meta.destination === ID_C));
  assert.equal(entry.meta.originator, ID_A);
  assert.equal(entry.meta.userData, 'VIA-B');
});

test('a burst is taken several files at a time (at most 8 in flight), each queued exactly once', async (t) => {
  const { a } = await shareNodes(t, [
    { name: 'a', odetteId: ID_A, partners: { b: {} }, gateway: { ...fast, outboxes: [{ folder: 'b/out', partner: 'b', stableMs: 0 }] } },
    { name: 'b', odetteId: ID_B, partners: { a: {} } },
  ]);
  const real = stationTarget(a!.station);
  let inFlight = 0;
  let most = 0;
  const target: OutboxTarget = {
    ...real,
    enqueue: async (partner, request) => {
      most = Math.max(most, ++inFlight);
      try {
        await new Promise((r) => setTimeout(r, 20));
        return await real.enqueue(partner, request);
      } finally {
        inFlight--;
      }
    },
  };
  const outbox = join(a!.shareRoot, 'b', 'out');
  await mkdir(outbox, { recursive: true });
  const names = Array.from({ length: 30 }, (_, i) => `part-${String(i).padStart(2, '0')}.txt`);
  for (const name of names) await writeFile(join(outbox, name), `${name}\n`);
  await a!.startGateway({ target });
  const entries = await eventually('all 30 queued', async () => {
    const list = await a!.station.services.spool.list('b');
    return list.length >= names.length && list;
  });
  await a!.gateway!.rescan();
  assert.equal((await a!.station.services.spool.list('b')).length, names.length, 'no file queued twice');
  assert.deepEqual(entries.map((e) => e.meta.description).sort(), names);
  assert.ok(most > 1, `pickups overlapped (at most ${most} at once)`);
  assert.ok(most <= 8, `at most 8 pickups at once (saw ${most})`);
  assert.deepEqual(await visible(outbox), []);
});
