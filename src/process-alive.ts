// Whether a process exists, for lock files and status files that name the process holding them.

/** True when a process with this id exists (also one of another user's, which we may not signal). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
