// One process per data directory: `state/station.lock` holds the owner's pid, the boot id and the
// process start time (from /proc). A lock is stale when its process is gone, or when the pid now
// names another process (the same pid after a reboot, or reused): then it is taken over.
import { open, readFile, unlink } from 'node:fs/promises';
import { ConfigError } from '../errors.ts';
import { isAlive } from '../process-alive.ts';

/** Locks held by this process, so a second Station in the same process is refused too. */
const heldLocks = new Set<string>();

interface LockOwner {
  pid: number;
  boot: string | undefined;
  start: string | undefined;
}

async function readProc(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').then(
    (s) => s.trim(),
    () => undefined,
  );
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot (after the ')' of the name). */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readProc(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

async function owner(pid: number): Promise<LockOwner> {
  return { pid, boot: await readProc('/proc/sys/kernel/random/boot_id'), start: await startTime(pid) };
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner> | number;
    if (typeof o === 'number') return { pid: o, boot: undefined, start: undefined }; // a bare pid
    if (typeof o.pid === 'number') return { pid: o.pid, boot: o.boot, start: o.start };
  } catch {}
  return undefined;
}

async function stillHeld(recorded: LockOwner): Promise<boolean> {
  if (recorded.pid <= 0 || recorded.pid === process.pid || !isAlive(recorded.pid)) return false;
  const now = await owner(recorded.pid);
  if (recorded.boot !== undefined && now.boot !== undefined && recorded.boot !== now.boot) return false;
  if (recorded.start !== undefined && now.start !== undefined && recorded.start !== now.start) return false;
  return true;
}

export async function takeLock(path: string): Promise<void> {
  if (heldLocks.has(path)) {
    throw new ConfigError('OFTP_ERR_CONFIG', `the station's data directory is in use by another Station in this process (${process.pid})`);
  }
  heldLocks.add(path); // reserved at once: a concurrent open in this process sees it
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        await fh.writeFile(JSON.stringify(await owner(process.pid)));
        await fh.close();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const recorded = parseOwner(await readFile(path, 'utf8').catch(() => ''));
        if (recorded && (await stillHeld(recorded))) {
          throw new ConfigError('OFTP_ERR_CONFIG', `the station's data directory is in use by process ${recorded.pid}`);
        }
        await unlink(path).catch(() => {});
      }
    }
    throw new ConfigError('OFTP_ERR_CONFIG', `cannot lock ${path}`);
  } catch (err) {
    heldLocks.delete(path);
    throw err;
  }
}

export async function releaseLock(path: string): Promise<void> {
  if (!heldLocks.delete(path)) return;
  await unlink(path).catch(() => {});
}
