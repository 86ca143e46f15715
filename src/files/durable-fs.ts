// Durable file-system primitives the rest of src/files/ is built on.
// The rule everywhere: data is fsynced before the name that makes it visible is created, and the
// directory holding a new, renamed or removed name is fsynced before the operation is reported done.
// Temporary names start with '.' and end with '.tmp', in the same directory as their final name.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { errnoCode, ioError } from './file-errors.ts';

/** fsync a directory, so that names created, renamed or removed in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await fh.sync();
  } catch (err) {
    throw ioError('fsync directory', dir, err);
  } finally {
    await fh?.close().catch(() => {});
  }
}

/** A unique hidden temporary name next to `path` (same directory, so a rename is atomic). */
export function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `data` to `path` atomically and durably: temp name, write, fsync, rename over `path`,
 * fsync the directory. A reader sees the old content or the new one, never a mix.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = tempNameFor(path);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(temp, 'wx', 0o644);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(temp, path);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw ioError('atomic write of', path, err);
  }
  await fsyncDir(dirname(path));
}

/**
 * Removes the temporary files (`.NAME.RANDOM.tmp`) that writes interrupted by a crash left in `dir`
 * (not recursive; an absent directory is fine). Only for a directory no one is writing into, e.g. at
 * start-up under the station's lock. Returns the names removed.
 */
export async function removeInterruptedWrites(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return [];
    throw ioError('list', dir, err);
  }
  const stale = names.filter((n) => n.startsWith('.') && n.endsWith('.tmp'));
  for (const name of stale) await rm(join(dir, name), { force: true });
  return stale;
}

