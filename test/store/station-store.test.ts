import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { STATION_DEFAULTS, effectivePartnerSettings } from '../../src/store/station-config.ts';
import { StationStore } from '../../src/store/station-store.ts';

async function tempDir(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'oftp2-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const partner = {
  name: 'acme',
  odetteId: 'O0013000000ACME',
  host: '127.0.0.1',
  passwordToSend: 'SECRET1',
  passwordExpected: 'SECRET2',
};

test('init writes a station with the documented defaults, and open reads it back', async (t) => {
  const dir = await tempDir(t);
  await StationStore.init(dir, { odetteId: 'O0013000000PLANT' });
  const store = await StationStore.open(dir);
  assert.equal(store.config.station.odetteId, 'O0013000000PLANT');
  assert.equal(store.config.station.listen.port, STATION_DEFAULTS.port);
  assert.equal(store.config.station.exchangeBufferSize, STATION_DEFAULTS.exchangeBufferSize);
  assert.equal(store.config.station.credit, 999, 'a window large enough not to stall a fast link');
  assert.deepEqual(store.config.partners, []);
});

test('init refuses to overwrite an existing station', async (t) => {
  const dir = await tempDir(t);
  await StationStore.init(dir, { odetteId: 'O0013000000PLANT' });
  await assert.rejects(StationStore.init(dir, { odetteId: 'O0013000000OTHER' }), ConfigError);
});

test('open without init says how to initialise', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(StationStore.open(dir), /run: oftp2 init/);
});

test('partners are added with defaults, persisted, found by name and Odette ID, and removed', async (t) => {
  const dir = await tempDir(t);
  const store = await StationStore.init(dir, { odetteId: 'O0013000000PLANT' });
  const added = await store.addPartner({ ...partner, credit: 5 });
  assert.equal(added.level, 5);
  assert.equal(added.port, 3305);
  const reopened = await StationStore.open(dir);
  assert.equal(reopened.partnerByOdetteId('O0013000000ACME')?.name, 'acme');
  const eff = effectivePartnerSettings(reopened.config.station, reopened.partner('acme')!);
  assert.equal(eff.credit, 5);
  assert.equal(eff.exchangeBufferSize, STATION_DEFAULTS.exchangeBufferSize);
  await reopened.removePartner('acme');
  assert.equal((await StationStore.open(dir)).partner('acme'), undefined);
  await assert.rejects(reopened.removePartner('acme'), /no partner named/);
});

test('bad config is refused with every problem named', async (t) => {
  const dir = await tempDir(t);
  const store = await StationStore.init(dir, { odetteId: 'O0013000000PLANT' });
  await assert.rejects(
    store.addPartner({ ...partner, odetteId: 'lower case', passwordToSend: 'WAY-TOO-LONG' }),
    (e: unknown) =>
      e instanceof ConfigError && /odetteId/.test(e.message) && /passwordToSend/.test(e.message),
  );
  await store.addPartner(partner);
  await assert.rejects(store.addPartner({ ...partner, odetteId: 'O0013000000XYZ' }), /appears twice/);
  await assert.rejects(store.addPartner({ ...partner, name: 'b', odetteId: 'O0013000000PLANT' }), /own Odette ID/);
  // Nothing invalid was written.
  assert.equal((await StationStore.open(dir)).config.partners.length, 1);
});

test('a hand-edited config with an error is reported at load, naming the file', async (t) => {
  const dir = await tempDir(t);
  await StationStore.init(dir, { odetteId: 'O0013000000PLANT' });
  const file = join(dir, 'station.json');
  const cfg = JSON.parse(await readFile(file, 'utf8'));
  cfg.station.credit = 5000;
  await writeFile(file, JSON.stringify(cfg));
  await assert.rejects(StationStore.open(dir), (e: unknown) => e instanceof ConfigError && e.message.includes('station.json') && /credit/.test(e.message));
  await writeFile(file, '{ not json');
  await assert.rejects(StationStore.open(dir), ConfigError);
});

test('the placeholder station made on embedded defaults can be replaced by init, a real one cannot', async (t) => {
  const dir = await tempDir(t);
  await StationStore.init(dir, { odetteId: STATION_DEFAULTS.placeholderOdetteId });
  assert.equal(await StationStore.exists(dir), true);
  const real = await StationStore.init(dir, { odetteId: 'O0013000000PLANT' });
  assert.equal(real.config.station.odetteId, 'O0013000000PLANT');
  await assert.rejects(StationStore.init(dir, { odetteId: 'O0013000000OTHER' }), /refusing to overwrite/);
});
