// File services for files dropped into an outbox (RFC 5024 §6): the partner agreement's, the folder's
// `security` over it, a sidecar's `security` over that. The pickup is unchanged (claim, identity fixed,
// atomic move, exactly once); Station.enqueue seals the file as it spools it. Tested: a signed,
// compressed and encrypted file from an outbox arrives and is verified and decrypted by the receiving
// station (which requires both); a sidecar switches a service off for its file or on in a plain
// folder; a stop between the pickup and the sealing, and one inside the sealing (envelope made, not
// spooled), neither lose nor duplicate the file; a partner below level 5 keeps the files in place and
// refuses a sidecar asking for services; an outbox sending for another originator may not ask; a
// file written to while it is sealed (a late write under the 'stable' rule) is not spooled that time.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { StationStore } from '../../src/store/station-store.ts';
import { ownKeysConfig, partnerCertificatesConfig, type StationPki, stationPki } from '../station/secure-helpers.ts';
import { TestPki } from '../tls/pki.ts';
import { everything, eventually, ID_A, ID_B, type ShareNode, shareNodes, visible } from './share-harness.ts';
import { sha256Hex as sha256 } from '../files/helpers.ts';

let pki: TestPki;
let pkiA: StationPki;
let pkiB: StationPki;

before(() => {
  pki = new TestPki('oftp-outbox-security-');
  pkiA = stationPki(pki, 'a', ID_A);
  pkiB = stationPki(pki, 'b', ID_B);
});
after(() => pki.remove());

const fast = { rescanIntervalMs: 200, retryMs: 100 };
const CONTENT = Buffer.from('DESPATCH ADVICE 4711 PALLET 0001\r\n'.repeat(3000));

/** A sends to B from `b/out`; B requires encrypted and signed files from A. */
async function securedPair(t: TestContext, outbox: Record<string, unknown>, aPartner: Record<string, unknown> = {}) {
  return shareNodes(t, [
    {
      name: 'a',
      odetteId: ID_A,
      station: ownKeysConfig(pkiA, ['authentication', 'signing', 'encryption']),
      partners: { b: { ...partnerCertificatesConfig(pkiB), ...aPartner } },
      gateway: { ...fast, outboxes: [{ folder: 'b/out', partner: 'b', pickup: 'rename', ...outbox }] },
    },
    {
      name: 'b',
      odetteId: ID_B,
      station: ownKeysConfig(pkiB, ['authentication', 'signing', 'encryption']),
      partners: { a: { ...partnerCertificatesConfig(pkiA), fileServices: { receive: { encryption: 'required', signature: 'required' } } } },
      gateway: {},
    },
  ]);
}

/** B's delivered files (the share inbox for a), waiting for `n`, with their contents' SHA-256. */
async function receivedAtB(b: ShareNode, n: number): Promise<Map<string, string>> {
  const inbox = join(b.shareRoot, 'a', 'in');
  await eventually(`${n} files opened and delivered at B`, async () => (await visible(inbox)).length >= n);
  const out = new Map<string, string>();
  for (const name of await visible(inbox)) out.set(name.split('_')[0]!, sha256(await readFile(join(inbox, name))));
  return out;
}

test('a file from an outbox asking for signing, compression and encryption arrives sealed; B verifies and decrypts it; a sidecar turns a service off or on for its file', async (t) => {
  const { a, b } = await securedPair(t, { security: { sign: true, encrypt: true, compress: true, cipherSuite: 4 } });
  await a!.startGateway();
  const outbox = join(a!.shareRoot, 'b', 'out');
  const other = Buffer.from('INVOICE 99\r\n'.repeat(500));
  await writeFile(join(outbox, 'asn.txt'), CONTENT);
  await writeFile(join(outbox, 'invoice.txt.oftp.json'), JSON.stringify({ security: { compress: false } }));
  await writeFile(join(outbox, 'invoice.txt'), other);
  const spooled = await eventually('both spooled', async () => {
    const list = await a!.station.services.spool.list('b');
    return list.length === 2 && list;
  });
  const meta = new Map(spooled.map((e) => [e.meta.datasetName, e.meta]));
  assert.deepEqual(
    [meta.get('ASN.TXT'), meta.get('INVOICE.TXT')].map((m) => [m?.securityLevel, m?.compression, m?.envelope, m?.cipherSuite, m?.originalFileSize]),
    [
      [3, 1, 1, 4, Math.ceil(CONTENT.length / 1024)],
      [3, 0, 1, 4, Math.ceil(other.length / 1024)],
    ],
    'signed + encrypted (SFIDSEC 03), compressed unless the sidecar said no, enveloped, suite 4, SFIDOSIZ in 1K blocks',
  );
  await eventually('outbox empty', async () => (await visible(outbox)).length === 0);
  assert.equal((await a!.dial(b!)).ended.normal, true);
  const got = await receivedAtB(b!, 2);
  assert.deepEqual(Object.fromEntries(got), { 'ASN.TXT': sha256(CONTENT), 'INVOICE.TXT': sha256(other) }, 'B opened both: the original bytes');
  const inB = b!.station.services.history.list({ direction: 'in' });
  assert.equal(inB.length, 2);
  assert.ok(inB.every((r) => r.state === 'received' || r.state === 'acknowledged'));
  // The EERPs come back in the next session (B opens secured files after their EFPA).
  await eventually('both delivered at A', async () => {
    await a!.dial(b!);
    return a!.station.services.history.list({ direction: 'out' }).every((r) => r.state === 'delivered');
  });
  assert.deepEqual(await everything(join(a!.dir, 'state', 'sealing')), [], 'no envelope left behind');
});

