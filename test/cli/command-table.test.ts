// Every command in the table follows the conventions `oftp2 --help` relies on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/command-table.ts';

test('command names are unique, well formed, and not the built-ins', () => {
  const names = COMMANDS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, `duplicate names in ${names.join(', ')}`);
  for (const name of names) {
    assert.match(name, /^[a-z][a-z0-9-]*$/, name);
    assert.ok(name !== 'help' && name !== 'version', `${name} is a built-in`);
  }
});

test('summaries are one line; usage starts with the synopsis', () => {
  for (const c of COMMANDS) {
    assert.match(c.summary, /^[A-Z][^\n]*[^.\n]$/, `${c.name}: summary`);
    assert.ok(c.summary.length <= 72, `${c.name}: summary longer than 72 characters`);
    assert.ok(c.usage.startsWith(`oftp2 ${c.name}`), `${c.name}: usage must start with "oftp2 ${c.name}"`);
    assert.equal(typeof c.run, 'function');
  }
});
