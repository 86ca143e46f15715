// Writes src/store/station-config-validator.generated.ts: the station configuration's JSON schema
// (station-config.ts) compiled by ajv into code ahead of time (ajv's standalone code), so no process
// compiles the schema at start (about 40 ms of every `oftp2` command). Run after changing the schema:
//
//   npm run gen:config-validator
//
// test/store/config-validator-current.test.ts fails while the file is out of date.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configValidatorSource } from './lib/config-validator-source.ts';

const out = join(import.meta.dirname, '../src/store/station-config-validator.generated.ts');
// The schema's module imports the file being made: a stub that refuses every use stands in meanwhile,
// whatever state the file is in (a failed run leaves the stub, which no station can run with).
writeFileSync(out, "// @ts-nocheck\nexport const validate = () => {\n  throw new Error('station-config-validator.generated.ts is a stub: npm run gen:config-validator');\n};\n");
writeFileSync(out, await configValidatorSource());
console.log(`wrote ${out}`);