test('a plain folder: a sidecar asking for compression and signing gets its file sealed', async (t) => {
  const { a } = await securedPair(t, {});
  await a!.startGateway();
  const outbox = join(a!.shareRoot, 'b', 'out');
  await writeFile(join(outbox, 'plain.txt'), 'plain\r\n');
  await writeFile(join(outbox, 'packed.txt.oftp.json'), JSON.stringify({ security: { compress: true, sign: true } }));
  await writeFile(join(outbox, 'packed.txt'), CONTENT);
  const spooled = await eventually('both spooled', async () => {
    const list = await a!.station.services.spool.list('b');
    return list.length === 2 && list;
  });
  const meta = new Map(spooled.map((e) => [e.meta.datasetName, e.meta]));
  assert.deepEqual([meta.get('PLAIN.TXT')?.securityLevel, meta.get('PLAIN.TXT')?.compression], [0, 0]);
  assert.deepEqual([meta.get('PACKED.TXT')?.securityLevel, meta.get('PACKED.TXT')?.compression], [2, 1]);
});

for (const point of ['claimed', 'extras', 'inside-sealing'] as const) {
  test(`a stop ${point === 'inside-sealing' ? 'inside the sealing (envelope made, not spooled)' : `after the pickup step '${point}', before the sealing`}: sealed and spooled once after the restart, received once`, async (t) => {
    const { a, b } = await securedPair(t, { security: { sign: true, encrypt: true, compress: true } });
    let stopped = false;
    const never = () => {
      stopped = true;
      return new Promise<never>(() => {});
    };
    if (point === 'inside-sealing') {
      // Station.enqueue has made the envelope in state/sealing and hands it to the spool: stop there.
      const spool = a!.station.services.spool;
      const enqueue = spool.enqueue.bind(spool);
      spool.enqueue = (...args) => (stopped ? enqueue(...args) : never());
    }
    await a!.startGateway({ hooks: { afterStep: (s) => (s === point && !stopped ? never() : undefined) } });
    const outbox = join(a!.shareRoot, 'b', 'out');
    await writeFile(join(outbox, 'crash.txt'), CONTENT);
    await eventually(`stopped at ${point}`, () => stopped);
    if (point === 'inside-sealing') {
      assert.equal((await everything(join(a!.dir, 'state', 'sealing'))).length, 1, 'the envelope was made');
    }
    assert.deepEqual(await visible(outbox), [], 'claimed: out of the outbox');
    await a!.crash();

    await a!.open();
    assert.deepEqual(await everything(join(a!.dir, 'state', 'sealing')), [], 'a half-made envelope is cleared at open');
    await a!.startGateway();
    const spooled = await eventually('spooled once', async () => {
      const list = await a!.station.services.spool.list('b');
      return list.length === 1 && list;
    });
    assert.equal(spooled[0]!.meta.securityLevel, 3);
    assert.equal(spooled[0]!.meta.compression, 1);
    await eventually('claims cleaned up', async () => (await everything(join(outbox, '.oftp-pickup'))).length === 0);
    assert.equal(a!.station.services.history.list({ direction: 'out' }).length, 1, 'queued once');
    assert.equal((await a!.dial(b!)).ended.normal, true);
    const got = await receivedAtB(b!, 1);
    assert.deepEqual(Object.fromEntries(got), { 'CRASH.TXT': sha256(CONTENT) });
    await a!.dial(b!);
    assert.equal((await visible(join(b!.shareRoot, 'a', 'in'))).length, 1, 'exactly once');
    assert.deepEqual(await a!.station.services.spool.list('b'), []);
  });
}

