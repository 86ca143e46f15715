// Reading a TLS session connection into reused memory, in large chunks (SessionDriver asks, see
// chunkReaderOf in tcp.ts for the plain TCP counterpart).
//
// Node decrypts TLS into chunks of at most 16 KiB (TLSWrap::ClearOut) and, read the usual way, hands
// each over in a freshly allocated buffer through the Readable machinery. A responder receiving 256 MiB
// over TLS spent about 0.45 s more CPU than over plain TCP, nearly all of it there: 16,000 buffer
// allocations (whose external memory keeps V8's major GC marking), push/flow/pause/resume per chunk, a
// driver round per 16 KiB, and every 99,999-octet DATA buffer assembled from seven chunks by a copy.
//
// Here the TLSSocket's handle decrypts into arenas of ours instead: Node's `onread` mechanism (the
// documented option of net.Socket and tls.connect without `socket`), put on the socket after the fact
// because a server-side TLSSocket wraps an accepted socket and so cannot take the option. Everything
// decrypted in one turn of the event loop is appended to the arena and delivered as one chunk (up to an
// arena's end) once that turn's I/O is done (setImmediate); reading goes on while the consumer holds
// chunks, up to READ_AHEAD octets not yet delivered. Chunks stay valid until the consumer calls the
// function the reader returned (it then takes what came meanwhile at once). 'end' delivers what is
// still pending first, so no octet comes after the end. If Node's internals are not as expected, there
// is no reader and the socket is read the usual way.
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { ChunkReader } from './tcp.ts';

/** One arena; two are used in turn. */
const ARENA_SIZE = 256 * 1024;
/** Node decrypts at most this much per step; every buffer offered to it has at least this free. */
const MIN_FREE = 16 * 1024;
/** Reading stops while this much is decrypted and not yet delivered. */
const READ_AHEAD = 128 * 1024;

interface OnreadSymbols {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let onread: OnreadSymbols | null | undefined;

/** The properties through which net.Socket keeps its `onread` settings, found on a socket made with it. */
function onreadSymbols(): OnreadSymbols | null {
  if (onread !== undefined) return onread;
  onread = null;
  try {
    const generator = () => new Uint8Array(1);
    const callback = () => true;
    const probe = new Socket({ onread: { buffer: generator, callback } } as unknown as SocketConstructorOpts);
    const own = probe as unknown as Record<symbol, unknown>;
    const find = (value: unknown) => Object.getOwnPropertySymbols(probe).find((s) => own[s] === value);
    const b = Object.getOwnPropertySymbols(probe).find((s) => s.description === 'kBuffer' && own[s] === true);
    const c = find(callback);
    const g = find(generator);
    probe.destroy();
    if (b && c && g) onread = { buffer: b, callback: c, generator: g };
  } catch {
    // no reader: the socket is read the usual way
  }
  return onread;
}

interface Region {
  arena: Uint8Array;
  from: number;
  to: number;
}

/**
 * A ChunkReader for a connected TLSSocket, or undefined (not a TLSSocket, or Node's internals differ).
 * Call it once, before listening for 'end'.
 */
export function reusedTlsReader(stream: Duplex): ChunkReader | undefined {
  if (!(stream instanceof TLSSocket) || stream.destroyed) return undefined;
  const symbols = onreadSymbols();
  const handle = (stream as unknown as { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null })._handle;
  if (!symbols || !handle || typeof handle.useUserBuffer !== 'function') return undefined;
  const socket = stream;
  const fields = socket as unknown as Record<symbol, unknown>;

  let arena: Uint8Array = Buffer.allocUnsafeSlow(ARENA_SIZE);
  let spare: Uint8Array = Buffer.allocUnsafeSlow(ARENA_SIZE);
  /** Where the buffer last offered to Node starts in `arena`. */
  let offeredAt = 0;
  /** Decrypted, not yet delivered, in order; the last one grows while reads append to it. */
  const pending: Region[] = [];
  let pendingOctets = 0;
  /** Delivered and not yet given back, oldest first. */
  const held: Region[] = [];
  let onChunk: ((chunk: Uint8Array) => void) | undefined;
  let scheduled: NodeJS.Immediate | undefined;
  let stopped = false;
  let ended = false;

  // What Node read the usual way before now (e.g. the responder's SSRM that followed the handshake).
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
    pending.push({ arena: chunk, from: 0, to: chunk.length });
    pendingOctets += chunk.length;
  }

  const inUse = (a: Uint8Array) => held.some((r) => r.arena === a) || pending.some((r) => r.arena === a);

  /** The next buffer Node decrypts into: the free end of the arena, else the other one, else a new one. */
  const offer = (): Uint8Array => {
    if (ARENA_SIZE - offeredAt < MIN_FREE) {
      if (inUse(spare)) {
        // Both arenas still hold data the consumer has not given back (rare): a new one; the full one
        // goes once its data is given back.
        arena = Buffer.allocUnsafeSlow(ARENA_SIZE);
      } else {
        const next = spare;
        spare = arena;
        arena = next;
      }
      offeredAt = 0;
    }
    return arena.subarray(offeredAt);
  };

  const deliver = (): void => {
    scheduled = undefined;
    if (onChunk === undefined) return;
    while (pending.length > 0 && (held.length === 0 || ended)) {
      const region = pending.shift()!;
      pendingOctets -= region.to - region.from;
      held.push(region);
      onChunk(region.arena.subarray(region.from, region.to));
    }
  };

  const schedule = () => {
    if (scheduled === undefined && held.length === 0 && onChunk !== undefined) scheduled = setImmediate(deliver);
  };

  /** `nread` octets were decrypted into the buffer last offered. Returns false to stop reading. */
  const received = (nread: number): boolean => {
    const from = offeredAt;
    offeredAt += nread;
    const last = pending[pending.length - 1];
    if (last !== undefined && last.arena === arena && last.to === from) last.to = offeredAt;
    else pending.push({ arena, from, to: offeredAt });
    pendingOctets += nread;
    schedule();
    if (pendingOctets >= READ_AHEAD) {
      stopped = true;
      return false;
    }
    return true;
  };

  fields[symbols.callback] = received;
  fields[symbols.generator] = offer;
  const first = offer();
  fields[symbols.buffer] = first;
  handle.useUserBuffer(first);

  // The end comes after every octet before it: what is pending is delivered first (listeners run in
  // the order they were added, and SessionDriver adds its own after calling this).
  socket.once('end', () => {
    ended = true;
    if (scheduled !== undefined) clearImmediate(scheduled);
    scheduled = undefined;
    deliver();
  });

  const release = (): void => {
    held.shift();
    if (held.length === 0 && pending.length > 0) deliver();
    if (stopped && pendingOctets < READ_AHEAD && !socket.destroyed) {
      stopped = false;
      socket.resume(); // starts reading again (net.Socket does it for onread sockets)
    }
  };

  return (consumer) => {
    onChunk = consumer;
    socket.resume(); // flowing, so 'end' is emitted; and reading
    if (pending.length > 0) schedule();
    return release;
  };
}
