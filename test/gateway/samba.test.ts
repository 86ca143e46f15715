// The LAN share through a real Samba server (GUIDE: integration tests use the real part). smbd runs in
// the foreground on a free loopback port with a temporary smb.conf and user database, exporting the
// sending station's share as [a] and the receiving station's as [b]. smbclient puts files into a's
// outbox as a PLC would (one with a sidecar, one with spaces and umlauts in its name, a 3 MiB binary);
// the gateway picks them up, station A sends them to station B, and smbclient gets them back from b's
// inbox: byte-identical. B's inbox holds the EERP until the files are consumed, which the consuming
// application does by deleting them over SMB; A then receives the EERPs. Our working folders
// (.oftp-pickup, .oftp-partial) are vetoed: clients never see them. Bounded: smbd is stopped (TERM,
// then KILL) and every temp folder removed in t.after. Skipped where smbd/smbclient are missing or not
// root (the CI installs samba and runs as root: .ci/run).
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { eventually, ID_A, ID_B, shareNodes, visible } from './share-harness.ts';
import { freePort } from '../free-port.ts';

const run = promisify(execFile);
const SMBD = ['/usr/sbin/smbd', '/usr/bin/smbd'].find((p) => existsSync(p));
const SMBCLIENT = ['/usr/bin/smbclient', '/usr/sbin/smbclient'].find((p) => existsSync(p));
const SMBPASSWD = ['/usr/bin/smbpasswd', '/usr/sbin/smbpasswd'].find((p) => existsSync(p));
const skip = !SMBD || !SMBCLIENT || !SMBPASSWD ? 'samba/smbclient not installed' : process.getuid?.() !== 0 ? 'smbd needs root here' : false;
const USER = 'root';
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

interface Samba {
  port: number;
  /** Runs smbclient commands on a share; resolves with stdout. */
  client(share: string, commands: string): Promise<string>;
}

