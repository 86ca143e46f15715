// Reading TLS session connections into reused memory (src/transports/tls-read.ts): large chunks instead
// of Node's 16 KiB ones, in two arenas instead of a new buffer per chunk, every octet in order, a chunk
// untouched until it is given back, what came before the reader first, nothing after the end; and the
// session driver over TLS reading that way.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { after, before, test, type TestContext } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { SessionDriver } from '../../src/transports/session-driver.ts';
import { reusedTlsReader } from '../../src/transports/tls-read.ts';
import { type TlsPairPki, tlsPair, tlsPairPki } from './tls-pair.ts';

let certs: TlsPairPki;
before(() => {
  certs = tlsPairPki('oftp-tls-read-');
});
after(() => certs?.pki.remove());

const pair = (t: TestContext, maxVersion?: 'TLSv1.2' | 'TLSv1.3') => tlsPair(t, certs, maxVersion);

/** Reads `socket` with the reader until 'end'; each chunk is checked and given back after `holdMs`. */
function collect(socket: TLSSocket, holdMs: number) {
  const reader = reusedTlsReader(socket);
  assert.ok(reader, 'a TLSSocket gets a reader');
  const chunks: Buffer[] = [];
  const memory = new Set<ArrayBufferLike>();
  let largest = 0;
  let corrupted = 0;
  let deliveredAtEnd = -1;
  const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
  socket.once('end', () => {
    deliveredAtEnd = chunks.length;
  });
  const done = reader((chunk) => {
    const copy = Buffer.from(chunk);
    chunks.push(copy);
    memory.add(chunk.buffer);
    largest = Math.max(largest, chunk.length);
    // The chunk must stay as it was until it is given back, whatever is read meanwhile.
    setTimeout(() => {
      if (!copy.equals(chunk)) corrupted++;
      done();
    }, holdMs);
  });
  return {
    ended,
    result: () => ({ data: Buffer.concat(chunks), count: chunks.length, largest, arenas: memory.size, corrupted, deliveredAtEnd }),
  };
}

test('a TLS stream is read in chunks larger than 16 KiB, in reused memory, in order and unchanged until given back', async (t) => {
  const { accepted, dialled } = await pair(t);
  const sent = randomBytes(4 * 1024 * 1024);
  const reading = collect(accepted, 0);
  for (let at = 0; at < sent.length; at += 99_999 + 4) dialled.write(sent.subarray(at, at + 99_999 + 4));
  dialled.end();
  await reading.ended;
  const r = reading.result();
  assert.equal(r.data.length, sent.length);
  assert.ok(r.data.equals(sent), 'every octet, in order');
  assert.equal(r.corrupted, 0);
  // Node's own reads give at most 16 KiB each: 256 chunks for 4 MiB, each in new memory.
  assert.ok(r.largest > 16 * 1024, `largest chunk ${r.largest}`);
  assert.ok(r.count < 128, `${r.count} chunks`);
  assert.ok(r.arenas <= 3, `${r.arenas} distinct buffers`);
});

test('a consumer holding chunks a while: reading goes on behind them, nothing is overwritten, the end comes after the last octet', async (t) => {
  const { accepted, dialled } = await pair(t);
  const sent = randomBytes(2 * 1024 * 1024);
  const reading = collect(accepted, 3);
  dialled.end(sent);
  await reading.ended;
  const r = reading.result();
  assert.ok(r.data.equals(sent));
  assert.equal(r.corrupted, 0);
  assert.equal(r.deliveredAtEnd, r.count, "every chunk was delivered before the consumer's 'end'");
});

test('writes of every size at random moments, chunks held for random times, over TLS 1.2 and 1.3: every octet in order, none overwritten', async (t) => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    const { accepted, dialled } = await pair(t, maxVersion);
    let seed = 12345;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const reader = reusedTlsReader(accepted)!;
    const chunks: Buffer[] = [];
    let corrupted = 0;
    const ended = new Promise<void>((resolve) => accepted.once('end', () => resolve()));
    const done = reader((chunk) => {
      const copy = Buffer.from(chunk);
      chunks.push(copy);
      setTimeout(() => {
        if (!copy.equals(chunk)) corrupted++;
        done();
      }, random(4));
    });
    const sent = randomBytes(3 * 1024 * 1024);
    for (let at = 0; at < sent.length; ) {
      const size = 1 + random(random(2) === 0 ? 300_000 : 2000);
      dialled.write(sent.subarray(at, at + size));
      at += size;
      if (random(8) === 0) await new Promise((r) => setTimeout(r, random(3)));
    }
    dialled.end();
    await ended;
    assert.equal(corrupted, 0, maxVersion);
    assert.ok(Buffer.concat(chunks).equals(sent), maxVersion);
  }
});

test('what arrived before the reader was put on comes first', async (t) => {
  const { accepted, dialled } = await pair(t);
  dialled.write('SSRM before the reader\r');
  await new Promise((r) => setTimeout(r, 100)); // Node reads it the usual way meanwhile
  const reading = collect(accepted, 0);
  dialled.end(' and after');
  await reading.ended;
  assert.equal(reading.result().data.toString(), 'SSRM before the reader\r and after');
});

test('streams other than a TLSSocket get no reader', () => {
  assert.equal(reusedTlsReader(new PassThrough()), undefined);
});

test('the session driver reads a TLS connection through the reader, and sees every octet before the end', async (t) => {
  const { accepted, dialled } = await pair(t);
  const received: Buffer[] = [];
  let ended = false;
  // The smallest session the driver can run: it takes the octets and ends when the transport closes.
  const session = {
    state: 'Idle',
    isClosed: false,
    connected() {},
    receiveBytes(bytes: Uint8Array) {
      assert.equal(ended, false, 'no octet after the end');
      received.push(Buffer.from(bytes));
    },
    transportClosed() {
      ended = true;
      this.isClosed = true;
    },
    takeOutput: () => [],
    takeEvents: () => [],
    nextDeadline: () => undefined,
  };
  const driver = new SessionDriver(accepted, session as never, { handle: () => {} });
  const running = driver.run();
  assert.equal(accepted.listenerCount('data'), 0, "no 'data' listener: chunks come through the reader");
  const sent = randomBytes(1024 * 1024);
  dialled.end(sent);
  await running;
  const data = Buffer.concat(received);
  assert.ok(data.equals(sent));
  assert.ok(received.length < 64, `${received.length} chunks for 1 MiB (Node's own reads: 64 or more)`);
});
