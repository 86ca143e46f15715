// Async-iterable plumbing for the CMS layers: each layer is a CmsTransform, a function from an
// async iterable of chunks to an async generator of chunks, so layers chain directly or as stages
// of node:stream's pipeline(). Chunks handed on are not copied: a source must not reuse a buffer it
// has yielded (Node's readable streams never do).

import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { concat } from './der.ts';

export type CmsTransform = (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Uint8Array>;

/**
 * Runs `source` through a node:stream Duplex (a zlib stream) with backpressure both ways. An error of
 * `source` comes out unchanged; an error of the duplex itself goes through `wrap` (it belongs to this
 * layer). Ending early (the consumer stops) destroys the duplex and lets the source go.
 */
export async function* through(
  source: AsyncIterable<Uint8Array>,
  duplex: Duplex,
  wrap: (error: unknown) => Error,
): AsyncGenerator<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  const stop = new AbortController();
  let sourceError: { error: unknown } | undefined;
  const feed = async (): Promise<void> => {
    let done = false;
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await iterator.next();
        } catch (error) {
          done = true;
          sourceError = { error };
          duplex.destroy(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (next.done) {
          done = true;
          duplex.end();
          return;
        }
        if (stop.signal.aborted) return;
        if (!duplex.write(next.value)) await once(duplex, 'drain', { signal: stop.signal });
      }
    } catch {
      // The duplex failed or we were stopped: the consumer side reports it.
    } finally {
      if (!done) await iterator.return?.()?.catch(() => undefined);
    }
  };
  const feeding = feed();
  try {
    for await (const chunk of duplex) yield chunk as Uint8Array;
  } catch (error) {
    if (sourceError !== undefined) throw sourceError.error;
    throw wrap(error);
  } finally {
    stop.abort();
    duplex.destroy();
    await feeding;
  }
  if (sourceError !== undefined) throw sourceError.error;
}

/** Hands chunks on unchanged, calling `observe` on each (hashing, counting). */
export function tap(observe: (chunk: Uint8Array) => void): CmsTransform {
  return async function* (source) {
    for await (const chunk of source) {
      observe(chunk);
      yield chunk;
    }
  };
}

/** Chains transforms: the output of each is the input of the next. */
export function chain(transforms: readonly CmsTransform[]): CmsTransform {
  return (source) => {
    let out: AsyncIterable<Uint8Array> = source;
    for (const t of transforms) out = t(out);
    return (async function* () {
      yield* out;
    })();
  };
}

/** Collects an async iterable into one array (tests and small messages only). */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return concat(parts);
}

/** An async iterable of one array, in pieces of `size` (a message held in memory). */
export async function* fromBytes(bytes: Uint8Array, size = 1 << 16): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, Math.min(bytes.length, at + size));
}
