// Streaming BER primitives: the reader walks headers, streams OCTET STRING content of any form and
// chunking, reads small elements whole within limits, and fails with the layer's CmsError.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BerReader } from '../../src/security/cms/ber-reader.ts';
import { EOC, openIndefinite, segmentHeader, segments } from '../../src/security/cms/ber-writer.ts';
import { concat, decode, encodeLength, octetsValue, setOf, tlv } from '../../src/security/cms/der.ts';
import { CmsError, failer } from '../../src/security/cms/errors.ts';
import { collect } from '../../src/security/cms/stream-util.ts';
import { pieces } from './helpers/cms-fixtures.ts';

const fail = failer('decryption', 'test');

function reader(bytes: Uint8Array, sizes: readonly number[] = [3], limits = {}): BerReader {
  return new BerReader(pieces(bytes, sizes), fail, limits);
}

/** An OCTET STRING in some BER form: primitive, or constructed (definite or indefinite) of such. */
type Octets = { kind: 'primitive'; data: Uint8Array } | { kind: 'constructed'; definite: boolean; parts: Octets[] };

const octetsArb: fc.Arbitrary<Octets> = fc.letrec<{ node: Octets }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ kind: fc.constant('primitive' as const), data: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({
      kind: fc.constant('constructed' as const),
      definite: fc.boolean(),
      parts: fc.array(tie('node'), { maxLength: 4 }),
    }),
  ),
})).node;

function encodeOctets(n: Octets): Uint8Array {
  if (n.kind === 'primitive') return tlv(0x04, n.data);
  const inner = concat(n.parts.map(encodeOctets));
  return n.definite ? concat([Uint8Array.of(0x24), encodeLength(inner.length), inner]) : concat([openIndefinite(0x24), inner, EOC]);
}

function contentOf(n: Octets): Uint8Array {
  return n.kind === 'primitive' ? n.data : concat(n.parts.map(contentOf));
}

async function expectCms(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof CmsError, String(e));
    assert.equal(e.failure, 'decryption');
    assert.match(e.message, pattern);
    return true;
  });
}

describe('BER reader', () => {
  it('reads short, long, indefinite and high-number headers across chunk boundaries', async () => {
    const bytes = concat([
      Uint8Array.of(0x30, 0x80),
      Uint8Array.of(0x04, 0x82, 0x01, 0x00),
      new Uint8Array(256),
      Uint8Array.of(0xbf, 0x81, 0x00, 0x00), // [128] constructed, empty
      EOC,
    ]);
    for (const size of [1, 2, 5, 1000]) {
      const r = reader(bytes, [size]);
      const seq = await r.header('seq');
      assert.deepEqual([seq.tag, seq.constructed, seq.length], [0x30, true, undefined]);
      const os = await r.header('os');
      assert.deepEqual([os.tag, os.length, os.end], [0x04, 256, 6 + 256]);
      assert.equal((await collect(r.octets(os, 'os'))).length, 256);
      const high = await r.header('high');
      assert.deepEqual([high.tagClass, high.tagNumber, high.tag, high.length], [2, 128, -1, 0]);
      assert.equal(await r.atEnd(seq), true);
      await r.close(seq, 'seq');
      await r.finish('seq');
    }
  });

  it('streams any BER form of an OCTET STRING, however the input is cut', async () => {
    await fc.assert(
      fc.asyncProperty(octetsArb, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 5 }), async (node, sizes) => {
        const encoded = encodeOctets(node);
        const r = reader(encoded, sizes);
        const h = await r.header('os');
        const content = await collect(r.octets(h, 'os'));
        assert.deepEqual(content, contentOf(node));
        await r.finish('os');
        assert.equal(r.position, encoded.length);
        // the in-memory decoder (asn1js tree) reads the same value
        assert.deepEqual(octetsValue(decode(encoded, 'os', fail), 'os', fail), contentOf(node));
      }),
      { numRuns: 200 },
    );
  });

  it('hands content on as sub-arrays of the input chunks, without copying', async () => {
    const big = new Uint8Array(100_000);
    const input = concat([segmentHeader(big.length), big]);
    const r = new BerReader(pieces(input, [8192]), fail);
    const h = await r.header('os');
    let n = 0;
    for await (const piece of r.octets(h, 'os')) {
      assert.equal(piece.buffer, input.buffer);
      n += piece.length;
    }
    assert.equal(n, big.length);
  });

  it('fails on truncation anywhere, with the layer error, and never hangs', async () => {
    const whole = concat([openIndefinite(0x30), openIndefinite(0x24), ...segments(new Uint8Array(40)), EOC, EOC]);
    for (let cut = 0; cut < whole.length; cut++) {
      const r = reader(whole.subarray(0, cut), [7]);
      const walk = async (): Promise<void> => {
        const seq = await r.header('seq');
        const os = await r.header('os');
        await collect(r.octets(os, 'os'));
        await r.close(seq, 'seq');
      };
      await expectCms(walk(), /truncated|expected the end/);
    }
  });

  it('rejects malformed lengths and structures', async () => {
    await expectCms(reader(Uint8Array.of(0x04, 0x80)).header('x'), /indefinite length of a primitive/);
    await expectCms(reader(Uint8Array.of(0x04, 0x87, 1, 1, 1, 1, 1, 1, 1)).header('x'), /length of 7 octets/);
    await expectCms(reader(Uint8Array.of(0x30, 0x00)).expect(0x31, 'a SET'), /expected a SET \(tag 0x31\).*found tag 0x30/);
    // a constructed OCTET STRING holding something else
    const r1 = reader(concat([openIndefinite(0x24), tlv(0x02, Uint8Array.of(1)), EOC]));
    await expectCms(collect(r1.octets(await r1.header('os'), 'os')), /expected an OCTET STRING segment/);
    // a segment running past its definite parent
    const r2 = reader(Uint8Array.of(0x24, 0x03, 0x04, 0x02, 0xaa, 0xbb));
    await expectCms(collect(r2.octets(await r2.header('os'), 'os')), /overruns/);
    // octets after the end
    const r3 = reader(Uint8Array.of(0x05, 0x00, 0x00));
    await r3.element('null');
    await expectCms(r3.finish('null'), /octets after the end/);
  });

  it('reads small elements whole, within the size and depth limits', async () => {
    const set = setOf([tlv(0x04, new Uint8Array(10)), tlv(0x02, Uint8Array.of(1))]);
    const indefinite = concat([openIndefinite(0x30), set, openIndefinite(0xa0), tlv(0x05, new Uint8Array(0)), EOC, EOC]);
    assert.deepEqual(await reader(indefinite, [2]).element('x'), indefinite);
    await expectCms(reader(tlv(0x04, new Uint8Array(2000)), [64], { maxElement: 1000 }).element('big'), /over the limit/);
    const deep = concat([...Array.from({ length: 20 }, () => openIndefinite(0x30)), ...Array.from({ length: 20 }, () => EOC)]);
    await expectCms(reader(deep, [9]).element('deep'), /nested too deeply/);
    const deepOctets = concat([...Array.from({ length: 20 }, () => openIndefinite(0x24)), ...Array.from({ length: 20 }, () => EOC)]);
    const r = reader(deepOctets, [9]);
    await expectCms(collect(r.octets(await r.header('os'), 'os')), /nested too deeply/);
  });

  it('passes errors of the source through unchanged', async () => {
    const boom = new Error('disk on fire');
    const source = (async function* () {
      yield Uint8Array.of(0x30, 0x80);
      throw boom;
    })();
    const r = new BerReader(source, fail);
    await r.header('seq');
    await assert.rejects(r.header('next'), (e) => e === boom);
  });
});
