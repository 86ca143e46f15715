// A short fuzz (about 2 s) over the protocol decoders: the STB deframer, decodeCommand at every level,
// the data exchange buffer decoder (against a plain reference) and round trip, the special-logic decoder.
// The only acceptable outcomes are a result or a typed error (an OftpError with a code); any other
// exception, a hang (no progress for 1.5 s) or a worker out of its heap fails. The long campaign is
// `npm run fuzz`; a failure here prints the input in hex and the command that replays it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCampaign, targetNames } from '../../scripts/lib/fuzz-campaign.ts';

test('fuzz: random and mutated inputs give a result or a typed error', { timeout: 20_000 }, async () => {
  const seed = (Date.now() ^ (process.pid << 16)) >>> 0;
  const result = await runCampaign({ seconds: 2, seed, hangMillis: 1500, maxHeapMb: 256 });
  const report = result.failures
    .map((f) => `${f.kind} in ${f.target}: ${f.error.split('\n')[0]}\n  replay: npm run fuzz -- --replay ${f.target} ${f.input}`)
    .join('\n');
  assert.equal(result.failures.length, 0, `seed ${seed}\n${report}`);
  for (const name of targetNames()) {
    assert.ok((result.counts[name] ?? 0) >= 200, `${name} ran only ${result.counts[name]} inputs`);
  }
});
