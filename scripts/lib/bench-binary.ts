// The shipped form of `oftp2` for the benchmarks: the single binary (dist/oftp2) as scripts/build.ts
// makes it, with its execArgv (a 1 MiB young generation) and its code cache, no type stripping.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * `oftp2` from the source tree (`--cli source`): node on src/cli/main.ts. With BENCH_PROFILE_DIR set,
 * each process writes a CPU profile there (node --cpu-prof), which the binary cannot.
 */
export function sourceCli(root: string): { exe: string; args: string[]; label: string } {
  const dir = process.env.BENCH_PROFILE_DIR;
  return { exe: process.execPath, args: [...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), join(root, 'src/cli/main.ts')], label: 'node src/cli/main.ts' };
}

/**
 * Builds the single binary (scripts/build.ts, a second or two) and returns how to run it. The freshly
 * written file is dropped from the page cache (dropFromCache): its processes then read and map the
 * pages they run, as on a box after a restart, not every cached neighbour (see the bench's case b).
 */
export function shippedBinary(root: string): { exe: string; args: string[]; label: string } {
  execFileSync(process.execPath, [join(root, 'scripts/build.ts')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const exe = join(root, 'dist/oftp2');
  dropFromCache(exe);
  return { exe, args: [], label: 'dist/oftp2' };
}

/** Asks the kernel to drop a file's clean pages from the page cache (GNU dd: fadvise DONTNEED). */
export function dropFromCache(path: string): void {
  execFileSync('sync', [path]);
  execFileSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
}
