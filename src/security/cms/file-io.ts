// File source and sink of the CMS pipeline, tuned for bounded memory and throughput on multi-GB files:
//
// - The source reads 64 KiB per system call, one read ahead, and hands the data on in 16 KiB views;
//   the sink copies what it gets into two 1 MiB buffers and writes each when full while the other
//   fills, one system call per MiB, keeping no reference to a piece.
// - Why small pieces: each piece makes short-lived buffers (a read buffer, a cipher output) outside
//   the JS heap. V8 frees them when it collects the young generation, which the JS objects of the
//   pipeline fill at a rate per piece; with large pieces tens of MB of dead buffers pile up between
//   collections. Allocations stay under glibc's mmap threshold (128 KiB), so freed memory is reused
//   from the malloc arenas instead of raising the threshold and fragmenting.
// Nothing is reused while still referenced: every read gets a fresh buffer.

import { open } from 'node:fs/promises';

export const READ_SIZE = 64 << 10;
export const VIEW_SIZE = 16 << 10;
export const WRITE_BUFFER_SIZE = 1 << 20;

const noop = (): void => undefined;

/** The file's octets in views of `viewSize` (reads of `readSize`, one ahead); `onChunk` sees each view. */
export async function* readFileChunks(
  path: string,
  onChunk?: (chunk: Uint8Array) => void,
  readSize = READ_SIZE,
  viewSize = VIEW_SIZE,
): AsyncGenerator<Uint8Array> {
  const file = await open(path, 'r');
  let position = 0;
  const readAt = async (at: number): Promise<Uint8Array> => {
    const buffer = Buffer.allocUnsafeSlow(readSize);
    const { bytesRead } = await file.read(buffer, 0, readSize, at);
    return buffer.subarray(0, bytesRead);
  };
  let next: Promise<Uint8Array> | undefined = readAt(0);
  next.catch(noop);
  try {
    for (;;) {
      const data: Uint8Array = await next;
      next = undefined;
      if (data.length === 0) break;
      position += data.length;
      next = readAt(position);
      next.catch(noop);
      for (let at = 0; at < data.length; at += viewSize) {
        const view = data.subarray(at, Math.min(data.length, at + viewSize));
        onChunk?.(view);
        yield view;
      }
    }
  } finally {
    await next?.catch(noop);
    await file.close();
  }
}

/**
 * Writes an async iterable of chunks to `path` (created or truncated) through two buffers of
 * `bufferSize`; `onChunk` sees each chunk. Resolves when everything is written and the file closed.
 */
export async function writeChunksToFile(
  source: AsyncIterable<Uint8Array>,
  path: string,
  onChunk?: (chunk: Uint8Array) => void,
  bufferSize = WRITE_BUFFER_SIZE,
): Promise<void> {
  const file = await open(path, 'w');
  const buffers = [new Uint8Array(bufferSize), new Uint8Array(bufferSize)];
  let current = 0;
  let filled = 0;
  let position = 0;
  let pending: Promise<void> | undefined;
  const writeAll = async (data: Uint8Array, at: number): Promise<void> => {
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await file.write(data, done, data.length - done, at + done);
      done += bytesWritten;
    }
  };
  const flush = async (): Promise<void> => {
    if (pending !== undefined) await pending;
    const data = buffers[current]!.subarray(0, filled);
    pending = writeAll(data, position);
    pending.catch(noop);
    position += filled;
    current ^= 1;
    filled = 0;
  };
  try {
    for await (const chunk of source) {
      onChunk?.(chunk);
      for (let at = 0; at < chunk.length; ) {
        const n = Math.min(bufferSize - filled, chunk.length - at);
        buffers[current]!.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === bufferSize) await flush();
      }
    }
    if (filled > 0) await flush();
    await pending;
    pending = undefined;
  } finally {
    await pending?.catch(noop);
    await file.close();
  }
}
