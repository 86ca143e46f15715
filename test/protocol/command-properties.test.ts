// Property tests: random valid commands of every type at every level round-trip exactly.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeCommand, encodeCommand } from '../../src/protocol/command-codec.ts';
import { PROTOCOL_LEVELS } from '../../src/protocol/command-types.ts';
import { commandOf } from './command-arbitraries.ts';

for (const level of PROTOCOL_LEVELS) {
  test(`level ${level}: encode then decode gives the same command, and the bytes are canonical`, () => {
    fc.assert(
      fc.property(commandOf(level), (command) => {
        const bytes = encodeCommand(command, level);
        const decoded = decodeCommand(bytes, level);
        assert.deepStrictEqual(decoded, command);
        assert.deepStrictEqual(encodeCommand(decoded, level), bytes);
      }),
      { numRuns: 1000 },
    );
  });
}

test('every command type is generated at every level where it exists', () => {
  const expected = { 1: 14, 2: 14, 4: 15, 5: 18 } as const;
  for (const level of PROTOCOL_LEVELS) {
    const seen = new Set(fc.sample(commandOf(level), { numRuns: 2000, seed: 42 }).map((c) => c.cmd));
    assert.equal(seen.size, expected[level], `level ${level}: ${[...seen].join(' ')}`);
  }
});
