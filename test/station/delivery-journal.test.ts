// The delivery journal (append-only log): what a crash leaves is settled correctly, a torn last line
// is harmless, the log goes when nothing is open, entries of the earlier one-file-each layout are
// still honoured, and an entry whose begin() returned survives a SIGKILL right after it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, link, mkdir, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { DeliveryJournal, type JournalEntry } from '../../src/station/delivery-journal.ts';
import { IDENTITY, tempDir } from '../files/helpers.ts';

async function layout(dir: string) {
  const journalDir = join(dir, 'state', 'deliveries');
  const partialDir = join(dir, 'inbox', '.oftp-partial');
  const inboxDir = join(dir, 'inbox');
  await mkdir(partialDir, { recursive: true });
  return { journalDir, partialDir, inboxDir };
}

async function partial(partialDir: string, name: string): Promise<string> {
  const path = join(partialDir, `${name}.part`);
  await writeFile(path, `content of ${name}`);
  return path;
}

function entryFor(key: string, partPath: string, inboxDir: string): Omit<JournalEntry, 'inode'> {
  return { key, partner: 'acme', identity: { ...IDENTITY, datasetName: key }, userData: '', partPath, inboxDir, octets: 10 };
}

test('a crash after begin: an uncommitted partial stays for the restart, a committed one is a delivery to complete', async (t) => {
  const { journalDir, partialDir, inboxDir } = await layout(await tempDir(t));
  const journal = new DeliveryJournal(journalDir);
  t.after(() => journal.close());
  const kept = await partial(partialDir, 'KEPT');
  const moved = await partial(partialDir, 'MOVED');
  const linked = await partial(partialDir, 'LINKED');
  await journal.begin(entryFor('KEPT', kept, inboxDir));
  await journal.begin(entryFor('MOVED', moved, inboxDir));
  await journal.begin(entryFor('LINKED', linked, inboxDir));
  // MOVED: committed (link + unlink); LINKED: the crash came between link and unlink.
  await link(moved, join(inboxDir, 'MOVED'));
  await unlink(moved);
  await link(linked, join(inboxDir, 'LINKED'));

  // "Crash": a new instance reads what is on disk.
  const after = new DeliveryJournal(journalDir);
  t.after(() => after.close());
  const settled = await after.settleLeftovers();
  const byKey = new Map(settled.map((s) => [s.entry.key, s]));
  assert.equal(byKey.get('KEPT')?.delivered, false);
  assert.equal(byKey.get('MOVED')?.delivered, true);
  assert.equal(byKey.get('LINKED')?.delivered, true);
  const path = (key: string) => {
    const s = byKey.get(key);
    return s?.delivered ? s.path : undefined;
  };
  assert.equal(path('MOVED'), join(inboxDir, 'MOVED'));
  assert.equal(path('LINKED'), join(inboxDir, 'LINKED'));
  await assert.rejects(stat(linked), { code: 'ENOENT' }, 'the partial of a linked file is unlinked');
  assert.equal((await stat(kept)).isFile(), true, 'an uncommitted partial stays');

  // The delivered ones are still open until the caller has recorded them and finishes them.
  const again = await new DeliveryJournal(journalDir).settleLeftovers();
  assert.deepEqual(again.map((s) => s.entry.key).sort(), ['LINKED', 'MOVED']);
  await after.finish('MOVED');
  await after.finish('LINKED');
  assert.deepEqual(await new DeliveryJournal(journalDir).settleLeftovers(), []);
  assert.deepEqual(await readdir(journalDir), [], 'no log is left once nothing is open');
});

test('finished entries are not settled again; the log goes when no entry is open and comes back with the next', async (t) => {
  const { journalDir, partialDir, inboxDir } = await layout(await tempDir(t));
  const journal = new DeliveryJournal(journalDir);
  t.after(() => journal.close());
  const a = await partial(partialDir, 'A');
  const b = await partial(partialDir, 'B');
  await Promise.all([journal.begin(entryFor('A', a, inboxDir)), journal.begin(entryFor('B', b, inboxDir))]);
  assert.deepEqual(await readdir(journalDir), ['journal.jsonl']);
  await journal.finishMany(['A']);
  const settled = await new DeliveryJournal(journalDir).settleLeftovers();
  assert.deepEqual(
    settled.map((s) => s.entry.key),
    ['B'],
  );
  // That settle found B uncommitted and finished it itself: nothing open, no log.
  assert.deepEqual(await readdir(journalDir), []);
  await journal.finishMany(['B']);
  const c = await partial(partialDir, 'C');
  await journal.begin(entryFor('C', c, inboxDir));
  assert.deepEqual(
    (await new DeliveryJournal(journalDir).settleLeftovers()).map((s) => s.entry.key),
    ['C'],
  );
});

