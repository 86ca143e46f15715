// Runs the raw TCP pipe (bench-pipe-child.ts) once: the writer is started and listening first, then
// the reader is timed from its spawn to its exit, which comes after the writer has fsynced the copy
// and acknowledged it; the same span `oftp2 send` is timed over (spawn → exit after EFPA).
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Registry } from './bench-proc.ts';

const CHILD = join(import.meta.dirname, 'bench-pipe-child.ts');

export interface PipeRun {
  /** Reader spawn → reader exit (after the writer's fsync and acknowledgement), ms. */
  ms: number;
  /** Writer: first octet received → fsync done, ms. */
  receiveMs: number;
  readerRssMiB: number | undefined;
  writerRssMiB: number | undefined;
  /** CPU time of both processes, ms. */
  cpuMs: number;
}

/** `reading`: the writer reads Node's usual way, or into one reused buffer as the session does (see bench-pipe-child.ts). */
export async function runPipe(registry: Registry, inFile: string, outFile: string, timeoutMs: number, reading: 'plain' | 'reused' = 'plain'): Promise<PipeRun> {
  const writer = registry.spawn('pipe writer', process.execPath, [CHILD, 'writer', outFile, ...(reading === 'reused' ? ['reused', String(statSync(inFile).size)] : [])]);
  const portLine = await writer.waitForLine(/^port \d+$/, 10_000);
  const port = portLine.text.split(' ')[1]!;
  const reader = registry.spawn('pipe reader', process.execPath, [CHILD, 'reader', inFile, port]);
  const readerExit = await reader.success(timeoutMs);
  await writer.success(10_000);
  const received = writer.stdout.map((l) => /^received ([\d.]+) ms/.exec(l.text)).find((m) => m);
  return {
    ms: readerExit.at - reader.startedAt,
    receiveMs: received ? Number(received[1]) : Number.NaN,
    readerRssMiB: reader.reportedMaxRssMiB(),
    writerRssMiB: writer.reportedMaxRssMiB(),
    cpuMs: (reader.reportedCpuMs() ?? Number.NaN) + (writer.reportedCpuMs() ?? Number.NaN),
  };
}
