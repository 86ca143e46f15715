// SHA-256 of a file, streamed in 64 KiB reads (never the whole file in memory). Used for the spool's
// receipt checks and for the EERP/NERP hash of a received file (RFC 5024 §5.3.13 EERPHSH).
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ioError } from './file-errors.ts';

export const READ_CHUNK = 64 * 1024;

export async function sha256File(path: string): Promise<Uint8Array> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'r');
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } catch (err) {
    throw ioError('hash', path, err);
  } finally {
    await fh?.close().catch(() => {});
  }
  return new Uint8Array(hash.digest());
}
