// SHA-256 of a file, streamed in chunks (never the whole file in memory). Used for the history's hash
// of a received file (StationSessionHandler, after EFPA).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ioError } from './file-errors.ts';

export const READ_CHUNK = 64 * 1024;

/** SHA-256 of the file at `path`, read in chunks of READ_CHUNK octets, the next read running while one is hashed. */
export async function sha256File(path: string): Promise<Uint8Array> {
  const hash = createHash('sha256');
  const buffers = [Buffer.allocUnsafe(READ_CHUNK), Buffer.allocUnsafe(READ_CHUNK)];
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  let reading: Promise<number> | undefined;
  try {
    fh = await open(path, 'r');
    const file = fh;
    const read = (buffer: Buffer): Promise<number> => {
      const pending = file.read(buffer, 0, buffer.length, null).then((r) => r.bytesRead);
      pending.catch(() => {});
      return pending;
    };
    reading = read(buffers[0]!);
    for (let i = 0; ; i++) {
      const bytesRead = await reading;
      reading = undefined;
      if (bytesRead === 0) break;
      reading = read(buffers[(i + 1) % 2]!);
      hash.update(buffers[i % 2]!.subarray(0, bytesRead));
    }
  } catch (err) {
    throw ioError('hash', path, err);
  } finally {
    await Promise.allSettled([reading]);
    await fh?.close().catch(() => {});
  }
  return new Uint8Array(hash.digest());
}
