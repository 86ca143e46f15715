// Bounded memory: 64 MiB go through sign → compress → encrypt and back with the resident set growing
// by less than 40 MB over the warmed-up baseline (the file is never held whole). Measured in a child
// process (helpers/cms-memory-child.ts) because node:test's promise tracking inflates the heap of its
// own process. The 1 GiB runs are in `npm run bench:cms`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const child = fileURLToPath(new URL('./helpers/cms-memory-child.ts', import.meta.url));

describe('CMS pipeline memory', () => {
  it('keeps 64 MiB both ways within 40 MB of resident growth', () => {
    const run = spawnSync(process.execPath, [child, '64'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, `${run.error ?? ''} ${run.stderr}`);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      bytes: number;
      envelopedBytes: number;
      same: boolean;
      growthMb: number;
      peakMb: number;
    };
    assert.equal(result.bytes, 64 << 20);
    assert.ok(result.same, 'the content came back');
    assert.ok(result.envelopedBytes > 8 << 20, 'the enveloped file is large');
    assert.ok(result.growthMb < 40, `resident set grew by ${result.growthMb.toFixed(1)} MB (peak ${result.peakMb.toFixed(1)} MB)`);
  });
});
