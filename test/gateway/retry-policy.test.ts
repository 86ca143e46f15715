// The retry table: every ESID reason of RFC 5024 §5.3.11 has a decision with its RFC meaning.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESID_RETRY, backoffDelayMs, BACKOFF_DEFAULTS, decideRetry, seededRandom } from '../../src/gateway/retry-policy.ts';
import { ESID_REASONS } from '../../src/protocol/reason-codes.ts';

test('every ESID reason has a rule, with the RFC text', () => {
  for (const [code, text] of Object.entries(ESID_REASONS)) {
    const rule = ESID_RETRY[Number(code)];
    assert.ok(rule, `ESID ${code}`);
    assert.equal(rule.meaning, text);
  }
  const byAction = (a: string) => Object.entries(ESID_RETRY).filter(([, r]) => r.action === a).map(([c]) => Number(c));
  assert.deepEqual(byAction('operator'), [3, 4, 10, 11, 12]);
  assert.deepEqual(byAction('later'), [5]);
  assert.deepEqual(byAction('backoff'), [1, 2, 6, 7, 8, 9, 99]);
  assert.deepEqual(byAction('none'), [0]);
});

test('decideRetry: normal, transport loss, unknown codes, our own ESID 05 when stopping', () => {
  assert.equal(decideRetry({ normal: true, origin: 'remote', reason: 0, text: '' }).action, 'none');
  assert.equal(decideRetry({ normal: false, origin: 'transport', reason: undefined, text: 'ECONNRESET' }).action, 'backoff');
  assert.equal(decideRetry({ normal: false, origin: 'remote', reason: 57, text: '' }).action, 'backoff');
  assert.match(decideRetry({ normal: false, origin: 'remote', reason: 4, text: '' }).cause, /^ESID 04 Invalid password \(remote\)$/);
  assert.equal(decideRetry({ normal: false, origin: 'local', reason: 5, text: '' }, true).action, 'stop');
  assert.equal(decideRetry({ normal: false, origin: 'remote', reason: 5, text: '' }, true).action, 'later');
});

test('backoffDelayMs: base × factor^(n-1), capped, jitter within bounds', () => {
  const none = { ...BACKOFF_DEFAULTS, jitter: 0 };
  assert.deepEqual([1, 2, 3, 8, 9, 50].map((n) => backoffDelayMs(n, none, Math.random)), [30_000, 60_000, 120_000, 3_600_000, 3_600_000, 3_600_000]);
  const r = seededRandom(5);
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelayMs(1, BACKOFF_DEFAULTS, r);
    assert.ok(d >= 24_000 && d <= 36_000);
  }
});
