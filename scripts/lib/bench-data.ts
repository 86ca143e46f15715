// Test data for the session benchmark: a big file of random octets written streaming (1 MiB at a
// time, never held whole), small files, and a streaming SHA-256 to check what arrived.
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from './bench-proc.ts';

export async function makeRandomFile(path: string, octets: number): Promise<void> {
  const fh = await open(path, 'w', 0o644);
  const chunk = Buffer.allocUnsafe(MiB);
  try {
    for (let written = 0; written < octets; ) {
      const n = Math.min(chunk.length, octets - written);
      randomFillSync(chunk, 0, n);
      let done = 0;
      while (done < n) done += (await fh.write(chunk, done, n - done)).bytesWritten;
      written += n;
    }
  } finally {
    await fh.close();
  }
}

/** `count` files of `size` random octets named f0001…; returns their paths. */
export async function makeSmallFiles(dir: string, count: number, size: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 1; i <= count; i++) {
    const path = join(dir, `f${String(i).padStart(4, '0')}`);
    await writeFile(path, randomFillSync(Buffer.allocUnsafe(size)));
    paths.push(path);
  }
  return paths;
}

export async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
