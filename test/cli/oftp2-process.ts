// The `oftp2` command from the source tree as a child process: its exit status and output. A run
// that outlives `timeoutMs` is killed (the status is then null).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

export interface Oftp2Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runOftp2(args: readonly string[], timeoutMs = 60_000): Promise<Oftp2Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, OFTP2_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
