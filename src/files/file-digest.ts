// SHA-256 of a file, streamed in chunks (never the whole file in memory). Used for the spool's
// receipt checks and for the EERP/NERP hash of a received file (RFC 5024 §5.3.13 EERPHSH).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ioError } from './file-errors.ts';

export const READ_CHUNK = 64 * 1024;

/**
 * SHA-256 of the file at `path`, read in chunks of `chunk` octets (64 KiB by default; the spool's large
 * copies use 1 MiB), the next read running while one is hashed.
 */
export async function sha256File(path: string, chunk = READ_CHUNK): Promise<Uint8Array> {
  const hash = createHash('sha256');
  const buffers = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
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