/** `writeFileAtomic` of `JSON.stringify(value)` with a trailing newline. */
/** Creates a new file (never an existing one), writes it and fsyncs it; its name is the caller's to make durable. */
export async function writeNewFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(path, 'wx', 0o644);
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    throw ioError('write', path, err);
  } finally {
    await fh?.close().catch(() => {});
  }
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 1)}\n`);
}

/** Parses a JSON file; undefined when it does not exist. A corrupt file is an 'OFTP_ERR_IO' error. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw ioError('read', path, err);
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw ioError('parse JSON of', path, err);
  }
}

/**
 * Creates `dir` (and missing parents) and fsyncs the parent of every level it created, so the new
 * directory itself survives a crash.
 */
export async function mkdirDurable(dir: string, mode = 0o755): Promise<void> {
  let first: string | undefined;
  try {
    first = await mkdir(dir, { recursive: true, mode });
  } catch (err) {
    throw ioError('mkdir', dir, err);
  }
  if (first === undefined) return;
  // fsync from the deepest created level up to the parent of the first created one.
  const top = resolve(first);
  let level = resolve(dir);
  for (;;) {
    const parent = dirname(level);
    await fsyncDir(parent);
    if (level === top || parent === level) break;
    level = parent;
  }
}

/** Directories mkdirDurableOnce made or found in this process. */
const ensuredDirs = new Set<string>();

/**
 * mkdirDurable once per directory and process: later calls for the path cost nothing. For folders
 * used for every file of a session (a partner's spool and inbox folders). A caller whose work in
 * such a folder then fails with ENOENT (someone removed it) calls forgetEnsuredDirs and tries again.
 */
export async function mkdirDurableOnce(dir: string, mode = 0o755): Promise<void> {
  const key = resolve(dir);
  if (ensuredDirs.has(key)) return;
  await mkdirDurable(dir, mode);
  ensuredDirs.add(key);
}

/** Makes mkdirDurableOnce check every folder again. */
export function forgetEnsuredDirs(): void {
  ensuredDirs.clear();
}

/**
 * Runs `task`, which makes the folders it works in with mkdirDurableOnce first. When it fails with
 * ENOENT (the error's own code or its cause's), a folder was removed since this process made it (an
 * operator cleared an inbox): mkdirDurableOnce forgets what it made and `task` runs once more,
 * making them again.
 */
export async function againIfDirRemoved<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT' && errnoCode((err as { cause?: unknown }).cause) !== 'ENOENT') throw err;
    forgetEnsuredDirs();
    return task();
  }
}

/** fsyncDirShared's state per directory: the fsync running, and the one callers wait for next. */
const sharedSyncs = new Map<string, { running?: Promise<void>; next?: Promise<void> }>();

/**
 * fsyncDir for changes made in `dir` before the call, shared by concurrent callers (group commit):
 * with none running, one starts now; else every caller meanwhile gets the one fsync that starts when
 * the running one ends (which may have begun before their change).
 */
export function fsyncDirShared(dir: string): Promise<void> {
  const key = resolve(dir);
  let state = sharedSyncs.get(key);
  if (!state) {
    state = {};
    sharedSyncs.set(key, state);
  }
  const s = state;
  const start = (): Promise<void> => {
    const run: Promise<void> = fsyncDir(dir).finally(() => {
      if (s.running !== run) return;
      s.running = undefined;
      if (s.next === undefined) sharedSyncs.delete(key);
    });
    s.running = run;
    return run;
  };
  if (s.running === undefined) return start();
  s.next ??= s.running.then(
    () => {
      s.next = undefined;
      return start();
    },
    () => {
      s.next = undefined;
      return start();
    },
  );
  return s.next;
}

/**
 * Creates the name `to` for the file `from` without ever replacing an existing `to`:
 * hard link (fails with EEXIST instead of overwriting), then unlink `from`.
 * Returns false when `to` exists. Directories are not fsynced here.
 * Filesystems without hard links (EPERM/ENOTSUP, e.g. some SMB mounts) fall back to
 * "check, then rename", which is only safe against writers that do not race on the same name;
 * the file layer serialises its own commits per directory.
 */
export async function moveNoReplace(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      return renameIfAbsent(from, to);
    }
    throw ioError('link', `${from} -> ${to}`, err);
  }
  try {
    await unlink(from);
  } catch (err) {
    throw ioError('unlink', from, err);
  }
  return true;
}

async function renameIfAbsent(from: string, to: string): Promise<boolean> {
  try {
    const fh = await open(to, 'r');
    await fh.close();
    return false;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw ioError('stat', to, err);
  }
  try {
    await rename(from, to);
  } catch (err) {
    throw ioError('rename', `${from} -> ${to}`, err);
  }
  return true;
}

/** Removes a file (absent is fine) and fsyncs its directory. */
export async function unlinkDurable(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw ioError('unlink', path, err);
  }
  await fsyncDir(dirname(path));
}

/** Removes a directory tree; absent is fine. No fsync: callers first rename it out of sight. */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (err) {
    throw ioError('remove', path, err);
  }
}

/**
 * Deletes trees in detached `rm -rf` processes (one per RM_ARGS_MAX paths) that this process neither
 * waits for nor is kept alive by: for a short-lived process (`oftp2 send`) whose last act would
 * otherwise be waiting for the deletion of a big file, which takes about a second per GiB on a
 * filesystem mounted with `discard`. Only for names nothing will use again (a spool's trash). Where
 * `rm` cannot be started, the trees are removed in this process (removeTree). Settles once every
 * `rm` has started, or those trees are gone.
 */
export async function removeTreesDetached(paths: readonly string[]): Promise<void> {
  const starts: Promise<void>[] = [];
  for (let i = 0; i < paths.length; i += RM_ARGS_MAX) starts.push(startDetachedRm(paths.slice(i, i + RM_ARGS_MAX)));
  await Promise.all(starts);
}

/** Paths per detached `rm` (far below the kernel's argument limit). */
const RM_ARGS_MAX = 512;

function startDetachedRm(paths: readonly string[]): Promise<void> {
  const inProcess = () => Promise.allSettled(paths.map((p) => removeTree(p))).then(() => {});
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn('rm', ['-rf', '--', ...paths], { detached: true, stdio: 'ignore' });
    } catch {
      inProcess().then(resolve);
      return;
    }
    child.unref();
    child.once('spawn', () => resolve());
    child.once('error', () => inProcess().then(resolve));
  });
}

/** Runs `task` after every task queued before it under the same key has settled (per-key mutex). */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.#tails.set(key, tail);
    tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}
