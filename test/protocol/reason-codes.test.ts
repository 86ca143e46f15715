import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  describeEsid,
  describeNerp,
  describeSfna,
  nerpReasonForFileRefusal,
} from '../../src/protocol/reason-codes.ts';

test('reason codes carry the RFC 5024 meaning text', () => {
  assert.equal(describeEsid(3), 'User code not known');
  assert.equal(describeEsid(12), 'Secure authentication requirements incompatible');
  assert.equal(describeSfna(13), 'Duplicate file');
  assert.equal(describeNerp(33), 'File decryption failed');
  assert.equal(describeEsid(42), 'Unknown reason code 42');
});

test('a final SFNA maps to the NERP reason of §5.3.14', () => {
  assert.equal(nerpReasonForFileRefusal(1), 11);
  assert.equal(nerpReasonForFileRefusal(6), 16);
  assert.equal(nerpReasonForFileRefusal(10), 20);
  assert.equal(nerpReasonForFileRefusal(20), 30);
  assert.equal(nerpReasonForFileRefusal(99), undefined);
  assert.equal(nerpReasonForFileRefusal(7), undefined);
});
