// Shared fixtures for the file layer tests: temp folders removed after each test, sample content.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'oftp-files-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Non-hidden names in a directory. */
export async function visibleNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
}

export const IDENTITY = {
  datasetName: 'ORDERS.EDI',
  date: '20240229',
  time: '1230450001',
  originator: 'O0013000000GATEWAYA',
  destination: 'O0013000000GATEWAYB',
};

/** ASCII text with CR-LF lines of varying length. */
export function textContent(lines: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < lines; i++) parts.push(`LINE ${i} ${'x'.repeat(i % 300)}\r\n`);
  return Buffer.from(parts.join(''), 'ascii');
}

export function fixedContent(records: number, lrecl: number): Buffer {
  const out = Buffer.alloc(records * lrecl);
  for (let i = 0; i < records; i++) out.write(`REC${String(i).padStart(8, '0')}`.padEnd(lrecl, '.'), i * lrecl, 'ascii');
  return out;
}

/** V records (user data) with lengths 0..maxLength, and their local form with 2-octet prefixes. */
export function variableRecords(count: number, maxLength: number): { records: Buffer[]; local: Buffer } {
  const records: Buffer[] = [];
  for (let i = 0; i < count; i++) records.push(randomBytes((i * 7919) % (maxLength + 1)));
  const local = Buffer.concat(
    records.flatMap((r) => [Buffer.from([r.length >> 8, r.length & 0xff]), r]),
  );
  return { records, local };
}

export async function writeSource(dir: string, name: string, data: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, data);
  return path;
}
