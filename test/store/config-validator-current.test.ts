// The station configuration's validator is compiled ahead of time (scripts/gen-config-validator.ts):
// the file in the tree must be what the schema compiles to now, and it must behave as ajv compiling
// the schema at run time would (defaults filled in, every problem reported).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { configValidatorSource } from '../../scripts/lib/config-validator-source.ts';
import { validateStationConfig } from '../../src/store/station-config.ts';

test('station-config-validator.generated.ts is current with the schema (else: npm run gen:config-validator)', async () => {
  const inTree = await readFile(join(import.meta.dirname, '../../src/store/station-config-validator.generated.ts'), 'utf8');
  assert.ok(inTree === (await configValidatorSource()), 'the generated validator is out of date: run npm run gen:config-validator');
});

test('the generated validator fills defaults and reports every problem, formats and lengths included', () => {
  const config = validateStationConfig({ version: 1, station: { odetteId: 'O0013000000PLANT' }, partners: [] }, 'test');
  assert.equal(config.station.listen.port, 3305);
  assert.equal(config.station.exchangeBufferSize, 99999);
  assert.deepEqual(config.hooks, []);
  assert.throws(
    () =>
      validateStationConfig(
        { version: 1, station: { odetteId: 'not an id', credit: 0 }, partners: [{ name: 'p', odetteId: 'O0013000000OTHER', passwordToSend: 'TOOLONGPASSWORD', passwordExpected: '', fileServices: { receive: { cipherSuites: [1, 1] } } }] },
        'station.json',
      ),
    (err: Error) => {
      for (const part of ['/station/odetteId must match format "odette-id"', '/station/credit must be >= 1', '/partners/0/passwordToSend must match format "odette-password"', '/partners/0/passwordExpected must NOT have fewer than 1 characters', 'must NOT have duplicate items']) {
        assert.ok(err.message.includes(part), `${part} in: ${err.message}`);
      }
      return err.message.startsWith('station.json: ');
    },
  );
});
