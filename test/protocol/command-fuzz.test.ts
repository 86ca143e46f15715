// Fuzz (≤ 2 s): random and mutated octets into decodeCommand at every level. The only acceptable outcomes
// are a command or a DecodeError. A decoded command must also be canonical: encoding it at the same level
// either refuses (LocalUsageError, e.g. an ESID in the 2.0 form at level 1) or gives bytes that decode
// to the same command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DecodeError, LocalUsageError } from '../../src/errors.ts';
import { decodeCommand, encodeCommand } from '../../src/protocol/command-codec.ts';
import { COMMAND_IDS, type OdetteCommand, PROTOCOL_LEVELS, type ProtocolLevel } from '../../src/protocol/command-types.ts';
import { commandOf } from './command-arbitraries.ts';
import { sampleCommands } from './command-samples.ts';

const level = fc.constantFrom(...PROTOCOL_LEVELS);
const commandOctets = Object.values(COMMAND_IDS).map((c) => c.charCodeAt(0));

function survives(bytes: Uint8Array, at: ProtocolLevel): void {
  let decoded: OdetteCommand;
  try {
    decoded = decodeCommand(bytes, at);
  } catch (e) {
    if (e instanceof DecodeError) return;
    throw e;
  }
  let encoded: Uint8Array;
  try {
    encoded = encodeCommand(decoded, at);
  } catch (e) {
    if (e instanceof LocalUsageError && e.code === 'OFTP_ERR_ENCODE') return;
    throw e;
  }
  assert.deepStrictEqual(decodeCommand(encoded, at), decoded);
}

/** Random octets, mostly starting with a real command identifier. */
const randomBuffer = fc
  .tuple(fc.oneof({ arbitrary: fc.constantFrom(...commandOctets), weight: 9 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }), fc.uint8Array({ maxLength: 300 }))
  .map(([first, rest]) => Uint8Array.of(first, ...rest));

/** Valid buffers: the samples and random valid commands, encoded at their level. */
const validBuffer = fc.oneof(
  fc.constantFrom(...PROTOCOL_LEVELS.flatMap((l) => sampleCommands(l).map((c) => encodeCommand(c, l)))),
  level.chain((l) => commandOf(l).map((c) => encodeCommand(c, l))),
);

type Mutation = (b: Uint8Array) => fc.Arbitrary<Uint8Array>;
const index = (b: Uint8Array) => fc.integer({ min: 0, max: Math.max(0, b.length - 1) });
const mutations: Mutation[] = [
  // overwrite one octet, often with a character that matters to the codec
  (b) => fc.tuple(index(b), fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x20, 0x30, 0x39, 0x0d, 0x8d, 0x59, 0x4e))).map(([i, v]) => {
    const out = b.slice();
    out[i] = v;
    return out;
  }),
  (b) => index(b).map((i) => b.slice(0, i)), // truncate
  (b) => fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => Uint8Array.of(...b, ...extra)), // append
  (b) => fc.tuple(index(b), fc.integer({ min: 1, max: 4 })).map(([i, n]) => Uint8Array.of(...b.subarray(0, i), ...b.subarray(i + n))), // delete
  (b) => fc.tuple(index(b), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([i, ins]) => Uint8Array.of(...b.subarray(0, i), ...ins, ...b.subarray(i))), // insert
  (b) => fc.constantFrom(...commandOctets).map((c) => Uint8Array.of(c, ...b.subarray(1))), // another command's octet
];
const mutated = validBuffer.chain((b) => fc.oneof(...mutations.map((m) => m(b))));

const budget = { numRuns: 1_000_000, interruptAfterTimeLimit: 650, markInterruptAsFailure: false };

test('random octets decode to a command or a DecodeError, at every level', () => {
  fc.assert(fc.property(randomBuffer, level, survives), budget);
});

test('mutated valid buffers decode to a command or a DecodeError, at every level', () => {
  fc.assert(fc.property(mutated, level, survives), budget);
});
