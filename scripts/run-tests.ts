// Runs every test file under test/ with node's test runner, and fails when there is none
// (node --test exits 0 on an empty match). Extra arguments narrow the set: a path fragment.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const filters = process.argv.slice(2);
const files = globSync('test/**/*.test.ts')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('run-tests: no test files matched test/**/*.test.ts');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
