// Durable file-system primitives the rest of src/files/ is built on.
// The rule everywhere: data is fsynced before the name that makes it visible is created, and the
// directory holding a new, renamed or removed name is fsynced before the operation is reported done.
// Temporary names start with '.' and end with '.tmp', in the same directory as their final name.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, readdirSync, statSync } from 'node:fs';
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
export async function mkdirDurable(dir: string): Promise<void> {
  let first: string | undefined;
  try {
    first = await mkdir(dir, { recursive: true, mode: 0o755 });
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
 * Deletes a tree in a detached `rm -rf` process that this process neither waits for nor is kept alive
 * by: for a short-lived process (`oftp2 send`) whose last act would otherwise be waiting for the
 * deletion of a big file, which takes about a second per GiB on a filesystem mounted with `discard`.
 * Only for names nothing will use again (a spool's trash). When `rm` cannot be started, the tree is
 * removed in this process instead (removeTree); the returned promise settles then, or once started.
 * A tree of plain files under 1 MiB in all is removed in this process too (removeTree), settling when
 * it is gone: starting a process would cost more than the deletion.
 */
export function removeTreeDetached(path: string): Promise<void> {
  // A small flat tree (a small spool entry) is removed here: starting `rm` costs milliseconds of CPU,
  // far more than unlinking a few small files, and a send of 1,000 small files would start 1,000.
  if (isSmallFlatTree(path)) return removeTree(path);
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn('rm', ['-rf', '--', path], { detached: true, stdio: 'ignore' });
    } catch {
      removeTree(path).then(resolve, () => resolve());
      return;
    }
    child.unref();
    child.once('spawn', () => resolve());
    child.once('error', () => removeTree(path).then(resolve, () => resolve()));
  });
}

/** Octets under which removeTreeDetached deletes a tree in this process. */
const DETACHED_REMOVAL_MIN_OCTETS = 1024 * 1024;

/**
 * True when `path` holds only files totalling under DETACHED_REMOVAL_MIN_OCTETS. Synchronous on
 * purpose (one readdir and a stat per file, microseconds): the caller decides before it returns.
 */
function isSmallFlatTree(path: string): boolean {
  try {
    let octets = 0;
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (!entry.isFile()) return false;
      octets += statSync(join(path, entry.name)).size;
      if (octets >= DETACHED_REMOVAL_MIN_OCTETS) return false;
    }
    return true;
  } catch {
    return false;
  }
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