test('a torn last line (an append a crash interrupted) is skipped and never continued', async (t) => {
  const { journalDir, partialDir, inboxDir } = await layout(await tempDir(t));
  const journal = new DeliveryJournal(journalDir);
  t.after(() => journal.close());
  const a = await partial(partialDir, 'A');
  await journal.begin(entryFor('A', a, inboxDir));
  await appendFile(join(journalDir, 'journal.jsonl'), '{"begin":{"key":"TORN","partner":"ac');
  const after = new DeliveryJournal(journalDir);
  t.after(() => after.close());
  const settled = await after.settleLeftovers();
  assert.deepEqual(
    settled.map((s) => [s.entry.key, s.delivered]),
    [['A', false]],
  );
  // A's settle appended its finish on a line of its own; a new begin after it is read back whole.
  const b = await partial(partialDir, 'B');
  await after.begin(entryFor('B', b, inboxDir));
  await appendFile(join(journalDir, 'journal.jsonl'), '{"fin');
  assert.deepEqual(
    (await new DeliveryJournal(journalDir).settleLeftovers()).map((s) => s.entry.key),
    ['B'],
  );
});

test('entries of the earlier layout (one <key>.json each) are settled and removed when finished', async (t) => {
  const { journalDir, partialDir, inboxDir } = await layout(await tempDir(t));
  await mkdir(journalDir, { recursive: true });
  const old = await partial(partialDir, 'OLD');
  const entry: JournalEntry = { ...entryFor('OLD', old, inboxDir), inode: (await stat(old)).ino };
  await link(old, join(inboxDir, 'OLD'));
  await unlink(old);
  await writeFile(join(journalDir, 'OLD.json'), JSON.stringify(entry));
  await writeFile(join(journalDir, '.OLD.json.1234.tmp'), '{"key":');
  const journal = new DeliveryJournal(journalDir);
  t.after(() => journal.close());
  const settled = await journal.settleLeftovers();
  assert.deepEqual(
    settled.map((s) => [s.entry.key, s.delivered]),
    [['OLD', true]],
  );
  await journal.finish('OLD');
  assert.deepEqual(await readdir(journalDir), []);
});

test('an entry whose begin() returned survives a SIGKILL right after it', { timeout: 60_000 }, async (t) => {
  const { journalDir, partialDir, inboxDir } = await layout(await tempDir(t));
  const module = resolve(import.meta.dirname, '../../src/station/delivery-journal.ts');
  // The child begins entries one after another (a few at once, as concurrent sessions would), prints
  // each key once begin() resolved, finishes every other one, and is SIGKILLed mid-stream.
  const script = `
    import { writeFile } from 'node:fs/promises';
    import { join } from 'node:path';
    const { DeliveryJournal } = await import(${JSON.stringify(module)});
    const journal = new DeliveryJournal(${JSON.stringify(journalDir)});
    for (let i = 0; ; i += 3) {
      await Promise.all([i, i + 1, i + 2].map(async (n) => {
        const key = 'K' + n;
        const partPath = join(${JSON.stringify(partialDir)}, key + '.part');
        await writeFile(partPath, key);
        await journal.begin({ key, partner: 'acme', identity: { datasetName: key, date: '20240229', time: '1230450001', originator: 'A', destination: 'B' }, userData: '', partPath, inboxDir: ${JSON.stringify(inboxDir)}, octets: 2 });
        process.stdout.write('begun ' + key + '\\n');
        if (n % 2 === 1) {
          await journal.finish(key);
          process.stdout.write('finished ' + key + '\\n');
        }
      }));
    }
  `;
  for (const killAfterMs of [150, 400]) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    const exited = new Promise((r) => child.once('exit', r));
    await new Promise((r) => setTimeout(r, killAfterMs));
    // At least a few entries first (a slow start-up must not make the test vacuous).
    while (!/begun K5\n/.test(out)) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await exited;
    const begun = [...out.matchAll(/^begun (K\d+)$/gm)].map((m) => m[1]!);
    const finished = new Set([...out.matchAll(/^finished (K\d+)$/gm)].map((m) => m[1]!));
    const settled = await new DeliveryJournal(journalDir).settleLeftovers();
    const open = new Set(settled.map((s) => s.entry.key));
    // Even keys are never finished: each one whose begin() returned must be there. (An odd one may
    // have been killed with its finish written but not yet reported.)
    for (const key of begun.filter((k) => Number(k.slice(1)) % 2 === 0)) {
      assert.ok(open.has(key), `${key}: begin() returned before the kill, so its entry is there`);
    }
    for (const key of finished) assert.ok(!open.has(key), `${key}: finished before the kill`);
    // Every entry settled here was uncommitted (its partial is intact), so settling finished it.
    assert.ok(settled.every((s) => !s.delivered));
    assert.deepEqual(await readdir(journalDir), []);
    for (const name of await readdir(partialDir)) await unlink(join(partialDir, name));
    assert.ok(begun.length >= 6, `the child got going (${begun.length} entries)`);
    t.diagnostic(`killed after ${begun.length} begun, ${finished.size} finished`);
  }
});