test('a partner below level 5: a folder asking for file services keeps its files (logged once); a sidecar asking for them is refused', async (t) => {
  const { a } = await shareNodes(t, [
    {
      name: 'a',
      odetteId: ID_A,
      partners: { b: { level: 4 } },
      gateway: {
        ...fast,
        outboxes: [
          { folder: 'b/sealed', partner: 'b', pickup: 'rename', security: { compress: true } },
          { folder: 'b/plain', partner: 'b', pickup: 'rename' },
        ],
      },
    },
    { name: 'b', odetteId: ID_B, partners: { a: { level: 4 } }, gateway: {} },
  ]);
  await a!.startGateway();
  const sealed = join(a!.shareRoot, 'b', 'sealed');
  const plain = join(a!.shareRoot, 'b', 'plain');
  await writeFile(join(sealed, 'waits.txt'), 'x');
  await writeFile(join(plain, 'asks.txt.oftp.json'), JSON.stringify({ security: { encrypt: true } }));
  await writeFile(join(plain, 'asks.txt'), 'y');
  await eventually('the sidecar refused', async () => (await everything(join(plain, '.oftp-rejected'))).includes('asks.txt.reason.txt'));
  assert.match(await readFile(join(plain, '.oftp-rejected', 'asks.txt.reason.txt'), 'utf8'), /sidecar asks for file services; b speaks protocol level 4/);
  await a!.gateway!.rescan();
  await a!.gateway!.rescan();
  assert.deepEqual(await visible(sealed), ['waits.txt'], 'the folder’s file stays');
  assert.equal(a!.log.find('Outbox: the folder asks for signing, compression or encryption, which the partner cannot take at its protocol level; files stay in place').length, 1, 'logged once');
  assert.deepEqual(await a!.station.services.spool.list('b'), []);
});

test('an outbox sending as another originator may not ask for file services (refused at load)', async (t) => {
  const { a } = await shareNodes(t, [{ name: 'a', odetteId: ID_A, partners: { b: { odetteId: ID_B } }, gateway: {} }]);
  await a!.close();
  const store = await StationStore.open(a!.dir);
  await assert.rejects(
    store.update((c) => {
      c.gateway!.outboxes = [{ folder: 'relay', partner: 'b', originator: 'O0013000000OTHER', security: { sign: true } } as never];
    }),
    /outboxes\[0\]: files sent as originator O0013000000OTHER are not ours to sign, compress or encrypt/,
  );
});

test('sidecar security: each service over the folder’s; an unknown suite or key is malformed', async () => {
  const { fileSettings, parseSidecar, SidecarError } = await import('../../src/gateway/sidecar.ts');
  const folder = { format: 'U' as const, signedReceipt: false, security: { sign: true, encrypt: true } };
  assert.deepEqual(fileSettings(folder, parseSidecar(Buffer.from('{"security": {"encrypt": false, "cipherSuite": 6}}'))).security, { sign: true, encrypt: false, cipherSuite: 6 });
  assert.deepEqual(fileSettings(folder, undefined).security, { sign: true, encrypt: true });
  assert.equal('security' in fileSettings({ format: 'U', signedReceipt: false }, parseSidecar(Buffer.from('{"userData": "X"}'))), false, 'nothing asked: the agreement decides');
  assert.throws(() => parseSidecar(Buffer.from('{"security": {"cipherSuite": 9}}')), SidecarError);
  assert.throws(() => parseSidecar(Buffer.from('{"security": {"sealed": true}}')), SidecarError);
});

test("a file still written to while it is sealed ('stable' rule, a writer's late write through its open handle) is not spooled then; it is taken again, whole", async (t) => {
  const { randomBytes } = await import('node:crypto');
  const { mkdir, open, readdir } = await import('node:fs/promises');
  const { a, b } = await securedPair(t, { pickup: 'stable', stableMs: 100, security: { sign: true, encrypt: true, compress: true } });
  const outbox = join(a!.shareRoot, 'b', 'out');
  const first = randomBytes(16 * 1024 * 1024);
  const late = Buffer.from('LATE RECORD\r\n');
  await mkdir(outbox, { recursive: true });
  const writer = await open(join(outbox, 'big.bin'), 'w');
  t.after(() => writer.close().catch(() => {}));
  await writer.write(first);
  await a!.startGateway();
  // The writer, quiet past stableMs, writes once more while the claimed file is being sealed.
  const sealing = join(a!.dir, 'state', 'sealing');
  await eventually('the sealing under way', async () => (await readdir(sealing).catch(() => [])).length > 0, 20_000);
  await writer.write(late);
  await writer.close();
  const spooled = await eventually(
    'spooled once',
    async () => {
      const list = await a!.station.services.spool.list('b');
      return list.length === 1 && list;
    },
    30_000,
  );
  assert.ok(
    a!.log.entries.some((e) => e.msg === 'Outbox: file not queued this time; it stays and is tried again' && /source changed while sealed|ECHANGED/.test(String(e.obj.err))),
    'the first sealing was given up',
  );
  const whole = Buffer.concat([first, late]);
  assert.equal(spooled[0]!.meta.originalFileSize, Math.ceil(whole.length / 1024));
  await eventually('queued in history', () => a!.station.services.history.list({ direction: 'out' }).length === 1);
  await eventually('outbox and claims empty', async () => (await visible(outbox)).length === 0 && (await everything(join(outbox, '.oftp-pickup'))).length === 0);
  assert.equal((await a!.station.services.spool.list('b')).length, 1, 'spooled once');
  assert.equal((await a!.dial(b!)).ended.normal, true);
  const got = await receivedAtB(b!, 1);
  assert.deepEqual(Object.fromEntries(got), { 'BIG.BIN': sha256(whole) });
});