async function startSamba(t: TestContext, shares: Record<string, string>): Promise<Samba> {
  const dir = await mkdtemp(join(tmpdir(), 'oftp-samba-'));
  let smbd: ChildProcess | undefined;
  let output = '';
  t.after(async () => {
    if (smbd?.pid && smbd.exitCode === null && smbd.signalCode === null) {
      // The group we gave it: smbd and the children it forked per connection.
      const group = -smbd.pid;
      const exited = new Promise((resolve) => smbd!.once('exit', resolve));
      // Its helpers first (smbd-notifyd, connection children), so smbd itself reaps them, then smbd.
      const children = await readFile(`/proc/${smbd.pid}/task/${smbd.pid}/children`, 'utf8').catch(() => '');
      for (const pid of children.split(/\s+/).filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {}
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      process.kill(group, 'SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(group, 'SIGKILL');
        } catch {}
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  });
  for (const sub of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'log']) await mkdir(join(dir, sub));
  const port = await freePort();
  const conf = join(dir, 'smb.conf');
  const shareSections = Object.entries(shares)
    .map(
      ([name, path]) => `[${name}]
  path = ${path}
  read only = no
  guest ok = no
  valid users = ${USER}
  veto files = /.oftp-*/
  delete veto files = no
`,
    )
    .join('\n');
  await writeFile(
    conf,
    `[global]
  server role = standalone server
  smb ports = ${port}
  bind interfaces only = yes
  interfaces = lo
  disable netbios = yes
  server min protocol = SMB2
  passdb backend = tdbsam:${join(dir, 'private', 'passdb.tdb')}
  private dir = ${join(dir, 'private')}
  lock directory = ${join(dir, 'lock')}
  state directory = ${join(dir, 'state')}
  cache directory = ${join(dir, 'cache')}
  pid directory = ${join(dir, 'pid')}
  ncalrpc dir = ${join(dir, 'ncalrpc')}
  log file = ${join(dir, 'log', 'log.%m')}
  log level = 1
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  unix charset = UTF-8

${shareSections}`,
  );
  await new Promise<void>((resolve, reject) => {
    const p = spawn(SMBPASSWD!, ['-a', '-s', '-c', conf, USER], { stdio: ['pipe', 'pipe', 'pipe'] });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`smbpasswd exited with ${code}`))));
    p.stdin!.end(`${PASSWORD}\n${PASSWORD}\n`);
  });
  // Its own process group (detached): smbd signals its group at times, which must not reach the test.
  smbd = spawn(SMBD!, ['--foreground', '--no-process-group', `--configfile=${conf}`, '--debug-stdout'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  smbd.stdout!.on('data', (d) => (output += d));
  smbd.stderr!.on('data', (d) => (output += d));
  const client = async (share: string, commands: string) => {
    const { stdout } = await run(SMBCLIENT!, [`//127.0.0.1/${share}`, '-p', String(port), '-U', `${USER}%${PASSWORD}`, '-c', commands], { timeout: 20_000 });
    return stdout;
  };
  const firstShare = Object.keys(shares)[0]!;
  await eventually(
    `smbd answering on port ${port} (${output.slice(-300)})`,
    async () => {
      if (smbd!.exitCode !== null) throw new Error(`smbd exited: ${output}`);
      return client(firstShare, 'ls').then(
        () => true,
        () => false,
      );
    },
    15_000,
  );
  return { port, client };
}

test('files put into an outbox over SMB arrive byte-identical in the partner inbox, read back over SMB', { skip, timeout: 120_000 }, async (t) => {
  const { a, b } = await shareNodes(t, [
    { name: 'a', odetteId: ID_A, partners: { b: {} }, gateway: { rescanIntervalMs: 1000 } },
    { name: 'b', odetteId: ID_B, partners: { a: {} }, gateway: { rescanIntervalMs: 1000, inboxes: [{ partner: 'a', receipt: 'on-consume' }] } },
  ]);
  await a!.startGateway();
  await b!.startGateway();
  const samba = await startSamba(t, { a: a!.shareRoot, b: b!.shareRoot });

  const local = await mkdtemp(join(tmpdir(), 'oftp-samba-files-'));
  t.after(() => rm(local, { recursive: true, force: true }));
  const files: Record<string, Buffer> = {
    'orders.xml': Buffer.from('<order id="1"/>\r\n'.repeat(1000)),
    'Lieferschein März 2026.pdf': randomBytes(200_000),
    'drawing.bin': randomBytes(3 * 1024 * 1024),
  };
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(local, name), bytes);
  await writeFile(join(local, 'orders.xml.oftp.json'), JSON.stringify({ datasetName: 'ORDERS', format: 'T', userData: 'PLANT7' }));

  // As a PLC would: the sidecar first, then each file, one smbclient connection per file.
  const putAt = new Map<string, number>();
  await samba.client('a', `cd b/out; put "${join(local, 'orders.xml.oftp.json')}" "orders.xml.oftp.json"`);
  for (const name of Object.keys(files)) {
    await samba.client('a', `cd b/out; put "${join(local, name)}" "${name}"`);
    putAt.set(name, Date.now());
  }
  const entries = await eventually(
    'all three spooled',
    async () => {
      const list = await a!.station.services.spool.list('b');
      return list.length === 3 && list;
    },
    20_000,
  );
  const delays = entries.map((e) => Date.parse(e.meta.createdAt) - putAt.get(e.meta.sourceName)!).sort((x, y) => x - y);
  t.diagnostic(`drop (smbclient put returned) to spooled: ${delays.join(', ')} ms (stable rule: 500 ms unchanged)`);
  assert.ok(delays[1]! < 1500, `median drop-to-spool ${delays[1]} ms`);
  const bySource = new Map(entries.map((e) => [e.meta.sourceName, e.meta]));
  assert.equal(bySource.get('orders.xml')!.datasetName, 'ORDERS');
  assert.equal(bySource.get('orders.xml')!.format, 'T');
  assert.equal(bySource.get('orders.xml')!.userData, 'PLANT7');
  assert.equal(bySource.get('Lieferschein März 2026.pdf')!.datasetName, 'LIEFERSCHEIN-M-RZ-2026.PDF');
  assert.equal(bySource.get('Lieferschein März 2026.pdf')!.description, 'Lieferschein März 2026.pdf');
  assert.deepEqual(await visible(join(a!.shareRoot, 'b', 'out')), [], 'the outbox is empty');
  const outboxListing = await samba.client('a', 'cd b/out; ls');
  assert.doesNotMatch(outboxListing, /\.oftp-/, 'our working folders are invisible over SMB');

  const session = await a!.dial(b!);
  assert.equal(session.summary.sent, 3, session.ended.reasonText);
  assert.equal(session.summary.receiptsReceived, 0, 'EERPs held until the files are consumed');

  // Read back over SMB from b's inbox and compare.
  const listing = await samba.client('b', 'cd a/in; ls');
  assert.doesNotMatch(listing, /\.oftp-partial/);
  const names = await visible(join(b!.shareRoot, 'a', 'in'));
  assert.equal(names.length, 3);
  const back = join(local, 'back');
  await mkdir(back);
  for (const name of names) await samba.client('b', `cd a/in; get "${name}" "${join(back, name)}"`);
  for (const [source, meta] of bySource) {
    const name = `${meta.datasetName}_${meta.date}_${meta.time.slice(0, 6)}_${meta.time.slice(6)}`;
    assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    assert.deepEqual(await readFile(join(back, name)), files[source], `${source} is byte-identical after SMB → OFTP → SMB`);
  }

  // The consuming application deletes the files over SMB: the EERPs are released and reach A.
  for (const name of names) await samba.client('b', `cd a/in; del "${name}"`);
  await eventually('three EERPs queued at B', async () => (await b!.station.services.receipts.list('a')).length === 3);
  const receipts = await a!.dial(b!);
  assert.equal(receipts.summary.receiptsReceived, 3);
  assert.deepEqual(
    a!.station.services.history.list({ direction: 'out' }).map((r) => r.state),
    ['delivered', 'delivered', 'delivered'],
  );
});
